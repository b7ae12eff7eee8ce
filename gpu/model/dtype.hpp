#pragma once
// Storage types of weights on disk. The CPU engine computes in F32.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "gpu/base/bf16.hpp"

namespace kairos {

enum class dtype : std::uint8_t { f32, f16, bf16, q8_0 };

const char* dtype_name(dtype t);
// "f32", "f16", "bf16" or "q8_0" (any case); nullopt for anything else.
std::optional<dtype> parse_dtype(std::string_view name);

// Q8_0 (GGUF): blocks of 32 values, one f16 scale then 32 int8.
inline constexpr int q8_0_block = 32;
inline constexpr std::size_t q8_0_block_bytes = 2 + 32;

// Bytes taken by n consecutive elements (n must be a multiple of 32 for q8_0).
std::size_t dtype_bytes(dtype t, std::int64_t n);

// bf16_to_f32 and f32_to_bf16: gpu/base/bf16.hpp.
float f16_to_f32(std::uint16_t h);
std::uint16_t f32_to_f16(float f);

// Converts n elements of type t at src into floats at dst.
void convert_to_f32(dtype t, const void* src, float* dst, std::int64_t n);

}  // namespace kairos
