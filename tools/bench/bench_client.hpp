#pragma once
// `kairos bench`'s network side: sends a workload to a server over the Kairos
// WebSocket protocol or OpenAI HTTP/SSE, on one io_context thread that holds
// thousands of streams, and records what it saw per request. No Beast in this
// header; bench_client.cpp is the only Beast TU of the bench.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "tools/bench/bench_metrics.hpp"
#include "tools/bench/bench_workload.hpp"

namespace kairos::bench {

enum class backend { ws, openai };

// http://HOST:PORT[/PATH] or ws://HOST:PORT[/PATH]; the path defaults per backend
// (/v1/stream, /v1/completions).
struct endpoint_url {
  std::string host;
  uint16_t port = 80;
  std::string path;
};
bool parse_url(const std::string& url, backend b, endpoint_url& out, std::string& err);

enum class prompt_kind { token_ids, text };

struct client_options {
  backend kind = backend::ws;
  endpoint_url url;
  std::string api_key;        // sent as Authorization: Bearer
  std::string model;          // OpenAI "model" (empty: not sent)
  int max_concurrency = 0;    // requests in flight at most (0: no cap)
  int ws_requests_per_conn = 1;  // WebSocket requests multiplexed on one connection
  prompt_kind prompt = prompt_kind::token_ids;
  int32_t token_id_lo = 1, token_id_hi = 256;  // prompt ids are drawn from [lo, hi)
  uint64_t seed = 0;
  bool send_slo = true;       // WS: send each request's SLO, so the server judges by the same one
  double request_timeout_s = 0;  // a request running longer fails (0: never)
};

struct progress {
  int64_t total = 0, done = 0, failed = 0, in_flight = 0;
  int64_t tokens = 0;
  double elapsed_s = 0;
};

// Runs `requests` (by send_at_s, capped by max_concurrency) and returns one
// record per request, in request order. Never throws for what a server does
// (refused connections, errors, dropped streams): those are failed records.
// `on_progress` is called from the client thread at most every 100 ms.
std::vector<request_record> run_bench(const client_options& opt, std::span<const bench_request> requests,
                                      const std::function<void(const progress&)>& on_progress = {});

}  // namespace kairos::bench
