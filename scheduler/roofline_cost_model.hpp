#pragma once
// Analytic roofline: time = max(FLOPs / peak, bytes / bandwidth) + fixed cost.
#include "scheduler/cost_model.hpp"
#include "scheduler/model_shape.hpp"

namespace kairos::sched {

class roofline_cost_model final : public cost_model {
 public:
  roofline_cost_model(const model_shape& m, const hardware_ceilings& hw, const kv_link& link);

  double prefill_time(std::span<const prefill_piece> batch) const override;
  double decode_step_time(int32_t batch, int64_t total_context) const override;
  double transfer_time(int64_t tokens) const override;
  using cost_model::prefill_time;

  // Exposed for documentation and tests.
  double weight_read_s() const { return weight_bytes_ / hw_.memory_bytes_per_s; }

 private:
  model_shape m_;
  hardware_ceilings hw_;
  kv_link link_;
  double weight_bytes_;
  double kv_bytes_per_token_;
  double flops_per_token_;       // 2 x block params
  double lm_head_flops_;         // 2 x vocab x hidden, once per sequence
  double attn_flops_per_pair_;   // 4 x heads x head_dim x layers per (query, key) pair
};

}  // namespace kairos::sched
