#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ingestd {

// Response headers in arrival order; names compare case-insensitively because HTTP/1.1 and
// HTTP/2 upstreams disagree on case.
class HttpHeaders {
 public:
  void add(std::string name, std::string value);
  void clear() { items_.clear(); }
  std::optional<std::string_view> get(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// The outcome of one HTTP exchange. status is 0 when no response arrived, and then
// transport_error says why (timeout, connection reset, DNS, ...).
struct HttpResult {
  int status = 0;
  std::string transport_error;
  HttpHeaders headers;
  // Response body; its capacity keeps simdjson's padding spare (see http_client).
  std::string body;
};

}  // namespace ingestd
