#include "common/timestamp.hpp"

#include <array>
#include <cstddef>

namespace ingestd {
namespace {

constexpr std::int64_t kMicrosPerSecond = 1'000'000;
constexpr std::int64_t kSecondsPerDay = 86'400;

// Proleptic Gregorian calendar arithmetic after H. Hinnant's "chrono-Compatible Low-Level Date
// Algorithms": exact for every year, no tables, no time zone database.
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct CivilDate {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

constexpr CivilDate civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

// First instant that no longer has a four-digit year.
constexpr std::int64_t kEndMicros =
    days_from_civil(10000, 1, 1) * kSecondsPerDay * kMicrosPerSecond;
static_assert(kEndMicros == 253'402'300'800'000'000);

constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

constexpr bool is_leap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

constexpr unsigned days_in_month(std::int64_t y, unsigned m) {
  constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

constexpr TimestampResult fail(std::string_view reason) {
  return {0, reason};
}

// A non-negative decimal value written as int_digits[.frac_digits][e exponent].
struct Decimal {
  std::string_view int_digits;
  std::string_view frac_digits;
  std::int64_t exponent = 0;
  bool exponent_form = false;
};

char digit_at(const Decimal& d, std::size_t i) {
  return i < d.int_digits.size() ? d.int_digits[i] : d.frac_digits[i - d.int_digits.size()];
}

// Converts an epoch value in seconds or milliseconds to microseconds with decimal arithmetic
// on the significant digits only, so any length of input is handled without overflow.
TimestampResult epoch_to_micros(const Decimal& d) {
  const std::size_t total = d.int_digits.size() + d.frac_digits.size();
  std::size_t lo = 0;
  while (lo < total && digit_at(d, lo) == '0') ++lo;
  if (lo == total) return {0, {}};
  std::size_t hi = total - 1;
  while (digit_at(d, hi) == '0') --hi;
  // value = significant digits * 10^scale
  const auto n = static_cast<std::int64_t>(hi - lo + 1);
  const std::int64_t scale = d.exponent - static_cast<std::int64_t>(d.frac_digits.size()) +
                             static_cast<std::int64_t>(total - 1 - hi);
  // The contract's rule: values below 10^11 (at most 11 integer digits) are seconds.
  const bool seconds = n + scale <= 11;
  const std::int64_t shift = scale + (seconds ? 6 : 3);
  if (n + shift > 18) return fail("timestamp: out of range (years 1970..9999)");
  std::int64_t micros = 0;
  const std::int64_t kept = shift >= 0 ? n : n + shift;
  for (std::int64_t i = 0; i < kept; ++i) {
    micros = micros * 10 + (digit_at(d, lo + static_cast<std::size_t>(i)) - '0');
  }
  if (shift > 0) {
    for (std::int64_t i = 0; i < shift; ++i) micros *= 10;
  } else if (shift < 0) {
    if (d.exponent_form) return fail("timestamp: exponent form is not a whole microsecond");
    if (kept >= 0 && digit_at(d, lo + static_cast<std::size_t>(kept)) >= '5') ++micros;
  }
  if (micros >= kEndMicros) return fail("timestamp: out of range (years 1970..9999)");
  return {micros, {}};
}

unsigned two_digits(std::string_view s, std::size_t at) {
  return static_cast<unsigned>((s[at] - '0') * 10 + (s[at + 1] - '0'));
}

bool digits_at(std::string_view s, std::size_t at, std::size_t count) {
  if (at + count > s.size()) return false;
  for (std::size_t i = at; i < at + count; ++i) {
    if (!is_digit(s[i])) return false;
  }
  return true;
}

// Parses the zone designator that must end the string; sets the offset east of UTC.
std::string_view parse_zone(std::string_view z, std::int64_t& offset_seconds) {
  if (z.empty()) return "timestamp: no time zone";
  if (z == "Z" || z == "z") {
    offset_seconds = 0;
    return {};
  }
  if (z[0] != '+' && z[0] != '-') return "timestamp: not a valid ISO-8601 date-time";
  const std::string_view rest = z.substr(1);
  unsigned hours = 0;
  unsigned minutes = 0;
  if (rest.size() == 2 && digits_at(rest, 0, 2)) {
    hours = two_digits(rest, 0);
  } else if (rest.size() == 4 && digits_at(rest, 0, 4)) {
    hours = two_digits(rest, 0);
    minutes = two_digits(rest, 2);
  } else if (rest.size() == 5 && digits_at(rest, 0, 2) && rest[2] == ':' && digits_at(rest, 3, 2)) {
    hours = two_digits(rest, 0);
    minutes = two_digits(rest, 3);
  } else {
    return "timestamp: not a valid ISO-8601 date-time";
  }
  if (minutes > 59 || hours * 60 + minutes > 18 * 60) {
    return "timestamp: time zone offset out of range";
  }
  const auto magnitude = static_cast<std::int64_t>(hours * 3600 + minutes * 60);
  offset_seconds = z[0] == '-' ? -magnitude : magnitude;
  return {};
}

TimestampResult parse_iso8601(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS is 19 characters at fixed positions.
  if (s.size() < 19 || !digits_at(s, 0, 4) || s[4] != '-' || !digits_at(s, 5, 2) || s[7] != '-' ||
      !digits_at(s, 8, 2) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits_at(s, 11, 2) || s[13] != ':' || !digits_at(s, 14, 2) || s[16] != ':' ||
      !digits_at(s, 17, 2)) {
    return fail("timestamp: not a valid ISO-8601 date-time");
  }
  const std::int64_t year = static_cast<std::int64_t>(two_digits(s, 0)) * 100 + two_digits(s, 2);
  const unsigned month = two_digits(s, 5);
  const unsigned day = two_digits(s, 8);
  const unsigned hour = two_digits(s, 11);
  const unsigned minute = two_digits(s, 14);
  const unsigned second = two_digits(s, 17);
  if (month < 1 || month > 12) return fail("timestamp: month out of range");
  if (day < 1 || day > days_in_month(year, month)) return fail("timestamp: day out of range");
  if (hour > 23) return fail("timestamp: hour out of range");
  if (minute > 59) return fail("timestamp: minute out of range");
  if (second > 59) return fail("timestamp: second out of range");

  std::size_t pos = 19;
  std::int64_t fraction_micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    const std::size_t first = ++pos;
    while (pos < s.size() && is_digit(s[pos])) ++pos;
    const std::size_t count = pos - first;
    if (count == 0) return fail("timestamp: not a valid ISO-8601 date-time");
    if (count > 9) return fail("timestamp: more than 9 fraction digits");
    for (std::size_t i = 0; i < 6; ++i) {
      fraction_micros = fraction_micros * 10 + (i < count ? s[first + i] - '0' : 0);
    }
  }
  std::int64_t offset_seconds = 0;
  if (const std::string_view error = parse_zone(s.substr(pos), offset_seconds); !error.empty()) {
    return fail(error);
  }
  const std::int64_t seconds = days_from_civil(year, month, day) * kSecondsPerDay + hour * 3600 +
                               minute * 60 + second - offset_seconds;
  const std::int64_t micros = seconds * kMicrosPerSecond + fraction_micros;
  if (micros < 0 || micros >= kEndMicros) {
    return fail("timestamp: out of range (years 1970..9999)");
  }
  return {micros, {}};
}

void put_digits(char*& out, std::int64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out += width;
}

}  // namespace

TimestampResult parse_timestamp_number(std::string_view raw) {
  std::size_t pos = 0;
  const bool negative = !raw.empty() && raw[0] == '-';
  if (negative) ++pos;
  Decimal d;
  const std::size_t int_start = pos;
  if (pos < raw.size() && raw[pos] == '0') {
    ++pos;
  } else {
    while (pos < raw.size() && is_digit(raw[pos])) ++pos;
  }
  if (pos == int_start) return fail("timestamp: not a JSON number");
  d.int_digits = raw.substr(int_start, pos - int_start);
  if (pos < raw.size() && raw[pos] == '.') {
    const std::size_t first = ++pos;
    while (pos < raw.size() && is_digit(raw[pos])) ++pos;
    if (pos == first) return fail("timestamp: not a JSON number");
    d.frac_digits = raw.substr(first, pos - first);
  }
  if (pos < raw.size() && (raw[pos] == 'e' || raw[pos] == 'E')) {
    d.exponent_form = true;
    ++pos;
    bool negative_exponent = false;
    if (pos < raw.size() && (raw[pos] == '+' || raw[pos] == '-')) {
      negative_exponent = raw[pos] == '-';
      ++pos;
    }
    const std::size_t first = pos;
    // Saturating keeps the arithmetic in range; any exponent this large is out of range or
    // not a whole microsecond anyway.
    constexpr std::int64_t kExponentCap = 1'000'000;
    while (pos < raw.size() && is_digit(raw[pos])) {
      if (d.exponent < kExponentCap) d.exponent = d.exponent * 10 + (raw[pos] - '0');
      ++pos;
    }
    if (pos == first) return fail("timestamp: not a JSON number");
    if (negative_exponent) d.exponent = -d.exponent;
  }
  if (pos != raw.size()) return fail("timestamp: not a JSON number");
  if (negative) return fail("timestamp: negative epoch value");
  return epoch_to_micros(d);
}

TimestampResult parse_timestamp_string(std::string_view s) {
  if (s.empty()) return fail("timestamp: empty string");
  if (digits_at(s, 0, s.size())) {
    Decimal d;
    d.int_digits = s;
    return epoch_to_micros(d);
  }
  return parse_iso8601(s);
}

std::optional<std::int64_t> parse_http_date(std::string_view s) {
  // "Sun, 06 Nov 1994 08:49:37 GMT": fixed positions.
  constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT" || !digits_at(s, 5, 2) ||
      !digits_at(s, 12, 4) || !digits_at(s, 17, 2) || !digits_at(s, 20, 2) ||
      !digits_at(s, 23, 2)) {
    return std::nullopt;
  }
  const std::size_t month_at = kMonths.find(s.substr(8, 3));
  if (month_at == std::string_view::npos || month_at % 3 != 0) return std::nullopt;
  const auto month = static_cast<unsigned>(month_at / 3 + 1);
  const std::int64_t year = two_digits(s, 12) * 100 + two_digits(s, 14);
  const unsigned day = two_digits(s, 5);
  const unsigned hour = two_digits(s, 17), minute = two_digits(s, 20), second = two_digits(s, 23);
  if (year < 1970 || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 ||
      second > 60) {
    return std::nullopt;
  }
  return days_from_civil(year, month, day) * kSecondsPerDay + hour * 3600 + minute * 60 + second;
}

namespace {

struct Split {
  CivilDate date;
  std::int64_t second_of_day;
  std::int64_t micros_of_second;
};

Split split_instant(std::int64_t micros) {
  std::int64_t days = micros / (kSecondsPerDay * kMicrosPerSecond);
  std::int64_t in_day = micros % (kSecondsPerDay * kMicrosPerSecond);
  if (in_day < 0) {
    in_day += kSecondsPerDay * kMicrosPerSecond;
    --days;
  }
  return {civil_from_days(days), in_day / kMicrosPerSecond, in_day % kMicrosPerSecond};
}

// "YYYY-MM-DD<sep>HH:MM:SS"
char* put_date_time(const Split& t, char separator, char* out) {
  put_digits(out, t.date.year, 4);
  *out++ = '-';
  put_digits(out, t.date.month, 2);
  *out++ = '-';
  put_digits(out, t.date.day, 2);
  *out++ = separator;
  put_digits(out, t.second_of_day / 3600, 2);
  *out++ = ':';
  put_digits(out, t.second_of_day / 60 % 60, 2);
  *out++ = ':';
  put_digits(out, t.second_of_day % 60, 2);
  return out;
}

}  // namespace

char* format_timestamptz(std::int64_t micros, char* out) {
  const Split t = split_instant(micros);
  out = put_date_time(t, ' ', out);
  std::int64_t fraction = t.micros_of_second;
  if (fraction != 0) {
    int width = 6;
    while (fraction % 10 == 0) {
      fraction /= 10;
      --width;
    }
    *out++ = '.';
    put_digits(out, fraction, width);
  }
  *out++ = '+';
  *out++ = '0';
  *out++ = '0';
  return out;
}

std::string format_iso8601_ms(std::int64_t micros) {
  std::array<char, 40> text{};
  const Split t = split_instant(micros);
  char* out = put_date_time(t, 'T', text.data());
  *out++ = '.';
  put_digits(out, t.micros_of_second / 1000, 3);
  *out++ = 'Z';
  return std::string(text.data(), out);
}

}  // namespace ingestd
