# The floors of the source tree, lowest first: the one statement of which room may use which.
# A folder may include its own headers and those of any folder on a lower floor, never one on
# its own floor or above. Stage libraries link the floors below them (CMakeLists.txt), and the
# `layering` test (cmake/CheckFloors.cmake) fails on any include that breaks the order.
#   ingestd:  include/ingestd/, the shared vocabulary and seams (standard library only)
#   the rest: src/<folder>/
set(INGESTD_FLOORS
  "ingestd"
  "common"
  "decode profile"
  "upstream push store"
  "pipeline submit serve"
  "app")
