#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ingestd/page.hpp"
#include "ingestd/source_profile.hpp"
#include "upstream/http_client.hpp"
#include "upstream/http_types.hpp"

namespace ingestd {

// How a profile stream (docs/PROFILES.md) is paged, with no I/O: which URL asks for the page
// at a position, and which position a page names next. A position is the text the checkpoint
// keeps: the cursor (cursor), the last record's field (last_record), the URL (next_url,
// link_header), the offset (offset) or the page number (page); nullopt is the first page.
class ProfilePaging {
 public:
  // `base_url` is UPSTREAM_BASE_URL, normalised; `page_limit` is PAGE_LIMIT when it was set
  // (it replaces the value of page_size_param), else nullopt.
  ProfilePaging(const SourceProfile& profile, std::string base_url, std::optional<int> page_limit);

  std::string url(const std::optional<std::string>& position) const;

  // Reads the page the request to `request_url` at `position` answered: how many records it
  // holds, its total, and where the stream goes next (has_more false at the end). Throws
  // PageError for a body that is not JSON (a retry may mend it) and ContractError when the
  // JSON is not such a page: `records` not an array, a required field absent from every record,
  // `has_more` true with no next position, a next URL on another origin.
  PageInfo read(const std::string& body, const HttpHeaders& headers, const std::string& request_url,
                const std::optional<std::string>& position) const;

  const SourceProfile& profile() const { return profile_; }

 private:
  std::string query_url(const std::string& position_value) const;

  const SourceProfile profile_;  // a copy, so that the paging never outlives its profile
  std::string base_url_;
  std::string origin_;
  std::optional<std::int64_t> page_size_;
};

// RFC 3986 percent-encoding of a query component (unreserved characters kept).
std::string percent_encode(std::string_view value);

// The target of the Link header's rel="next" (RFC 8288), nullopt when there is none.
std::optional<std::string> link_next(std::string_view link_header);

// `reference` resolved against `base` (an absolute http(s) URL), RFC 3986 section 5.2 for the
// forms APIs send: absolute, scheme-relative, absolute path, query only, relative path.
std::string resolve_url(std::string_view base, std::string_view reference);

// `o` with the key sent as the profile's auth says, and the profile's fixed headers.
HttpClient::Options profile_http_options(const SourceProfile& profile, HttpClient::Options o);

// "scheme://host[:port]" of an absolute URL, lowercase.
std::string url_origin(std::string_view url);

}  // namespace ingestd
