#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "upstream/http_types.hpp"

namespace ingestd {

// Process-wide libcurl initialisation; construct one in main before any thread starts.
class CurlGlobal {
 public:
  CurlGlobal();
  ~CurlGlobal();
  CurlGlobal(const CurlGlobal&) = delete;
  CurlGlobal& operator=(const CurlGlobal&) = delete;
};

// One libcurl easy handle, reused so the connection stays alive between pages. Not shared
// between threads. HTTP and transport failures are reported in HttpResult, never thrown: the
// caller's outcome classification decides what is retryable.
class HttpClient {
 public:
  struct Options {
    std::string api_key;  // sent as X-API-Key (unless told otherwise below), never logged
    std::chrono::milliseconds timeout{120'000};
    std::chrono::milliseconds connect_timeout{10'000};
    bool gzip = true;
    // The header line before the key ("Authorization: Bearer " for bearer); empty: no header.
    std::string key_header = "X-API-Key: ";
    // A query parameter that carries the key instead, added to each URL as it is sent (so no
    // URL the caller keeps or logs holds it); empty: none.
    std::string key_param;
    std::vector<std::string> extra_headers;  // "Name: value" lines sent with every request
  };
  // Supplies a streamed request body: fills up to n bytes, returns 0 at the end.
  using BodySource = std::function<std::size_t(char* out, std::size_t n)>;

  explicit HttpClient(Options options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `out.body` keeps its capacity across calls and always has simdjson's padding spare.
  void get(const std::string& url, HttpResult& out, std::stop_token stop = {});
  // Chunked upload; bytes_sent counts request-body bytes handed to the connection.
  void post_stream(const std::string& url, std::string_view content_type, BodySource source,
                   HttpResult& out, std::uint64_t& bytes_sent, std::stop_token stop = {});

  // Percent-encodes a query-string value.
  std::string escape(std::string_view value) const;

 private:
  struct CurlDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
  };
  struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
  };
  std::string with_key(const std::string& url) const;
  void prepare(const std::string& url, HttpResult& out, std::stop_token& stop);
  void perform(HttpResult& out);

  Options options_;
  std::unique_ptr<CURL, CurlDeleter> curl_;
  std::unique_ptr<curl_slist, SlistDeleter> get_headers_;
  std::unique_ptr<curl_slist, SlistDeleter> post_headers_;
  char error_[CURL_ERROR_SIZE] = {};
};

}  // namespace ingestd
