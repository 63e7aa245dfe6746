// Included only where httplib is: the one way ingestd's HTTP servers bind, run and stop.
#pragma once

#include <httplib.h>

#include <chrono>
#include <string>
#include <thread>

#include "ingestd/errors.hpp"

namespace ingestd {

// Binds `server` to host:port (port 0: any free port) and serves it from a thread of its own
// until destroyed. `setting` names the configuration key in the error when it cannot bind.
class Listener {
 public:
  Listener(httplib::Server& server, const std::string& host_port, const std::string& setting)
      : server_(server) {
    const auto colon = host_port.rfind(':');
    std::string host = host_port.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    const int port = std::stoi(host_port.substr(colon + 1));
    port_ = port == 0 ? server_.bind_to_any_port(host) : port;
    if (port_ < 0 || (port != 0 && !server_.bind_to_port(host, port))) {
      throw ConfigError("config: " + setting + " " + host_port +
                        " cannot be bound (in use, or not an address of this machine)");
    }
    thread_ = std::jthread([this] { server_.listen_after_bind(); });
  }
  ~Listener() {
    // stop() is a no-op until the listener runs, so give a just-started thread a moment.
    for (int i = 0; i < 2000 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    server_.stop();
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  int port() const { return port_; }

 private:
  httplib::Server& server_;
  int port_ = 0;
  std::jthread thread_;
};

}  // namespace ingestd
