#pragma once
// Internal to the gemm kernels: the micro-kernel interface shared by the
// driver (gemm.cpp) and the per-ISA micro-kernels (gemm_avx512.cpp, gemm_avx2.cpp).
#include <cstddef>

namespace kairos::kernels::detail {

// One micro-kernel call: mr rows of x (one "slice") times a group of np panels.
struct ukr_args {
  // The slice of x. packed: a[t*mr + i] (k-major); unpacked: a[i*lda + t].
  const float* a;
  std::ptrdiff_t lda;
  // First packed panel of the group ([k][32] floats each), and the distance
  // in floats between consecutive panels (k*32).
  const float* b;
  std::ptrdiff_t bstride;
  int k;
  // Output: y + row0*ldy + col0; valid columns from col0 (may exceed the group's width).
  float* y;
  std::ptrdiff_t ldy;
  int ncols;
  const float* bias;  // bias + col0, or nullptr
  bool accumulate;
  // Software prefetch of the weights (kernels may ignore it): nullptr: none;
  // == b: stream b's own panels ahead (one slice per group, decode); else
  // prefetch_lines contiguous 64-byte lines from there (this slice's share of
  // the next group of panels), pulled into L2 spread evenly over the k loop,
  // so that streaming overlaps with compute at an even rate.
  const float* prefetch;
  int prefetch_lines;
};

using ukr_fn = void (*)(const ukr_args&);

// Table of micro-kernels for one ISA: get(mr, np, packed) for 1 <= mr <= mr_max
// and 1 <= np <= np_for(mr). Every kernel computes each output element with
// the same in-order fma chain over k (see gemm.hpp).
struct isa_kernels {
  const char* name;
  int mr_max;
  int (*np_for)(int mr);  // panels per group for slices of at most mr rows
  ukr_fn (*get)(int mr, int np, bool packed);
};

const isa_kernels& avx512_kernels();
const isa_kernels& avx2_kernels();
const isa_kernels& scalar_kernels();

}  // namespace kairos::kernels::detail
