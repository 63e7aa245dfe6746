#include "upstream/http_client.hpp"

#include <simdjson.h>

#include <stdexcept>

namespace ingestd {

namespace {

constexpr std::size_t kInitialBodyCapacity = 2 << 20;  // a 5000-event page is about 1.7 MB

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  const std::size_t len = size * n;
  if (body->capacity() < body->size() + len + simdjson::SIMDJSON_PADDING) {
    body->reserve(std::max(body->capacity() * 2, body->size() + len + simdjson::SIMDJSON_PADDING));
  }
  body->append(data, len);
  return len;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* headers = static_cast<HttpHeaders*>(user);
  std::string_view line(data, size * n);
  // A new status line (redirect, 100-continue) starts a new header block.
  if (line.starts_with("HTTP/")) {
    headers->clear();
    return size * n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  auto value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  headers->add(std::string(line.substr(0, colon)), std::string(value));
  return size * n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::stop_token*>(user)->stop_requested() ? 1 : 0;
}

struct UploadState {
  HttpClient::BodySource* source;
  std::uint64_t* sent;
  std::exception_ptr error;
};

std::size_t on_upload(char* buffer, std::size_t size, std::size_t n, void* user) {
  auto* state = static_cast<UploadState*>(user);
  try {
    std::size_t got = (*state->source)(buffer, size * n);
    *state->sent += got;
    return got;
  } catch (...) {
    state->error = std::current_exception();
    return CURL_READFUNC_ABORT;
  }
}

void check(CURLcode rc, const char* what) {
  if (rc != CURLE_OK)
    throw std::runtime_error(std::string("libcurl: ") + what + ": " + curl_easy_strerror(rc));
}

}  // namespace

CurlGlobal::CurlGlobal() {
  check(curl_global_init(CURL_GLOBAL_DEFAULT), "global init");
}
CurlGlobal::~CurlGlobal() {
  curl_global_cleanup();
}

HttpClient::HttpClient(Options options) : options_(std::move(options)), curl_(curl_easy_init()) {
  if (!curl_) throw std::runtime_error("libcurl: cannot create an easy handle");
  const auto add = [](std::unique_ptr<curl_slist, SlistDeleter>& list, const std::string& line) {
    curl_slist* grown = curl_slist_append(list.get(), line.c_str());
    if (!grown) throw std::runtime_error("libcurl: cannot build the request headers");
    static_cast<void>(list.release());
    list.reset(grown);
  };
  if (!options_.key_header.empty()) {
    add(get_headers_, options_.key_header + options_.api_key);
    add(post_headers_, options_.key_header + options_.api_key);
  }
  add(get_headers_, "Accept: application/json");
  for (const std::string& line : options_.extra_headers) {
    add(get_headers_, line);
    add(post_headers_, line);
  }
  // Without this, libcurl waits for a 100-continue before streaming a large body.
  add(post_headers_, "Expect:");
  add(post_headers_, "Transfer-Encoding: chunked");
}

HttpClient::~HttpClient() = default;

std::string HttpClient::escape(std::string_view value) const {
  std::unique_ptr<char, decltype(&curl_free)> out(
      curl_easy_escape(curl_.get(), value.data(), static_cast<int>(value.size())), &curl_free);
  if (!out) throw std::runtime_error("libcurl: cannot escape a query value");
  return std::string(out.get());
}

void HttpClient::prepare(const std::string& url, HttpResult& out, std::stop_token& stop) {
  CURL* c = curl_.get();
  curl_easy_reset(c);
  out.status = 0;
  out.transport_error.clear();
  out.headers.clear();
  out.body.clear();
  if (out.body.capacity() < kInitialBodyCapacity) out.body.reserve(kInitialBodyCapacity);
  error_[0] = '\0';
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "ingestd/" INGESTD_VERSION);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &out.headers);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &stop);
  if (options_.gzip) curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
}

void HttpClient::perform(HttpResult& out) {
  CURLcode rc = curl_easy_perform(curl_.get());
  if (rc != CURLE_OK) {
    out.status = 0;
    out.transport_error = error_[0] ? error_ : curl_easy_strerror(rc);
    return;
  }
  long status = 0;
  curl_easy_getinfo(curl_.get(), CURLINFO_RESPONSE_CODE, &status);
  out.status = static_cast<int>(status);
  if (out.body.capacity() < out.body.size() + simdjson::SIMDJSON_PADDING) {
    out.body.reserve(out.body.size() + simdjson::SIMDJSON_PADDING);
  }
}

std::string HttpClient::with_key(const std::string& url) const {
  if (options_.key_param.empty()) return url;
  return url + (url.find('?') == std::string::npos ? '?' : '&') + escape(options_.key_param) + "=" +
         escape(options_.api_key);
}

void HttpClient::get(const std::string& url, HttpResult& out, std::stop_token stop) {
  prepare(with_key(url), out, stop);
  curl_easy_setopt(curl_.get(), CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(curl_.get(), CURLOPT_HTTPHEADER, get_headers_.get());
  perform(out);
}

void HttpClient::post_stream(const std::string& url, std::string_view content_type,
                             BodySource source, HttpResult& out, std::uint64_t& bytes_sent,
                             std::stop_token stop) {
  prepare(with_key(url), out, stop);
  std::unique_ptr<curl_slist, SlistDeleter> headers(nullptr);
  for (curl_slist* h = post_headers_.get(); h; h = h->next) {
    headers.reset(curl_slist_append(headers.release(), h->data));
  }
  const std::string ct = "Content-Type: " + std::string(content_type);
  headers.reset(curl_slist_append(headers.release(), ct.c_str()));
  UploadState state{&source, &bytes_sent, nullptr};
  CURL* c = curl_.get();
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_READFUNCTION, &on_upload);
  curl_easy_setopt(c, CURLOPT_READDATA, &state);
  perform(out);
  if (state.error) std::rethrow_exception(state.error);
}

}  // namespace ingestd
