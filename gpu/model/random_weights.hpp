#pragma once
// Deterministic random weights for made-up models (`kairos mkmodel`, engine
// tests): weights and biases ~ N(0, 0.02), RMSNorm weights 1. The generator is
// our own (splitmix64-seeded xoshiro256** + Box-Muller), not
// std::normal_distribution, whose output differs between standard libraries:
// the same seed gives the same bytes everywhere.
#include <cstddef>
#include <cstdint>
#include <string>

#include "gpu/base/result.hpp"
#include "gpu/model/model_config.hpp"
#include "gpu/model/model_loader.hpp"
#include "gpu/model/safetensors.hpp"
#include "gpu/model/tensor_store.hpp"

namespace kairos {

inline constexpr float random_weight_std = 0.02f;

// Normal numbers from a seed.
class normal_rng {
 public:
  explicit normal_rng(std::uint64_t seed);
  std::uint64_t next_u64();
  double uniform();  // [0, 1), 53 random bits
  double normal();   // N(0, 1)

 private:
  std::uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// The values of one tensor, made piece by piece. Each tensor draws from its
// own stream, seeded from (seed, name), so its values do not depend on which
// other tensors are made or in what order.
class random_tensor_stream {
 public:
  random_tensor_stream(const tensor_spec& spec, std::uint64_t seed, float stddev = random_weight_std);
  // The next n values as floats.
  void next_f32(float* dst, std::int64_t n);
  // The next n values encoded as spec.type: dtype_bytes(type, n) bytes at dst
  // (n a multiple of 32 for Q8_0, which is quantised per block).
  void next(std::byte* dst, std::int64_t n);

 private:
  normal_rng rng_;
  dtype type_;
  float stddev_;
  bool ones_;  // an RMSNorm weight
};

// Every tensor of cfg's shape, in memory (for small shapes: tests). Matrices
// are stored as `type`; 1-D tensors too, except with Q8_0, where they stay F32
// as in llama.cpp. The store owns the memory.
result<tensor_store> make_random_tensor_store(const model_config& cfg, dtype type, std::uint64_t seed,
                                              float stddev = random_weight_std);
// The same with the config (weight_dtype = type) alongside; no tokenizer.
result<loaded_model> make_random_model(const model_config& cfg, dtype type, std::uint64_t seed);

// The tensors and header write_random_model writes, without making them: how
// to look at a model too big to make in a test.
std::vector<tensor_spec> random_model_specs(const model_config& cfg, dtype type);
result<safetensors_layout> random_model_layout(const model_config& cfg, dtype type);

// Writes config.json and model.safetensors of a random model into `dir`
// (created if needed). Tensors are generated and written in chunks, so memory
// stays bounded at any size (llama3-8b is 16 GB in BF16). F32, F16, BF16 only.
status write_random_model(const std::string& dir, const model_config& cfg, dtype type, std::uint64_t seed);

}  // namespace kairos
