#include "gpu/engine/rope_table.hpp"

#include <cmath>
#include <numbers>

namespace kairos {

std::vector<double> rope_table::inverse_frequencies(const model_config& cfg) {
  const int half = cfg.head_dim / 2;
  std::vector<double> inv(static_cast<std::size_t>(half));
  for (int i = 0; i < half; ++i)
    inv[i] = std::pow(static_cast<double>(cfg.rope_theta), -2.0 * i / static_cast<double>(cfg.head_dim));
  const auto& rs = cfg.rope_scaling;
  if (rs.llama3) {
    // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept,
    // and the band between is blended.
    const double orig = rs.original_max_position;
    const double low_wavelen = orig / rs.low_freq_factor;
    const double high_wavelen = orig / rs.high_freq_factor;
    for (auto& f : inv) {
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen < high_wavelen) continue;
      if (wavelen > low_wavelen) {
        f /= rs.factor;
      } else {
        const double smooth = (orig / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
        f = (1.0 - smooth) * f / rs.factor + smooth * f;
      }
    }
  }
  return inv;
}

rope_table::rope_table(const model_config& cfg, int n_positions) : n_positions_(n_positions), half_(cfg.head_dim / 2) {
  const auto inv = inverse_frequencies(cfg);
  cos_.resize(static_cast<std::size_t>(n_positions) * half_);
  sin_.resize(cos_.size());
  for (int p = 0; p < n_positions; ++p)
    for (int i = 0; i < half_; ++i) {
      const double a = p * inv[i];
      cos_[static_cast<std::size_t>(p) * half_ + i] = static_cast<float>(std::cos(a));
      sin_[static_cast<std::size_t>(p) * half_ + i] = static_cast<float>(std::sin(a));
    }
}

}  // namespace kairos
