// The dashboard in a real browser: `kairos serve` on a loopback port, a few
// requests with curl, then headless Chromium loads GET / (which polls
// /v1/stats and, through "#try=", streams a prompt over the WebSocket). The
// DOM it dumps must hold live numbers that agree with /metrics. A screenshot
// lands in <build>/test-output/http/dashboard/. With an API key the page
// asks for it and shows no data. Skipped (77) without chromium, curl or the
// kairos binary.
#include <doctest/doctest.h>

#include "tests/support/serve_process.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;

using kairos::test::run_shell;
using kairos::test::serve_process;

static std::string default_config() { return std::string(KAIROS_SOURCE_DIR) + "/configs/default.yaml"; }

namespace {



// A fresh profile per run, nothing fetched from the network, GPU off.
std::string chromium(const fs::path& profile, const std::string& extra, const std::string& url, const fs::path& log) {
  const std::string cmd = "timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                          "--disable-background-networking --disable-component-update --disable-sync "
                          "--disable-dev-shm-usage --user-data-dir=" + profile.string() +
                          " --virtual-time-budget=6000 " + extra + " '" + url + "' 2>>" + log.string();
  return run_shell(cmd);
}

// The text inside the element with this id ("" when absent).
std::string text_of(const std::string& dom, const std::string& id) {
  const auto at = dom.find("id=\"" + id + "\"");
  if (at == std::string::npos) return "";
  const auto open = dom.find('>', at);
  const auto close = dom.find('<', open);
  return dom.substr(open + 1, close - open - 1);
}

double metric(const std::string& body, const std::string& key) {
  const auto at = body.find("\n" + key + " ");
  return at == std::string::npos ? -1 : std::stod(body.substr(at + key.size() + 2));
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("headless Chromium sees live data on the dashboard, consistent with /metrics") {
  if (std::system("chromium --version >/dev/null 2>&1") != 0 || std::system("curl --version >/dev/null 2>&1") != 0 ||
      !fs::exists(std::string(KAIROS_BIN_DIR) + "/kairos")) {
    std::fprintf(stderr, "skipped: needs chromium, curl and the kairos binary\n");
    std::exit(77);
  }
  const fs::path outdir = fs::path(KAIROS_BIN_DIR).parent_path() / "test-output" / "http" / "dashboard";
  fs::remove_all(outdir);
  fs::create_directories(outdir);
  const fs::path log = outdir / "chromium.log";

  serve_process srv(default_config());
  const int n_requests = 5;
  for (int i = 0; i < n_requests; ++i)
    CHECK(run_shell("curl -s -d '{\"prompt\": \"Hello number " + std::to_string(i) +
             "\", \"max_tokens\": 8, \"ignore_eos\": true}' " + srv.base() + "/v1/completions")
              .find("\"completion_tokens\":8") != std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // a couple of sampling intervals

  const std::string url = srv.base() + "/#try=Once%20upon%20a%20time";
  const std::string dom = chromium(outdir / "profile-dom", "--dump-dom", url, log);
  std::ofstream(outdir / "dom.html") << dom;
  const std::string metrics = run_shell("curl -s " + srv.base() + "/metrics");
  REQUIRE_MESSAGE(dom.find("<title>Kairos dashboard</title>") != std::string::npos, ("see " + log.string()));

  CHECK(text_of(dom, "conn-status") == "live");
  CHECK(std::stoi(text_of(dom, "samples")) >= 1);
  // Finished requests: at least ours; at most what /metrics says afterwards
  // (the page's own prompt may end after its last poll).
  const int finished = std::stoi(text_of(dom, "v-finished"));
  const double finished_after = metric(metrics, "kairos:requests_total{outcome=\"finished\"}");
  CHECK(finished >= n_requests);
  CHECK(finished <= finished_after);
  CHECK(finished_after == n_requests + 1);
  CHECK(std::stoi(text_of(dom, "v-generated")) >= n_requests * 8);
  const double ttft = std::stod(text_of(dom, "v-ttft"));
  CHECK(ttft >= 0);
  CHECK(ttft <= 100);
  CHECK(std::stoi(text_of(dom, "v-ttft-n")) >= n_requests);
  // One table row per device, named as in /metrics.
  CHECK(count(dom, "data-device=\"") == count(metrics, "kairos:device_up{"));
  CHECK(count(dom, "data-device=\"") >= 2);
  for (size_t p = dom.find("data-device=\""); p != std::string::npos; p = dom.find("data-device=\"", p + 1)) {
    const std::string name = dom.substr(p + 13, dom.find('"', p + 13) - p - 13);
    CHECK_MESSAGE(metrics.find("kairos:device_up{device=\"" + name + "\"") != std::string::npos, name);
  }
  // Every device, prefill ones too, shows a busy percentage in [0, 100].
  const size_t n_devices = count(dom, "data-device=\"");
  CHECK(count(dom, "class=\"busy\"") == n_devices);
  for (size_t p = dom.find("class=\"busy\">"); p != std::string::npos; p = dom.find("class=\"busy\">", p + 1)) {
    const std::string cell = dom.substr(p + 14, dom.find('<', p + 14) - p - 14);
    REQUIRE_MESSAGE(!cell.empty(), "empty busy cell");
    CHECK_MESSAGE(cell.back() == '%', cell);
    if (cell != "-%") {
      const double v = std::stod(cell);
      CHECK(v >= 0);
      CHECK(v <= 100);
    }
  }
  // The prompt from "#try=" streamed over the WebSocket to the end.
  CHECK(text_of(dom, "stream-status") == "finished");
  const int streamed = std::stoi(text_of(dom, "stream-tokens"));
  CHECK(streamed > 0);
  CHECK(dom.find("data-tokens=\"" + std::to_string(streamed) + "\"") != std::string::npos);
  CHECK_FALSE(text_of(dom, "stream-out").empty());

  const fs::path png = outdir / "dashboard.png";
  chromium(outdir / "profile-shot", "--hide-scrollbars --window-size=1280,900 --screenshot=" + png.string(), url, log);
  REQUIRE(fs::exists(png));
  CHECK(fs::file_size(png) > 10000);
  std::ifstream in(png, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  CHECK(std::string(magic + 1, 3) == "PNG");
  std::fprintf(stderr, "dashboard screenshot: %s\n", png.string().c_str());
  CHECK(srv.stop() == 0);
}

TEST_CASE("with an API key the page loads without it, asks for it, and shows no data") {
  if (std::system("chromium --version >/dev/null 2>&1") != 0 || std::system("curl --version >/dev/null 2>&1") != 0 ||
      !fs::exists(std::string(KAIROS_BIN_DIR) + "/kairos")) {
    std::fprintf(stderr, "skipped: needs chromium, curl and the kairos binary\n");
    std::exit(77);
  }
  const fs::path outdir = fs::path(KAIROS_BIN_DIR).parent_path() / "test-output" / "http" / "dashboard-key";
  fs::remove_all(outdir);
  fs::create_directories(outdir);
  serve_process srv(default_config(), {"--api-key", "page-k3y"});
  CHECK(run_shell("curl -s -o /dev/null -w '%{http_code}' " + srv.base() + "/") == "200");
  CHECK(run_shell("curl -s -o /dev/null -w '%{http_code}' " + srv.base() + "/v1/stats") == "401");
  const std::string dom = chromium(outdir / "profile", "--dump-dom", srv.base() + "/", outdir / "chromium.log");
  REQUIRE(dom.find("<title>Kairos dashboard</title>") != std::string::npos);
  CHECK(text_of(dom, "conn-status") == "API key required");
  CHECK(dom.find("class=\"card show\" id=\"auth\"") != std::string::npos);
  CHECK(text_of(dom, "v-finished") == "-");
  CHECK(srv.stop() == 0);
}
