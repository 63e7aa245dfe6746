#include "app/service_notify.hpp"

#include <systemd/sd-daemon.h>

namespace ingestd {

ServiceNotifier::ServiceNotifier() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    interval_ = std::chrono::microseconds(usec / 2);
  }
}

void ServiceNotifier::ready() const {
  sd_notify(0, "READY=1");
}
void ServiceNotifier::status(const std::string& line) const {
  sd_notify(0, ("STATUS=" + line).c_str());
}
void ServiceNotifier::watchdog() const {
  sd_notify(0, "WATCHDOG=1");
}
void ServiceNotifier::stopping() const {
  sd_notify(0, "STOPPING=1");
}

}  // namespace ingestd
