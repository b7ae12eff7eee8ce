#include "scheduler/edf_prefill_policy.hpp"

#include <algorithm>

namespace kairos::sched {

void edf_prefill_policy::select(std::span<const queued_prefill> queue, const prefill_context&, const cost_model&,
                                const prefill_limits& limits, prefill_batch& out) {
  out.items.clear();
  order_.resize(queue.size());
  for (size_t i = 0; i < queue.size(); ++i) order_[i] = int32_t(i);
  auto before = [&](int32_t a, int32_t b) {
    const auto& x = queue[size_t(a)];
    const auto& y = queue[size_t(b)];
    if (x.deadline_s != y.deadline_s) return x.deadline_s < y.deadline_s;
    return a < b;
  };
  const size_t k = std::min(queue.size(), size_t(std::max(1, limits.max_batch_size)));
  std::partial_sort(order_.begin(), order_.begin() + ptrdiff_t(k), order_.end(), before);
  fill_batch_in_order(queue, std::span<const int32_t>(order_.data(), k), limits, out);
}

}  // namespace kairos::sched
