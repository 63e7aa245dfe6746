#pragma once

#include <string>

namespace ingestd {

// Installs the process logger on stderr: human-readable text, or with format "json" one JSON
// object per line ({"ts","level","msg"}) for log shippers.
void init_logging(const std::string& level, const std::string& format);

// A progress line redrawn in place at the bottom of an interactive terminal; log lines erase it
// before they print and the next redraw restores it. Inactive unless stderr is a TTY and the
// log format is text.
class LiveLine {
 public:
  explicit LiveLine(const std::string& log_format);
  ~LiveLine();
  LiveLine(const LiveLine&) = delete;
  LiveLine& operator=(const LiveLine&) = delete;
  void draw(const std::string& line) const;

 private:
  bool active_;
};

}  // namespace ingestd
