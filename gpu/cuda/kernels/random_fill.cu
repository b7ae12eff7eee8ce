#include "gpu/cuda/kernels/common.cuh"
#include "gpu/cuda/kernels/random_fill.cuh"

namespace kairos::cuda::kernels {

namespace {

__device__ inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Box-Muller on two 32-bit halves of one hash; the cosine branch only, so
// every element stands alone.
__global__ void fill_normal_kernel(bf16* dst, std::size_t n, std::uint64_t seed, float stddev) {
  const std::uint64_t s = mix64(seed ^ 0x5851f42d4c957f2dull);
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::uint64_t h = mix64(s + i * 0x9e3779b97f4a7c15ull);
    const float u1 = (static_cast<float>(h >> 40) + 0.5f) * (1.0f / 16777216.0f);
    const float u2 = static_cast<float>((h >> 8) & 0xffffffu) * (1.0f / 16777216.0f);
    const float z = sqrtf(-2.f * __logf(u1)) * __cosf(6.283185307179586f * u2);
    dst[i] = __float2bfloat16_rn(stddev * z);
  }
}

__global__ void fill_f32_kernel(float* dst, std::size_t n, float v) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    dst[i] = v;
}

__global__ void bf16_to_f32_kernel(const bf16* src, float* dst, std::size_t n) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    dst[i] = __bfloat162float(src[i]);
}

int grid_for(std::size_t n) {
  const std::size_t b = (n + 255) / 256;
  return static_cast<int>(b < 65536 ? (b == 0 ? 1 : b) : 65536);
}

}  // namespace

cudaError_t fill_normal_bf16(bf16* dst, std::size_t n, std::uint64_t seed, float stddev, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  fill_normal_kernel<<<grid_for(n), 256, 0, stream>>>(dst, n, seed, stddev);
  return cudaGetLastError();
}

cudaError_t fill_f32(float* dst, std::size_t n, float value, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  fill_f32_kernel<<<grid_for(n), 256, 0, stream>>>(dst, n, value);
  return cudaGetLastError();
}

cudaError_t bf16_to_f32(const bf16* src, float* dst, std::size_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  bf16_to_f32_kernel<<<grid_for(n), 256, 0, stream>>>(src, dst, n);
  return cudaGetLastError();
}

}  // namespace kairos::cuda::kernels
