// Portable fallback micro-kernels (no FMA: acc = acc + a*b, in order over k).
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "gpu/kernels/gemm_internal.hpp"

namespace kairos::kernels::detail {
namespace {

constexpr int kMrMax = 4;

// Step t of a panel as 32 f32 values (exact).
inline void widen(float*, const char* panel, int t, float* out) {
  std::memcpy(out, panel_step<float>(panel, t), 32 * 4);
}
inline void widen(bf16_t*, const char* panel, int t, float* out) {
  const bf16_t* p = panel_step<bf16_t>(panel, t);
  for (int j = 0; j < 32; ++j) out[j] = bf16_to_f32(p[j].bits);
}
inline void widen(f16_t*, const char* panel, int t, float* out) {
  const f16_t* p = panel_step<f16_t>(panel, t);
  for (int j = 0; j < 32; ++j) out[j] = f16_bits_to_f32(p[j].bits);
}
inline void widen(q8_t*, const char* panel, int t, float* out) {
  const std::int8_t* q = q8_step(panel, t);
  const float* sc = q8_scales(panel, t);
  for (int j = 0; j < 32; ++j) out[j] = sc[j] * static_cast<float>(q[j]);
}

template <int MR, bool PACKED, class WT>
void ukr(const ukr_args& g) {
  float c[MR][32] = {};
  for (int t = 0; t < g.k; ++t) {
    float bw[32];
    widen(static_cast<WT*>(nullptr), static_cast<const char*>(g.b), t, bw);
    for (int i = 0; i < MR; ++i) {
      const float s = PACKED ? g.a[static_cast<std::ptrdiff_t>(t) * MR + i] : g.a[i * g.lda + t];
      for (int j = 0; j < 32; ++j) c[i][j] = c[i][j] + s * bw[j];
    }
  }
  if (g.swiglu) {  // columns 0-15 gate, 16-31 up
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < 16 && j < g.ncols; ++j) g.y[i * g.ldy + j] = swiglu_exact(c[i][j], c[i][16 + j]);
    return;
  }
  const int nc = g.ncols < 32 ? g.ncols : 32;
  for (int i = 0; i < MR; ++i) {
    float* yp = g.y + i * g.ldy;
    for (int j = 0; j < nc; ++j) {
      float r = c[i][j];
      if (g.bias) r = r + g.bias[j];
      yp[j] = g.accumulate ? yp[j] + r : r;
    }
  }
}

template <bool PACKED, class WT, int... I>
constexpr std::array<ukr_fn, kMrMax> table(std::integer_sequence<int, I...>) {
  return {{&ukr<I + 1, PACKED, WT>...}};
}

struct rows {
  template <bool PACKED, class WT>
  static constexpr std::array<ukr_fn, kMrMax> get() {
    return table<PACKED, WT>(std::make_integer_sequence<int, kMrMax>{});
  }
};
using lookup = one_panel_lookup<rows>;

}  // namespace

const isa_kernels& scalar_kernels() {
  static const isa_kernels k{"scalar", kMrMax, &lookup::np_for, &lookup::get};
  return k;
}

}  // namespace kairos::kernels::detail
