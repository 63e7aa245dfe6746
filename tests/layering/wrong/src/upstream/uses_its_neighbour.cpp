// A fixture of the layering test: store/ is on upstream/'s own floor.
#include "store/database.hpp"
#include "upstream/envelope.hpp"
