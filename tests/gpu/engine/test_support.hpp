#pragma once
// Test support for the CPU engine: random Llama-family models built straight
// into a tensor_store, and an independent float64 reference forward pass.
//
// The reference shares nothing with the engine (no kernels, no rope_table):
// it reads the stored (possibly BF16-rounded) weights back as doubles and
// recomputes the whole sequence from scratch with Hugging Face semantics.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <numbers>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "gpu/engine/cpu_engine.hpp"
#include "gpu/model/dtype.hpp"
#include "gpu/model/model_config.hpp"
#include "gpu/model/tensor_store.hpp"

namespace kairos::test {

// ---------------------------------------------------------------------------
// Configurations

// (a) MHA, untied head.
inline model_config config_mha() {
  model_config c;
  c.architecture = "llama";
  c.vocab_size = 256;
  c.hidden_size = 64;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 4;
  c.head_dim = 16;
  c.ffn_size = 192;
  c.max_position = 256;
  c.rms_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.tie_embeddings = false;
  return c;
}

// (b) GQA 4/2, tied embeddings.
inline model_config config_gqa_tied() {
  model_config c;
  c.architecture = "llama";
  c.vocab_size = 320;
  c.hidden_size = 128;
  c.n_layers = 3;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 32;
  c.ffn_size = 352;
  c.max_position = 256;
  c.rms_eps = 1e-6f;
  c.rope_theta = 10000.0f;
  c.tie_embeddings = true;
  return c;
}

// (c) Qwen2 style: q/k/v bias, GQA 6/2, head_dim independent of hidden
// (n_heads * head_dim = 192 != hidden 96).
inline model_config config_qwen2_bias() {
  model_config c;
  c.architecture = "qwen2";
  c.vocab_size = 384;
  c.hidden_size = 96;
  c.n_layers = 2;
  c.n_heads = 6;
  c.n_kv_heads = 2;
  c.head_dim = 32;
  c.ffn_size = 288;
  c.max_position = 256;
  c.rms_eps = 1e-6f;
  c.rope_theta = 1000000.0f;
  c.tie_embeddings = false;
  c.qkv_bias = true;
  return c;
}

// (d) Llama 3 RoPE scaling, theta 500000, factor 8, original max position 64:
// with head_dim 32 the frequency bands fall in all three regimes (kept,
// smoothly interpolated, divided by the factor).
inline model_config config_llama3_rope() {
  model_config c;
  c.architecture = "llama";
  c.vocab_size = 512;
  c.hidden_size = 128;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 4;
  c.head_dim = 32;
  c.ffn_size = 384;
  c.max_position = 512;
  c.rms_eps = 1e-5f;
  c.rope_theta = 500000.0f;
  c.rope_scaling.llama3 = true;
  c.rope_scaling.factor = 8.0f;
  c.rope_scaling.low_freq_factor = 1.0f;
  c.rope_scaling.high_freq_factor = 4.0f;
  c.rope_scaling.original_max_position = 64;
  c.tie_embeddings = false;
  return c;
}

// ---------------------------------------------------------------------------
// Random models

struct test_model {
  model_config cfg;
  tensor_store store;
  double weight_scale = 0.02;
  // The stored values of every tensor, exactly, as doubles.
  std::vector<double> get(const std::string& name) const {
    const raw_tensor* t = store.find(name);
    if (!t) return {};
    std::vector<float> f(static_cast<std::size_t>(t->numel()));
    convert_to_f32(t->type, t->data, f.data(), t->numel());
    return std::vector<double>(f.begin(), f.end());
  }
};

namespace detail {

inline void add_tensor(tensor_store& store, const std::string& name, std::vector<std::int64_t> shape,
                       const std::vector<float>& values, dtype type) {
  // Q8_0 as llama.cpp writes it: matrices in blocks of 32 along a row (scale
  // amax/127 as f16, q = round(x / scale)); vectors stay F32.
  if (type == dtype::q8_0 && shape.size() < 2) type = dtype::f32;
  if (type == dtype::q8_0) {
    const std::size_t bytes = dtype_bytes(type, static_cast<std::int64_t>(values.size()));
    auto buf = std::make_shared<std::vector<unsigned char>>(bytes);
    for (std::size_t b = 0; b < values.size() / q8_0_block; ++b) {
      float amax = 0.f;
      for (int i = 0; i < q8_0_block; ++i) amax = std::max(amax, std::fabs(values[b * q8_0_block + i]));
      const std::uint16_t d = f32_to_f16(amax / 127.f);
      const float ds = f16_to_f32(d);
      unsigned char* blk = buf->data() + b * q8_0_block_bytes;
      std::memcpy(blk, &d, 2);
      for (int i = 0; i < q8_0_block; ++i) {
        const float r = ds > 0.f ? std::nearbyint(values[b * q8_0_block + i] / ds) : 0.f;
        blk[2 + i] = static_cast<unsigned char>(static_cast<std::int8_t>(std::clamp(r, -127.f, 127.f)));
      }
    }
    raw_tensor t;
    t.name = name;
    t.type = type;
    t.shape = std::move(shape);
    t.file = "<random test model>";
    t.data = reinterpret_cast<const std::byte*>(buf->data());
    t.nbytes = buf->size();
    store.keep_alive(buf);
    store.add(std::move(t));
    return;
  }
  raw_tensor t;
  t.name = name;
  t.type = type;
  t.shape = std::move(shape);
  t.file = "<random test model>";
  if (type == dtype::bf16 || type == dtype::f16) {
    auto buf = std::make_shared<std::vector<std::uint16_t>>(values.size());
    for (std::size_t i = 0; i < values.size(); ++i)
      (*buf)[i] = type == dtype::bf16 ? f32_to_bf16(values[i]) : f32_to_f16(values[i]);
    t.data = reinterpret_cast<const std::byte*>(buf->data());
    t.nbytes = buf->size() * sizeof(std::uint16_t);
    store.keep_alive(buf);
  } else {
    auto buf = std::make_shared<std::vector<float>>(values);
    t.data = reinterpret_cast<const std::byte*>(buf->data());
    t.nbytes = buf->size() * sizeof(float);
    store.keep_alive(buf);
  }
  store.add(std::move(t));
}

}  // namespace detail

// Normal(0, scale) matrices, norm weights 1 + Normal(0, 0.1), biases
// Normal(0, scale). Every tensor is stored as `type`.
inline std::shared_ptr<test_model> make_model(model_config cfg, dtype type, double scale, std::uint64_t seed) {
  cfg.weight_dtype = type;
  auto m = std::make_shared<test_model>();
  m->cfg = cfg;
  m->weight_scale = scale;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  auto randn = [&](std::size_t n, double s, double mean = 0.0) {
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(mean + s * nd(rng));
    return v;
  };
  const std::int64_t H = cfg.hidden_size, V = cfg.vocab_size, F = cfg.ffn_size;
  const std::int64_t Q = static_cast<std::int64_t>(cfg.n_heads) * cfg.head_dim;
  const std::int64_t KV = static_cast<std::int64_t>(cfg.n_kv_heads) * cfg.head_dim;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, std::vector<float> v) {
    detail::add_tensor(m->store, name, std::move(shape), v, type);
  };
  // Embeddings a bit larger so the first RMSNorm sees a healthy input.
  add("model.embed_tokens.weight", {V, H}, randn(static_cast<std::size_t>(V * H), std::max(scale, 0.05)));
  for (int l = 0; l < cfg.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {H}, randn(H, 0.1, 1.0));
    add(p + "self_attn.q_proj.weight", {Q, H}, randn(Q * H, scale));
    add(p + "self_attn.k_proj.weight", {KV, H}, randn(KV * H, scale));
    add(p + "self_attn.v_proj.weight", {KV, H}, randn(KV * H, scale));
    if (cfg.qkv_bias) {
      // Large enough biases that dropping or misplacing them shows.
      add(p + "self_attn.q_proj.bias", {Q}, randn(Q, 0.5));
      add(p + "self_attn.k_proj.bias", {KV}, randn(KV, 0.5));
      add(p + "self_attn.v_proj.bias", {KV}, randn(KV, 0.5));
    }
    add(p + "self_attn.o_proj.weight", {H, Q}, randn(H * Q, scale));
    add(p + "post_attention_layernorm.weight", {H}, randn(H, 0.1, 1.0));
    add(p + "mlp.gate_proj.weight", {F, H}, randn(F * H, scale));
    add(p + "mlp.up_proj.weight", {F, H}, randn(F * H, scale));
    add(p + "mlp.down_proj.weight", {H, F}, randn(H * F, scale));
  }
  add("model.norm.weight", {H}, randn(H, 0.1, 1.0));
  if (!cfg.tie_embeddings) add("lm_head.weight", {V, H}, randn(static_cast<std::size_t>(V * H), scale));
  return m;
}

// ---------------------------------------------------------------------------
// Float64 reference

class reference {
 public:
  // kv_f16: K (after RoPE) and V are rounded to IEEE binary16 before
  // attention, as an F16 KV cache stores them; everything else stays float64.
  explicit reference(const test_model& m, bool kv_f16 = false) : cfg_(m.cfg), kv_f16_(kv_f16) {
    embed_ = m.get("model.embed_tokens.weight");
    for (int l = 0; l < cfg_.n_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      layer L;
      L.ln1 = m.get(p + "input_layernorm.weight");
      L.wq = m.get(p + "self_attn.q_proj.weight");
      L.wk = m.get(p + "self_attn.k_proj.weight");
      L.wv = m.get(p + "self_attn.v_proj.weight");
      if (cfg_.qkv_bias) {
        L.bq = m.get(p + "self_attn.q_proj.bias");
        L.bk = m.get(p + "self_attn.k_proj.bias");
        L.bv = m.get(p + "self_attn.v_proj.bias");
      }
      L.wo = m.get(p + "self_attn.o_proj.weight");
      L.ln2 = m.get(p + "post_attention_layernorm.weight");
      L.wg = m.get(p + "mlp.gate_proj.weight");
      L.wu = m.get(p + "mlp.up_proj.weight");
      L.wd = m.get(p + "mlp.down_proj.weight");
      layers_.push_back(std::move(L));
    }
    norm_ = m.get("model.norm.weight");
    head_ = cfg_.tie_embeddings ? embed_ : m.get("lm_head.weight");
    inv_freq_ = inverse_frequencies(cfg_);
  }

  // HF Llama inverse frequencies, with the llama3 adjustment, in double.
  static std::vector<double> inverse_frequencies(const model_config& c) {
    const int d = c.head_dim;
    std::vector<double> inv(static_cast<std::size_t>(d / 2));
    for (int i = 0; i < d / 2; ++i) inv[i] = std::pow(static_cast<double>(c.rope_theta), -2.0 * i / d);
    if (c.rope_scaling.llama3) {
      const double factor = c.rope_scaling.factor;
      const double low = c.rope_scaling.low_freq_factor;
      const double high = c.rope_scaling.high_freq_factor;
      const double orig = c.rope_scaling.original_max_position;
      const double low_wavelen = orig / low;
      const double high_wavelen = orig / high;
      for (auto& f : inv) {
        const double wavelen = 2.0 * std::numbers::pi / f;
        if (wavelen < high_wavelen) {
          // keep
        } else if (wavelen > low_wavelen) {
          f = f / factor;
        } else {
          const double smooth = (orig / wavelen - low) / (high - low);
          f = (1.0 - smooth) * f / factor + smooth * f;
        }
      }
    }
    return inv;
  }

  // Logits of every position of `tokens` (positions 0..n-1), [n][vocab].
  std::vector<std::vector<double>> all_logits(std::span<const std::int32_t> tokens) const {
    return run(tokens, /*all=*/true);
  }
  // Logits of the last token (memoised: tests ask for the same sequences
  // under several block sizes).
  std::vector<double> last_logits(std::span<const std::int32_t> tokens) const {
    std::vector<std::int32_t> key(tokens.begin(), tokens.end());
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    auto l = run(tokens, /*all=*/false).back();
    memo_.emplace(std::move(key), l);
    return l;
  }
  const model_config& config() const { return cfg_; }

 private:
  struct layer {
    std::vector<double> ln1, wq, wk, wv, bq, bk, bv, wo, ln2, wg, wu, wd;
  };

  // y[n] = W[n, k] x[k] (+ b)
  static void matvec(const std::vector<double>& w, const double* x, int n, int k, double* y,
                     const std::vector<double>* b = nullptr) {
    for (int i = 0; i < n; ++i) {
      const double* row = w.data() + static_cast<std::size_t>(i) * k;
      double s = 0.0;
      for (int j = 0; j < k; ++j) s += row[j] * x[j];
      if (b && !b->empty()) s += (*b)[i];
      y[i] = s;
    }
  }

  void rmsnorm(const double* x, const std::vector<double>& w, double* y) const {
    const int H = cfg_.hidden_size;
    double ss = 0.0;
    for (int i = 0; i < H; ++i) ss += x[i] * x[i];
    const double r = 1.0 / std::sqrt(ss / H + static_cast<double>(cfg_.rms_eps));
    for (int i = 0; i < H; ++i) y[i] = x[i] * r * w[i];
  }

  // rotate_half RoPE on one head vector, in place.
  void rope(double* v, int pos) const {
    const int half = cfg_.head_dim / 2;
    for (int i = 0; i < half; ++i) {
      const double a = pos * inv_freq_[i];
      const double c = std::cos(a), s = std::sin(a);
      const double x0 = v[i], x1 = v[i + half];
      v[i] = x0 * c - x1 * s;
      v[i + half] = x1 * c + x0 * s;
    }
  }

  std::vector<std::vector<double>> run(std::span<const std::int32_t> tokens, bool all) const {
    const int n = static_cast<int>(tokens.size());
    const int H = cfg_.hidden_size, D = cfg_.head_dim, NH = cfg_.n_heads, NKV = cfg_.n_kv_heads;
    const int F = cfg_.ffn_size, V = cfg_.vocab_size;
    const int Q = NH * D, KV = NKV * D;
    const int group = NH / NKV;
    std::vector<double> x(static_cast<std::size_t>(n) * H);
    for (int t = 0; t < n; ++t)
      for (int i = 0; i < H; ++i) x[static_cast<std::size_t>(t) * H + i] = embed_[static_cast<std::size_t>(tokens[t]) * H + i];

    std::vector<double> h(H), q(static_cast<std::size_t>(n) * Q), k(static_cast<std::size_t>(n) * KV),
        v(static_cast<std::size_t>(n) * KV), att(Q), o(H), g(F), u(F), scores(n);
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    for (const layer& L : layers_) {
      for (int t = 0; t < n; ++t) {
        rmsnorm(&x[static_cast<std::size_t>(t) * H], L.ln1, h.data());
        matvec(L.wq, h.data(), Q, H, &q[static_cast<std::size_t>(t) * Q], &L.bq);
        matvec(L.wk, h.data(), KV, H, &k[static_cast<std::size_t>(t) * KV], &L.bk);
        matvec(L.wv, h.data(), KV, H, &v[static_cast<std::size_t>(t) * KV], &L.bv);
        for (int hh = 0; hh < NH; ++hh) rope(&q[static_cast<std::size_t>(t) * Q + hh * D], t);
        for (int hh = 0; hh < NKV; ++hh) rope(&k[static_cast<std::size_t>(t) * KV + hh * D], t);
        if (kv_f16_)
          for (int i = 0; i < KV; ++i) {
            auto& kk = k[static_cast<std::size_t>(t) * KV + i];
            auto& vv = v[static_cast<std::size_t>(t) * KV + i];
            kk = static_cast<double>(static_cast<_Float16>(static_cast<float>(kk)));
            vv = static_cast<double>(static_cast<_Float16>(static_cast<float>(vv)));
          }
      }
      for (int t = 0; t < n; ++t) {
        for (int hh = 0; hh < NH; ++hh) {
          const int kvh = hh / group;
          const double* qv = &q[static_cast<std::size_t>(t) * Q + hh * D];
          double mx = -1e300;
          for (int s = 0; s <= t; ++s) {
            const double* kv = &k[static_cast<std::size_t>(s) * KV + kvh * D];
            double d = 0.0;
            for (int i = 0; i < D; ++i) d += qv[i] * kv[i];
            scores[s] = d * scale;
            mx = std::max(mx, scores[s]);
          }
          double sum = 0.0;
          for (int s = 0; s <= t; ++s) {
            scores[s] = std::exp(scores[s] - mx);
            sum += scores[s];
          }
          double* out = &att[hh * D];
          for (int i = 0; i < D; ++i) out[i] = 0.0;
          for (int s = 0; s <= t; ++s) {
            const double p = scores[s] / sum;
            const double* vv = &v[static_cast<std::size_t>(s) * KV + kvh * D];
            for (int i = 0; i < D; ++i) out[i] += p * vv[i];
          }
        }
        matvec(L.wo, att.data(), H, Q, o.data());
        double* xt = &x[static_cast<std::size_t>(t) * H];
        for (int i = 0; i < H; ++i) xt[i] += o[i];
        rmsnorm(xt, L.ln2, h.data());
        matvec(L.wg, h.data(), F, H, g.data());
        matvec(L.wu, h.data(), F, H, u.data());
        for (int i = 0; i < F; ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
        matvec(L.wd, g.data(), H, F, o.data());
        for (int i = 0; i < H; ++i) xt[i] += o[i];
      }
    }
    std::vector<std::vector<double>> out;
    for (int t = all ? 0 : n - 1; t < n; ++t) {
      rmsnorm(&x[static_cast<std::size_t>(t) * H], norm_, h.data());
      std::vector<double> logits(V);
      matvec(head_, h.data(), V, H, logits.data());
      out.push_back(std::move(logits));
    }
    return out;
  }

  model_config cfg_;
  bool kv_f16_ = false;
  std::vector<double> embed_, norm_, head_;
  std::vector<layer> layers_;
  std::vector<double> inv_freq_;
  mutable std::map<std::vector<std::int32_t>, std::vector<double>> memo_;
};

// ---------------------------------------------------------------------------
// Helpers

inline std::vector<std::int32_t> random_tokens(int n, int vocab, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::int32_t> t(static_cast<std::size_t>(n));
  for (auto& x : t) x = static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(vocab));
  return t;
}

// ||a - b|| / ||b||
inline double rel_l2(std::span<const float> a, const std::vector<double>& b) {
  double num = 0.0, den = 0.0;
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  if (a.size() != b.size()) return 1e30;
  return std::sqrt(num) / std::sqrt(den);
}

inline double max_abs_diff(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size()) return 1e30;
  double m = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    if (d > m || std::isnan(d)) m = std::isnan(d) ? 1e30 : d;
  }
  return m;
}

inline double max_abs(std::span<const float> a) {
  double m = 0.0;
  for (float x : a) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

inline int argmax(std::span<const float> a) {
  return static_cast<int>(std::max_element(a.begin(), a.end()) - a.begin());
}

// A forward's status and a copy of its logits rows (they only live until the
// next forward()).
struct forward_copy {
  forward_status status = forward_status::ok;
  std::string message;
  std::vector<std::vector<float>> rows;
};

inline forward_copy run_forward(cpu_engine& e, std::span<const batch_sequence> batch) {
  forward_result r = e.forward(batch);
  forward_copy c;
  c.status = r.status;
  c.message = r.message;
  if (r.status == forward_status::ok) {
    int n_rows = 0;
    for (auto& b : batch) n_rows += b.want_logits ? 1 : 0;
    for (int i = 0; i < n_rows; ++i) {
      auto row = r.logits(i);
      c.rows.emplace_back(row.begin(), row.end());
    }
  }
  return c;
}

// One sequence, one forward; its logits (empty on failure).
inline std::vector<float> run_one(cpu_engine& e, seq_id s, std::span<const std::int32_t> tokens,
                                  bool want_logits = true) {
  batch_sequence b{s, tokens, want_logits};
  auto c = run_forward(e, std::span<const batch_sequence>(&b, 1));
  if (c.status != forward_status::ok || c.rows.empty()) return {};
  return c.rows[0];
}

inline const char* forward_status_name(forward_status s) {
  switch (s) {
    case forward_status::ok: return "ok";
    case forward_status::kv_exhausted: return "kv_exhausted";
    case forward_status::invalid_batch: return "invalid_batch";
  }
  return "?";
}

inline engine_options make_options(int block_size = 16, int kv_tokens = 1024, int n_threads = 2) {
  engine_options o;
  o.n_threads = n_threads;
  o.block_size = block_size;
  o.kv_tokens = kv_tokens;
  o.max_batch_tokens = 512;
  o.max_logit_rows = 64;
  return o;
}

struct named_config {
  const char* name;
  model_config cfg;
  dtype type;
  double scale;
  double tol;  // relative L2 tolerance of the logits vs the reference
};

// The configurations every reference test runs: each shape in F32 with two
// weight scales, and in BF16.
inline std::vector<named_config> reference_configs() {
  return {
      {"mha-untied f32 s0.02", config_mha(), dtype::f32, 0.02, 1e-4},
      {"mha-untied f32 s0.1", config_mha(), dtype::f32, 0.1, 1e-4},
      {"mha-untied bf16 s0.1", config_mha(), dtype::bf16, 0.1, 1e-2},
      {"gqa4/2-tied f32 s0.02", config_gqa_tied(), dtype::f32, 0.02, 1e-4},
      {"gqa4/2-tied f32 s0.1", config_gqa_tied(), dtype::f32, 0.1, 1e-4},
      {"gqa4/2-tied bf16 s0.1", config_gqa_tied(), dtype::bf16, 0.1, 1e-2},
      {"qwen2-bias gqa6/2 hd32 h96 f32 s0.1", config_qwen2_bias(), dtype::f32, 0.1, 1e-4},
      {"qwen2-bias gqa6/2 hd32 h96 bf16 s0.1", config_qwen2_bias(), dtype::bf16, 0.1, 1e-2},
      {"llama3-rope f32 s0.1", config_llama3_rope(), dtype::f32, 0.1, 1e-4},
      {"llama3-rope bf16 s0.1", config_llama3_rope(), dtype::bf16, 0.1, 1e-2},
  };
}

// An engine over `m`, or a failed test (and nullptr) when create() fails.
inline std::unique_ptr<cpu_engine> make_engine(const test_model& m, const engine_options& o) {
  auto r = cpu_engine::create(m.cfg, m.store, o);
  if (!r.ok()) {
    FAIL("cpu_engine::create failed: " << r.message());
    return nullptr;
  }
  return std::move(r).value();
}

// Block ids that follow one another (b[i] == b[i-1] + 1).
inline bool contiguous(std::span<const std::int32_t> b) {
  for (std::size_t i = 1; i < b.size(); ++i)
    if (b[i] != b[i - 1] + 1) return false;
  return true;
}

// What the engine's KV block table holds for some sequences, comparable.
struct table_snapshot {
  int n_free = 0;
  int n_sequences = 0;
  std::map<seq_id, int> tokens;  // -1: not in the table
  std::map<seq_id, std::vector<std::int32_t>> blocks;
  bool operator==(const table_snapshot&) const = default;
};

inline table_snapshot snapshot(const cpu_engine& e, std::initializer_list<seq_id> seqs) {
  table_snapshot s;
  const auto& t = e.kv_table();
  s.n_free = t.n_free();
  s.n_sequences = t.n_sequences();
  for (seq_id q : seqs) {
    s.tokens[q] = t.contains(q) ? t.n_tokens(q) : -1;
    auto b = t.blocks(q);
    s.blocks[q].assign(b.begin(), b.end());
  }
  return s;
}

}  // namespace kairos::test
