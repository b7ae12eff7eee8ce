#pragma once
// Device helpers shared by the kernels: bf16 vectors, warp and block
// reductions, and the dispatch that turns runtime sizes into template
// constants. Kernels include only CUDA headers and this file.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>

namespace kairos::cuda::kernels {

using bf16 = __nv_bfloat16;

// 8 bf16 = 16 bytes: the access width every kernel uses on rows.
__device__ __forceinline__ void load8(const bf16* p, float (&f)[8]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 v = __bfloat1622float2(h[i]);
    f[2 * i] = v.x;
    f[2 * i + 1] = v.y;
  }
}

__device__ __forceinline__ void store8(bf16* p, const float (&f)[8]) {
  uint4 raw;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
  *reinterpret_cast<uint4*>(p) = raw;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block; every thread gets the result. `scratch` holds 32
// floats; the call ends with a barrier, so scratch may be reused after it.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < n_warps ? scratch[lane] : 0.f;
  t = warp_sum(t);
  __syncthreads();
  return t;
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = (blockDim.x + 31) >> 5;
  v = warp_max(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < n_warps ? scratch[lane] : -INFINITY;
  t = warp_max(t);
  __syncthreads();
  return t;
}

// Unsupported runtime sizes fail loudly: a message on stderr naming the
// kernel and the size, and cudaErrorNotSupported to the caller.
inline cudaError_t unsupported(const char* kernel, const char* what, int value) {
  std::fprintf(stderr, "kairos cuda: %s does not support %s = %d\n", kernel, what, value);
  return cudaErrorNotSupported;
}

}  // namespace kairos::cuda::kernels

// Runs the statement with `constexpr int NAME` bound to the head dimension.
#define KAIROS_DISPATCH_HEAD_DIM(kernel, value, NAME, ...)                 \
  switch (value) {                                                         \
    case 16: { constexpr int NAME = 16; __VA_ARGS__; } break;              \
    case 32: { constexpr int NAME = 32; __VA_ARGS__; } break;              \
    case 64: { constexpr int NAME = 64; __VA_ARGS__; } break;              \
    case 128: { constexpr int NAME = 128; __VA_ARGS__; } break;            \
    case 256: { constexpr int NAME = 256; __VA_ARGS__; } break;            \
    default: return ::kairos::cuda::kernels::unsupported(kernel, "head_dim", value); \
  }

// The same for the number of query heads per KV head (GQA group).
#define KAIROS_DISPATCH_GROUP(kernel, value, NAME, ...)                    \
  switch (value) {                                                         \
    case 1: { constexpr int NAME = 1; __VA_ARGS__; } break;                \
    case 2: { constexpr int NAME = 2; __VA_ARGS__; } break;                \
    case 3: { constexpr int NAME = 3; __VA_ARGS__; } break;                \
    case 4: { constexpr int NAME = 4; __VA_ARGS__; } break;                \
    case 5: { constexpr int NAME = 5; __VA_ARGS__; } break;                \
    case 6: { constexpr int NAME = 6; __VA_ARGS__; } break;                \
    case 7: { constexpr int NAME = 7; __VA_ARGS__; } break;                \
    case 8: { constexpr int NAME = 8; __VA_ARGS__; } break;                \
    default: return ::kairos::cuda::kernels::unsupported(kernel, "query heads per KV head", value); \
  }
