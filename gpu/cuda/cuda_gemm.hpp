#pragma once
// The engine's matrix products through cuBLAS: BF16 operands, FP32
// accumulation, BF16 or FP32 output. Weights are stored as Hugging Face
// does, [n_out, n_in] row-major, so y = x W^T.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <memory>

#include "gpu/base/result.hpp"

namespace kairos::cuda {

enum class gemm_out { bf16, f32 };

class gemm_runner {
 public:
  // Binds a cuBLAS handle to `stream` with a fixed workspace of its own, so
  // no call allocates and every call can be captured in a CUDA graph.
  static result<std::unique_ptr<gemm_runner>> create(cudaStream_t stream, std::size_t workspace_bytes = 32u << 20);
  ~gemm_runner();
  gemm_runner(const gemm_runner&) = delete;
  gemm_runner& operator=(const gemm_runner&) = delete;

  // y[m, n] = x[m, k] w[n, k]^T + beta y, x and w BF16 row-major.
  status run(const void* x, const void* w, void* y, gemm_out out, int m, int n, int k, float beta = 0.f);

 private:
  gemm_runner() = default;
  cublasHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
};

}  // namespace kairos::cuda
