#include "app/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/text.hpp"

namespace ingestd {

namespace {

// The message as one line, whatever a library put in it (see one_line).
std::string message_line(const spdlog::details::log_msg& msg) {
  return one_line({msg.payload.data(), msg.payload.size()});
}

class TextMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string line = message_line(msg);
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return spdlog::details::make_unique<TextMessageFlag>();
  }
};

class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    // A message is not guaranteed to be UTF-8 (it may quote an upstream body): invalid bytes
    // become U+FFFD instead of breaking the line.
    const std::string quoted = nlohmann::json(message_line(msg))
                                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(quoted.data(), quoted.data() + quoted.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return spdlog::details::make_unique<JsonMessageFlag>();
  }
};

}  // namespace

void init_logging(const std::string& level, const std::string& format) {
  auto logger = spdlog::stderr_color_mt("ingestd");
  if (format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":%*})");
    logger->set_formatter(std::move(formatter));
  } else {
    // On a terminal each line first erases the live progress line (see LiveLine).
    const bool tty = ::isatty(STDERR_FILENO) == 1;
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<TextMessageFlag>('*').set_pattern(std::string(tty ? "\r\033[K" : "") +
                                                          "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %*");
    logger->set_formatter(std::move(formatter));
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

LiveLine::LiveLine(const std::string& log_format)
    : active_(log_format == "text" && ::isatty(STDERR_FILENO) == 1) {}

LiveLine::~LiveLine() {
  if (active_) std::fputs("\r\033[K", stderr);
}

void LiveLine::draw(const std::string& line) const {
  if (!active_) return;
  // One write per redraw, so stdio's stream lock keeps it whole next to spdlog's lines.
  const std::string text = "\r\033[K" + line;
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace ingestd
