#pragma once
// Lookup table of measured times with linear interpolation (bilinear for
// decode over batch size x total context), extrapolated linearly past the
// grid's edges.
#include <vector>

#include "scheduler/cost_model.hpp"

namespace kairos::sched {

struct cost_table {
  std::vector<double> prefill_tokens;  // total new tokens in a batch, ascending
  std::vector<double> prefill_s;       // [prefill_tokens]
  std::vector<double> decode_batch;    // ascending
  std::vector<double> decode_context;  // total context tokens, ascending
  std::vector<double> decode_s;        // [decode_batch][decode_context], row-major
  double kv_latency_s = 50e-6;
  double kv_s_per_token = 0;
};

// Fills a table by sampling another model on the given axes.
cost_table tabulate(const cost_model& model, std::vector<double> prefill_tokens, std::vector<double> decode_batch,
                    std::vector<double> decode_context);

class table_cost_model final : public cost_model {
 public:
  explicit table_cost_model(cost_table t);  // axes must be ascending, >= 2 points each

  double prefill_time(std::span<const prefill_piece> batch) const override;
  double decode_step_time(int32_t batch, int64_t total_context) const override;
  double transfer_time(int64_t tokens) const override;
  using cost_model::prefill_time;

  bool valid() const { return valid_; }

 private:
  cost_table t_;
  bool valid_ = false;
};

}  // namespace kairos::sched
