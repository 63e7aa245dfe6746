// Other APIs' ways of paging the same dataset (ingestd's source profiles, docs/PROFILES.md):
// each dialect has its own path, envelope, field names, id form, pagination, auth and rate
// headers, so that the profiles in tests/profiles/ run against real HTTP.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dataset.hpp"

namespace upstream_sim {

enum class Dialect { contract, hubspot, stripe, nexturl, github, offset, page };

std::optional<Dialect> parse_dialect(std::string_view name);

enum class DialectAuth { header, bearer, query };

struct DialectSpec {
  std::string_view name;
  std::string_view path;
  DialectAuth auth;
  std::string_view auth_name;    // header or query parameter (header, query)
  std::string_view rate_prefix;  // the rate headers' prefix instead of X-RateLimit-
  std::string_view limit_param;  // the page size parameter
  int page_cap;                  // the most records one page holds
  bool cap_refused;              // asking for more than page_cap is a 400 (else clamped)
  bool refusal_403;              // a rate refusal is a 403 (GitHub's way)
};

const DialectSpec& dialect_spec(Dialect d);

// The request's position: the dataset index its page starts at; nullopt for a position the
// dialect never issued.
struct DialectQuery {
  std::optional<std::string> after, starting_after, page_token, page, offset;
};
std::optional<std::uint64_t> dialect_start(Dialect d, const DialectQuery& q, std::uint64_t limit);

struct DialectPage {
  std::string body;
  std::string link;  // the Link header (github), empty when none
};

// Events [first, end) of `n`, as the dialect sends them. `next` is the index the next page
// starts at (nullopt on the last page); `origin` is "http://host:port" for absolute links.
DialectPage render_dialect_page(Dialect d, const Dataset& ds, std::uint64_t first,
                                std::uint64_t end, std::uint64_t n,
                                std::optional<std::uint64_t> next, std::uint64_t limit,
                                std::string_view origin);

// The id event i has in the dialect, and the instant it is sent with (milliseconds: every
// dialect sends milliseconds), for /internal/expected.
std::string dialect_id(Dialect d, const Dataset& ds, std::uint64_t i);
std::int64_t dialect_ts_us(const Dataset& ds, std::uint64_t i);

}  // namespace upstream_sim
