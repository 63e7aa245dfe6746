#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace ingestd {

// systemd's notify protocol through libsystemd; every call is a no-op when NOTIFY_SOCKET is
// unset, so the same binary runs under systemd, in a shell and in tests.
class ServiceNotifier {
 public:
  ServiceNotifier();
  void ready() const;
  void status(const std::string& line) const;
  void watchdog() const;
  void stopping() const;
  // How often to ping: half the WatchdogSec systemd configured, if any.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return interval_; }

 private:
  std::optional<std::chrono::microseconds> interval_;
};

}  // namespace ingestd
