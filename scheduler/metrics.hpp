#pragma once
// The yardstick of shared/reference/evaluation.md, computed from outcomes.
#include <optional>
#include <span>
#include <vector>

#include "scheduler/request.hpp"

namespace kairos::sched {

struct request_outcome {
  time_s arrival_s = 0;
  time_s prefill_start_s = -1;
  time_s first_token_s = -1;
  time_s last_token_s = -1;
  int32_t output_tokens = 0;
  bool finished = false;
  slo_targets slo;
  request_class cls = request_class::standard;

  time_s ttft() const { return first_token_s - arrival_s; }
  // (e2e - ttft) / (n - 1); 0 with one token.
  time_s tpot() const { return output_tokens > 1 ? (last_token_s - first_token_s) / (output_tokens - 1) : 0.0; }
  time_s e2e() const { return last_token_s - arrival_s; }
  // A nanosecond of slack absorbs floating-point rounding (0.4 / 8 vs 0.05).
  bool meets_ttft() const { return finished && ttft() <= slo.ttft_s + 1e-9; }
  bool meets_tpot() const { return finished && tpot() <= slo.tpot_s + 1e-9; }
  bool meets_both() const { return meets_ttft() && meets_tpot(); }
};

struct decode_counters {
  int64_t tokens = 0;     // tokens made by decode steps (the first comes from prefill)
  double busy_s = 0;      // summed over decode instances: time with a step running
  int64_t steps = 0;
  int64_t batch_sum = 0;  // sum of batch sizes over steps
  int64_t preemptions = 0;
};

struct metrics_summary {
  int64_t n_requests = 0, n_finished = 0;
  double ttft_attainment = 0, tpot_attainment = 0, e2e_attainment = 0;
  double goodput_rps = 0;  // requests meeting both SLOs / run duration
  double decode_throughput_tok_s = 0;  // per decode instance, over its busy time
  double ttft_p50_ms = 0, ttft_p90_ms = 0, ttft_p99_ms = 0;
  double tpot_p50_ms = 0, tpot_p90_ms = 0, tpot_p99_ms = 0;
  double e2e_p50_ms = 0, e2e_p90_ms = 0, e2e_p99_ms = 0;
  double mean_decode_batch = 0;
  double duration_s = 0;  // first arrival to last token
};

// Linear interpolation between closest ranks (numpy's default); sorts `v`.
double percentile(std::vector<double>& v, double q);

// Over all outcomes, or only those of class `only`. Unfinished requests miss
// every SLO; latency percentiles are over finished requests.
metrics_summary summarize(std::span<const request_outcome> outcomes, const decode_counters& decode,
                          std::optional<request_class> only = std::nullopt);

}  // namespace kairos::sched
