// A fixture of the layering test: the ground floor includes the standard library only.
#include <simdjson.h>
#include <string>
#include "ingestd/page.hpp"
