#pragma once
// The serving front: an HTTP/WebSocket server (Boost.Beast, on its own
// io_context threads) in front of a kairos::Runtime. No Beast in this header.
//
//   auto srv = kairos::http::server::start(*rt, opts).value();
//   srv->port();   // the bound port (opts.port = 0: an ephemeral one)
//   srv->tls();    // true when serving HTTPS/WSS
//   srv->stop();   // graceful: stop accepting, let in-flight requests end
//                  // (cancelled past shutdown_grace_s), close connections
// Endpoints: see docs/protocol.md.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "actors/runtime.hpp"
#include "gpu/base/result.hpp"

namespace kairos::http {

struct server_options {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: an ephemeral port
  std::string api_key;   // empty: no authentication
  int threads = 2;       // io_context threads
  size_t max_body_bytes = 1 << 20;       // HTTP bodies; past it: 413
  size_t max_ws_message_bytes = 1 << 20; // WebSocket messages; past it the connection closes (1009)
  // Open connections (HTTP and WebSocket); past it a new one gets 503 and is
  // closed. Room for 1,000 WebSocket streams plus scrapers and the dashboard;
  // start() lowers it (with a log line) when RLIMIT_NOFILE is too small.
  int max_connections = 2048;
  int max_requests_per_connection = 64;  // WebSocket requests in flight on one connection
  size_t max_pending_events = 8192;      // per connection; a slower client gets its request cancelled
  // Invalid WebSocket messages in a row (no valid one between) before the
  // connection is closed (1008); each one before that gets an error frame.
  int max_ws_invalid_messages = 64;
  // TLS: both set -> HTTPS and WSS only (PEM files). start() fails, naming
  // the file, when one is missing, unreadable, not PEM, or the key does not
  // match the certificate.
  std::string tls_cert, tls_key;
  // The dashboard's time series (GET /v1/stats): one point per interval.
  double stats_interval_s = 1.0;
  size_t stats_points = 300;
  int32_t max_prompt_tokens = 32768;
  double shutdown_grace_s = 5.0;         // in-flight requests may finish for this long on stop()
  std::function<void(const std::string&)> log;  // default: stderr
};

class server {
 public:
  static result<std::unique_ptr<server>> start(Runtime& rt, const server_options& opt);
  ~server();  // stop()
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  uint16_t port() const;
  bool tls() const;
  void stop();

  struct impl;

 private:
  explicit server(std::shared_ptr<impl> p);
  std::shared_ptr<impl> p_;
};

}  // namespace kairos::http
