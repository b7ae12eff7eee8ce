#pragma once
// Online correction: wraps a base model and scales its predictions by an
// exponentially weighted ratio of measured to predicted time, kept apart for
// prefill and decode. The runtime calls observe_*() with what it measured.
#include "scheduler/cost_model.hpp"

namespace kairos::sched {

class corrected_cost_model final : public cost_model {
 public:
  // `base` must outlive this object. `alpha` is the weight of each new sample.
  explicit corrected_cost_model(const cost_model& base, double alpha = 0.1) : base_(base), alpha_(alpha) {}

  double prefill_time(std::span<const prefill_piece> batch) const override {
    return prefill_ratio_ * base_.prefill_time(batch);
  }
  double decode_step_time(int32_t batch, int64_t total_context) const override {
    return decode_ratio_ * base_.decode_step_time(batch, total_context);
  }
  double transfer_time(int64_t tokens) const override { return base_.transfer_time(tokens); }
  using cost_model::prefill_time;

  void observe_prefill(std::span<const prefill_piece> batch, double measured_s) override {
    update(prefill_ratio_, base_.prefill_time(batch), measured_s);
  }
  void observe_decode(int32_t batch, int64_t total_context, double measured_s) override {
    update(decode_ratio_, base_.decode_step_time(batch, total_context), measured_s);
  }

  double prefill_ratio() const { return prefill_ratio_; }
  double decode_ratio() const { return decode_ratio_; }

 private:
  void update(double& ratio, double predicted, double measured) {
    if (predicted <= 0 || measured <= 0) return;
    double r = measured / predicted;
    r = r < 0.25 ? 0.25 : (r > 4.0 ? 4.0 : r);  // one wild sample cannot wreck the model
    ratio = (1 - alpha_) * ratio + alpha_ * r;
  }

  const cost_model& base_;
  double alpha_;
  double prefill_ratio_ = 1.0;
  double decode_ratio_ = 1.0;
};

}  // namespace kairos::sched
