// Tracing a running server, over HTTP: `kairos serve --trace-out FILE`
// writes the trace at SIGTERM, and `POST /v1/admin/trace` records a window
// and writes it when the window ends; both files parse and hold the request
// that was served, with its events. The endpoint needs the API key, and
// refuses a bad body, a path leaving the working directory, and a second
// window while one records. Skipped (77) without curl or the kairos binary.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "tests/support/serve_process.hpp"
#include "tools/trace_analysis/trace_file.hpp"

using namespace kairos;
using kairos::test::run_shell;
using kairos::test::serve_process;

namespace {

void need_curl() {
  (void)kairos::test::kairos_binary();
  if (std::system("curl --version >/dev/null 2>&1") != 0) {
    std::fprintf(stderr, "skipped: needs curl\n");
    std::exit(77);
  }
}

const std::string default_config = std::string(KAIROS_SOURCE_DIR) + "/configs/default.yaml";
const std::string auth = " -H 'Authorization: Bearer k3y' ";

std::string complete(const serve_process& s, int max_tokens) {
  return run_shell("curl -s" + auth + "-H 'Content-Type: application/json' -d '{\"prompt\": \"Hello\", \"max_tokens\": " +
                   std::to_string(max_tokens) + ", \"ignore_eos\": true}' " + s.base() + "/v1/completions");
}

std::string post_trace(const serve_process& s, const std::string& body, const std::string& headers = auth) {
  return run_shell("curl -s -w ' %{http_code}'" + headers + "-d '" + body + "' " + s.base() + "/v1/admin/trace");
}

// The trace a window writes when it ends (the file is empty while it records):
// polled for up to 5 s.
result<trace_analysis::trace_file> read_when_written(const std::string& path) {
  result<trace_analysis::trace_file> f = make_error("not yet read");
  for (int i = 0; i < 50; ++i) {
    f = trace_analysis::read_trace_file(path);
    if (f.ok() && !f.value().requests.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return f;
}

// One finished request with its token handlers and a decode step that ran it.
void check_served(const trace_analysis::trace_file& f, int max_tokens) {
  REQUIRE(f.requests.size() == 1);
  const auto& r = f.requests.begin()->second;
  CHECK(r.status == "finished");
  CHECK(r.output_tokens == max_tokens);
  CHECK_FALSE(f.virtual_clock);
  CHECK(f.dropped == 0);
  int token_handlers = 0, step_runs = 0, step_loads = 0, prefill_members = 0;
  for (const auto& e : f.events) {
    if (e.request != r.id) continue;
    if (e.type == trace_analysis::actor_type::request && e.kind == trace_analysis::ev_kind::handle_begin &&
        e.w == trace_analysis::what::token)
      ++token_handlers;
    if (e.kind == trace_analysis::ev_kind::member && e.w == trace_analysis::what::decode_step) ++(e.a == 0 ? step_runs : step_loads);
    if (e.kind == trace_analysis::ev_kind::member && e.w == trace_analysis::what::prefill_batch) ++prefill_members;
  }
  CHECK(token_handlers == max_tokens - 1);  // the first token comes with the prefill
  CHECK(step_runs == max_tokens - 1);
  CHECK(step_loads == 1);  // its KV arriving at the decode device
  CHECK(prefill_members == 1);
  CHECK(f.actors.size() >= 4);  // devices, schedulers, the request
}

}  // namespace

TEST_CASE("serve --trace-out: the trace of the whole run is written at SIGTERM") {
  need_curl();
  const std::string path = std::string(KAIROS_BIN_DIR) + "/trace_endpoints_serve.jsonl";
  std::filesystem::remove(path);
  serve_process s(default_config, {"--api-key", "k3y", "--trace-out", path});
  CHECK(complete(s, 6).find("\"completion_tokens\":6") != std::string::npos);
  CHECK(s.stop() == 0);
  auto f = trace_analysis::read_trace_file(path);
  REQUIRE_MESSAGE(f.ok(), f.message());
  check_served(f.value(), 6);
  std::filesystem::remove(path);
}

TEST_CASE("POST /v1/admin/trace records a window and writes it when the window ends") {
  need_curl();
  // Relative to the server's working directory, which is this test's.
  const std::string name = "trace_endpoints_window.jsonl";
  std::filesystem::remove(name);
  serve_process s(default_config, {"--api-key", "k3y"});

  const std::string body = R"({"seconds": 2, "path": ")" + name + R"("})";
  const std::string no_key = post_trace(s, body, " ");
  CHECK(no_key.substr(no_key.size() - 3) == "401");
  const std::string bad_body = post_trace(s, R"({"seconds": 2})");
  CHECK(bad_body.find("expected {") != std::string::npos);
  CHECK(bad_body.substr(bad_body.size() - 3) == "400");
  const std::string escape = post_trace(s, R"({"seconds": 2, "path": "../x.jsonl"})");
  CHECK(escape.find("path") != std::string::npos);
  CHECK(escape.substr(escape.size() - 3) == "400");
  const std::string bad_window = post_trace(s, R"({"seconds": -1, "path": "x.jsonl"})");
  CHECK(bad_window.find("seconds must be") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists("x.jsonl"));

  const auto t0 = std::chrono::steady_clock::now();
  const std::string started = post_trace(s, body);
  CHECK(started.find("\"recording\"") != std::string::npos);
  CHECK(started.substr(started.size() - 3) == "200");
  const std::string again = post_trace(s, body);
  CHECK(again.find("already recording") != std::string::npos);
  CHECK(again.substr(again.size() - 3) == "409");
  CHECK(complete(s, 5).find("\"completion_tokens\":5") != std::string::npos);

  // Written when the window ends, while the server keeps running.
  std::this_thread::sleep_until(t0 + std::chrono::milliseconds(2500));
  auto f = read_when_written(name);
  REQUIRE_MESSAGE(f.ok(), f.message());
  check_served(f.value(), 5);
  CHECK(run_shell("curl -s " + s.base() + "/health").find("\"ok\"") != std::string::npos);
  // Once the window has ended a new one may start, and it holds only what
  // ran in it: the request served now, not the one before.
  const std::string second = post_trace(s, R"({"seconds": 2, "path": ")" + name + R"("})");
  CHECK(second.substr(second.size() - 3) == "200");
  CHECK(complete(s, 3).find("\"completion_tokens\":3") != std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  f = read_when_written(name);
  REQUIRE_MESSAGE(f.ok(), f.message());
  check_served(f.value(), 3);
  CHECK(s.stop() == 0);
  std::filesystem::remove(name);
}
