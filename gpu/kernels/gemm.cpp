// Placeholder scalar GEMM; replaced by the packed AVX-512 kernels.
#include "gpu/kernels/gemm.hpp"

#include <cstdlib>
#include <cstring>

namespace kairos::kernels {

void packed_weight::free_deleter::operator()(float* p) const { std::free(p); }

packed_weight packed_weight::pack(const float* w, int n, int k) {
  packed_weight p;
  p.n_ = n;
  p.k_ = k;
  p.bytes_ = static_cast<std::size_t>(n) * k * sizeof(float);
  std::size_t alloc = (p.bytes_ + 63) / 64 * 64;
  p.data_.reset(static_cast<float*>(std::aligned_alloc(64, alloc ? alloc : 64)));
  std::memcpy(p.data_.get(), w, p.bytes_);
  return p;
}

void gemm(const float* x, int m, const packed_weight& w, float* y, const float* bias, bool accumulate) {
  const int n = w.n(), k = w.k();
  const float* W = w.data();
#pragma omp parallel for collapse(2) schedule(static)
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      const float* xr = x + static_cast<std::size_t>(i) * k;
      const float* wr = W + static_cast<std::size_t>(j) * k;
      float acc = 0.f;
      for (int t = 0; t < k; ++t) acc += xr[t] * wr[t];
      if (bias) acc += bias[j];
      float* out = y + static_cast<std::size_t>(i) * n + j;
      *out = accumulate ? *out + acc : acc;
    }
  }
}

const char* gemm_isa() { return "scalar"; }

}  // namespace kairos::kernels
