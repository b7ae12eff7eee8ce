#pragma once
// DistServe's fitted form:
//   prefill  T = A + B * sum(l) + C * sum(l^2)
//   decode   T = A + B * sum(ctx) + C * batch
// fitted by least squares on relative error from profile samples. For a
// chunked piece (n new tokens over p cached) l^2 is read as n^2 + 2np, the
// attention pairs it adds.
#include <array>
#include <vector>

#include "scheduler/cost_model.hpp"

namespace kairos::sched {

struct prefill_sample {
  std::vector<int32_t> lengths;
  double seconds = 0;
};
struct decode_sample {
  int32_t batch = 0;
  int64_t total_context = 0;
  double seconds = 0;
};
struct profile_samples {
  std::vector<prefill_sample> prefill;
  std::vector<decode_sample> decode;
};

struct fit_report {
  std::array<double, 3> prefill_coef{};  // A (s), B (s/token), C (s/token^2)
  std::array<double, 3> decode_coef{};   // A (s), B (s/token), C (s/seq)
  double prefill_mape = 0;               // mean |pred - measured| / measured
  double decode_mape = 0;
  int n_prefill = 0, n_decode = 0;
  bool ok = false;                       // false: too few samples or singular system
};

// Least squares on relative error: minimise sum(((x.coef) - y) / y)^2.
fit_report fit_distserve(const profile_samples& samples);

// Samples a cost model on a grid; used to fit one model to another and in tests.
profile_samples sample_profile(const cost_model& model, std::span<const int32_t> prompt_lengths,
                               std::span<const int32_t> batches, std::span<const int32_t> contexts_per_seq);

class fitted_cost_model final : public cost_model {
 public:
  fitted_cost_model(const fit_report& fit, double kv_latency_s, double kv_s_per_token)
      : fit_(fit), kv_latency_s_(kv_latency_s), kv_s_per_token_(kv_s_per_token) {}

  double prefill_time(std::span<const prefill_piece> batch) const override;
  double decode_step_time(int32_t batch, int64_t total_context) const override;
  double transfer_time(int64_t tokens) const override;
  using cost_model::prefill_time;

  const fit_report& fit() const { return fit_; }

 private:
  fit_report fit_;
  double kv_latency_s_;
  double kv_s_per_token_;
};

}  // namespace kairos::sched
