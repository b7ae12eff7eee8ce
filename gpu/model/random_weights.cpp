#include "gpu/model/random_weights.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numbers>
#include <vector>

#include "gpu/model/gguf_convert.hpp"

namespace kairos {

namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::uint64_t fnv1a64(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

inline std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Values are made and encoded this many at a time (a multiple of 32 for Q8_0).
constexpr std::int64_t chunk = 1 << 16;

// Storage type of a tensor in a random model of type `type`.
dtype tensor_type(const tensor_spec& s, dtype type) {
  return type == dtype::q8_0 && s.shape.size() == 1 ? dtype::f32 : type;
}

status write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return make_error(path.string() + ": write error");
  return {};
}

}  // namespace

normal_rng::normal_rng(std::uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
}

std::uint64_t normal_rng::next_u64() {  // xoshiro256**
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double normal_rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double normal_rng::normal() {  // Box-Muller, both outputs used
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double a = 2.0 * std::numbers::pi * u2;
  spare_ = r * std::sin(a);
  has_spare_ = true;
  return r * std::cos(a);
}

random_tensor_stream::random_tensor_stream(const tensor_spec& spec, std::uint64_t seed, float stddev)
    : rng_([&] {
        std::uint64_t x = seed;
        return splitmix64(x) ^ fnv1a64(spec.name);
      }()),
      type_(spec.type),
      stddev_(stddev),
      ones_(is_norm_weight(spec.name)) {}

void random_tensor_stream::next_f32(float* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = ones_ ? 1.0f : static_cast<float>(rng_.normal() * stddev_);
}

void random_tensor_stream::next(std::byte* dst, std::int64_t n) {
  std::vector<float> f(static_cast<std::size_t>(std::min(n, chunk)));  // [chunk]
  for (std::int64_t done = 0; done < n;) {
    const std::int64_t m = std::min(n - done, chunk);
    next_f32(f.data(), m);
    std::byte* out = dst + dtype_bytes(type_, done);
    switch (type_) {
      case dtype::f32: std::memcpy(out, f.data(), static_cast<std::size_t>(m) * 4); break;
      case dtype::f16:
      case dtype::bf16: {
        for (std::int64_t i = 0; i < m; ++i) {
          const std::uint16_t h = type_ == dtype::f16 ? f32_to_f16(f[i]) : f32_to_bf16(f[i]);
          std::memcpy(out + 2 * i, &h, 2);
        }
        break;
      }
      case dtype::q8_0: quantize_q8_0(f.data(), out, m); break;
    }
    done += m;
  }
}

std::vector<tensor_spec> random_model_specs(const model_config& cfg, dtype type) {
  auto specs = expected_tensors(cfg);
  for (auto& s : specs) s.type = tensor_type(s, type);
  return specs;
}

result<safetensors_layout> random_model_layout(const model_config& cfg, dtype type) {
  return safetensors_header(random_model_specs(cfg, type));
}

result<tensor_store> make_random_tensor_store(const model_config& cfg, dtype type, std::uint64_t seed, float stddev) {
  if (auto s = cfg.validate(); !s) return s.err();
  tensor_store store;
  for (const auto& spec : random_model_specs(cfg, type)) {
    if (spec.type == dtype::q8_0 && spec.shape.back() % q8_0_block != 0)
      return make_error("tensor " + spec.name + ": rows of " + std::to_string(spec.shape.back()) +
                        " values cannot be Q8_0 (needs a multiple of 32)");
    const std::size_t nbytes = spec.nbytes();
    auto words = std::shared_ptr<std::uint64_t[]>(new std::uint64_t[(nbytes + 7) / 8]);  // 8-byte aligned
    auto* bytes = reinterpret_cast<std::byte*>(words.get());
    random_tensor_stream(spec, seed, stddev).next(bytes, spec.numel());
    raw_tensor t;
    t.name = spec.name;
    t.type = spec.type;
    t.shape = spec.shape;
    t.data = bytes;
    t.nbytes = nbytes;
    t.file = "random(seed=" + std::to_string(seed) + ")";
    store.add(std::move(t));
    store.keep_alive(words);
  }
  return store;
}

result<loaded_model> make_random_model(const model_config& cfg, dtype type, std::uint64_t seed) {
  auto store = make_random_tensor_store(cfg, type, seed);
  if (!store) return store.err();
  loaded_model m;
  m.config = cfg;
  m.config.weight_dtype = type;
  m.tensors = std::move(store).value();
  return m;
}

status write_random_model(const std::string& dir, const model_config& cfg, dtype type, std::uint64_t seed) {
  if (type == dtype::q8_0) return make_error(dir + ": safetensors cannot hold Q8_0; use f32, f16 or bf16");
  if (auto s = cfg.validate(); !s) return s.err();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(dir + ": cannot create: " + ec.message());
  const std::filesystem::path d(dir);
  model_config written = cfg;
  written.weight_dtype = type;
  if (auto s = write_text(d / "config.json", to_hf_config_json(written)); !s) return s;

  const auto specs = random_model_specs(cfg, type);
  std::vector<std::byte> buf(dtype_bytes(dtype::f32, chunk));  // one chunk of encoded values
  return write_safetensors_streaming((d / "model.safetensors").string(), specs,
                                     [&](std::size_t i, const byte_sink& sink) -> status {
                                       random_tensor_stream stream(specs[i], seed);
                                       const std::int64_t n = specs[i].numel();
                                       for (std::int64_t done = 0; done < n; done += chunk) {
                                         const std::int64_t m = std::min(n - done, chunk);
                                         stream.next(buf.data(), m);
                                         if (auto s = sink({buf.data(), dtype_bytes(specs[i].type, m)}); !s) return s;
                                       }
                                       return {};
                                     });
}

}  // namespace kairos
