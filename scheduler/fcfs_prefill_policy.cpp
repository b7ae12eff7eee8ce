#include "scheduler/fcfs_prefill_policy.hpp"

#include <algorithm>

namespace kairos::sched {

void fcfs_prefill_policy::select(std::span<const queued_prefill> queue, const prefill_context&, const cost_model&,
                                 const prefill_limits& limits, prefill_batch& out) {
  out.items.clear();
  const size_t k = std::min(queue.size(), size_t(std::max(1, limits.max_batch_size)));
  order_.resize(k);
  for (size_t i = 0; i < k; ++i) order_[i] = int32_t(i);
  fill_batch_in_order(queue, order_, limits, out);
}

}  // namespace kairos::sched
