#pragma once
// Dense matmul against a weight matrix that is packed once at load time.
// The engine's hot path: every Linear layer of prefill and decode goes here.
// Knows nothing of the model: raw pointers and sizes only.
#include <cstddef>
#include <cstdint>
#include <memory>

namespace kairos::kernels {

// W [n, k] row-major (n outputs, k inputs: the layout of a Hugging Face
// Linear weight), repacked for the micro-kernel. Move-only, owns its memory.
class packed_weight {
 public:
  packed_weight() = default;
  // w: [n, k] F32. Copies; w may be freed afterwards.
  static packed_weight pack(const float* w, int n, int k);

  int n() const { return n_; }
  int k() const { return k_; }
  std::size_t bytes() const { return bytes_; }
  const float* data() const { return data_.get(); }

 private:
  struct free_deleter {
    void operator()(float* p) const;
  };
  int n_ = 0;
  int k_ = 0;
  std::size_t bytes_ = 0;
  std::unique_ptr<float[], free_deleter> data_;
};

// y[m, n] = x[m, k] · Wᵀ (+ bias[n] if bias) (+ y if accumulate).
// x rows are contiguous with stride k; y rows with stride n.
// Uses the OpenMP threads of the caller's setting (omp_set_num_threads).
void gemm(const float* x, int m, const packed_weight& w, float* y,
          const float* bias = nullptr, bool accumulate = false);

// Which instruction set the kernels dispatched to on this CPU ("avx512", "avx2", "scalar").
const char* gemm_isa();

}  // namespace kairos::kernels
