#include "common/text.hpp"

#include <doctest/doctest.h>

using namespace ingestd;

TEST_CASE("one_line: a multi-line library message becomes one line") {
  CHECK(one_line("plain message") == "plain message");
  CHECK(one_line("Cannot establish connection to the database.\n"
                 "connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n"
                 "\tIs the server running on that host and accepting TCP/IP connections?\n") ==
        "Cannot establish connection to the database. connection to server at \"127.0.0.1\", "
        "port 1 failed: Connection refused; Is the server running on that host and accepting "
        "TCP/IP connections?");
  CHECK(one_line("ERROR:  duplicate key\r\nDETAIL:  Key (id)=(1) already exists.\n\n") ==
        "ERROR:  duplicate key; DETAIL:  Key (id)=(1) already exists.");
  CHECK(one_line("first:\n  second") == "first: second");
  CHECK(one_line("\n\n") == "");
}
