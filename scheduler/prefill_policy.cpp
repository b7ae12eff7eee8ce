#include "scheduler/prefill_policy.hpp"

#include <algorithm>

namespace kairos::sched {

void fill_batch_in_order(std::span<const queued_prefill> queue, std::span<const int32_t> order,
                         const prefill_limits& limits, prefill_batch& out) {
  int32_t budget = limits.max_batch_tokens;
  for (int32_t qi : order) {
    if (int32_t(out.items.size()) >= limits.max_batch_size || budget <= 0) break;
    const int32_t rem = queue[size_t(qi)].remaining();
    if (limits.chunk_tokens > 0) {
      const int32_t n = std::min({rem, limits.chunk_tokens, budget});
      out.items.push_back({qi, n});
      budget -= n;
    } else if (rem <= budget || out.items.empty()) {
      out.items.push_back({qi, rem});
      budget -= rem;
    } else {
      break;
    }
  }
}

}  // namespace kairos::sched
