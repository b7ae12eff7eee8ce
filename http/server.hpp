#pragma once
// The serving front: an HTTP/WebSocket server (Boost.Beast, on its own
// io_context threads) in front of a kairos::Runtime. No Beast in this header.
//
//   auto srv = kairos::http::server::start(*rt, opts).value();
//   srv->port();   // the bound port (opts.port = 0: an ephemeral one)
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
  int max_connections = 1024;
  int max_requests_per_connection = 64;  // WebSocket requests in flight on one connection
  size_t max_pending_events = 8192;      // per connection; a slower client gets its request cancelled
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
  void stop();

  struct impl;

 private:
  explicit server(std::shared_ptr<impl> p);
  std::shared_ptr<impl> p_;
};

}  // namespace kairos::http
