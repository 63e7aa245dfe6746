// A fixture of the layering test: each include below breaks the floors once.
#include "serve/api_server.hpp"
#include "app/config.hpp"
