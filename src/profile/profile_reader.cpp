#include "profile/profile_reader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <regex>

#include "ingestd/errors.hpp"

namespace ingestd {

namespace {

struct Names {
  std::string_view text;
  PaginationType type;
};
constexpr std::array<Names, 6> kPaginations{{{"cursor", PaginationType::cursor},
                                             {"last_record", PaginationType::last_record},
                                             {"next_url", PaginationType::next_url},
                                             {"link_header", PaginationType::link_header},
                                             {"offset", PaginationType::offset},
                                             {"page", PaginationType::page}}};

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Reads one YAML mapping, refusing keys it does not know and naming where each value is.
class Reader {
 public:
  explicit Reader(std::string_view origin) : origin_(origin) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& what) const {
    throw ConfigError("profile " + origin_ + ":" + std::to_string(at.Mark().line + 1) + ": " +
                      what);
  }

  // The mapping at `node` (named `where`), checked to hold only `known` keys.
  void expect_keys(const YAML::Node& node, const std::string& where,
                   std::initializer_list<std::string_view> known) const {
    if (!node.IsMap()) fail(node, where + " must be a mapping");
    for (const auto& item : node) {
      const std::string key = item.first.as<std::string>();
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      std::string message = "unknown key `" + (where.empty() ? key : where + "." + key) + "`";
      std::string_view best;
      std::size_t best_distance = 3;
      for (const std::string_view k : known) {
        if (const std::size_t d = edit_distance(key, k); d < best_distance) {
          best = k;
          best_distance = d;
        }
      }
      if (!best.empty()) message += " (did you mean `" + std::string(best) + "`?)";
      std::string allowed;
      for (const std::string_view k : known)
        allowed += (allowed.empty() ? "" : ", ") + std::string(k);
      fail(item.first, message + "; known keys: " + allowed);
    }
  }

  std::string text(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) fail(node, "`" + key + "` must be a single value");
    return node.Scalar();
  }

  std::string pointer(const YAML::Node& node, const std::string& key) const {
    std::string p = node.IsNull() ? std::string() : text(node, key);
    if (!valid_json_pointer(p)) {
      fail(node, "`" + key +
                     "` is not a JSON pointer (RFC 6901: \"\" or /a/b, ~0 and ~1 as escapes): \"" +
                     p + "\"");
    }
    return p;
  }

  std::int64_t integer(const YAML::Node& node, const std::string& key) const {
    const std::string v = text(node, key);
    std::int64_t out = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc() || end != v.data() + v.size())
      fail(node, "`" + key + "` must be an integer, not \"" + v + "\"");
    return out;
  }

  std::vector<std::pair<std::string, std::string>> pairs(const YAML::Node& node,
                                                         const std::string& key) const {
    std::vector<std::pair<std::string, std::string>> out;
    if (node.IsNull()) return out;
    if (!node.IsMap()) fail(node, "`" + key + "` must be a mapping of names to values");
    for (const auto& item : node) {
      const std::string name = item.first.as<std::string>();
      out.emplace_back(name, text(item.second, key + "." + name));
    }
    return out;
  }

  std::string origin_;
};

}  // namespace

bool valid_json_pointer(std::string_view pointer) {
  if (pointer.empty()) return true;
  if (pointer.front() != '/') return false;
  for (std::size_t i = 0; i < pointer.size(); ++i) {
    if (pointer[i] != '~') continue;
    if (i + 1 >= pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')) return false;
  }
  return true;
}

std::string_view pagination_name(PaginationType type) {
  for (const Names& n : kPaginations) {
    if (n.type == type) return n.text;
  }
  return "cursor";
}

SourceProfile read_profile(std::string_view yaml, std::string_view origin) {
  const Reader r(origin);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    throw ConfigError("profile " + std::string(origin) + ":" + std::to_string(e.mark.line + 1) +
                      ": not YAML: " + e.msg);
  }
  if (!root.IsMap()) {
    throw ConfigError("profile " + std::string(origin) +
                      ": must be a YAML mapping (docs/PROFILES.md)");
  }
  try {
    r.expect_keys(root, "",
                  {"name", "request", "auth", "records", "pagination", "fields", "order",
                   "cursor_expired", "submission", "rate_headers"});
    SourceProfile p;
    const auto required = [&](const YAML::Node& parent, const char* key, const std::string& where) {
      const YAML::Node n = parent[key];
      if (!n) r.fail(parent, "`" + where + "` is required");
      return n;
    };

    p.name = r.text(required(root, "name", "name"), "name");
    static const std::regex name_re("[a-z][a-z0-9_]{0,39}");
    if (!std::regex_match(p.name, name_re)) {
      r.fail(root["name"],
             "`name` must be 1 to 40 of a-z, 0-9 and _, starting with a letter, not \"" + p.name +
                 "\"");
    }

    const YAML::Node request = required(root, "request", "request");
    r.expect_keys(request, "request", {"path", "params", "page_size_param", "headers"});
    p.path = r.text(required(request, "path", "request.path"), "request.path");
    if (p.path.empty() || p.path.front() != '/')
      r.fail(request["path"], "`request.path` must start with /");
    p.params =
        request["params"] ? r.pairs(request["params"], "request.params") : decltype(p.params){};
    p.page_size_param = request["page_size_param"]
                            ? r.text(request["page_size_param"], "request.page_size_param")
                            : "";
    p.headers =
        request["headers"] ? r.pairs(request["headers"], "request.headers") : decltype(p.headers){};

    const YAML::Node auth = required(root, "auth", "auth");
    r.expect_keys(auth, "auth", {"type", "name"});
    const std::string auth_type = r.text(required(auth, "type", "auth.type"), "auth.type");
    if (auth_type == "header") {
      p.auth = AuthType::header;
    } else if (auth_type == "bearer") {
      p.auth = AuthType::bearer;
    } else if (auth_type == "query") {
      p.auth = AuthType::query;
    } else if (auth_type == "none") {
      p.auth = AuthType::none;
    } else {
      r.fail(auth["type"],
             "`auth.type` is header, bearer, query or none, not \"" + auth_type + "\"");
    }
    p.auth_name.clear();
    if (p.auth == AuthType::header || p.auth == AuthType::query) {
      p.auth_name = r.text(required(auth, "name", "auth.name"), "auth.name");
    }

    p.records = r.pointer(required(root, "records", "records"), "records");

    const YAML::Node pg = required(root, "pagination", "pagination");
    r.expect_keys(pg, "pagination",
                  {"type", "next", "param", "field", "start", "has_more", "total"});
    const std::string type = r.text(required(pg, "type", "pagination.type"), "pagination.type");
    const auto found = std::find_if(kPaginations.begin(), kPaginations.end(),
                                    [&](const Names& n) { return n.text == type; });
    if (found == kPaginations.end()) {
      r.fail(pg["type"],
             "`pagination.type` is cursor, last_record, next_url, link_header, offset or "
             "page, not \"" +
                 type + "\"");
    }
    p.pagination = found->type;
    const bool needs_next =
        p.pagination == PaginationType::cursor || p.pagination == PaginationType::next_url;
    const bool needs_param =
        p.pagination != PaginationType::next_url && p.pagination != PaginationType::link_header;
    p.next =
        needs_next ? r.pointer(required(pg, "next", "pagination.next"), "pagination.next") : "";
    p.param =
        needs_param ? r.text(required(pg, "param", "pagination.param"), "pagination.param") : "";
    p.field = p.pagination == PaginationType::last_record
                  ? r.pointer(required(pg, "field", "pagination.field"), "pagination.field")
                  : "";
    for (const char* unused : {"next", "param", "field"}) {
      const bool used =
          (std::string_view(unused) == "next" && needs_next) ||
          (std::string_view(unused) == "param" && needs_param) ||
          (std::string_view(unused) == "field" && p.pagination == PaginationType::last_record);
      if (pg[unused] && !used) {
        r.fail(pg[unused],
               "`pagination." + std::string(unused) + "` has no meaning for type " + type);
      }
    }
    p.start = p.pagination == PaginationType::page ? 1 : 0;
    if (pg["start"]) {
      if (p.pagination != PaginationType::page && p.pagination != PaginationType::offset) {
        r.fail(pg["start"], "`pagination.start` is for offset and page only");
      }
      p.start = r.integer(pg["start"], "pagination.start");
    }
    p.has_more = pg["has_more"] ? r.pointer(pg["has_more"], "pagination.has_more") : "";
    p.total = pg["total"] ? r.pointer(pg["total"], "pagination.total") : "";

    const YAML::Node fields = required(root, "fields", "fields");
    r.expect_keys(fields, "fields", {"id", "timestamp", "user", "type", "session"});
    p.fields.id = r.pointer(required(fields, "id", "fields.id"), "fields.id");
    p.fields.timestamp =
        r.pointer(required(fields, "timestamp", "fields.timestamp"), "fields.timestamp");
    const auto optional_pointer = [&](const char* key) {
      return fields[key] ? r.pointer(fields[key], std::string("fields.") + key) : std::string();
    };
    p.fields.user = optional_pointer("user");
    p.fields.type = optional_pointer("type");
    p.fields.session = optional_pointer("session");
    if (p.fields.id.empty() || p.fields.timestamp.empty()) {
      r.fail(fields,
             "`fields.id` and `fields.timestamp` must point inside the record, not be \"\"");
    }

    p.order = RecordOrder::none;
    if (root["order"]) {
      const std::string order = r.text(root["order"], "order");
      if (order == "desc") {
        p.order = RecordOrder::desc;
      } else if (order == "asc") {
        p.order = RecordOrder::asc;
      } else if (order != "none") {
        r.fail(root["order"], "`order` is desc, asc or none, not \"" + order + "\"");
      }
    }

    p.cursor_expired_status.clear();
    p.cursor_expired_codes.clear();
    if (const YAML::Node ce = root["cursor_expired"]) {
      r.expect_keys(ce, "cursor_expired", {"status", "codes"});
      if (const YAML::Node s = ce["status"]) {
        if (!s.IsSequence()) r.fail(s, "`cursor_expired.status` must be a list of HTTP statuses");
        for (const auto& v : s) {
          const std::int64_t status = r.integer(v, "cursor_expired.status");
          if (status < 400 || status > 499) r.fail(v, "`cursor_expired.status` holds 4xx statuses");
          p.cursor_expired_status.push_back(static_cast<int>(status));
        }
      }
      if (const YAML::Node c = ce["codes"]) {
        if (!c.IsSequence()) r.fail(c, "`cursor_expired.codes` must be a list of error codes");
        for (const auto& v : c) p.cursor_expired_codes.push_back(r.text(v, "cursor_expired.codes"));
      }
    }

    p.submission_path.reset();
    if (const YAML::Node sub = root["submission"]) {
      r.expect_keys(sub, "submission", {"path"});
      p.submission_path = r.text(required(sub, "path", "submission.path"), "submission.path");
      if (p.submission_path->empty() || p.submission_path->front() != '/') {
        r.fail(sub["path"], "`submission.path` must start with /");
      }
    }

    if (const YAML::Node rh = root["rate_headers"]) {
      r.expect_keys(rh, "rate_headers", {"prefix"});
      p.rate_header_prefix =
          r.text(required(rh, "prefix", "rate_headers.prefix"), "rate_headers.prefix");
      if (p.rate_header_prefix.empty() || p.rate_header_prefix.back() != '-') {
        r.fail(rh["prefix"], "`rate_headers.prefix` ends with -, like X-HubSpot-RateLimit-");
      }
    }
    return p;
  } catch (const YAML::Exception& e) {
    throw ConfigError("profile " + std::string(origin) + ":" + std::to_string(e.mark.line + 1) +
                      ": " + e.msg);
  }
}

}  // namespace ingestd
