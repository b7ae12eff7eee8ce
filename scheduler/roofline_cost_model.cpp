#include "scheduler/roofline_cost_model.hpp"

#include <algorithm>

namespace kairos::sched {

roofline_cost_model::roofline_cost_model(const model_shape& m, const hardware_ceilings& hw, const kv_link& link)
    : m_(m), hw_(hw), link_(link) {
  weight_bytes_ = m.weight_bytes_read();
  kv_bytes_per_token_ = m.kv_bytes_per_token();
  flops_per_token_ = 2.0 * m.block_params();
  lm_head_flops_ = 2.0 * m.lm_head_params();
  attn_flops_per_pair_ = 4.0 * m.heads * m.head_dim * m.layers;
}

double roofline_cost_model::prefill_time(std::span<const prefill_piece> batch) const {
  if (batch.empty()) return 0.0;
  double flops = 0, bytes = weight_bytes_;
  for (const auto& p : batch) {
    const double n = p.new_tokens, past = p.past_tokens;
    // causal attention: query i sees past + i + 1 keys
    const double pairs = n * past + n * (n + 1) / 2;
    flops += flops_per_token_ * n + lm_head_flops_ + attn_flops_per_pair_ * pairs;
    bytes += kv_bytes_per_token_ * (n + past);  // write new KV, read past KV
  }
  return std::max(flops / hw_.matmul_flops, bytes / hw_.memory_bytes_per_s) + hw_.prefill_overhead_s;
}

double roofline_cost_model::decode_step_time(int32_t batch, int64_t total_context) const {
  if (batch <= 0) return 0.0;
  const double b = batch, ctx = double(total_context);
  const double flops = (flops_per_token_ + lm_head_flops_) * b + attn_flops_per_pair_ * ctx;
  const double bytes = weight_bytes_ + kv_bytes_per_token_ * (ctx + b);
  return std::max(flops / hw_.matmul_flops, bytes / hw_.memory_bytes_per_s) + hw_.decode_overhead_s;
}

double roofline_cost_model::transfer_time(int64_t tokens) const {
  if (tokens <= 0) return 0.0;
  return link_.latency_s + double(tokens) * kv_bytes_per_token_ / link_.bytes_per_s;
}

}  // namespace kairos::sched
