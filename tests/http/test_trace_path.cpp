// POST /v1/admin/trace takes a file path from the client: only paths inside
// the server's working directory are accepted.
#include <doctest/doctest.h>

#include "http/api.hpp"

using kairos::http::trace_path_problem;

TEST_CASE("trace paths inside the working directory are accepted") {
  CHECK(trace_path_problem("t.jsonl") == "");
  CHECK(trace_path_problem("traces/run-1.jsonl") == "");
  CHECK(trace_path_problem("a..b/c...jsonl") == "");  // dots inside a name are fine
}

TEST_CASE("absolute, escaping, empty and directory paths are refused with a reason") {
  CHECK(trace_path_problem("") == "path is empty");
  CHECK(trace_path_problem("/etc/passwd").find("relative") != std::string::npos);
  CHECK(trace_path_problem("../x.jsonl").find("..") != std::string::npos);
  CHECK(trace_path_problem("traces/../../x").find("..") != std::string::npos);
  CHECK(trace_path_problem("traces/..").find("..") != std::string::npos);
  CHECK(trace_path_problem("traces/") == "path names a directory");
  CHECK(trace_path_problem(std::string("a\0b", 3)) == "path contains a NUL byte");
}
