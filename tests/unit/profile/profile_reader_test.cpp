// Source profiles as YAML: the shipped ones, and every way a file can be wrong.
#include "profile/profile_reader.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "ingestd/errors.hpp"

using ingestd::ConfigError;
using ingestd::PaginationType;
using ingestd::read_profile;

namespace {

std::string file_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The message read_profile refuses `yaml` with.
std::string refusal(const std::string& yaml) {
  try {
    read_profile(yaml, "p.yaml");
  } catch (const ConfigError& e) {
    CHECK(e.exit_code() == 2);
    return e.what();
  }
  FAIL("accepted: " << yaml);
  return {};
}

const std::string kMinimal = R"(name: api
request: {path: /events}
auth: {type: none}
records: /data
pagination: {type: cursor, next: /next, param: cursor}
fields: {id: /id, timestamp: /ts}
)";

}  // namespace

TEST_CASE("profile: config/profiles/datasync.yaml is the built-in contract profile") {
  const auto p = read_profile(
      file_text(std::filesystem::path(INGESTD_SOURCE_DIR) / "config/profiles/datasync.yaml"),
      "datasync.yaml");
  CHECK(p == ingestd::contract_profile());
}

TEST_CASE("profile: every profile of tests/profiles parses, with its pagination type") {
  const std::map<std::string, PaginationType> want{
      {"hubspot", PaginationType::cursor},   {"stripe", PaginationType::last_record},
      {"nexturl", PaginationType::next_url}, {"github", PaginationType::link_header},
      {"offset", PaginationType::offset},    {"page", PaginationType::page}};
  for (const auto& [file, type] : want) {
    CAPTURE(file);
    const auto p = read_profile(
        file_text(std::filesystem::path(INGESTD_SOURCE_DIR) / "tests/profiles" / (file + ".yaml")),
        file);
    CHECK(p.pagination == type);
    CHECK_FALSE(p == ingestd::contract_profile());
  }
}

TEST_CASE("profile: defaults of a minimal profile") {
  const auto p = read_profile(kMinimal, "p.yaml");
  CHECK(p.name == "api");
  CHECK(p.path == "/events");
  CHECK(p.params.empty());
  CHECK(p.page_size_param.empty());
  CHECK(p.auth == ingestd::AuthType::none);
  CHECK(p.fields.user.empty());
  CHECK(p.has_more.empty());
  CHECK(p.order == ingestd::RecordOrder::none);
  CHECK_FALSE(p.submission_path.has_value());
  CHECK(p.start == 0);
}

TEST_CASE("profile: page numbers start at 1 unless the profile says otherwise") {
  std::string yaml = kMinimal;
  yaml.replace(yaml.find("{type: cursor, next: /next, param: cursor}"),
               std::string("{type: cursor, next: /next, param: cursor}").size(),
               "{type: page, param: p}");
  CHECK(read_profile(yaml, "p").start == 1);
  yaml.replace(yaml.find("{type: page, param: p}"), std::string("{type: page, param: p}").size(),
               "{type: page, param: p, start: 0}");
  CHECK(read_profile(yaml, "p").start == 0);
}

TEST_CASE("profile: a typo'd key is named with its line and the key it resembles") {
  std::string yaml = kMinimal;
  yaml.replace(yaml.find("pagination:"), 11, "paginaton:");
  const std::string m = refusal(yaml);
  CHECK(m.find("p.yaml:5") != std::string::npos);
  CHECK(m.find("unknown key `paginaton`") != std::string::npos);
  CHECK(m.find("did you mean `pagination`") != std::string::npos);
  yaml = kMinimal;
  yaml.replace(yaml.find("param: cursor"), 13, "parm: cursor");
  CHECK(refusal(yaml).find("unknown key `pagination.parm`") != std::string::npos);
}

TEST_CASE("profile: refusals name what is wrong") {
  const auto with = [](std::string from, std::string to) {
    std::string yaml = kMinimal;
    yaml.replace(yaml.find(from), from.size(), to);
    return refusal(yaml);
  };
  CHECK(with("records: /data", "records: data").find("`records` is not a JSON pointer") !=
        std::string::npos);
  CHECK(with("fields: {id: /id, timestamp: /ts}", "fields: {id: /id}")
            .find("`fields.timestamp` is required") != std::string::npos);
  CHECK(with("next: /next, ", "").find("`pagination.next` is required") != std::string::npos);
  CHECK(with("type: cursor", "type: scroll").find("`pagination.type` is cursor, last_record") !=
        std::string::npos);
  CHECK(with("name: api", "name: My API").find("`name` must be") != std::string::npos);
  CHECK(with("{type: none}", "{type: header}").find("`auth.name` is required") !=
        std::string::npos);
  CHECK(with("param: cursor}", "param: cursor, field: /id}")
            .find("`pagination.field` has no meaning for type cursor") != std::string::npos);
  CHECK(with("request: {path: /events}", "request: {path: events}")
            .find("`request.path` must start with /") != std::string::npos);
  CHECK(refusal("name: [unclosed\n").find("not YAML") != std::string::npos);
  CHECK(refusal("- a\n- b\n").find("must be a YAML mapping") != std::string::npos);
}

TEST_CASE("profile: JSON pointers follow RFC 6901") {
  CHECK(ingestd::valid_json_pointer(""));
  CHECK(ingestd::valid_json_pointer("/a/b~0c~1d"));
  CHECK(ingestd::valid_json_pointer("/"));
  CHECK_FALSE(ingestd::valid_json_pointer("a/b"));
  CHECK_FALSE(ingestd::valid_json_pointer("/a~2"));
  CHECK_FALSE(ingestd::valid_json_pointer("/a~"));
}
