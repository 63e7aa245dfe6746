#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <stop_token>
#include <string>

#include "ingestd/stats.hpp"
#include "serve/serve_options.hpp"

namespace ingestd {

// The HTTP face of the stored data: the read API (GET /v1/...) and push ingest
// (POST /v1/events), served by `ingestd serve` and by `ingestd run` when SERVE_ADDR is set.
// Loopback unless configured otherwise; with SERVE_API_KEY every /v1 route needs X-API-Key
// (and push ingest is enabled); SERVE_RATE_LIMIT bounds each client. Push and cache figures go
// to `stats`.
class ApiServer {
 public:
  // Adds live figures to /v1/status (the running ingestion's, when there is one), with the
  // per-second history of stored events when asked (?history=1).
  using LiveStatus = std::function<nlohmann::ordered_json(bool with_history)>;

  ApiServer(ServeOptions options, ServeStats& stats, std::stop_token stop, LiveStatus live = {});
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  int port() const;
  // Blocks until stop is requested.
  void wait(std::stop_token stop);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ingestd
