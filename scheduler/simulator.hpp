#pragma once
// Discrete-event simulator of a disaggregated xPyD cluster. It drives the same
// pure policies a server would, with modelled time from a cost model. It is
// the only code that knows true output lengths, and only to end requests.
// Deterministic: no clock, no randomness; ties break by event order.
#include <vector>

#include "scheduler/cost_model.hpp"
#include "scheduler/decode_policy.hpp"
#include "scheduler/metrics.hpp"
#include "scheduler/placement_policy.hpp"
#include "scheduler/prefill_policy.hpp"
#include "scheduler/workload.hpp"

namespace kairos::sched {

struct sim_config {
  int32_t n_prefill = 1;
  int32_t n_decode = 1;
  prefill_limits prefill;
  decode_limits decode;
  bool record_token_times = false;
};

struct sim_policies {
  prefill_policy* prefill = nullptr;
  decode_policy* decode = nullptr;
  const placement_policy* placement = nullptr;
};

struct sim_result {
  std::vector<request_outcome> outcomes;  // [requests]
  decode_counters decode;
  int64_t prefill_batches = 0;
  int64_t rejected = 0;  // could never fit a decode instance's KV
  std::vector<std::vector<time_s>> token_times;  // [requests][tokens], when recorded
};

// `truth` gives the times that happen; `predictor` is what the policies see
// (pass the same model for exact predictions).
sim_result simulate(const workload& w, const sim_config& cfg, const sim_policies& pol, const cost_model& truth,
                    const cost_model& predictor);

}  // namespace kairos::sched
