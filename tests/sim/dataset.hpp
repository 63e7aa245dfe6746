// The simulated upstream dataset. Every property of event i (its position in the newest-first
// order) is a pure function of (seed, i), so 3,000,000 events cost no memory and any test can
// recompute exactly what the server sent.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace upstream_sim {

enum class TsForm { kMs, kIso, kSec, kMsStr, kSecStr, kOffset, kNofrac, kMicros, kSpace };
inline constexpr std::size_t kTsFormCount = 9;
using TsWeights = std::array<unsigned, kTsFormCount>;

// Defects a correct client must quarantine.
enum class Malformed {
  kNone,
  kTsGarbage,
  kTsImpossible,
  kTsBool,
  kTsNull,
  kTsMissing,
  kIdMissing,
  kIdNotUuid,
  kNameNul
};

// Unusual but valid events a correct client must store.
enum class Exotic { kNone, kUnicode, kBigProperties, kNullOptional, kMissingOptional };

struct DatasetOptions {
  std::uint64_t events = 3'000'000;
  std::uint64_t seed = 1;
  TsWeights ts_weights = {45, 45, 2, 2, 1, 2, 1, 1, 1};
  double malformed = 0.0;
  double exotic = 0.0;
};

// "ms=45,iso=45,..." → weights; unknown names, bad numbers or an all-zero mix → nullopt.
std::optional<TsWeights> parse_ts_mix(std::string_view text);
std::string_view ts_form_name(TsForm form);
std::string_view malformed_name(Malformed kind);

// Newest event: 2026-01-27T19:20:12.369Z.
inline constexpr std::int64_t kNewestMs = 1769541612369;

// Keyed mixing shared by the dataset and the fault decisions: hash(seed, tag, x).
std::uint64_t mix(std::uint64_t seed, std::uint64_t tag, std::uint64_t x);
// True with probability p, decided by hash(seed, tag, x).
bool chance(std::uint64_t seed, std::uint64_t tag, std::uint64_t x, double p);
// A lowercase v4-looking UUID derived from hash(seed, tag, x).
void write_random_uuid(std::uint64_t seed, std::uint64_t tag, std::uint64_t x, char* out36);

class Dataset {
 public:
  explicit Dataset(DatasetOptions options);

  std::uint64_t size() const { return options_.events; }
  std::uint64_t seed() const { return options_.seed; }
  // Events a correct client stores (all but the malformed ones).
  std::uint64_t expected_count() const { return expected_count_; }

  void write_id(std::uint64_t i, char* out36) const;
  std::string id(std::uint64_t i) const;
  // Position of a dataset UUID; nullopt for anything the dataset never produced.
  std::optional<std::uint64_t> index_of(std::string_view uuid) const;

  // The instant the served timestamp denotes, in epoch microseconds. For events whose
  // timestamp is malformed it is the instant the event would have had.
  std::int64_t ts_us(std::uint64_t i) const;
  TsForm form(std::uint64_t i) const;
  Malformed malformed(std::uint64_t i) const;
  Exotic exotic(std::uint64_t i) const;
  bool storable(std::uint64_t i) const { return malformed(i) == Malformed::kNone; }

  // Appends the event's compact JSON exactly as served.
  void append_event(std::uint64_t i, std::string& out) const;
  // The event's userId and type; nullopt when it has none (null or missing).
  std::optional<std::string> user_id(std::uint64_t i) const;
  std::optional<std::string_view> type(std::uint64_t i) const;

  // Appends "<id|->\t<ts_us|->\t<store|quarantine>\t<form|fault>\t<userId|->\t<type|->\n".
  void append_expected_line(std::uint64_t i, std::string& out) const;

 private:
  struct Instant {
    std::int64_t us;
    TsForm form;
  };
  Instant instant(std::uint64_t i) const;
  std::int64_t slot_top(std::uint64_t i) const;
  bool tie_pair(std::uint64_t pair) const;
  unsigned order_nibble(std::uint64_t i) const;
  TsForm weighted_form(std::uint64_t i) const;
  std::uint64_t permute(std::uint64_t x) const;
  std::uint64_t unpermute(std::uint64_t x) const;
  std::uint64_t check_bits(std::uint64_t x) const;
  void append_timestamp(std::uint64_t i, std::string& out) const;

  DatasetOptions options_;
  unsigned weight_total_ = 0;
  std::int64_t span_us_ = 0;
  std::uint64_t expected_count_ = 0;
};

// Civil-time rendering shared with the server (submittedAt and friends).
void append_iso_ms(std::int64_t epoch_ms, std::string& out);

// Decimal digits, as the JSON bodies and cursors carry numbers.
void append_int(std::string& out, std::int64_t v);
void append_uint(std::string& out, std::uint64_t v);

}  // namespace upstream_sim
