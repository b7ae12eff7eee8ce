#include "gpu/model/dtype.hpp"

namespace kairos {

const char* dtype_name(dtype t) {
  switch (t) {
    case dtype::f32: return "F32";
    case dtype::f16: return "F16";
    case dtype::bf16: return "BF16";
    case dtype::q8_0: return "Q8_0";
  }
  return "?";
}

std::optional<dtype> parse_dtype(std::string_view name) {
  for (dtype t : {dtype::f32, dtype::f16, dtype::bf16, dtype::q8_0}) {
    const std::string_view n = dtype_name(t);
    bool same = n.size() == name.size();
    for (std::size_t i = 0; same && i < n.size(); ++i)
      same = n[i] == (name[i] >= 'a' && name[i] <= 'z' ? static_cast<char>(name[i] - 'a' + 'A') : name[i]);
    if (same) return t;
  }
  return std::nullopt;
}

std::size_t dtype_bytes(dtype t, std::int64_t n) {
  switch (t) {
    case dtype::f32: return static_cast<std::size_t>(n) * 4;
    case dtype::f16:
    case dtype::bf16: return static_cast<std::size_t>(n) * 2;
    case dtype::q8_0: return static_cast<std::size_t>(n / q8_0_block) * q8_0_block_bytes;
  }
  return 0;
}

float f16_to_f32(std::uint16_t h) {
  std::uint32_t sign = (h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1f;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: renormalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      u = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::uint16_t f32_to_f16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  std::uint32_t sign = (u >> 16) & 0x8000u;
  std::int32_t exp = static_cast<std::int32_t>((u >> 23) & 0xff) - 127 + 15;
  std::uint32_t mant = u & 0x7fffffu;
  if (((u >> 23) & 0xff) == 0xff) return static_cast<std::uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
  if (exp >= 31) return static_cast<std::uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10) return static_cast<std::uint16_t>(sign);
    mant |= 0x800000u;
    std::uint32_t shift = static_cast<std::uint32_t>(14 - exp);
    std::uint32_t half = mant >> shift;
    std::uint32_t rem = mant & ((1u << shift) - 1);
    std::uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  std::uint32_t half = sign | (static_cast<std::uint32_t>(exp) << 10) | (mant >> 13);
  std::uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // may carry into exponent: correct
  return static_cast<std::uint16_t>(half);
}

void convert_to_f32(dtype t, const void* src, float* dst, std::int64_t n) {
  switch (t) {
    case dtype::f32:
      std::memcpy(dst, src, static_cast<std::size_t>(n) * 4);
      return;
    case dtype::bf16: {
      auto* s = static_cast<const std::uint16_t*>(src);
      for (std::int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case dtype::f16: {
      auto* s = static_cast<const std::uint16_t*>(src);
      for (std::int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case dtype::q8_0: {
      auto* s = static_cast<const unsigned char*>(src);
      for (std::int64_t b = 0; b < n / q8_0_block; ++b) {
        const unsigned char* blk = s + b * q8_0_block_bytes;
        std::uint16_t d;
        std::memcpy(&d, blk, 2);
        float scale = f16_to_f32(d);
        auto* q = reinterpret_cast<const std::int8_t*>(blk + 2);
        for (int i = 0; i < q8_0_block; ++i) dst[b * q8_0_block + i] = scale * static_cast<float>(q[i]);
      }
      return;
    }
  }
}

}  // namespace kairos
