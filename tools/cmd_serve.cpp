// `kairos serve`: the runtime from a config behind the HTTP/WebSocket front
// (http/server.hpp): OpenAI-compatible completions with SSE, the WebSocket
// stream, /metrics. SIGINT/SIGTERM shut it down gracefully (exit 0).
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <pthread.h>

#include "actors/runtime.hpp"
#include "http/open_files.hpp"
#include "http/server.hpp"
#include "tools/subcommand.hpp"

namespace {

int run_serve(int argc, char** argv) {
  CLI::App app{"Serve the runtime over HTTP (OpenAI-compatible, SSE), WebSocket and Prometheus metrics"};
  std::string config_path = "configs/default.yaml", host = "127.0.0.1", api_key, trace_out;
  int port = -1, threads = 2;
  double grace = 5.0;
  std::string tls_cert, tls_key;
  int max_connections = kairos::http::server_options{}.max_connections;
  app.add_option("--config", config_path, "runtime config (YAML)")->capture_default_str();
  app.add_option("--host", host, "address to bind (127.0.0.1 unless told otherwise)")->capture_default_str();
  app.add_option("--port", port, "port (default: the config's server.port, 8080; 0: any free port)")->check(CLI::Range(0, 65535));
  app.add_option("--trace-out", trace_out, "record an actor trace from start to shutdown into FILE (docs/tracing.md)");
  app.add_option("--api-key", api_key, "require 'Authorization: Bearer KEY' (default: $KAIROS_API_KEY)");
  app.add_option("--io-threads", threads, "HTTP threads")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--shutdown-grace", grace, "seconds in-flight requests may finish on SIGINT/SIGTERM")->capture_default_str();
  app.add_option("--tls-cert", tls_cert, "serve HTTPS/WSS with this PEM certificate (chain); needs --tls-key");
  app.add_option("--tls-key", tls_key, "the PEM private key of --tls-cert");
  app.add_option("--max-connections", max_connections, "open connections; past it a new one gets 503")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  CLI11_PARSE(app, argc, argv);
  if (api_key.empty())
    if (const char* k = std::getenv("KAIROS_API_KEY")) api_key = k;

  // Block the signals before any thread starts, then wait for them here.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  auto cfg = kairos::load_runtime_config(config_path);
  if (!cfg) {
    std::fprintf(stderr, "kairos serve: %s\n", cfg.message().c_str());
    return 2;
  }
  if (!trace_out.empty()) cfg.value().trace.out = trace_out;
  auto rt = kairos::Runtime::create(cfg.value());
  if (!rt) {
    std::fprintf(stderr, "kairos serve: %s\n", rt.message().c_str());
    return 2;
  }
  kairos::http::server_options opt;
  opt.host = host;
  opt.port = uint16_t(port >= 0 ? port : cfg->port);
  opt.api_key = api_key;
  opt.threads = threads;
  opt.shutdown_grace_s = grace;
  opt.tls_cert = tls_cert;
  opt.tls_key = tls_key;
  opt.max_connections = max_connections;
  // Each connection is a descriptor: 1,000 streams need more than the usual soft limit of 1,024.
  kairos::http::raise_open_files_limit();
  auto srv = kairos::http::server::start(*rt.value(), opt);
  if (!srv) {
    std::fprintf(stderr, "kairos serve: %s\n", srv.message().c_str());
    return 2;
  }
  std::printf("kairos serve: listening on %s://%s:%u (config %s%s)\n", srv.value()->tls() ? "https" : "http", host.c_str(),
              unsigned(srv.value()->port()),
              config_path.c_str(), api_key.empty() ? "" : ", API key required");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&sigs, &sig);
  std::fprintf(stderr, "kairos serve: %s received, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  srv.value()->stop();
  rt.value()->shutdown();
  std::fprintf(stderr, "kairos serve: stopped\n");
  return 0;
}

}  // namespace

KAIROS_SUBCOMMAND("serve", "serve the runtime over HTTP/SSE (OpenAI API), WebSocket and Prometheus metrics", run_serve);
