#pragma once
// FCFS prefill, as DistServe's context stage: arrival order under a token
// budget and a batch cap.
#include "scheduler/prefill_policy.hpp"

namespace kairos::sched {

class fcfs_prefill_policy final : public prefill_policy {
 public:
  std::string name() const override { return "fcfs"; }
  void select(std::span<const queued_prefill> queue, const prefill_context& ctx, const cost_model& cost,
              const prefill_limits& limits, prefill_batch& out) override;

 private:
  std::vector<int32_t> order_;
};

}  // namespace kairos::sched
