#pragma once
// Token sampling: greedy, temperature, top-k and top-p, each request with its
// own seeded generator so results do not depend on what runs beside it.
#include <cstdint>
#include <span>
#include <vector>

namespace kairos {

struct sampling_params {
  float temperature = 0.0f;  // 0 = greedy
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;        // 1 = off
  std::uint64_t seed = 0;
};

// Why a sequence stopped.
enum class stop_reason { none, eos, max_tokens, stop_token };
const char* stop_reason_name(stop_reason r);

struct stop_criteria {
  int max_tokens = 16;
  std::vector<std::int32_t> eos_ids;   // from the model
  std::vector<std::int32_t> stop_ids;  // from the request
  bool ignore_eos = false;

  // Checks the token just generated; n_generated counts it.
  stop_reason check(std::int32_t token, int n_generated) const;
};

class sampler {
 public:
  explicit sampler(const sampling_params& p);
  // Picks a token from one row of logits. Uses internal scratch; allocates
  // only the first time a vocabulary size is seen.
  std::int32_t sample(std::span<const float> logits);
  const sampling_params& params() const { return p_; }

 private:
  double next_uniform();  // [0, 1)
  sampling_params p_;
  std::uint64_t state_;
  std::vector<std::int32_t> idx_;  // [vocab] candidate ids, best first where sorted
  std::vector<float> prob_;        // [vocab] exp((logit - max logit) / T), by id
};

std::int32_t argmax(std::span<const float> logits);

}  // namespace kairos
