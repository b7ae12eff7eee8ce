#pragma once
// The one interface every cost model implements: how long a prefill batch, a
// decode step and a KV transfer take. Policies and the simulator only see this.
#include <cstdint>
#include <initializer_list>
#include <span>

namespace kairos::sched {

// A slice of one request's prompt in a prefill batch: `new_tokens` computed
// now, on top of `past_tokens` already in the KV cache (chunked prefill).
struct prefill_piece {
  int32_t new_tokens = 0;
  int32_t past_tokens = 0;
};

class cost_model {
 public:
  virtual ~cost_model() = default;

  // Seconds to prefill these pieces as one batch.
  virtual double prefill_time(std::span<const prefill_piece> batch) const = 0;
  // Seconds for one decode step of `batch` sequences holding `total_context`
  // tokens of KV between them.
  virtual double decode_step_time(int32_t batch, int64_t total_context) const = 0;
  // Seconds to move the KV of `tokens` tokens from a prefill to a decode instance.
  virtual double transfer_time(int64_t tokens) const = 0;

  // Online correction hook: the runtime reports measured times here. Models
  // that cannot learn ignore them.
  virtual void observe_prefill(std::span<const prefill_piece> /*batch*/, double /*measured_s*/) {}
  virtual void observe_decode(int32_t /*batch*/, int64_t /*total_context*/, double /*measured_s*/) {}

  // Convenience: one whole prompt alone.
  double prefill_time_one(int32_t tokens) const {
    prefill_piece p{tokens, 0};
    return prefill_time(std::span<const prefill_piece>(&p, 1));
  }
  double prefill_time(std::initializer_list<prefill_piece> batch) const {
    return prefill_time(std::span<const prefill_piece>(batch.begin(), batch.size()));
  }
};

}  // namespace kairos::sched
