#pragma once
// `kairos bench`'s yardstick: per-request records (what the client saw, and
// what a Kairos server reported about itself) reduced to the metrics of `vllm
// bench serve` and shared/reference/evaluation.md. A plain library: no
// sockets, no clock; times are seconds on the client's clock.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "scheduler/request.hpp"

namespace kairos::bench {

// One streamed chunk (an SSE event or a WebSocket token frame).
struct chunk {
  double recv_s = 0;      // client clock, when it was read
  int32_t n_tokens = 1;   // tokens it carries
  double server_t = -1;   // server clock when the token was produced (WS frames), -1: unknown
};

struct request_record {
  int64_t index = 0;
  double send_s = -1;     // client clock, when the request went out
  double end_s = -1;      // when the response ended (or failed)
  std::vector<chunk> chunks;
  bool ok = false;
  std::string error;      // why, when !ok
  int32_t prompt_tokens = 0;       // what was asked for
  int32_t max_tokens = 0;
  int32_t usage_prompt_tokens = -1;      // the server's usage, -1: not reported
  int32_t usage_completion_tokens = -1;
  sched::slo_targets slo;          // the SLO the request is judged by
  // A Kairos server's own accounting of this request (-1: not reported).
  int server_ttft_met = -1, server_tpot_met = -1, server_slo_met = -1;
  double server_arrival_s = -1;    // server clock when it admitted the request

  int32_t output_tokens() const;   // usage if reported, else the tokens received
  double ttft() const;             // send to first token chunk; -1 without one
  double e2el() const { return end_s - send_s; }
  double tpot() const;             // (e2el - ttft) / (out - 1); 0 with one token
};

// --goodput ttft:MS tpot:MS [e2el:MS], as vLLM: a request is good when it
// completed and meets every given bound. Unset bounds are < 0.
struct goodput_slo {
  double ttft_ms = -1, tpot_ms = -1, e2el_ms = -1;
  bool any() const { return ttft_ms >= 0 || tpot_ms >= 0 || e2el_ms >= 0; }
};
// "ttft:500 tpot:50" (space- or comma-separated); false with `err` naming the bad part.
bool parse_goodput(const std::vector<std::string>& parts, goodput_slo& out, std::string& err);

struct latency_stats {
  int64_t n = 0;
  double mean_ms = 0, median_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
};
latency_stats stats_ms(std::vector<double> seconds);

struct bench_summary {
  int64_t n_requests = 0, n_completed = 0, n_failed = 0;
  std::map<std::string, int64_t> errors;  // error message -> count
  double duration_s = 0;                  // first send to last end
  int64_t total_input_tokens = 0, total_output_tokens = 0;
  double request_throughput = 0, output_throughput = 0, total_token_throughput = 0;
  latency_stats ttft, tpot, itl, e2el;
  // evaluation.md attainment over all requests (a failed one misses all three).
  double ttft_attainment = 0, tpot_attainment = 0, joint_attainment = 0;
  double goodput_rps = -1;                // -1: no --goodput
  double peak_output_tok_s = 0;           // most tokens received in one 1-second bin
  int64_t peak_concurrency = 0;           // most requests in flight at once
  // The server's own per-request accounting (Kairos), over the same requests.
  int64_t n_server_reported = 0;
  double server_ttft_attainment = -1, server_tpot_attainment = -1, server_joint_attainment = -1;
  // Prompt length check against usage.prompt_tokens.
  int64_t n_usage_prompt = 0, n_prompt_mismatch = 0;
  double prompt_len_error = 0;            // mean |usage - asked| / asked
  // Front latency (WS): client receive time minus the token's server timestamp,
  // with the clock offset bounded from both sides; see front_latency().
  latency_stats front;
  latency_stats ingress;  // client send -> server admission (WS), see front_latency()
  double front_offset_uncertainty_ms = -1;  // -1: no server timestamps
};

// Everything above from the records; `gp` drives goodput only.
bench_summary summarize_bench(std::span<const request_record> records, const goodput_slo& gp);

// Front latency samples (seconds). The server's clock differs from the client's
// by an unknown offset o (server = client + o). Each token bounds it from below
// (o >= t_server - recv), each request's admission from above (o <= arrival -
// send). With o at its upper bound the samples are upper bounds of the true
// delay, each too high by at most `uncertainty_s` (hi - lo).
struct front_latency_result {
  std::vector<double> samples;
  // Send to admission at the server, per request, with the same offset: lower
  // bounds (the fastest request counts as 0), each low by at most `uncertainty_s`.
  std::vector<double> ingress;
  double uncertainty_s = -1;
};
front_latency_result front_latency(std::span<const request_record> records);

nlohmann::json summary_json(const bench_summary& s);
// The vLLM-style text block.
std::string summary_text(const bench_summary& s);

}  // namespace kairos::bench
