-- wrk script for scripts/bench.sh: GET requests against the read API, a random user from the
-- file named by the USERS environment variable for every request.
--   ROUTE=counts   /v1/users/{id}/event_counts (1h buckets over the user's whole range, or RANGE)
--   ROUTE=summary  /v1/users/{id}
--   ROUTE=global   /v1/event_counts?bucket=15m (the whole month)
local users = {}
local route = os.getenv("ROUTE") or "counts"
local bucket = os.getenv("BUCKET") or "1h"
-- RANGE: extra query parameters of the counts routes, e.g. starting_at=...&ending_before=...
local range = os.getenv("RANGE")

function init(args)
  for line in io.lines(os.getenv("USERS")) do
    users[#users + 1] = line
  end
  math.randomseed(os.time() + #tostring({}))
end

function request()
  if route == "global" then
    return wrk.format("GET", "/v1/event_counts?bucket=15m")
  end
  local user = users[math.random(#users)]
  if route == "summary" then
    return wrk.format("GET", "/v1/users/" .. user)
  end
  local path = "/v1/users/" .. user .. "/event_counts?bucket=" .. bucket
  if range then path = path .. "&" .. range end
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read +
                 summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.3f %.3f %.0f %d\n", latency:percentile(50) / 1000,
                         latency:percentile(99) / 1000,
                         summary.requests / (summary.duration / 1e6), errors))
end
