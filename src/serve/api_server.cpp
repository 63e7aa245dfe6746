#include "serve/api_server.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/clock.hpp"
#include "ingestd/errors.hpp"
#include "ingestd/source_profile.hpp"
#include "push/push_source.hpp"
#include "serve/answer_cache.hpp"
#include "serve/dashboard.hpp"
#include "serve/listener.hpp"
#include "serve/openapi.hpp"
#include "serve/query_params.hpp"
#include "serve/read_api.hpp"
#include "serve/request_limiter.hpp"
#include "serve/routes.hpp"
#include "serve/status_report.hpp"
#include "store/database_pool.hpp"
#include "store/event_reader.hpp"
#include "store/event_writer.hpp"
#include "store/push_sink.hpp"

namespace ingestd {

namespace {

constexpr std::size_t kPoolConnections = 8;
// httplib holds a worker per open connection: enough for 16 keep-alive clients plus slow ones.
constexpr std::size_t kWorkers = 48;
constexpr auto kPoolWait = std::chrono::seconds(5);

std::string dump(const nlohmann::ordered_json& body) {
  return body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void send_body(httplib::Response& res, int status, std::string body) {
  res.status = status;
  // Moved in rather than copied by set_content: answers of thousands of buckets are large.
  res.body = std::move(body);
  res.set_header("Content-Type", "application/json");
}

void send_json(httplib::Response& res, int status, const nlohmann::ordered_json& body) {
  send_body(res, status, dump(body));
}

void send_error(httplib::Response& res, int status, std::string_view error,
                const std::string& message) {
  send_json(res, status, {{"error", error}, {"message", message}});
}

// Compares without returning early, so the time taken does not tell how much of a key matched.
bool same_key(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

}  // namespace

struct ApiServer::Impl {
  const ServeOptions options;
  ServeStats& stats;
  LiveStatus live;
  DatabasePool pool;
  AnswerCache cache;
  httplib::Server server;
  std::optional<std::string> chartjs = load_chartjs();
  std::mutex limiter_mu;
  std::optional<RequestLimiter> limiter;
  // The database's profile streams, read again every few seconds and when a request names one
  // not among them.
  std::mutex streams_mu;
  std::vector<std::string> streams;
  bool contract_used = true;
  std::optional<std::chrono::steady_clock::time_point> streams_read;
  std::optional<Listener> listener;  // last: stops serving before the rest goes

  Impl(ServeOptions o, ServeStats& m, std::stop_token stop, LiveStatus l)
      : options(std::move(o)),
        stats(m),
        live(std::move(l)),
        pool(options.database_url, kPoolConnections, options.db_connect_timeout, stop),
        cache(options.cache_bytes) {
    if (options.rate_limit) limiter.emplace(*options.rate_limit);
    if (!chartjs)
      spdlog::warn(
          "serve: Chart.js not found; the dashboard shows no charts (install libjs-chart.js)");
  }

  // Runs a handler with a pooled connection and sends the body it returns; the failures every
  // route shares become answers.
  template <typename F>
  void with_store(httplib::Response& res, F&& f) {
    try {
      DatabasePool::Lease store = pool.acquire(kPoolWait);
      try {
        send_body(res, 200, f(*store));
      } catch (const DatabaseError& e) {
        if (e.failure() == DatabaseFailure::connection_lost) store.lost();
        throw;
      }
    } catch (const BadRequest& e) {
      send_error(res, 400, "bad_request", e.what());
    } catch (const Error& e) {
      // The detail (possibly SQL) goes to the log only.
      spdlog::warn("serve: {}", e.what());
      send_error(res, 503, "unavailable", "the database is unavailable; retry shortly");
    }
  }

  // The stream a read asks for with ?stream=, as read_stream takes it ("" for the contract's);
  // without it the stream this process was configured with when that is a profile's, else the
  // only stream the database holds, else the contract's. The session reads that stream's tables
  // when this returns.
  std::string choose_stream(const httplib::Request& req, Database& db) {
    std::string asked = req.get_param_value("stream");
    if (asked.empty() && options.profile_stream) asked = options.stream;
    const bool contract = asked == options.contract_stream || asked == kContractStream;
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::string> held;
    bool used = false;
    bool fresh = false;
    {
      const std::lock_guard lock(streams_mu);
      fresh = streams_read && now - *streams_read <= std::chrono::seconds(5);
      held = streams;
      used = contract_used;
    }
    const auto known = [&] { return std::find(held.begin(), held.end(), asked) != held.end(); };
    // Read outside the lock, so that one slow query holds up no other request.
    if (!fresh || (!asked.empty() && !contract && !known())) {
      held = db.profile_streams();
      used = db.contract_stream_used(options.contract_stream);
      const std::lock_guard lock(streams_mu);
      streams = held;
      contract_used = used;
      streams_read = now;
    }
    std::string chosen;
    if (asked.empty()) {
      if (held.size() == 1 && !used) chosen = held.front();
    } else if (!contract) {
      if (!known()) {
        std::string list = options.contract_stream;
        for (const std::string& n : held) list += ", " + n;
        throw BadRequest("stream", "unknown stream \"" + asked.substr(0, 64) +
                                       "\"; this database holds: " + list);
      }
      chosen = asked;
    }
    db.read_stream(chosen);
    return chosen;
  }

  // A read answer computed in one snapshot, or kept from an earlier request when no commit since
  // touched the instants it depends on (`range_of`, which may refuse the request): exact either
  // way, and one round trip when kept.
  template <typename R, typename F>
  void answer_read(const httplib::Request& req, httplib::Response& res, R&& range_of, F&& compute) {
    with_store(res, [&](Database& db) {
      const AnswerRange range = range_of();
      // Answers are kept per stream: the default stream may change when another appears.
      const std::string stream = choose_stream(req, db);
      const std::string key = stream + " " + req.target;
      EventReader store(db);
      if (cache.enabled()) {
        if (auto kept = cache.find(key, AnswerCache::Clock::now())) {
          if (auto now =
                  store.unchanged_since(kept->snapshot, kept->range.from_us, kept->range.to_us)) {
            cache.confirm(key, kept->snapshot, std::move(*now), AnswerCache::Clock::now());
            stats.cache_hits++;
            return std::move(kept->answer);
          }
        }
        stats.cache_misses++;
      }
      const EventReader::ReadTransaction read(store);
      std::string body = dump(compute(store, stream.empty()));
      if (cache.enabled()) {
        cache.put(key, read.snapshot(), range, body, AnswerCache::Clock::now());
      }
      return body;
    });
  }

  // Authentication and the per-client limit, before any route runs.
  httplib::Server::HandlerResponse admit(const httplib::Request& req, httplib::Response& res) {
    // The API's description is not secret: clients fetch it before they hold a key.
    if (!req.path.starts_with("/v1/") || req.path == route(RouteId::openapi).path) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    std::string client = "address " + req.remote_addr;
    if (!options.api_key.empty()) {
      if (!same_key(req.get_header_value("X-API-Key"), options.api_key)) {
        send_error(res, 401, "unauthorized",
                   req.has_header("X-API-Key") ? "X-API-Key is wrong"
                                               : "X-API-Key is required (SERVE_API_KEY is set)");
        return httplib::Server::HandlerResponse::Handled;
      }
      client = "key";
    }
    if (limiter) {
      RequestLimiter::Decision d;
      {
        std::lock_guard lock(limiter_mu);
        d = limiter->admit(client, unix_ms_now());
      }
      res.set_header("X-RateLimit-Limit", std::to_string(d.limit));
      res.set_header("X-RateLimit-Remaining", std::to_string(d.remaining));
      res.set_header("X-RateLimit-Reset", std::to_string(d.reset_s));
      if (!d.allowed) {
        res.set_header("Retry-After", std::to_string(d.retry_after_s));
        send_error(res, 429, "rate_limited",
                   "more than " + std::to_string(d.limit) +
                       " requests in the window; retry after " + std::to_string(d.retry_after_s) +
                       " s");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }

  // POST /v1/events: decoded while no connection is held, then one transaction.
  void push(const httplib::Request& req, httplib::Response& res) {
    if (options.api_key.empty()) {
      send_error(res, 403, "forbidden",
                 "push ingest is disabled: set SERVE_API_KEY to enable POST /v1/events (clients "
                 "send it as X-API-Key)");
      return;
    }
    const auto started = std::chrono::steady_clock::now();
    DecodedBatch batch;
    try {
      PushSource source(req.body,
                        req.get_header_value("Content-Type").starts_with("application/x-ndjson")
                            ? PushSource::Format::ndjson
                            : PushSource::Format::json_array);
      batch = source.decode();
    } catch (const PushBodyError& e) {
      send_error(res, 400, "bad_request", std::string("body: ") + e.what());
      return;
    }
    with_store(res, [&](Database& db) {
      // Pushed events belong to the contract's stream, whatever this connection read last.
      db.read_stream("");
      EventWriter writer(db);
      PushSink sink(writer);
      const CommitResult r = sink.commit(batch, {});
      const auto duplicates = static_cast<std::int64_t>(batch.page.row_count) - r.inserted;
      stats.push_requests++;
      stats.push_accepted += r.inserted;
      stats.push_duplicates += duplicates;
      stats.push_quarantined += static_cast<std::int64_t>(batch.page.quarantined.size());
      nlohmann::ordered_json quarantined = nlohmann::ordered_json::array();
      for (const QuarantinedEvent& q : batch.page.quarantined) {
        quarantined.push_back(
            {{"index", q.index},
             {"id", q.id.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(q.id)},
             {"reason", q.reason}});
      }
      stats.push_latency.observe(std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - started));
      return dump({{"accepted", r.inserted},
                   {"duplicates", duplicates},
                   {"quarantined", std::move(quarantined)}});
    });
  }

  // Registers a route of the table, refusing the query parameters it does not take.
  void on(RouteId id, httplib::Server::Handler handler) {
    const Route& r = route(id);
    auto checked = [&r, handler = std::move(handler)](const httplib::Request& req,
                                                      httplib::Response& res) {
      if (const auto name = unknown_query_parameter(r, req.params)) {
        send_error(res, 400, "bad_request", unknown_parameter_message(r, *name));
        return;
      }
      handler(req, res);
    };
    if (r.method == "POST") {
      server.Post(route_pattern(r), std::move(checked));
    } else {
      server.Get(route_pattern(r), std::move(checked));
    }
  }

  void routes() {
    // httplib takes ownership of the queue it is handed.
    server.new_task_queue = [] {
      return std::make_unique<httplib::ThreadPool>(kWorkers).release();
    };
    server.set_pre_routing_handler(
        [this](const httplib::Request& req, httplib::Response& res) { return admit(req, res); });
    on(RouteId::user_event_counts, [this](const httplib::Request& req, httplib::Response& res) {
      answer_read(
          req, res, [&] { return counts_range(req.params); },
          [&](EventReader& store, bool contract) {
            return user_event_counts(store, req.matches[1], req.params, contract);
          });
    });
    on(RouteId::user_summary, [this](const httplib::Request& req, httplib::Response& res) {
      answer_read(
          req, res, [] { return AnswerRange{}; },
          [&](EventReader& store, bool contract) {
            return user_summary(store, req.matches[1], contract);
          });
    });
    on(RouteId::event_counts, [this](const httplib::Request& req, httplib::Response& res) {
      answer_read(
          req, res, [&] { return counts_range(req.params); },
          [&](EventReader& store, bool) { return global_event_counts(store, req.params); });
    });
    on(RouteId::status, [this](const httplib::Request& req, httplib::Response& res) {
      with_store(res, [&](Database& db) {
        const std::string chosen = choose_stream(req, db);
        nlohmann::ordered_json status =
            status_json(read_status(db, chosen.empty() ? options.contract_stream : chosen));
        status["live"] =
            live ? live(req.get_param_value("history") == "1") : nlohmann::ordered_json(nullptr);
        return dump(status);
      });
    });
    on(RouteId::push,
       [this](const httplib::Request& req, httplib::Response& res) { push(req, res); });
    on(RouteId::openapi, [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-cache");
      res.set_content(std::string(openapi_yaml()), "application/yaml; charset=utf-8");
    });
    // The dashboard asks for the API key itself; the page and Chart.js are not secret.
    on(RouteId::dashboard, [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-cache");
      res.set_content(std::string(dashboard_html()), "text/html; charset=utf-8");
    });
    on(RouteId::chartjs, [this](const httplib::Request&, httplib::Response& res) {
      if (!chartjs) {
        send_error(res, 404, "not_found",
                   "Chart.js is not installed (Debian package libjs-chart.js)");
        return;
      }
      res.set_header("Cache-Control", "max-age=86400");
      res.set_content(*chartjs, "text/javascript; charset=utf-8");
    });
    server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 404) {
        send_error(res, 404, "not_found", "no route " + req.method + " " + req.path.substr(0, 200));
      } else if (res.status == 413) {
        send_error(res, 413, "payload_too_large", "the body is larger than INGEST_MAX_BODY");
      } else if (res.status == 414) {
        send_error(res, 414, "uri_too_long", "the URL is too long");
      } else {
        send_error(res, res.status, "error", "HTTP " + std::to_string(res.status));
      }
    });
    server.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            spdlog::error("serve: unexpected error: {}", e.what());
          } catch (...) {
            spdlog::error("serve: unexpected error");
          }
          send_error(res, 500, "internal", "internal error; see the server log");
        });
    // A client that stops sending holds a worker only this long.
    server.set_read_timeout(5, 0);
    server.set_write_timeout(5, 0);
    server.set_keep_alive_timeout(5);
    server.set_keep_alive_max_count(10'000);
    // Answers leave at once instead of waiting for the client's delayed ACK (40 ms).
    server.set_tcp_nodelay(true);
    server.set_payload_max_length(options.ingest_max_body);
  }
};

ApiServer::ApiServer(ServeOptions options, ServeStats& stats, std::stop_token stop, LiveStatus live)
    : impl_(std::make_unique<Impl>(std::move(options), stats, stop, std::move(live))) {
  impl_->routes();
  impl_->listener.emplace(impl_->server, impl_->options.addr, "SERVE_ADDR");
}

ApiServer::~ApiServer() = default;

int ApiServer::port() const {
  return impl_->listener->port();
}

void ApiServer::wait(std::stop_token stop) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  cv.wait(lock, stop, [] { return false; });
}

}  // namespace ingestd
