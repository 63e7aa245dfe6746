#include "dataset.hpp"

#include <charconv>
#include <cmath>

namespace upstream_sim {
namespace {

__extension__ using u128 = unsigned __int128;

// Hash domains: each decision draws from its own stream so changing one never shifts another.
enum Tag : std::uint64_t {
  kTagFeistel = 1,
  kTagCheck,
  kTagOrder,
  kTagTie,
  kTagTieInstant,
  kTagInstant,
  kTagForm,
  kTagMalformed,
  kTagMalformedKind,
  kTagExotic,
  kTagExoticKind,
  kTagSession,
  kTagSessionId,
  kTagUser,
  kTagUserId,
  kTagDevice,
  kTagBrowser,
  kTagType,
  kTagName,
  kTagPage,
  kTagOffset,
};

constexpr std::int64_t kSessions = 60'000;
constexpr std::int64_t kUsers = 3'000;
constexpr std::int64_t kUsPerMs = 1'000;
constexpr std::int64_t kUsPerSec = 1'000'000;
constexpr char kHex[] = "0123456789abcdef";

constexpr std::array<std::string_view, kTsFormCount> kFormNames = {
    "ms", "iso", "sec", "ms_str", "sec_str", "offset", "nofrac", "micros", "space"};
constexpr std::array<std::string_view, 8> kTypes = {
    "page_view", "click", "api_call", "form_submit", "scroll", "purchase", "error", "video_play"};
constexpr std::array<std::string_view, 3> kDevices = {"mobile", "tablet", "desktop"};
constexpr std::array<std::string_view, 5> kBrowsers = {"Chrome", "Safari", "Firefox", "Edge",
                                                       "Opera"};
constexpr std::array<std::string_view, 16> kPages = {
    "/home", "/home", "/home", "/home",    "/home", "/home",     "/home",   "/home",
    "/home", "/home", "/docs", "/pricing", "/blog", "/checkout", "/signup", "/settings"};
constexpr std::array<int, 7> kOffsetsMin = {120, -330, 345, -480, 540, 60, -210};

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Howard Hinnant's civil-date algorithms: exact for the proleptic Gregorian calendar.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month, day, hour, minute, second;
};

Civil civil_from_seconds(std::int64_t secs) {
  std::int64_t z = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  const std::int64_t sod = secs - z * 86400;
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
  return {y,
          m,
          d,
          static_cast<unsigned>(sod / 3600),
          static_cast<unsigned>(sod / 60 % 60),
          static_cast<unsigned>(sod % 60)};
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

void append_digits(std::string& out, std::uint64_t v, int width) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 || n < width);
  while (n > 0) out.push_back(buf[--n]);
}

// "YYYY-MM-DD<sep>HH:MM:SS" then `frac_digits` digits of the sub-second part.
void append_civil(std::string& out, std::int64_t us, char sep, int frac_digits) {
  const std::int64_t secs = floor_div(us, kUsPerSec);
  const Civil c = civil_from_seconds(secs);
  append_digits(out, static_cast<std::uint64_t>(c.year), 4);
  out.push_back('-');
  append_digits(out, c.month, 2);
  out.push_back('-');
  append_digits(out, c.day, 2);
  out.push_back(sep);
  append_digits(out, c.hour, 2);
  out.push_back(':');
  append_digits(out, c.minute, 2);
  out.push_back(':');
  append_digits(out, c.second, 2);
  if (frac_digits > 0) {
    const auto sub = static_cast<std::uint64_t>(us - secs * kUsPerSec);
    out.push_back('.');
    append_digits(out, frac_digits == 3 ? sub / 1000 : sub, frac_digits);
  }
}

// Largest-first pick of a multiple of q inside (lo, hi], or nullopt when there is none.
std::optional<std::int64_t> pick_multiple(std::int64_t lo, std::int64_t hi, std::int64_t q,
                                          std::uint64_t h) {
  const std::int64_t top = floor_div(hi, q);
  const std::int64_t count = top - floor_div(lo, q);
  if (count <= 0) return std::nullopt;
  return (top - static_cast<std::int64_t>(h % static_cast<std::uint64_t>(count))) * q;
}

bool ms_precision(TsForm f) {
  return f != TsForm::kSec && f != TsForm::kSecStr && f != TsForm::kNofrac && f != TsForm::kMicros;
}

void write_uuid_nibbles(const std::array<unsigned, 32>& nib, char* out) {
  int o = 0;
  for (int k = 0; k < 32; ++k) {
    if (k == 8 || k == 12 || k == 16 || k == 20) out[o++] = '-';
    out[o++] = kHex[nib[k]];
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The 4-bit positions of a v4 UUID that carry payload: all but the order nibble (0), the
// version nibble (12) and the variant nibble (16, which carries two more bits).
constexpr std::array<int, 29> kPayloadNibbles = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                                 11, 13, 14, 15, 17, 18, 19, 20, 21, 22,
                                                 23, 24, 25, 26, 27, 28, 29, 30, 31};

}  // namespace

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

std::uint64_t mix(std::uint64_t seed, std::uint64_t tag, std::uint64_t x) {
  return splitmix(splitmix(seed * 0x100000001b3ULL ^ tag) ^ x);
}

bool chance(std::uint64_t seed, std::uint64_t tag, std::uint64_t x, double p) {
  if (p <= 0.0) return false;
  if (p >= 1.0) return true;
  return static_cast<double>(mix(seed, tag, x) >> 11) < p * 9007199254740992.0;
}

void write_random_uuid(std::uint64_t seed, std::uint64_t tag, std::uint64_t x, char* out36) {
  const std::uint64_t a = mix(seed, tag, x);
  const std::uint64_t b = mix(seed, tag ^ 0x5555, x);
  std::array<unsigned, 32> nib{};
  for (int k = 0; k < 16; ++k) {
    nib[k] = static_cast<unsigned>((a >> (60 - 4 * k)) & 15);
    nib[16 + k] = static_cast<unsigned>((b >> (60 - 4 * k)) & 15);
  }
  nib[12] = 4;
  nib[16] = 8 | (nib[16] & 3);
  write_uuid_nibbles(nib, out36);
}

std::optional<TsWeights> parse_ts_mix(std::string_view text) {
  TsWeights w{};
  unsigned total = 0;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view name = item.substr(0, eq);
    const std::string_view num = item.substr(eq + 1);
    unsigned value = 0;
    const auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), value);
    if (ec != std::errc{} || ptr != num.data() + num.size()) return std::nullopt;
    std::size_t k = 0;
    while (k < kTsFormCount && kFormNames[k] != name) ++k;
    if (k == kTsFormCount) return std::nullopt;
    w[k] = value;
    total += value;
  }
  if (total == 0) return std::nullopt;
  return w;
}

std::string_view ts_form_name(TsForm form) {
  return kFormNames[static_cast<std::size_t>(form)];
}

std::string_view malformed_name(Malformed kind) {
  switch (kind) {
    case Malformed::kNone:
      return "none";
    case Malformed::kTsGarbage:
      return "ts_garbage";
    case Malformed::kTsImpossible:
      return "ts_impossible";
    case Malformed::kTsBool:
      return "ts_bool";
    case Malformed::kTsNull:
      return "ts_null";
    case Malformed::kTsMissing:
      return "ts_missing";
    case Malformed::kIdMissing:
      return "id_missing";
    case Malformed::kIdNotUuid:
      return "id_not_uuid";
    case Malformed::kNameNul:
      return "name_nul";
  }
  return "none";
}

void append_iso_ms(std::int64_t epoch_ms, std::string& out) {
  append_civil(out, epoch_ms * kUsPerMs, 'T', 3);
  out.push_back('Z');
}

Dataset::Dataset(DatasetOptions options) : options_(options) {
  for (unsigned w : options_.ts_weights) weight_total_ += w;
  if (weight_total_ == 0) {
    options_.ts_weights = DatasetOptions{}.ts_weights;
    for (unsigned w : options_.ts_weights) weight_total_ += w;
  }
  const std::int64_t oldest_us = days_from_civil(2025, 12, 28) * 86400 * kUsPerSec;
  span_us_ = kNewestMs * kUsPerMs - oldest_us;
  if (options_.malformed <= 0.0) {
    expected_count_ = options_.events;
  } else {
    for (std::uint64_t i = 0; i < options_.events; ++i) expected_count_ += storable(i) ? 1 : 0;
  }
}

std::uint64_t Dataset::permute(std::uint64_t x) const {
  auto l = static_cast<std::uint32_t>(x >> 32);
  auto r = static_cast<std::uint32_t>(x);
  for (std::uint64_t round = 0; round < 4; ++round) {
    const auto f = static_cast<std::uint32_t>(mix(options_.seed, kTagFeistel + (round << 8), r));
    const std::uint32_t next = l ^ f;
    l = r;
    r = next;
  }
  return (static_cast<std::uint64_t>(l) << 32) | r;
}

std::uint64_t Dataset::unpermute(std::uint64_t x) const {
  auto l = static_cast<std::uint32_t>(x >> 32);
  auto r = static_cast<std::uint32_t>(x);
  for (std::uint64_t round = 4; round-- > 0;) {
    const auto f = static_cast<std::uint32_t>(mix(options_.seed, kTagFeistel + (round << 8), l));
    const std::uint32_t prev = r ^ f;
    r = l;
    l = prev;
  }
  return (static_cast<std::uint64_t>(l) << 32) | r;
}

std::uint64_t Dataset::check_bits(std::uint64_t x) const {
  return mix(options_.seed, kTagCheck, x) >> 10;
}

bool Dataset::tie_pair(std::uint64_t pair) const {
  // Pair 0 never ties: event 0 is pinned to the newest instant in epoch-ms form.
  return pair > 0 && 2 * pair + 1 < options_.events && mix(options_.seed, kTagTie, pair) % 64 == 0;
}

unsigned Dataset::order_nibble(std::uint64_t i) const {
  const auto h = static_cast<unsigned>(mix(options_.seed, kTagOrder, i));
  // Inside a tie the contract orders by id DESC, so the first hex digit of the newer event of
  // the pair is always the larger one.
  if (tie_pair(i / 2)) return i % 2 == 0 ? 8 + (h & 7) : (h & 7);
  return h & 15;
}

void Dataset::write_id(std::uint64_t i, char* out36) const {
  const std::uint64_t x = permute(i);
  u128 v = (static_cast<u128>(check_bits(x)) << 64) | x;
  std::array<unsigned, 32> nib{};
  nib[0] = order_nibble(i);
  for (int pos : kPayloadNibbles) {
    nib[pos] = static_cast<unsigned>(v & 15);
    v >>= 4;
  }
  nib[12] = 4;
  nib[16] = 8 | static_cast<unsigned>(v & 3);
  write_uuid_nibbles(nib, out36);
}

std::string Dataset::id(std::uint64_t i) const {
  std::string s(36, '\0');
  write_id(i, s.data());
  return s;
}

std::optional<std::uint64_t> Dataset::index_of(std::string_view uuid) const {
  if (uuid.size() != 36) return std::nullopt;
  std::array<unsigned, 32> nib{};
  int k = 0;
  for (std::size_t o = 0; o < 36; ++o) {
    if (o == 8 || o == 13 || o == 18 || o == 23) {
      if (uuid[o] != '-') return std::nullopt;
      continue;
    }
    const int h = hex_value(uuid[o]);
    if (h < 0) return std::nullopt;
    nib[k++] = static_cast<unsigned>(h);
  }
  if (nib[12] != 4 || (nib[16] & 12) != 8) return std::nullopt;
  u128 v = nib[16] & 3;
  for (auto it = kPayloadNibbles.rbegin(); it != kPayloadNibbles.rend(); ++it) {
    v = (v << 4) | nib[*it];
  }
  const auto x = static_cast<std::uint64_t>(v);
  if (static_cast<std::uint64_t>(v >> 64) != check_bits(x)) return std::nullopt;
  const std::uint64_t i = unpermute(x);
  if (i >= options_.events || order_nibble(i) != nib[0]) return std::nullopt;
  return i;
}

std::int64_t Dataset::slot_top(std::uint64_t i) const {
  const u128 back = static_cast<u128>(span_us_) * i / options_.events;
  return kNewestMs * kUsPerMs - static_cast<std::int64_t>(back);
}

TsForm Dataset::weighted_form(std::uint64_t i) const {
  auto r = static_cast<unsigned>(mix(options_.seed, kTagForm, i) % weight_total_);
  for (std::size_t k = 0; k < kTsFormCount; ++k) {
    if (r < options_.ts_weights[k]) return static_cast<TsForm>(k);
    r -= options_.ts_weights[k];
  }
  return TsForm::kMs;
}

// Each event owns the time slot (slot_top(i+1), slot_top(i)]; its instant lies inside it, so
// instants strictly decrease with i. A tie pair shares one millisecond inside the union of
// its two slots, which is why both members of a pair use a millisecond-precision form.
Dataset::Instant Dataset::instant(std::uint64_t i) const {
  const std::uint64_t seed = options_.seed;
  if (tie_pair(i / 2)) {
    const std::uint64_t first = i - i % 2;
    const std::int64_t lo = slot_top(first + 2);
    const std::int64_t hi = slot_top(first);
    TsForm f = weighted_form(i);
    if (!ms_precision(f)) f = TsForm::kIso;
    const auto ms = pick_multiple(lo, hi, kUsPerMs, mix(seed, kTagTieInstant, first / 2));
    return {ms ? *ms : hi, f};
  }
  if (i == 0) return {kNewestMs * kUsPerMs, TsForm::kMs};
  const std::int64_t lo = slot_top(i + 1);
  const std::int64_t hi = slot_top(i);
  const std::uint64_t h = mix(seed, kTagInstant, i);
  TsForm f = weighted_form(i);
  if (!ms_precision(f) && f != TsForm::kMicros) {
    if (const auto s = pick_multiple(lo, hi, kUsPerSec, h)) return {*s, f};
    f = TsForm::kIso;
  }
  if (ms_precision(f)) {
    if (const auto ms = pick_multiple(lo, hi, kUsPerMs, h)) return {*ms, f};
    f = TsForm::kMicros;
  }
  const std::int64_t width = hi - lo;
  std::int64_t us = hi - static_cast<std::int64_t>(h % static_cast<std::uint64_t>(width));
  // Microsecond forms exist to carry sub-millisecond digits; keep them non-zero.
  if (us % kUsPerMs == 0 && us - 7 > lo) us -= 7;
  return {us, f};
}

std::int64_t Dataset::ts_us(std::uint64_t i) const {
  return instant(i).us;
}
TsForm Dataset::form(std::uint64_t i) const {
  return instant(i).form;
}

Malformed Dataset::malformed(std::uint64_t i) const {
  if (!chance(options_.seed, kTagMalformed, i, options_.malformed)) return Malformed::kNone;
  return static_cast<Malformed>(1 + mix(options_.seed, kTagMalformedKind, i) % 8);
}

Exotic Dataset::exotic(std::uint64_t i) const {
  if (!chance(options_.seed, kTagExotic, i, options_.exotic) || !storable(i)) return Exotic::kNone;
  return static_cast<Exotic>(1 + mix(options_.seed, kTagExoticKind, i) % 4);
}

void Dataset::append_timestamp(std::uint64_t i, std::string& out) const {
  const Instant in = instant(i);
  switch (in.form) {
    case TsForm::kMs:
      append_int(out, floor_div(in.us, kUsPerMs));
      return;
    case TsForm::kSec:
      append_int(out, floor_div(in.us, kUsPerSec));
      return;
    case TsForm::kMsStr:
      out.push_back('"');
      append_int(out, floor_div(in.us, kUsPerMs));
      out.push_back('"');
      return;
    case TsForm::kSecStr:
      out.push_back('"');
      append_int(out, floor_div(in.us, kUsPerSec));
      out.push_back('"');
      return;
    case TsForm::kIso:
    case TsForm::kSpace:
    case TsForm::kNofrac:
    case TsForm::kMicros:
      out.push_back('"');
      append_civil(out, in.us, in.form == TsForm::kSpace ? ' ' : 'T',
                   in.form == TsForm::kNofrac   ? 0
                   : in.form == TsForm::kMicros ? 6
                                                : 3);
      out += "Z\"";
      return;
    case TsForm::kOffset: {
      const int off = kOffsetsMin[mix(options_.seed, kTagOffset, i) % kOffsetsMin.size()];
      out.push_back('"');
      append_civil(out, in.us + std::int64_t{off} * 60 * kUsPerSec, 'T', 3);
      out.push_back(off < 0 ? '-' : '+');
      append_digits(out, static_cast<unsigned>(std::abs(off) / 60), 2);
      out.push_back(':');
      append_digits(out, static_cast<unsigned>(std::abs(off) % 60), 2);
      out.push_back('"');
      return;
    }
  }
}

void Dataset::append_event(std::uint64_t i, std::string& out) const {
  const std::uint64_t seed = options_.seed;
  const Malformed bad = malformed(i);
  const Exotic odd = exotic(i);
  char id36[36];
  write_id(i, id36);

  out.push_back('{');
  if (bad == Malformed::kIdNotUuid) {
    out += "\"id\":\"evt_";
    append_int(out, static_cast<std::int64_t>(i));
    out += "\",";
  } else if (bad != Malformed::kIdMissing) {
    out += "\"id\":\"";
    out.append(id36, 36);
    out += "\",";
  }

  if (odd == Exotic::kMissingOptional) {
    out += "\"timestamp\":";
    append_timestamp(i, out);
    out.push_back('}');
    return;
  }

  const auto session = mix(seed, kTagSession, i) % kSessions;
  char session36[36];
  write_random_uuid(seed, kTagSessionId, session, session36);
  const bool nulls = odd == Exotic::kNullOptional;
  if (nulls) {
    out += "\"sessionId\":null,\"userId\":null,\"type\":null,\"name\":null,\"properties\":null,";
  } else {
    out += "\"sessionId\":\"";
    out.append(session36, 36);
    out += "\",\"userId\":\"";
    out += *user_id(i);
    out += "\",\"type\":\"";
    out += *type(i);
    out += "\",\"name\":\"event_";
    if (bad == Malformed::kNameNul) {
      out += "a\\u0000bcde";
    } else if (odd == Exotic::kUnicode) {
      out += "\xc3\xa9\xf0\x9f\x98\x80\\\"\\\\\\t\\n";
    } else {
      std::uint64_t h = mix(seed, kTagName, i);
      for (int k = 0; k < 6; ++k, h /= 36) {
        out.push_back("abcdefghijklmnopqrstuvwxyz0123456789"[h % 36]);
      }
    }
    out += "\",\"properties\":{\"page\":\"";
    if (odd == Exotic::kUnicode) {
      out +=
          "/caf\\u00e9\",\"note\":\"line1\\nline2 \\\"quoted\\\" back\\\\slash\\ttab "
          "\xf0\x9f\x98\x80\"}";
    } else if (odd == Exotic::kBigProperties) {
      out += "/home\",\"blob\":\"";
      for (int k = 0; k < 102400; ++k) out.push_back(static_cast<char>('a' + k % 26));
      out += "\"}";
    } else {
      out += kPages[mix(seed, kTagPage, i) % kPages.size()];
      out += "\"}";
    }
    out.push_back(',');
  }

  switch (bad) {
    case Malformed::kTsGarbage:
      out += "\"timestamp\":\"yesterday at noon\",";
      break;
    case Malformed::kTsImpossible:
      out += "\"timestamp\":\"2026-02-30T25:61:00.000Z\",";
      break;
    case Malformed::kTsBool:
      out += "\"timestamp\":true,";
      break;
    case Malformed::kTsNull:
      out += "\"timestamp\":null,";
      break;
    case Malformed::kTsMissing:
      break;
    default:
      out += "\"timestamp\":";
      append_timestamp(i, out);
      out.push_back(',');
  }

  if (nulls) {
    out += "\"session\":null}";
    return;
  }
  out += "\"session\":{\"id\":\"";
  out.append(session36, 36);
  out += "\",\"deviceType\":\"";
  out += kDevices[mix(seed, kTagDevice, session) % kDevices.size()];
  out += "\",\"browser\":\"";
  out += kBrowsers[mix(seed, kTagBrowser, session) % kBrowsers.size()];
  out += "\"}}";
}

std::optional<std::string> Dataset::user_id(std::uint64_t i) const {
  const Exotic odd = exotic(i);
  if (odd == Exotic::kNullOptional || odd == Exotic::kMissingOptional) return std::nullopt;
  const std::uint64_t seed = options_.seed;
  char user36[36];
  write_random_uuid(seed, kTagUserId,
                    mix(seed, kTagUser, mix(seed, kTagSession, i) % kSessions) % kUsers, user36);
  return std::string(user36, 36);
}

std::optional<std::string_view> Dataset::type(std::uint64_t i) const {
  const Exotic odd = exotic(i);
  if (odd == Exotic::kNullOptional || odd == Exotic::kMissingOptional) return std::nullopt;
  return kTypes[mix(options_.seed, kTagType, i) % kTypes.size()];
}

void Dataset::append_expected_line(std::uint64_t i, std::string& out) const {
  const Malformed bad = malformed(i);
  const Instant in = instant(i);
  if (bad == Malformed::kIdMissing || bad == Malformed::kIdNotUuid) {
    out.push_back('-');
  } else {
    const auto at = out.size();
    out.resize(at + 36);
    write_id(i, out.data() + at);
  }
  out.push_back('\t');
  const bool no_ts = bad == Malformed::kTsGarbage || bad == Malformed::kTsImpossible ||
                     bad == Malformed::kTsBool || bad == Malformed::kTsNull ||
                     bad == Malformed::kTsMissing;
  if (no_ts) {
    out.push_back('-');
  } else {
    append_int(out, in.us);
  }
  out += bad == Malformed::kNone ? "\tstore\t" : "\tquarantine\t";
  out += bad == Malformed::kNone ? ts_form_name(in.form) : malformed_name(bad);
  out.push_back('\t');
  out += user_id(i).value_or("-");
  out.push_back('\t');
  out += type(i).value_or("-");
  out.push_back('\n');
}

}  // namespace upstream_sim
