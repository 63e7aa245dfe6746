#include "app/progress.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using ingestd::ProgressSnapshot;

TEST_CASE("budget share counts the first window's burst and caps at 100%") {
  ProgressSnapshot s;
  s.rate_limit = 10;
  s.rate_window = 60s;
  s.elapsed = 30s;
  s.requests = 10;
  CHECK(*ingestd::budget_used(s) == doctest::Approx(1.0));
  s.elapsed = 90s;  // two windows started: 20 allowed
  s.requests = 15;
  CHECK(*ingestd::budget_used(s) == doctest::Approx(0.75));
  s.rate_limit = 0;
  CHECK_FALSE(ingestd::budget_used(s).has_value());
}

TEST_CASE("ETA extrapolates this run's event rate to what is left") {
  ProgressSnapshot s;
  s.total = 1000;
  s.events = 400;
  s.events_this_run = 200;
  s.elapsed = 10s;  // 20 events/s, 600 left
  CHECK(ingestd::eta(s) == 30s);
  s.events_this_run = 0;
  CHECK_FALSE(ingestd::eta(s).has_value());
}

TEST_CASE("progress line carries every figure an operator asks for") {
  ProgressSnapshot s;
  s.total = 3000000;
  s.events = 120000;
  s.events_this_run = 120000;
  s.pages = 24;
  s.requests = 24;
  s.refused = 0;
  s.quarantined = 3;
  s.rate_limit = 10;
  s.rate_window = 60s;
  s.elapsed = 150s;
  CHECK(ingestd::progress_line(s) ==
        "events 120000/3000000 (4.0%) pages 24 rate 800 ev/s budget 80.0% 429s 0 quarantined 3 ETA "
        "59m59s");
  CHECK(ingestd::format_duration(137s) == "2m17s");
  CHECK(ingestd::format_duration(9s) == "9s");
}

TEST_CASE("progress history: one sample per second, the last of each, bounded") {
  ingestd::ProgressHistory history(3);
  history.record(100, 10);
  history.record(100, 15);  // same second: replaced
  history.record(101, 30);
  history.record(103, 70);
  history.record(104, 90);  // capacity 3: the oldest goes
  REQUIRE(history.samples().size() == 3);
  CHECK(history.samples().front().unix_s == 101);
  CHECK(history.samples().front().events == 30);
  CHECK(history.samples().back().unix_s == 104);
  CHECK(history.samples().back().events == 90);
}
