#include "scheduler/placement_policy.hpp"

namespace kairos::sched {

int32_t least_loaded_placement::place(const request_spec&, std::span<const decode_instance_load> loads,
                                      const cost_model&) const {
  int32_t best = 0;
  for (size_t i = 1; i < loads.size(); ++i)
    if (loads[i].context_tokens < loads[size_t(best)].context_tokens) best = int32_t(i);
  return best;
}

int32_t slack_aware_placement::place(const request_spec& r, std::span<const decode_instance_load> loads,
                                     const cost_model& cost) const {
  int32_t best = -1;
  double best_t = 0;
  for (size_t i = 0; i < loads.size(); ++i) {
    const auto& l = loads[i];
    const int64_t ctx = l.context_tokens + r.input_tokens;
    if (ctx > l.kv_capacity_tokens) continue;
    const double t = cost.decode_step_time(l.n_seqs + 1, ctx);
    if (best < 0 || t < best_t) {
      best = int32_t(i);
      best_t = t;
    }
  }
  if (best >= 0) return best;
  return least_loaded_placement{}.place(r, loads, cost);
}

}  // namespace kairos::sched
