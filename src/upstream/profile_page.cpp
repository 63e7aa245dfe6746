#include "upstream/profile_page.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "ingestd/errors.hpp"

namespace ingestd {

namespace {

namespace dom = simdjson::dom;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// A string or an integer at `pointer`, as text; nullopt when missing, null or empty.
std::optional<std::string> token_at(dom::element root, const std::string& pointer) {
  dom::element v;
  if (root.at_pointer(pointer).get(v) != simdjson::SUCCESS || v.is_null()) return std::nullopt;
  std::string out;
  if (v.is_string()) {
    out = std::string(v.get_string().value_unsafe());
  } else if (v.is_int64() || v.is_uint64()) {
    out = simdjson::minify(v);
  } else {
    throw ContractError("at " + pointer + " is neither a string nor an integer");
  }
  if (out.empty()) return std::nullopt;
  return out;
}

}  // namespace

std::string percent_encode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

std::optional<std::string> link_next(std::string_view header) {
  std::size_t at = 0;
  while (at < header.size()) {
    const std::size_t open = header.find('<', at);
    if (open == std::string_view::npos) return std::nullopt;
    const std::size_t close = header.find('>', open);
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view target = header.substr(open + 1, close - open - 1);
    // The parameters run to the next link, which starts after a comma outside quotes.
    std::size_t end = close + 1;
    bool quoted = false;
    for (; end < header.size(); ++end) {
      if (header[end] == '"') quoted = !quoted;
      if (header[end] == ',' && !quoted) break;
    }
    const std::string params = lower(header.substr(close + 1, end - close - 1));
    for (std::size_t p = params.find("rel"); p != std::string::npos;
         p = params.find("rel", p + 3)) {
      std::size_t v = params.find_first_not_of(" \t", p + 3);
      if (v == std::string::npos || params[v] != '=') continue;
      v = params.find_first_not_of(" \t", v + 1);
      if (v == std::string::npos) break;
      std::string value;
      if (params[v] == '"') {
        const std::size_t q = params.find('"', v + 1);
        value = params.substr(v + 1, q == std::string::npos ? std::string::npos : q - v - 1);
      } else {
        value = params.substr(v, params.find_first_of(" \t;", v) - v);
      }
      // rel may hold several relation types separated by spaces.
      for (std::size_t s = 0; s <= value.size();) {
        const std::size_t e = std::min(value.find(' ', s), value.size());
        if (value.substr(s, e - s) == "next") return std::string(target);
        s = e + 1;
      }
    }
    at = end + 1;
  }
  return std::nullopt;
}

std::string url_origin(std::string_view url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  const std::size_t host_end = url.find_first_of("/?#", scheme_end + 3);
  return lower(url.substr(0, host_end));
}

std::string resolve_url(std::string_view base, std::string_view ref) {
  if (ref.find("://") != std::string_view::npos && ref.find("://") < ref.find_first_of("/?#")) {
    return std::string(ref);
  }
  const std::size_t scheme_end = base.find("://");
  if (ref.starts_with("//")) return std::string(base.substr(0, scheme_end + 1)) + std::string(ref);
  const std::string origin(base.substr(0, base.find_first_of("/?#", scheme_end + 3)));
  if (ref.starts_with("/")) return origin + std::string(ref);
  const std::string_view path_and_query = base.substr(origin.size());
  const std::string_view path = path_and_query.substr(0, path_and_query.find_first_of("?#"));
  if (ref.starts_with("?")) return origin + std::string(path) + std::string(ref);
  const std::string_view dir = path.substr(0, path.rfind('/') + 1);
  std::string merged = std::string(dir.empty() ? "/" : dir) + std::string(ref);
  // Dot segments (RFC 3986 5.2.4), for the "../page2" some APIs send.
  std::vector<std::string> out;
  const std::size_t query = merged.find_first_of("?#");
  const std::string tail = query == std::string::npos ? "" : merged.substr(query);
  merged = merged.substr(0, query);
  std::size_t s = 1;
  while (s <= merged.size()) {
    const std::size_t e = std::min(merged.find('/', s), merged.size());
    const std::string seg = merged.substr(s, e - s);
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
      if (e == merged.size()) out.emplace_back();
    } else if (seg == ".") {
      if (e == merged.size()) out.emplace_back();
    } else {
      out.push_back(seg);
    }
    s = e + 1;
  }
  std::string path_out;
  for (const std::string& seg : out) path_out += "/" + seg;
  return origin + (path_out.empty() ? "/" : path_out) + tail;
}

ProfilePaging::ProfilePaging(const SourceProfile& profile, std::string base_url,
                             std::optional<int> page_limit)
    : profile_(profile), base_url_(std::move(base_url)), origin_(url_origin(base_url_)) {
  if (!profile_.page_size_param.empty()) {
    if (page_limit) page_size_ = *page_limit;
    for (const auto& [name, value] : profile_.params) {
      if (name == profile_.page_size_param && !page_size_) page_size_ = parse_int(value);
    }
  }
}

std::string ProfilePaging::query_url(const std::string& position_value) const {
  std::string url = base_url_ + profile_.path;
  char sep = profile_.path.find('?') == std::string::npos ? '?' : '&';
  const auto add = [&](const std::string& name, const std::string& value) {
    url += sep;
    url += percent_encode(name) + "=" + percent_encode(value);
    sep = '&';
  };
  bool sized = false;
  for (const auto& [name, value] : profile_.params) {
    if (name == profile_.param && !position_value.empty()) continue;
    const bool size = name == profile_.page_size_param && page_size_;
    add(name, size ? std::to_string(*page_size_) : value);
    sized = sized || size;
  }
  if (page_size_ && !sized) add(profile_.page_size_param, std::to_string(*page_size_));
  if (!position_value.empty()) add(profile_.param, position_value);
  return url;
}

std::string ProfilePaging::url(const std::optional<std::string>& position) const {
  switch (profile_.pagination) {
    case PaginationType::next_url:
    case PaginationType::link_header:
      return position ? *position : query_url("");
    case PaginationType::offset:
    case PaginationType::page:
      return query_url(position.value_or(std::to_string(profile_.start)));
    case PaginationType::cursor:
    case PaginationType::last_record:
      break;
  }
  return query_url(position.value_or(""));
}

PageInfo ProfilePaging::read(const std::string& body, const HttpHeaders& headers,
                             const std::string& request_url,
                             const std::optional<std::string>& position) const {
  thread_local dom::parser parser;
  dom::element root;
  if (const auto error = parser.parse(body).get(root)) {
    throw PageError(std::string("the body is not JSON: ") + simdjson::error_message(error));
  }
  dom::element records;
  if (root.at_pointer(profile_.records).get(records) != simdjson::SUCCESS) {
    throw ContractError("has nothing at the records pointer \"" + profile_.records + "\"");
  }
  dom::array array;
  if (records.get_array().get(array) != simdjson::SUCCESS) {
    throw ContractError("holds no array at the records pointer \"" + profile_.records + "\"");
  }
  PageInfo info;
  info.data_count = array.size();
  if (info.data_count > 0) {
    // One record without an id may be quarantined; a page where none has one is another API.
    for (const std::string* pointer : {&profile_.fields.id, &profile_.fields.timestamp}) {
      const bool any = std::any_of(array.begin(), array.end(), [&](dom::element r) {
        dom::element v;
        return r.at_pointer(*pointer).get(v) == simdjson::SUCCESS;
      });
      if (!any) {
        throw ContractError("has no record with a value at \"" + *pointer +
                            "\" (fields in the profile)");
      }
    }
  }
  if (!profile_.total.empty()) {
    dom::element t;
    if (root.at_pointer(profile_.total).get(t) == simdjson::SUCCESS && t.is_int64()) {
      info.total = t.get_int64().value_unsafe();
    }
  }
  std::optional<bool> has_more;
  if (!profile_.has_more.empty()) {
    dom::element h;
    if (root.at_pointer(profile_.has_more).get(h) == simdjson::SUCCESS && h.is_bool()) {
      has_more = h.get_bool().value_unsafe();
    }
  }
  const bool short_page = info.data_count == 0 ||
                          (page_size_ && static_cast<std::int64_t>(info.data_count) < *page_size_);
  std::optional<std::string> next;
  switch (profile_.pagination) {
    case PaginationType::cursor:
      next = token_at(root, profile_.next);
      break;
    case PaginationType::last_record:
      if (info.data_count > 0) {
        dom::element last;
        if (array.at(info.data_count - 1).get(last) == simdjson::SUCCESS) {
          next = token_at(last, profile_.field);
        }
      }
      break;
    case PaginationType::next_url:
      if (auto ref = token_at(root, profile_.next)) next = resolve_url(request_url, *ref);
      break;
    case PaginationType::link_header:
      if (const auto link = headers.get("Link")) {
        if (auto ref = link_next(*link)) next = resolve_url(request_url, *ref);
      }
      break;
    case PaginationType::offset: {
      const std::int64_t at = position ? parse_int(*position).value_or(0) : profile_.start;
      const std::int64_t after = at + static_cast<std::int64_t>(info.data_count);
      next = std::to_string(after);
      // A page shorter than asked for may only be the server's own cap; a total says so.
      if (!has_more && short_page && !(info.data_count > 0 && info.total && after < *info.total)) {
        next.reset();
      }
      break;
    }
    case PaginationType::page: {
      const std::int64_t at = position ? parse_int(*position).value_or(0) : profile_.start;
      next = std::to_string(at + 1);
      if (!has_more && short_page) next.reset();
      break;
    }
  }
  if (next &&
      (profile_.pagination == PaginationType::next_url ||
       profile_.pagination == PaginationType::link_header) &&
      url_origin(*next) != origin_) {
    throw ContractError("names a next page on another origin (" + url_origin(*next) +
                        "); the API key is only sent to " + origin_);
  }
  if (has_more) {
    info.has_more = *has_more && info.data_count > 0;
    if (*has_more && !next && info.data_count > 0) {
      throw ContractError("says there is more (" + profile_.has_more +
                          " is true) but names no next page");
    }
  } else {
    info.has_more = next.has_value();
  }
  if (info.has_more) info.next_cursor = std::move(next);
  return info;
}

HttpClient::Options profile_http_options(const SourceProfile& p, HttpClient::Options o) {
  switch (p.auth) {
    case AuthType::header:
      o.key_header = p.auth_name + ": ";
      break;
    case AuthType::bearer:
      o.key_header = "Authorization: Bearer ";
      break;
    case AuthType::query:
      o.key_header.clear();
      o.key_param = p.auth_name;
      break;
    case AuthType::none:
      o.key_header.clear();
      break;
  }
  for (const auto& [name, value] : p.headers) o.extra_headers.push_back(name + ": " + value);
  return o;
}

}  // namespace ingestd
