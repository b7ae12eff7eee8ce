#pragma once
// Decode policy: a pure step function, like vLLM's schedule(). Given the
// sequences resident on one decode instance and those waiting to be admitted,
// it says who runs this step, who is admitted and who is preempted.
#include <span>
#include <string>
#include <vector>

#include "scheduler/cost_model.hpp"
#include "scheduler/request.hpp"

namespace kairos::sched {

struct decode_seq {
  request_id id = 0;
  int32_t context_tokens = 0;    // prompt + tokens generated so far
  int32_t tokens_generated = 0;  // >= 1: the first token came from prefill
  int32_t max_tokens = 0;
  time_s arrival_s = 0;
  time_s first_token_s = 0;
  time_s tpot_s = 0.05;
  bool swapped = false;  // preempted earlier: admission reloads its KV

  time_s slack(time_s now) const { return tpot_slack(first_token_s, tokens_generated, tpot_s, now); }
};

struct decode_limits {
  int64_t kv_capacity_tokens = 0;  // KV slots of the instance
  int32_t block_size = 16;
  int32_t max_num_seqs = 256;      // cb's cap on running sequences
  double watermark = 0.01;         // share of KV kept free at admission (vLLM's default)
};

// KV slots a sequence of `tokens` holds, rounded up to whole blocks.
inline int64_t kv_slots(int64_t tokens, int32_t block_size) {
  return (tokens + block_size - 1) / block_size * block_size;
}

struct decode_decision {
  std::vector<int32_t> run;      // indices into `running`: these run this step
  std::vector<int32_t> admit;    // indices into `waiting`: admitted now, run this step
  std::vector<int32_t> preempt;  // indices into `running`: KV evicted, back to waiting
  void clear() {
    run.clear();
    admit.clear();
    preempt.clear();
  }
};

class decode_policy {
 public:
  virtual ~decode_policy() = default;
  virtual std::string name() const = 0;
  // `running` in admission order, `waiting` in arrival order (preempted first).
  // Contract: every sequence that runs grows by one token, and the KV of all
  // resident sequences after the step fits `kv_capacity_tokens`.
  virtual void select(std::span<const decode_seq> running, std::span<const decode_seq> waiting, time_s now,
                      const cost_model& cost, const decode_limits& limits, decode_decision& out) = 0;
};

}  // namespace kairos::sched
