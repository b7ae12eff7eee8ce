// A real `kairos serve` process, driven with curl (HTTP and SSE), then
// stopped with SIGTERM (it must exit 0). Skipped (77) without curl or without
// the kairos binary.
#include <doctest/doctest.h>

#include "tests/support/serve_process.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using kairos::test::run_shell;

TEST_CASE("kairos serve with curl: health, completion, SSE, 400, SIGTERM exits 0") {
  const std::string kairos = std::string(KAIROS_BIN_DIR) + "/kairos";
  if (std::system("curl --version >/dev/null 2>&1") != 0 || !std::filesystem::exists(kairos)) {
    std::fprintf(stderr, "skipped: needs curl and %s\n", kairos.c_str());
    std::exit(77);
  }
  int out[2];
  REQUIRE(pipe(out) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    const std::string cfg = std::string(KAIROS_SOURCE_DIR) + "/configs/default.yaml";
    execl(kairos.c_str(), "kairos", "serve", "--config", cfg.c_str(), "--port", "0", "--api-key", "k3y", (char*)nullptr);
    _exit(127);
  }
  close(out[1]);
  // "kairos serve: listening on http://127.0.0.1:PORT ..."
  std::string line;
  char c;
  while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
  const auto at = line.find("127.0.0.1:");
  REQUIRE_MESSAGE(at != std::string::npos, line);
  const int port = std::atoi(line.c_str() + at + 10);
  REQUIRE(port > 0);
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  const std::string auth = " -H 'Authorization: Bearer k3y' ";

  CHECK(run_shell("curl -s " + base + "/health").find("\"ok\"") != std::string::npos);
  CHECK(run_shell("curl -s -o /dev/null -w '%{http_code}' " + base + "/v1/models") == "401");
  CHECK(run_shell("curl -s" + auth + base + "/v1/models").find("\"object\":\"list\"") != std::string::npos);
  const std::string body = R"('{"prompt": "Hello", "max_tokens": 8, "ignore_eos": true)";
  const std::string plain = run_shell("curl -s" + auth + "-H 'Content-Type: application/json' -d " + body + "}' " + base + "/v1/completions");
  CHECK(plain.find("\"completion_tokens\":8") != std::string::npos);
  const std::string sse = run_shell("curl -sN" + auth + "-d " + body + R"(, "stream": true}' )" + base + "/v1/completions");
  CHECK(sse.find("data: {") != std::string::npos);
  CHECK(sse.size() > 14);
  CHECK(sse.substr(sse.size() - 14) == "data: [DONE]\n\n");
  const std::string bad = run_shell("curl -s -w ' %{http_code}'" + auth + "-d '{\"prompt\": ' " + base + "/v1/completions");
  CHECK(bad.find("malformed JSON") != std::string::npos);
  CHECK(bad.substr(bad.size() - 3) == "400");
  CHECK(run_shell("curl -s" + auth + base + "/metrics").find("kairos:time_to_first_token_seconds_count 2") != std::string::npos);

  kill(pid, SIGTERM);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  close(out[0]);
}
