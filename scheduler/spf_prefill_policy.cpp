#include "scheduler/spf_prefill_policy.hpp"

#include <algorithm>

namespace kairos::sched {

void spf_prefill_policy::select(std::span<const queued_prefill> queue, const prefill_context& ctx, const cost_model&,
                                const prefill_limits& limits, prefill_batch& out) {
  out.items.clear();
  order_.resize(queue.size());
  for (size_t i = 0; i < queue.size(); ++i) order_[i] = int32_t(i);
  const time_s aged_before = ctx.now - aging_s_;
  // The queue is in arrival order, so index breaks ties by arrival.
  auto before = [&](int32_t a, int32_t b) {
    const auto& x = queue[size_t(a)];
    const auto& y = queue[size_t(b)];
    const bool ax = x.arrival_s <= aged_before, ay = y.arrival_s <= aged_before;
    if (ax != ay) return ax;
    if (ax) return a < b;
    if (x.remaining() != y.remaining()) return x.remaining() < y.remaining();
    return a < b;
  };
  const size_t k = std::min(queue.size(), size_t(std::max(1, limits.max_batch_size)));
  std::partial_sort(order_.begin(), order_.begin() + ptrdiff_t(k), order_.end(), before);
  fill_batch_in_order(queue, std::span<const int32_t>(order_.data(), k), limits, out);
}

}  // namespace kairos::sched
