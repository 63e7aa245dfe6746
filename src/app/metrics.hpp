#pragma once

#include <cstdint>
#include <string>

#include "ingestd/stats.hpp"

namespace ingestd {

// The stages' stats of one process, as the progress line, /v1/status and the Prometheus
// endpoint read them.
struct Metrics {
  SourceStats source;
  PipelineStats pipeline;
  FollowStats follow;
  ServeStats serve;
};

// Prometheus text exposition format (version 0.0.4) of the metrics.
std::string render_prometheus(const Metrics& m, std::int64_t now_unix_ms);

}  // namespace ingestd
