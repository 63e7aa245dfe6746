// Deterministic generated inputs: every accepted timestamp form of random instants, and random
// damage to timestamps and pages. The seeds are fixed so that a failure reproduces exactly.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "common/timestamp.hpp"
#include "decode/decoder.hpp"
#include "ingestd/errors.hpp"
#include "upstream/envelope.hpp"

using ingestd::decode_page;
using ingestd::PageError;
using ingestd::parse_timestamp_number;
using ingestd::parse_timestamp_string;
using ingestd::peek_page_info;

namespace {

constexpr std::int64_t kMicrosPerDay = 86'400'000'000;
constexpr std::int64_t kEndMicros = 253'402'300'800'000'000;  // 10000-01-01T00:00:00Z

// Calendar fields from the standard library, independent of the code under test.
struct Fields {
  int year;
  unsigned month, day, hour, minute, second;
  std::int64_t micros;  // within the second
};

Fields fields_of(std::int64_t micros) {
  using namespace std::chrono;
  const sys_days day{days{micros / kMicrosPerDay}};
  const year_month_day ymd{day};
  const std::int64_t in_day = micros % kMicrosPerDay;
  const std::int64_t second_of_day = in_day / 1'000'000;
  return {int(ymd.year()),
          unsigned(ymd.month()),
          unsigned(ymd.day()),
          unsigned(second_of_day / 3600),
          unsigned(second_of_day / 60 % 60),
          unsigned(second_of_day % 60),
          in_day % 1'000'000};
}

std::int64_t pow10(int n) {
  std::int64_t p = 1;
  while (n-- > 0) p *= 10;
  return p;
}

struct IsoCase {
  std::string text;
  std::int64_t expected;
};

IsoCase random_iso(std::mt19937_64& rng, std::int64_t instant) {
  // Offsets keep to whole hours half of the time so that the "+HH" form is exercised too.
  const int offset_minutes = rng() % 2 == 0 ? static_cast<int>(rng() % 37) * 60 - 18 * 60
                                            : static_cast<int>(rng() % 2161) - 1080;
  const Fields f = fields_of(instant + std::int64_t{offset_minutes} * 60'000'000);
  const int fraction_digits = static_cast<int>(rng() % 10);
  char buf[96];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02u%c%02u:%02u:%02u", f.year, f.month, f.day,
                        "Tt "[rng() % 3], f.hour, f.minute, f.second);
  std::int64_t expected = instant;
  if (fraction_digits > 0) {
    const int kept = fraction_digits < 6 ? fraction_digits : 6;
    const std::int64_t fraction = f.micros / pow10(6 - kept);
    n += std::snprintf(buf + n, sizeof buf - n, ".%0*lld", kept, static_cast<long long>(fraction));
    for (int i = 6; i < fraction_digits; ++i) buf[n++] = static_cast<char>('0' + rng() % 10);
    expected -= f.micros - fraction * pow10(6 - kept);
  } else {
    expected -= f.micros;
  }
  const int magnitude = offset_minutes < 0 ? -offset_minutes : offset_minutes;
  const char sign = offset_minutes < 0 ? '-' : '+';
  const unsigned zone_form = rng() % 4;
  if (offset_minutes == 0 && zone_form == 0) {
    buf[n++] = rng() % 2 == 0 ? 'Z' : 'z';
  } else if (magnitude % 60 == 0 && zone_form == 1) {
    n += std::snprintf(buf + n, sizeof buf - n, "%c%02d", sign, magnitude / 60);
  } else if (zone_form == 2) {
    n += std::snprintf(buf + n, sizeof buf - n, "%c%02d%02d", sign, magnitude / 60, magnitude % 60);
  } else {
    n +=
        std::snprintf(buf + n, sizeof buf - n, "%c%02d:%02d", sign, magnitude / 60, magnitude % 60);
  }
  return {std::string(buf, static_cast<std::size_t>(n)), expected};
}

void expect_micros(const ingestd::TimestampResult& r, std::int64_t expected,
                   const std::string& text) {
  if (!r.ok() || r.micros != expected) {
    FAIL_CHECK(text, " gave ", r.micros, " / ", std::string(r.error), ", expected ", expected);
  }
}

void mutate(std::mt19937_64& rng, std::string& s) {
  using namespace std::string_view_literals;
  constexpr std::string_view kInteresting = "0123456789-+:.TZz \"{}[],\\u\0\xff"sv;
  const unsigned edits = 1 + static_cast<unsigned>(rng() % 3);
  for (unsigned e = 0; e < edits; ++e) {
    const std::size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    const char c =
        rng() % 2 == 0 ? static_cast<char>(rng() % 256) : kInteresting[rng() % kInteresting.size()];
    switch (rng() % 4) {
      case 0:
        if (at < s.size()) s[at] = c;
        break;
      case 1:
        if (at < s.size()) s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8)));
        break;
      case 2:
        s.insert(at, 1, c);
        break;
      default:
        s.resize(at);
        break;
    }
  }
}

void expect_sane(const ingestd::TimestampResult& r) {
  if (r.ok()) {
    CHECK(r.micros >= 0);
    CHECK(r.micros < kEndMicros);
  } else {
    CHECK(r.error.substr(0, 10) == "timestamp:");
  }
}

}  // namespace

TEST_CASE("random instants in every accepted form parse to the exact microsecond") {
  std::mt19937_64 rng(20260127);
  std::uniform_int_distribution<std::int64_t> any_instant(kMicrosPerDay,
                                                          kEndMicros - kMicrosPerDay);
  std::uniform_int_distribution<std::int64_t> recent(1'700'000'000'000'000, 1'800'000'000'000'000);
  for (int i = 0; i < 60'000; ++i) {
    const std::int64_t instant = i % 2 == 0 ? any_instant(rng) : recent(rng);
    const IsoCase iso = random_iso(rng, instant);
    expect_micros(parse_timestamp_string(iso.text), iso.expected, iso.text);

    const std::int64_t ms = instant / 1000;
    const std::int64_t seconds = instant / 1'000'000;
    if (ms >= 100'000'000'000) {
      const std::string ms_text = std::to_string(ms);
      expect_micros(parse_timestamp_number(ms_text), ms * 1000, ms_text);
      expect_micros(parse_timestamp_string(ms_text), ms * 1000, ms_text);
      char fractional[40];
      std::snprintf(fractional, sizeof fractional, "%lld.%03lld", static_cast<long long>(ms),
                    static_cast<long long>(instant % 1000));
      expect_micros(parse_timestamp_number(fractional), instant, fractional);
    }
    if (seconds < 100'000'000'000) {
      const std::string s_text = std::to_string(seconds);
      expect_micros(parse_timestamp_number(s_text), seconds * 1'000'000, s_text);
      expect_micros(parse_timestamp_string(s_text), seconds * 1'000'000, s_text);
      char fractional[40];
      std::snprintf(fractional, sizeof fractional, "%lld.%06lld", static_cast<long long>(seconds),
                    static_cast<long long>(instant % 1'000'000));
      expect_micros(parse_timestamp_number(fractional), instant, fractional);
    }
    std::array<char, 40> buf{};
    std::string formatted(buf.data(), ingestd::format_timestamptz(instant, buf.data()));
    formatted.replace(formatted.size() - 3, 3, "+00:00");
    expect_micros(parse_timestamp_string(formatted), instant, formatted);
  }
}

TEST_CASE("damaged timestamps fail with a reason or parse into range") {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::int64_t> instants(0, kEndMicros - 1);
  for (int i = 0; i < 40'000; ++i) {
    std::string text = random_iso(rng, instants(rng)).text;
    mutate(rng, text);
    expect_sane(parse_timestamp_string(text));
    std::string number = std::to_string(instants(rng) / 1000);
    mutate(rng, number);
    expect_sane(parse_timestamp_number(number));
    expect_sane(parse_timestamp_string(number));
  }
}

TEST_CASE("damaged pages throw PageError or decode consistently") {
  const std::string page =
      R"({"data":[{"id":"56a349b5-7243-4e0c-9fd8-f2c1eb2a5d35","sessionId":"0ae5e27f-bcc5-4d99-b744-3ce64d3623a9","userId":"1f2a12b4-1bdc-463d-ba74-f6d849f5b76f","type":"click","name":"event_e8o287","properties":{"page":"/home"},"timestamp":1769541612369,"session":{"id":"0ae5e27f-bcc5-4d99-b744-3ce64d3623a9","deviceType":"tablet","browser":"Edge"}},)"
      R"({"id":"065a1ce4-7f87-4dc0-a18a-6ee5cdbaf027","type":"page_view","name":"caf\u00e9\t\"x\"","properties":{"a":[1,2.5e3,null,true,{"b":"\n"}]},"timestamp":"2026-01-27T19:19:13.629Z"}],)"
      R"("pagination":{"limit":100,"hasMore":true,"nextCursor":"eyJpZCI6ImFmNWMzM2M4","cursorExpiresIn":116},)"
      R"("meta":{"total":3000000,"returned":2,"requestId":"23d61d86-60b3-41d4-a704-ded5da7db7a0"}})";
  REQUIRE(decode_page(page).row_count == 2);
  std::mt19937_64 rng(42);
  int accepted = 0;
  for (int i = 0; i < 6'000; ++i) {
    std::string body = page;
    mutate(rng, body);
    if (i % 2 == 0) body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    std::optional<ingestd::PageInfo> info;
    try {
      info = peek_page_info(body);
    } catch (const PageError& e) {
      CHECK(std::string(e.what()).size() > 6);
    } catch (const ingestd::ContractError& e) {
      CHECK(std::string(e.what()).size() > 6);
    }
    try {
      const auto decoded = decode_page(body);
      std::size_t lines = 0;
      std::size_t tabs = 0;
      for (const char c : decoded.copy_rows) {
        lines += c == '\n' ? 1 : 0;
        tabs += c == '\t' ? 1 : 0;
      }
      CHECK(lines == decoded.row_count);
      CHECK(tabs == 7 * decoded.row_count);
      for (const auto& q : decoded.quarantined) CHECK_FALSE(q.reason.empty());
      if (info) {
        ++accepted;
        CHECK(decoded.row_count + decoded.quarantined.size() == info->data_count);
      }
    } catch (const PageError& e) {
      CHECK(std::string(e.what()).size() > 6);
    }
  }
  CHECK(accepted > 0);
}
