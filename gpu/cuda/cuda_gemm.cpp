#include "gpu/cuda/cuda_gemm.hpp"

#include "gpu/cuda/cuda_check.hpp"

namespace kairos::cuda {

result<std::unique_ptr<gemm_runner>> gemm_runner::create(cudaStream_t stream, std::size_t workspace_bytes) {
  std::unique_ptr<gemm_runner> g(new gemm_runner());
  KAIROS_CUBLAS_TRY(cublasCreate(&g->handle_));
  KAIROS_CUBLAS_TRY(cublasSetStream(g->handle_, stream));
  KAIROS_CUDA_TRY(cudaMalloc(&g->workspace_, workspace_bytes));
  KAIROS_CUBLAS_TRY(cublasSetWorkspace(g->handle_, g->workspace_, workspace_bytes));
  return g;
}

gemm_runner::~gemm_runner() {
  if (handle_) cublasDestroy(handle_);
  if (workspace_) cudaFree(workspace_);
}

status gemm_runner::run(const void* x, const void* w, void* y, gemm_out out, int m, int n, int k, float beta) {
  if (m == 0) return {};
  const float alpha = 1.f;
  // cuBLAS is column-major: y^T [n, m] = w [n, k] (row-major = col-major
  // k x n, transposed) times x^T (row-major [m, k] = col-major k x m).
  KAIROS_CUBLAS_TRY(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w, CUDA_R_16BF, k, x,
                                 CUDA_R_16BF, k, &beta, y, out == gemm_out::bf16 ? CUDA_R_16BF : CUDA_R_32F, n,
                                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  return {};
}

}  // namespace kairos::cuda
