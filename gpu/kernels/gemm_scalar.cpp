// Portable fallback micro-kernels (no FMA: acc = acc + a*b, in order over k).
#include <array>
#include <utility>

#include "gpu/kernels/gemm_internal.hpp"

namespace kairos::kernels::detail {
namespace {

constexpr int kMrMax = 4;

template <int MR, bool PACKED>
void ukr(const ukr_args& g) {
  float c[MR][32] = {};
  for (int t = 0; t < g.k; ++t) {
    const float* b = g.b + static_cast<std::ptrdiff_t>(t) * 32;
    for (int i = 0; i < MR; ++i) {
      const float s = PACKED ? g.a[static_cast<std::ptrdiff_t>(t) * MR + i] : g.a[i * g.lda + t];
      for (int j = 0; j < 32; ++j) c[i][j] = c[i][j] + s * b[j];
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

template <bool PACKED, int... I>
constexpr std::array<ukr_fn, kMrMax> table(std::integer_sequence<int, I...>) {
  return {{&ukr<I + 1, PACKED>...}};
}

constexpr auto kPacked = table<true>(std::make_integer_sequence<int, kMrMax>{});
constexpr auto kUnpacked = table<false>(std::make_integer_sequence<int, kMrMax>{});

int np_for(int) { return 1; }
ukr_fn get(int mr, int, bool packed) { return (packed ? kPacked : kUnpacked)[mr - 1]; }

}  // namespace

const isa_kernels& scalar_kernels() {
  static const isa_kernels k{"scalar", kMrMax, &np_for, &get};
  return k;
}

}  // namespace kairos::kernels::detail
