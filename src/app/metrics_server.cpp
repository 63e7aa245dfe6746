#include "app/metrics_server.hpp"

#include <httplib.h>

#include <optional>

#include "common/clock.hpp"
#include "serve/listener.hpp"

namespace ingestd {

struct MetricsServer::Impl {
  httplib::Server server;
  std::optional<Listener> listener;  // last: stops serving before the server goes
};

MetricsServer::MetricsServer(const std::string& host_port, const Metrics& metrics)
    : impl_(std::make_unique<Impl>()) {
  impl_->server.Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_prometheus(metrics, unix_ms_now()), "text/plain; version=0.0.4");
  });
  impl_->listener.emplace(impl_->server, host_port, "METRICS_ADDR");
}

MetricsServer::~MetricsServer() = default;

int MetricsServer::port() const {
  return impl_->listener->port();
}

}  // namespace ingestd
