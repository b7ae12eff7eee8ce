#pragma once
// Storage types of weights on disk. The CPU engine computes in F32.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace kairos {

enum class dtype : std::uint8_t { f32, f16, bf16, q8_0 };

const char* dtype_name(dtype t);

// Q8_0 (GGUF): blocks of 32 values, one f16 scale then 32 int8.
inline constexpr int q8_0_block = 32;
inline constexpr std::size_t q8_0_block_bytes = 2 + 32;

// Bytes taken by n consecutive elements (n must be a multiple of 32 for q8_0).
std::size_t dtype_bytes(dtype t, std::int64_t n);

inline float bf16_to_f32(std::uint16_t h) {
  std::uint32_t u = static_cast<std::uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest even; NaN stays NaN.
inline std::uint16_t f32_to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}

float f16_to_f32(std::uint16_t h);
std::uint16_t f32_to_f16(float f);

// Converts n elements of type t at src into floats at dst.
void convert_to_f32(dtype t, const void* src, float* dst, std::int64_t n);

}  // namespace kairos
