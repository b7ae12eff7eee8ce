// The KV storage of the CPU backend: sizes per element type, and the copy of
// one token's rows between pools (the CPU KV transfer), for F32 and F16.
#include <doctest/doctest.h>

#include <cstdint>

#include "gpu/kv/kv_pool.hpp"

using namespace kairos;

TEST_CASE("kv dtype names parse back; anything else is refused") {
  for (auto t : {kv_dtype::f32, kv_dtype::f16}) CHECK(parse_kv_dtype(kv_dtype_name(t)) == t);
  CHECK(parse_kv_dtype("float16") == kv_dtype::f16);
  CHECK(parse_kv_dtype("float32") == kv_dtype::f32);
  CHECK_FALSE(parse_kv_dtype("bf16"));
  CHECK_FALSE(parse_kv_dtype(""));
  CHECK_FALSE(parse_kv_dtype("F16 "));
}

template <class T>
void check_copy(kv_dtype t) {
  kv_pool_shape s{3, 2, 8, 5, 4, t};
  kv_pool a(s), b(s);
  REQUIRE(a.allocated());
  CHECK(a.bytes() == 2ull * 3 * 5 * 2 * 8 * 4 * sizeof(T));
  CHECK(s.bytes_per_token() == 2ull * 3 * 2 * 8 * sizeof(T));
  // Distinct values everywhere in a.
  for (int l = 0; l < 3; ++l)
    for (int blk = 0; blk < 5; ++blk)
      for (std::size_t i = 0; i < s.elements_per_block(); ++i) {
        a.k_block<T>(l, blk)[i] = static_cast<T>(1 + (l * 5 + blk) * 100 + i);
        b.v_block<T>(l, blk)[i] = 0;
        a.v_block<T>(l, blk)[i] = static_cast<T>(20000 + (l * 5 + blk) * 100 + i);
      }
  // Token at (block 3, slot 1) of a into (block 0, slot 2) of b.
  b.copy_token_from(a, 3, 1, 0, 2);
  int copied = 0, untouched = 0;
  for (int l = 0; l < 3; ++l)
    for (int h = 0; h < 2; ++h)
      for (int d = 0; d < 8; ++d)
        for (int slot = 0; slot < 4; ++slot) {
          const T k = b.k_block<T>(l, 0)[(h * 8 + d) * 4 + slot];  // [heads, head_dim, block]
          const T v = b.v_block<T>(l, 0)[(h * 4 + slot) * 8 + d];  // [heads, block, head_dim]
          if (slot == 2) {
            CHECK(k == a.k_block<T>(l, 3)[(h * 8 + d) * 4 + 1]);
            CHECK(v == a.v_block<T>(l, 3)[(h * 4 + 1) * 8 + d]);
            ++copied;
          } else {
            CHECK(k == 0);
            CHECK(v == 0);
            ++untouched;
          }
        }
  CHECK(copied == 3 * 2 * 8);
  CHECK(untouched == 3 * 2 * 8 * 3);
}

TEST_CASE("copy_token_from moves one token's K and V rows of every layer, F32 and F16") {
  check_copy<float>(kv_dtype::f32);
  check_copy<std::uint16_t>(kv_dtype::f16);
}
