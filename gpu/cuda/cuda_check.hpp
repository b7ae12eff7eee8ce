#pragma once
// Checking CUDA and cuBLAS calls: a failed call becomes a kairos::error that
// names the call, the file and the line, so errors travel as result<T>/status
// and no exception leaves the library.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "gpu/base/result.hpp"

namespace kairos::cuda {

inline error cuda_error(cudaError_t e, const char* expr, const char* file, int line) {
  return make_error(std::string(file) + ":" + std::to_string(line) + ": " + expr + ": " + cudaGetErrorName(e) + " (" +
                    cudaGetErrorString(e) + ")");
}

inline error cublas_error(cublasStatus_t s, const char* expr, const char* file, int line) {
  return make_error(std::string(file) + ":" + std::to_string(line) + ": " + expr + ": cuBLAS status " +
                    std::to_string(static_cast<int>(s)));
}

}  // namespace kairos::cuda

// Inside a function returning status or result<T>: returns the error.
#define KAIROS_CUDA_TRY(expr)                                                            \
  do {                                                                                   \
    const cudaError_t kairos_e_ = (expr);                                                \
    if (kairos_e_ != cudaSuccess) return ::kairos::cuda::cuda_error(kairos_e_, #expr, __FILE__, __LINE__); \
  } while (0)

#define KAIROS_CUBLAS_TRY(expr)                                                          \
  do {                                                                                   \
    const cublasStatus_t kairos_s_ = (expr);                                             \
    if (kairos_s_ != CUBLAS_STATUS_SUCCESS)                                              \
      return ::kairos::cuda::cublas_error(kairos_s_, #expr, __FILE__, __LINE__);         \
  } while (0)

// Propagates a failed status/result from a callee.
#define KAIROS_TRY_STATUS(expr)        \
  do {                                 \
    auto kairos_st_ = (expr);          \
    if (!kairos_st_) return kairos_st_.err(); \
  } while (0)
