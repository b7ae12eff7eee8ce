#pragma once
// vLLM-style continuous batching: every resident sequence runs every step;
// when the KV of the next step does not fit, preempt the most recently
// admitted; otherwise admit waiting ones in order while KV blocks and
// max_num_seqs allow (stopping at the first that does not fit).
#include "scheduler/decode_policy.hpp"

namespace kairos::sched {

class cb_decode_policy final : public decode_policy {
 public:
  std::string name() const override { return "cb"; }
  void select(std::span<const decode_seq> running, std::span<const decode_seq> waiting, time_s now,
              const cost_model& cost, const decode_limits& limits, decode_decision& out) override;
};

}  // namespace kairos::sched
