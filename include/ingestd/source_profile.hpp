#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ingestd {

/// How a source profile's API says where the next page is.
enum class PaginationType {
  cursor,       ///< a token in the body, sent back as a query parameter
  last_record,  ///< a field of the page's last record, sent back as a query parameter
  next_url,     ///< a URL in the body, absolute or relative to the request
  link_header,  ///< RFC 8288 Link header with rel="next"
  offset,       ///< a query parameter counting the records already read
  page,         ///< a query parameter numbering pages
};

/// How the API key reaches the upstream. The key itself is never part of a profile.
enum class AuthType { header, bearer, query, none };

/// The order records arrive in, newest first (desc) as the contract sends them.
enum class RecordOrder { desc, asc, none };

/// RFC 6901 pointers into one record. id and timestamp are required; an empty optional
/// pointer leaves its column NULL.
struct FieldPointers {
  std::string id = "/id";
  std::string timestamp = "/timestamp";
  std::string user = "/userId";
  std::string type = "/type";
  std::string session = "/sessionId";
  bool operator==(const FieldPointers&) const = default;
};

/// A paged JSON API described as data (config/profiles/, docs/PROFILES.md). Pointers are RFC
/// 6901; "" is the whole body. The defaults are the contract of the events API.
struct SourceProfile {
  /// The stream's name: its checkpoint, lock, rate state and rows. The contract's stream is
  /// named kContractStream and keeps the tables it always had.
  std::string name = "datasync";

  std::string path = "/api/v1/events";  ///< appended to UPSTREAM_BASE_URL
  std::vector<std::pair<std::string, std::string>> params{{"limit", "5000"}};
  std::string page_size_param = "limit";  ///< empty: PAGE_LIMIT is not sent
  std::vector<std::pair<std::string, std::string>> headers;

  AuthType auth = AuthType::header;
  std::string auth_name = "X-API-Key";  ///< the header (header) or query parameter (query)

  std::string records = "/data";

  PaginationType pagination = PaginationType::cursor;
  std::string next = "/pagination/nextCursor";   ///< cursor, next_url
  std::string param = "cursor";                  ///< cursor, last_record, offset, page
  std::string field;                             ///< last_record
  std::int64_t start = 0;                        ///< offset (default 0), page (default 1)
  std::string has_more = "/pagination/hasMore";  ///< empty: the other end conditions decide
  std::string total = "/meta/total";             ///< empty: no total known

  FieldPointers fields;
  RecordOrder order = RecordOrder::desc;

  std::vector<int> cursor_expired_status{400, 410};
  std::vector<std::string> cursor_expired_codes{"CURSOR_EXPIRED", "CursorExpired"};

  std::optional<std::string> submission_path = "/api/v1/submissions";

  /// A vendor's rate-header prefix read before the common ones, e.g. "X-HubSpot-RateLimit-".
  std::string rate_header_prefix;

  bool operator==(const SourceProfile&) const = default;
};

/// The stream name of the contract's profile.
inline constexpr const char* kContractStream = "datasync";

/// The built-in profile: the events API's contract (shipped as config/profiles/datasync.yaml).
inline const SourceProfile& contract_profile() {
  static const SourceProfile profile;
  return profile;
}

}  // namespace ingestd
