#pragma once
// A linear cost model with round numbers, so test timelines can be drawn by hand.
//   prefill: `per_token_s` per prompt token (no fixed cost, batches add up)
//   decode:  `step_fixed_s` + `per_ctx_s` per context token in the batch
//   transfer: `transfer_s` flat
#include "scheduler/cost_model.hpp"

namespace kairos::sched::testing {

struct fake_cost_model final : cost_model {
  double per_token_s = 0.001;
  double step_fixed_s = 0.010;
  double per_ctx_s = 0.0;
  double transfer_s = 0.0;

  double prefill_time(std::span<const prefill_piece> batch) const override {
    double n = 0;
    for (auto& p : batch) n += p.new_tokens;
    return n * per_token_s;
  }
  double decode_step_time(int32_t batch, int64_t ctx) const override {
    return batch > 0 ? step_fixed_s + per_ctx_s * double(ctx) : 0.0;
  }
  double transfer_time(int64_t) const override { return transfer_s; }
  using cost_model::prefill_time;
};

}  // namespace kairos::sched::testing
