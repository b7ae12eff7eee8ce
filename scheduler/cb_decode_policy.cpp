#include "scheduler/cb_decode_policy.hpp"

namespace kairos::sched {

void cb_decode_policy::select(std::span<const decode_seq> running, std::span<const decode_seq> waiting, time_s,
                              const cost_model&, const decode_limits& limits, decode_decision& out) {
  out.clear();
  const int32_t bs = limits.block_size;
  int64_t used = 0;
  for (const auto& s : running) used += kv_slots(s.context_tokens + 1, bs);
  size_t n_keep = running.size();
  while (used > limits.kv_capacity_tokens && n_keep > 0) {
    --n_keep;
    used -= kv_slots(running[n_keep].context_tokens + 1, bs);
    out.preempt.push_back(int32_t(n_keep));
  }
  for (size_t i = 0; i < n_keep; ++i) out.run.push_back(int32_t(i));
  if (!out.preempt.empty()) return;
  const auto limit = int64_t(double(limits.kv_capacity_tokens) * (1.0 - limits.watermark));
  int32_t n = int32_t(n_keep);
  for (size_t w = 0; w < waiting.size(); ++w) {
    if (n >= limits.max_num_seqs) break;
    const int64_t need = kv_slots(waiting[w].context_tokens + 1, bs);
    if (used + need > limit && n > 0) break;
    if (used + need > limits.kv_capacity_tokens) break;
    used += need;
    ++n;
    out.admit.push_back(int32_t(w));
  }
}

}  // namespace kairos::sched
