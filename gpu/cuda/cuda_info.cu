#include <cublas_v2.h>
#include <cuda_runtime.h>
#if KAIROS_HAVE_NCCL
#include <nccl.h>
#endif

#include <cmath>
#include <string>
#include <vector>

#include "gpu/cuda/cuda_info.hpp"

namespace kairos::cuda {

namespace {

__global__ void scale_kernel(float* x, float a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= a;
}

std::string check(cudaError_t e, const char* what) {
  return e == cudaSuccess ? std::string() : std::string(what) + ": " + cudaGetErrorString(e);
}

}  // namespace

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

std::string runtime_summary() {
  int rt = 0, drv = 0, nccl = 0;
  cudaRuntimeGetVersion(&rt);
  cudaDriverGetVersion(&drv);
#if KAIROS_HAVE_NCCL
  ncclGetVersion(&nccl);
#endif
  int cublas = 0;
  cublasHandle_t h = nullptr;
  if (cublasCreate(&h) == CUBLAS_STATUS_SUCCESS) {
    cublasGetVersion(h, &cublas);
    cublasDestroy(h);
  }
  return "CUDA runtime " + std::to_string(rt) + ", driver " + std::to_string(drv) + ", cuBLAS " +
         std::to_string(cublas) + ", NCCL " + std::to_string(nccl) + ", devices " + std::to_string(device_count());
}

std::string smoke_test() {
  const int n = 64;
  std::vector<float> a(n * n), b(n * n), c(n * n, 0.f), ref(n * n, 0.f);
  for (int i = 0; i < n * n; ++i) {
    a[i] = static_cast<float>((i * 7) % 13) / 13.f;
    b[i] = static_cast<float>((i * 5) % 11) / 11.f;
  }
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      for (int t = 0; t < n; ++t) ref[i + j * n] += a[i + t * n] * b[t + j * n];  // column-major
  float *da = nullptr, *db = nullptr, *dc = nullptr;
  std::string err;
  if (!(err = check(cudaMalloc(&da, n * n * 4), "cudaMalloc")).empty()) return err;
  cudaMalloc(&db, n * n * 4);
  cudaMalloc(&dc, n * n * 4);
  cudaMemcpy(da, a.data(), n * n * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(db, b.data(), n * n * 4, cudaMemcpyHostToDevice);
  cublasHandle_t h = nullptr;
  cublasCreate(&h);
  const float one = 1.f, zero = 0.f;
  cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, da, n, db, n, &zero, dc, n);
  scale_kernel<<<(n * n + 255) / 256, 256>>>(dc, 2.f, n * n);
  err = check(cudaGetLastError(), "scale_kernel launch");
  if (err.empty()) err = check(cudaMemcpy(c.data(), dc, n * n * 4, cudaMemcpyDeviceToHost), "cudaMemcpy");
  cublasDestroy(h);
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
  if (!err.empty()) return err;
  for (int i = 0; i < n * n; ++i)
    if (std::fabs(c[i] - 2.f * ref[i]) > 1e-3f * (1.f + std::fabs(ref[i])))
      return "sgemm mismatch at " + std::to_string(i);
  return "";
}

}  // namespace kairos::cuda
