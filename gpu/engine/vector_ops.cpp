#include "gpu/engine/vector_ops.hpp"

#include <cmath>
#include <cstring>

// target_clones makes GCC emit one version per ISA and an ifunc resolver.
#define KAIROS_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))

namespace kairos::ops {

KAIROS_CLONES void rms_norm(const float* x, const float* w, float* y, int n, float eps) {
  float ss = 0.f;
  for (int i = 0; i < n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (int i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
}

KAIROS_CLONES void rope_rotate(float* v, const float* cos_t, const float* sin_t, int d) {
  const int half = d / 2;
  float* a = v;
  float* b = v + half;
  for (int i = 0; i < half; ++i) {
    const float x0 = a[i], x1 = b[i];
    a[i] = x0 * cos_t[i] - x1 * sin_t[i];
    b[i] = x1 * cos_t[i] + x0 * sin_t[i];
  }
}

// exp(x) = 2^r * e^f with r = round(x / ln2) and f = x - r ln2 computed in
// two parts (Cody-Waite), so f keeps full precision even at x = -87; e^f on
// [-0.35, 0.35] by its degree-7 Taylor polynomial (error below 1e-8); 2^r goes
// straight into the exponent bits.
static inline float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float r = __builtin_rintf(x * 1.44269504088896341f);
  const float f = (x - r * 0.693359375f) + r * 2.12194440e-4f;
  float p = 1.0f / 5040.0f;
  p = p * f + 1.0f / 720.0f;
  p = p * f + 1.0f / 120.0f;
  p = p * f + 1.0f / 24.0f;
  p = p * f + 1.0f / 6.0f;
  p = p * f + 0.5f;
  p = p * f + 1.0f;
  p = p * f + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(r) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

KAIROS_CLONES void exp_inplace(float* x, int n) {
  for (int i = 0; i < n; ++i) x[i] = exp_approx(x[i]);
}

KAIROS_CLONES void silu_mul(const float* gate, const float* up, float* out, int n) {
  for (int i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + exp_approx(-g)) * up[i];
  }
}

KAIROS_CLONES void block_scores(const float* q, const float* k_block, float* scores, int head_dim, int block_size,
                                int n_valid, float scale) {
  float acc[64];  // block_size <= 64
  for (int j = 0; j < block_size; ++j) acc[j] = 0.f;
  for (int d = 0; d < head_dim; ++d) {
    const float qd = q[d];
    const float* kr = k_block + static_cast<std::size_t>(d) * block_size;
    for (int j = 0; j < block_size; ++j) acc[j] += qd * kr[j];
  }
  for (int j = 0; j < n_valid; ++j) scores[j] = acc[j] * scale;
}

KAIROS_CLONES void block_weighted_sum(const float* w, const float* v_block, float* out, int head_dim, int n_valid) {
  for (int j = 0; j < n_valid; ++j) {
    const float wj = w[j];
    const float* vr = v_block + static_cast<std::size_t>(j) * head_dim;
    for (int d = 0; d < head_dim; ++d) out[d] += wj * vr[d];
  }
}

}  // namespace kairos::ops
