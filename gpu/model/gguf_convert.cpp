#include "gpu/model/gguf_convert.hpp"

#include <cmath>
#include <cstring>

namespace kairos {

void quantize_q8_0(const float* src, std::byte* dst, std::int64_t n) {
  for (std::int64_t b = 0; b < n / q8_0_block; ++b) {
    const float* x = src + b * q8_0_block;
    std::byte* blk = dst + b * q8_0_block_bytes;
    float amax = 0.0f;
    for (int i = 0; i < q8_0_block; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const std::uint16_t dh = f32_to_f16(d);
    std::memcpy(blk, &dh, 2);
    auto* q = reinterpret_cast<std::int8_t*>(blk + 2);
    for (int i = 0; i < q8_0_block; ++i) q[i] = static_cast<std::int8_t>(std::lround(x[i] * id));
  }
}

result<std::vector<std::byte>> convert_tensor_data(dtype from, const std::byte* src, std::int64_t n, dtype to) {
  if ((from == dtype::q8_0 || to == dtype::q8_0) && n % q8_0_block != 0)
    return make_error("Q8_0 needs a multiple of 32 values, got " + std::to_string(n));
  std::vector<std::byte> out(dtype_bytes(to, n));
  if (from == to) {
    std::memcpy(out.data(), src, out.size());
    return out;
  }
  std::vector<float> f(static_cast<std::size_t>(n));  // [n]
  convert_to_f32(from, src, f.data(), n);
  switch (to) {
    case dtype::f32: std::memcpy(out.data(), f.data(), out.size()); break;
    case dtype::f16:
    case dtype::bf16: {
      auto* d = reinterpret_cast<std::uint16_t*>(out.data());
      for (std::int64_t i = 0; i < n; ++i) d[i] = to == dtype::f16 ? f32_to_f16(f[i]) : f32_to_bf16(f[i]);
      break;
    }
    case dtype::q8_0: quantize_q8_0(f.data(), out.data(), n); break;
  }
  return out;
}

}  // namespace kairos
