#include "dialects.hpp"

#include <array>
#include <charconv>
#include <cstdio>

#include "server.hpp"

namespace upstream_sim {

namespace {

constexpr std::array<DialectSpec, 7> kSpecs{{
    {"contract", "/api/v1/events", DialectAuth::header, "X-API-Key", "X-RateLimit-", "limit", 5000,
     false, false},
    // HubSpot: a cursor nested in paging.next.after that is absent on the last page.
    {"hubspot", "/crm/v3/objects/events", DialectAuth::bearer, "", "X-HubSpot-RateLimit-", "limit",
     100, false, false},
    // Stripe: starting_after the last record's id, has_more.
    {"stripe", "/v1/events", DialectAuth::bearer, "", "RateLimit-", "limit", 100, false, false},
    // A relative next URL and integer ids.
    {"nexturl", "/v2/events", DialectAuth::header, "X-Api-Token", "X-RateLimit-", "limit", 1000,
     false, false},
    // GitHub: a bare array, Link headers with page numbers, 403 for a spent budget.
    {"github", "/repos/acme/app/events", DialectAuth::bearer, "", "X-RateLimit-", "per_page", 100,
     false, true},
    // offset/limit with a total; more than 1,000 is refused.
    {"offset", "/api/events", DialectAuth::query, "api_key", "X-Rate-Limit-", "limit", 1000, true,
     false},
    // Page numbers, no total, pages clamped to 10,000.
    {"page", "/events", DialectAuth::header, "Api-Key", "X-RateLimit-", "page_size", 10000, false,
     false},
}};

std::optional<std::uint64_t> number(std::string_view s) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

void quoted(std::string& out, std::optional<std::string_view> value) {
  if (!value) {
    out += "null";
    return;
  }
  out.push_back('"');
  for (const char c : *value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

std::string padded(const char* prefix, std::uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%07llu", prefix, static_cast<unsigned long long>(i));
  return buf;
}

void iso(std::string& out, const Dataset& ds, std::uint64_t i) {
  out.push_back('"');
  append_iso_ms(dialect_ts_us(ds, i) / 1000, out);
  out.push_back('"');
}

void append_record(Dialect d, const Dataset& ds, std::uint64_t i, std::string& out) {
  const std::optional<std::string> user = ds.user_id(i);
  const std::optional<std::string_view> type = ds.type(i);
  std::optional<std::string_view> user_view;
  if (user) user_view.emplace(*user);
  switch (d) {
    case Dialect::contract:
      ds.append_event(i, out);
      return;
    case Dialect::hubspot:
      out += "{\"id\":";
      quoted(out, dialect_id(d, ds, i));
      out += ",\"properties\":{\"occurredAt\":";
      iso(out, ds, i);
      out += ",\"userId\":";
      quoted(out, user_view);
      out += ",\"eventType\":";
      quoted(out, type);
      out += "},\"archived\":false}";
      return;
    case Dialect::stripe:
      out += "{\"id\":";
      quoted(out, dialect_id(d, ds, i));
      out += ",\"object\":\"event\",\"type\":";
      quoted(out, type);
      out += ",\"created\":" + std::to_string(dialect_ts_us(ds, i) / 1000);
      out += ",\"data\":{\"object\":{\"user\":";
      quoted(out, user_view);
      out += "}}}";
      return;
    case Dialect::nexturl:
      out += "{\"eventId\":" + dialect_id(d, ds, i) + ",\"ts\":";
      iso(out, ds, i);
      out += ",\"userId\":";
      quoted(out, user_view);
      out += ",\"eventType\":";
      quoted(out, type);
      out += "}";
      return;
    case Dialect::github:
      out += "{\"id\":";
      quoted(out, dialect_id(d, ds, i));
      out += ",\"type\":";
      quoted(out, type);
      out += ",\"actor\":{\"login\":";
      quoted(out, user_view);
      out += "},\"created_at\":";
      iso(out, ds, i);
      out += "}";
      return;
    case Dialect::offset:
      out += "{\"id\":" + dialect_id(d, ds, i) + ",\"occurredAt\":";
      iso(out, ds, i);
      out += ",\"user\":{\"id\":";
      quoted(out, user_view);
      out += "},\"kind\":";
      quoted(out, type);
      out += "}";
      return;
    case Dialect::page:
      out += "{\"uuid\":";
      quoted(out, dialect_id(d, ds, i));
      out += ",\"timestamp\":";
      iso(out, ds, i);
      out += ",\"user_id\":";
      quoted(out, user_view);
      out += ",\"event_type\":";
      quoted(out, type);
      out += "}";
      return;
  }
}

}  // namespace

std::optional<Dialect> parse_dialect(std::string_view name) {
  for (std::size_t i = 0; i < kSpecs.size(); ++i) {
    if (kSpecs[i].name == name) return static_cast<Dialect>(i);
  }
  return std::nullopt;
}

const DialectSpec& dialect_spec(Dialect d) {
  return kSpecs[static_cast<std::size_t>(d)];
}

std::string dialect_id(Dialect d, const Dataset& ds, std::uint64_t i) {
  switch (d) {
    case Dialect::hubspot:
    case Dialect::nexturl:
    case Dialect::offset:
      return std::to_string(i + 1);
    case Dialect::stripe:
      return padded("evt_", i);
    case Dialect::github:
      return padded("event_", i);
    case Dialect::contract:
    case Dialect::page:
      break;
  }
  return ds.id(i);
}

std::int64_t dialect_ts_us(const Dataset& ds, std::uint64_t i) {
  const std::int64_t us = ds.ts_us(i);
  return us - us % 1000;
}

std::optional<std::uint64_t> dialect_start(Dialect d, const DialectQuery& q, std::uint64_t limit) {
  switch (d) {
    case Dialect::hubspot: {
      if (!q.after) return 0;
      const auto text = base64_decode(*q.after);
      if (!text || !text->starts_with("idx:")) return std::nullopt;
      return number(std::string_view(*text).substr(4));
    }
    case Dialect::stripe: {
      if (!q.starting_after) return 0;
      if (!q.starting_after->starts_with("evt_")) return std::nullopt;
      const auto n = number(std::string_view(*q.starting_after).substr(4));
      return n ? std::optional<std::uint64_t>(*n + 1) : std::nullopt;
    }
    case Dialect::nexturl: {
      if (!q.page_token) return 0;
      if (!q.page_token->starts_with("p")) return std::nullopt;
      return number(std::string_view(*q.page_token).substr(1));
    }
    case Dialect::github:
    case Dialect::page: {
      if (!q.page) return 0;
      const auto k = number(*q.page);
      if (!k || *k < 1) return std::nullopt;
      return (*k - 1) * limit;
    }
    case Dialect::offset:
      return q.offset ? number(*q.offset) : std::optional<std::uint64_t>(0);
    case Dialect::contract:
      break;
  }
  return 0;
}

DialectPage render_dialect_page(Dialect d, const Dataset& ds, std::uint64_t first,
                                std::uint64_t end, std::uint64_t n,
                                std::optional<std::uint64_t> next, std::uint64_t limit,
                                std::string_view origin) {
  DialectPage page;
  std::string records = "[";
  for (std::uint64_t i = first; i < end; ++i) {
    if (i != first) records.push_back(',');
    append_record(d, ds, i, records);
  }
  records.push_back(']');
  const std::string l = std::to_string(limit);
  std::string& b = page.body;
  switch (d) {
    case Dialect::hubspot:
      b = "{\"results\":" + records;
      if (next) {
        b += ",\"paging\":{\"next\":{\"after\":\"" + base64_encode("idx:" + std::to_string(*next)) +
             "\",\"link\":\"?after=...\"}}";
      }
      b += "}";
      break;
    case Dialect::stripe:
      b = "{\"object\":\"list\",\"url\":\"/v1/events\",\"has_more\":";
      b += next ? "true" : "false";
      b += ",\"data\":" + records + "}";
      break;
    case Dialect::nexturl:
      b = "{\"results\":" + records + ",\"next\":";
      b += next ? "\"events?page_token=p" + std::to_string(*next) + "&limit=" + l + "\"" : "null";
      b += "}";
      break;
    case Dialect::github: {
      b = records;
      if (next) {
        const std::string base =
            std::string(origin) + std::string(dialect_spec(d).path) + "?per_page=" + l + "&page=";
        page.link = "<" + base + std::to_string(*next / limit + 1) + ">; rel=\"next\", <" + base +
                    std::to_string((n + limit - 1) / limit) + ">; rel=\"last\"";
      }
      break;
    }
    case Dialect::offset:
      b = "{\"items\":" + records + ",\"offset\":" + std::to_string(first) + ",\"limit\":" + l +
          ",\"total\":" + std::to_string(n) + "}";
      break;
    case Dialect::page:
      b = "{\"data\":" + records + ",\"page\":" + std::to_string(first / limit + 1) +
          ",\"page_size\":" + l + "}";
      break;
    case Dialect::contract:
      break;
  }
  return page;
}

}  // namespace upstream_sim
