#pragma once

#include <memory>
#include <string>

#include "app/metrics.hpp"

namespace ingestd {

// Serves GET /metrics on host:port from a thread of its own until destroyed.
class MetricsServer {
 public:
  MetricsServer(const std::string& host_port, const Metrics& metrics);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ingestd
