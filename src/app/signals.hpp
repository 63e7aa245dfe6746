#pragma once

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <stop_token>
#include <thread>

#include "ingestd/errors.hpp"

namespace ingestd {

// SIGINT/SIGTERM are blocked in every thread and received here, so no handler runs in an
// arbitrary thread and the stop request travels through stop tokens.
class SignalWatcher {
 public:
  SignalWatcher() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::jthread([this](std::stop_token own) {
      timespec timeout{0, 100'000'000};
      while (!own.stop_requested()) {
        int sig = sigtimedwait(&set_, nullptr, &timeout);
        if (sig == SIGINT || sig == SIGTERM) {
          if (signal_ != 0) {
            spdlog::warn("second signal: exiting without waiting for the writer");
            std::_Exit(128 + sig);
          }
          signal_ = sig;
          spdlog::warn("received {}: stopping after the pages in flight are committed",
                       sig == SIGINT ? "SIGINT" : "SIGTERM");
          stop_.request_stop();
        }
      }
    });
  }
  std::stop_token token() const { return stop_.get_token(); }
  int exit_code() const { return signal_ == SIGINT ? kExitSigint : kExitSigterm; }
  bool stopped() const { return signal_ != 0; }

 private:
  sigset_t set_{};
  std::stop_source stop_;
  std::atomic<int> signal_{0};
  std::jthread thread_;
};

}  // namespace ingestd
