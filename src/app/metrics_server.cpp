#include "app/metrics_server.hpp"

#include <httplib.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "common/clock.hpp"
#include "common/errors.hpp"

namespace ingestd {

struct MetricsServer::Impl {
  httplib::Server server;
  int port = 0;
  std::jthread thread;
};

MetricsServer::MetricsServer(const std::string& host_port, const Metrics& metrics)
    : impl_(std::make_unique<Impl>()) {
  const auto colon = host_port.rfind(':');
  std::string host = host_port.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const int port = std::stoi(host_port.substr(colon + 1));
  impl_->server.Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_prometheus(metrics, unix_ms_now()), "text/plain; version=0.0.4");
  });
  impl_->port = port == 0 ? impl_->server.bind_to_any_port(host) : port;
  if (impl_->port < 0 || (port != 0 && !impl_->server.bind_to_port(host, port))) {
    throw ConfigError("config: METRICS_ADDR " + host_port + " cannot be bound");
  }
  impl_->thread = std::jthread([this] { impl_->server.listen_after_bind(); });
}

MetricsServer::~MetricsServer() {
  // stop() is a no-op until the listener runs, so give a just-started thread a moment.
  for (int i = 0; i < 2000 && !impl_->server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->server.stop();
}

int MetricsServer::port() const {
  return impl_->port;
}

}  // namespace ingestd
