#pragma once
// Converting tensor data between storage types, for the GGUF writer (and
// tests): any type -> F32 -> F32/F16/BF16/Q8_0.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gpu/base/result.hpp"
#include "gpu/model/dtype.hpp"

namespace kairos {

// Quantises n floats (n a multiple of 32) to Q8_0 as ggml does: per block of
// 32, scale d = max|x| / 127 stored as F16, q = round(x / d).
// dst: [n / 32 blocks, 34 bytes each].
void quantize_q8_0(const float* src, std::byte* dst, std::int64_t n);

// n elements of type `from` at src, re-encoded as `to`. Q8_0 needs n % 32 == 0.
result<std::vector<std::byte>> convert_tensor_data(dtype from, const std::byte* src, std::int64_t n, dtype to);

}  // namespace kairos
