#pragma once
// Shortest-prefill-first with aging: a request that has waited `aging_s` or
// more goes ahead of all others, oldest first; the rest go shortest remaining
// prompt first, ties by arrival.
#include "scheduler/prefill_policy.hpp"

namespace kairos::sched {

class spf_prefill_policy final : public prefill_policy {
 public:
  explicit spf_prefill_policy(time_s aging_s = 10.0) : aging_s_(aging_s) {}
  std::string name() const override { return "spf"; }
  void select(std::span<const queued_prefill> queue, const prefill_context& ctx, const cost_model& cost,
              const prefill_limits& limits, prefill_batch& out) override;

 private:
  time_s aging_s_;
  std::vector<int32_t> order_;
};

}  // namespace kairos::sched
