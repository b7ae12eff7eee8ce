#pragma once
// Precomputed RoPE cos/sin for every position the engine can hold, with
// Llama-3 frequency scaling when the config asks for it.
#include <vector>

#include "gpu/model/model_config.hpp"

namespace kairos {

class rope_table {
 public:
  rope_table() = default;
  rope_table(const model_config& cfg, int n_positions);

  int n_positions() const { return n_positions_; }
  const float* cos_at(int pos) const { return cos_.data() + static_cast<std::size_t>(pos) * half_; }
  const float* sin_at(int pos) const { return sin_.data() + static_cast<std::size_t>(pos) * half_; }

  // The (possibly scaled) inverse frequencies, [head_dim / 2], in double.
  static std::vector<double> inverse_frequencies(const model_config& cfg);

 private:
  int n_positions_ = 0;
  int half_ = 0;
  std::vector<float> cos_;  // [n_positions, head_dim / 2]
  std::vector<float> sin_;  // [n_positions, head_dim / 2]
};

}  // namespace kairos
