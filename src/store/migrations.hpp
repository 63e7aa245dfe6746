#pragma once

#include <string_view>
#include <vector>

namespace ingestd {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

// The sql/ directory as compiled into this binary, in version order.
const std::vector<Migration>& embedded_migrations();

}  // namespace ingestd
