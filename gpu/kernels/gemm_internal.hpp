#pragma once
// Internal to the gemm kernels: the micro-kernel interface shared by the
// driver (gemm.cpp) and the per-ISA micro-kernels (gemm_avx512.cpp, gemm_avx2.cpp).
#include <array>
#include <cstddef>
#include <cstdint>

#include "gpu/base/bf16.hpp"
#include "gpu/kernels/gemm.hpp"

namespace kairos::kernels::detail {

// Panel element types of the micro-kernels (weight_dtype's bf16, f16, q8_0).
struct bf16_t {
  std::uint16_t bits;
};
struct f16_t {
  std::uint16_t bits;
};
// A Q8_0 panel is a run of blocks of 32 k steps: the 32 columns' scales as
// f32 (the checkpoint's f16 scales, widened), then [32 steps][32 columns]
// int8. Element (t, c) is scale[c] * q[t][c], exact in f32 (11 by 8
// significant bits): what the loader's dequantization computes.
struct q8_t {};

// An f16 bit pattern as f32 (exact): f16 panels on the scalar path, Q8_0 scales.
inline float f16_bits_to_f32(std::uint16_t bits) {
  _Float16 h;
  __builtin_memcpy(&h, &bits, 2);
  return static_cast<float>(h);
}
inline constexpr int q8_block_steps = 32;
inline constexpr std::ptrdiff_t q8_block_bytes = 32 * 4 + 32 * 32;

// A table per weight_dtype, in the enum's order: make(WT{}) builds one ISA's
// kernels for panel element type WT.
template <class Make>
constexpr auto for_each_weight_type(Make make) {
  return std::array{make(float{}), make(bf16_t{}), make(f16_t{}), make(q8_t{})};
}

// Bytes of one panel of k steps of weight type t (k a multiple of 32 for q8_0).
inline std::ptrdiff_t panel_bytes(weight_dtype t, int k) {
  switch (t) {
    case weight_dtype::f32: return static_cast<std::ptrdiff_t>(k) * 32 * 4;
    case weight_dtype::bf16:
    case weight_dtype::f16: return static_cast<std::ptrdiff_t>(k) * 32 * 2;
    case weight_dtype::q8_0: return static_cast<std::ptrdiff_t>(k / q8_block_steps) * q8_block_bytes;
  }
  return 0;
}

// Step t of a panel (its 32 elements) for the fixed-width types.
template <class WT>
inline const WT* panel_step(const char* panel, int t) {
  return reinterpret_cast<const WT*>(panel) + static_cast<std::ptrdiff_t>(t) * 32;
}
// Q8_0: the block holding step t, its scales and step t's 32 int8.
inline const char* q8_block(const char* panel, int t) {
  return panel + static_cast<std::ptrdiff_t>(t / q8_block_steps) * q8_block_bytes;
}
inline const float* q8_scales(const char* panel, int t) { return reinterpret_cast<const float*>(q8_block(panel, t)); }
inline const std::int8_t* q8_step(const char* panel, int t) {
  return reinterpret_cast<const std::int8_t*>(q8_block(panel, t) + 32 * 4) + (t % q8_block_steps) * 32;
}

// One micro-kernel call: mr rows of x (one "slice") times a group of np panels.
struct ukr_args {
  // The slice of x. packed: a[t*mr + i] (k-major); unpacked: a[i*lda + t].
  const float* a;
  std::ptrdiff_t lda;
  // First packed panel of the group (k steps of 32 elements each, of the
  // kernel's element type), and the distance in bytes between consecutive
  // panels (panel_bytes).
  const void* b;
  std::ptrdiff_t bstride;
  int k;
  // Output: y + row0*ldy + col0; valid columns from col0 (may exceed the group's width).
  float* y;
  std::ptrdiff_t ldy;
  int ncols;
  const float* bias;  // bias + col0, or nullptr
  bool accumulate;
  // SwiGLU epilogue (pack_swiglu panels): columns 0-15 of a panel are gate,
  // 16-31 up; output p*16 + c of the group = swiglu_exact(gate c, up c) of
  // panel p, ncols counting outputs. bias and accumulate are off.
  bool swiglu;
  // Software prefetch of the weights (kernels may ignore it): nullptr: none;
  // == b: stream b's own panels ahead (one slice per group, decode); else
  // prefetch_lines contiguous 64-byte lines from there (this slice's share of
  // the next group of panels), pulled into L2 spread evenly over the k loop,
  // so that streaming overlaps with compute at an even rate.
  const void* prefetch;
  int prefetch_lines;
};

using ukr_fn = void (*)(const ukr_args&);

// silu(g) * u as every path computes it, one IEEE operation at a time:
// exp(-g) by Cody-Waite reduction and a degree-7 Taylor polynomial (the
// engine's exp), every multiply-add an fma. The AVX-512 epilogue runs the
// same operations lane-wise.
inline float swiglu_exact(float g, float u) {
  // Clamped as _mm512_max_ps(x, -87) then _mm512_min_ps(x, 88) do: a NaN
  // becomes -87 (g itself is NaN then, and so is the result).
  float x = 0.0f - g;  // as the vector version: 0 - g, not -g (the sign of a zero)
  x = x > -87.0f ? x : -87.0f;
  x = x < 88.0f ? x : 88.0f;
  const float r = __builtin_rintf(x * 1.44269504088896341f);
  const float f = __builtin_fmaf(r, 2.12194440e-4f, __builtin_fmaf(-r, 0.693359375f, x));
  float p = 1.0f / 5040.0f;
  p = __builtin_fmaf(p, f, 1.0f / 720.0f);
  p = __builtin_fmaf(p, f, 1.0f / 120.0f);
  p = __builtin_fmaf(p, f, 1.0f / 24.0f);
  p = __builtin_fmaf(p, f, 1.0f / 6.0f);
  p = __builtin_fmaf(p, f, 0.5f);
  p = __builtin_fmaf(p, f, 1.0f);
  p = __builtin_fmaf(p, f, 1.0f);
  const int bits = (static_cast<int>(r) + 127) << 23;
  float scale;
  __builtin_memcpy(&scale, &bits, 4);
  // Every add of a product is an explicit fma: GCC would contract some, and
  // the paths must agree.
  return g / __builtin_fmaf(p, scale, 1.0f) * u;
}

// Table of micro-kernels for one ISA: get(mr, np, packed, dt) for 1 <= mr <=
// mr_max and 1 <= np <= np_for(mr), reading panels of element type dt. Every
// kernel computes each output element with the same in-order fma chain over
// k (see gemm.hpp).
struct isa_kernels {
  const char* name;
  int mr_max;
  int (*np_for)(int mr);  // panels per group for slices of at most mr rows
  ukr_fn (*get)(int mr, int np, bool packed, weight_dtype dt);
};

// The lookup of an ISA whose kernels take one panel a call (np_for is 1):
// Rows::get<PACKED, WT>() gives its kernels for 1..mr_max rows.
template <class Rows>
struct one_panel_lookup {
  static constexpr auto packed =
      for_each_weight_type([](auto wt) { return Rows::template get<true, decltype(wt)>(); });
  static constexpr auto unpacked =
      for_each_weight_type([](auto wt) { return Rows::template get<false, decltype(wt)>(); });
  static int np_for(int) { return 1; }
  static ukr_fn get(int mr, int, bool is_packed, weight_dtype dt) {
    return (is_packed ? packed : unpacked)[static_cast<int>(dt)][mr - 1];
  }
};

const isa_kernels& avx512_kernels();
const isa_kernels& avx2_kernels();
const isa_kernels& scalar_kernels();

}  // namespace kairos::kernels::detail
