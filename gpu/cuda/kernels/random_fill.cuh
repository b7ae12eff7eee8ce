#pragma once
// Random weights generated on the device: each element is a pure function
// of (seed, index), so a tensor of any size fills in one pass with no host
// staging (llama3-8b's 16 GB of BF16 in well under a second on an H100).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace kairos::cuda::kernels {

// dst[i] = bf16(stddev * N(0, 1)), the normal drawn from hash(seed, i).
cudaError_t fill_normal_bf16(__nv_bfloat16* dst, std::size_t n, std::uint64_t seed, float stddev,
                             cudaStream_t stream);
// dst[i] = value.
cudaError_t fill_f32(float* dst, std::size_t n, float value, cudaStream_t stream);
// dst[i] = float(src[i]).
cudaError_t bf16_to_f32(const __nv_bfloat16* src, float* dst, std::size_t n, cudaStream_t stream);

}  // namespace kairos::cuda::kernels
