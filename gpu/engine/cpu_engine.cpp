#include "gpu/engine/cpu_engine.hpp"

#include "gpu/engine/batch_admission.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "gpu/engine/rope_table.hpp"
#include "gpu/engine/vector_ops.hpp"
#include "gpu/kernels/gemm.hpp"
#include "gpu/model/model_loader.hpp"

namespace kairos {

namespace {

using kernels::packed_weight;
using kernels::weight_dtype;

// A tensor as F32, converted once when it is stored in another dtype.
std::vector<float> to_f32(const raw_tensor& t) {
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  convert_to_f32(t.type, t.data, out.data(), t.numel());
  return out;
}

struct layer_weights {
  std::vector<float> attn_norm;  // [hidden]
  packed_weight qkv;             // [(n_heads + 2 n_kv_heads) head_dim, hidden]
  std::vector<float> qkv_bias;   // [(n_heads + 2 n_kv_heads) head_dim] or empty
  packed_weight o;               // [hidden, n_heads head_dim]
  std::vector<float> mlp_norm;   // [hidden]
  packed_weight gate_up;         // [ffn, hidden] gate and up, packed together for gemm_swiglu
  packed_weight down;            // [hidden, ffn]
};

// Per-token facts of the current batch.
struct token_slot {
  int seq_index;  // index into the batch
  int pos;        // position in its sequence
  int block;      // KV block that holds it
  int slot;       // its row in that block
};

}  // namespace

struct cpu_engine::impl {
  model_config cfg;
  engine_options opts;
  // [vocab, hidden] in the checkpoint's type (F32, BF16, F16 or Q8_0 blocks),
  // widened a row at a time: a 16-bit or Q8_0 model does not hold a second,
  // F32 copy of its embeddings (1 GB for Llama-3-8B).
  std::vector<std::byte> embed;
  dtype embed_type = dtype::f32;
  std::size_t embed_row_bytes = 0;
  std::vector<layer_weights> layers;
  std::vector<float> final_norm;  // [hidden]
  packed_weight lm_head;          // [vocab, hidden]
  rope_table rope;
  kv_block_table table;
  kv_pool pool;
  std::size_t weight_bytes = 0;

  // Scratch, sized once for max_batch_tokens (T) and max_logit_rows (R).
  int q_dim = 0, kv_dim = 0, qkv_dim = 0;
  std::vector<float> x;       // [T, hidden] residual stream
  std::vector<float> h;       // [T, hidden] normed
  std::vector<float> qkv;     // [T, qkv_dim]
  std::vector<float> attn;    // [T, q_dim]
  std::vector<float> act;     // [T, ffn]
  std::vector<float> hl;      // [R, hidden] normed rows that want logits
  std::vector<float> logits;  // [R, logits_stride]
  std::size_t logits_stride = 0;  // vocab, padded (kernels::padded_row_stride)
  std::vector<float> scores;  // [n_threads, kv capacity]
  std::vector<const float*> block_ptrs;  // [n_threads, 2, kv blocks]: K then V block slices (F32 cache)
  std::vector<const std::uint16_t*> block_ptrs_f16;  // the same for an F16 cache
  std::size_t ptrs_per_thread = 0;
  std::vector<token_slot> tokens;
  std::vector<std::span<const std::int32_t>> seq_blocks;  // [batch]: each sequence's blocks, looked up once
  // Runs of consecutive tokens of one sequence (a prefill chunk, cut into
  // pieces; a decode token alone): attention's work items, with the KV heads.
  // (first token index, count)
  std::vector<std::pair<int, int>> token_runs;
  std::vector<int> logit_token;  // token index of each logits row
  std::vector<kv_append> appends;
  kv_plan plan;
  engine_phase_times phases;

  impl(const model_config& c, const engine_options& o, int n_kv_blocks)
      : cfg(c),
        opts(o),
        table(n_kv_blocks, o.block_size,
              std::min(n_kv_blocks, (std::max(c.max_position, 1) + o.block_size - 1) / o.block_size)),
        pool(kv_pool_shape{c.n_layers, c.n_kv_heads, c.head_dim, n_kv_blocks, o.block_size, o.kv_cache_dtype}) {}

  void attention(int layer);
  template <class T>
  void attention_as(int layer, std::vector<const T*>& ptrs);
  template <class T>
  void write_kv(int layer, int n_tok);
  forward_result run(std::span<const batch_sequence> batch);
};

cpu_engine::cpu_engine(std::unique_ptr<impl> p) : p_(std::move(p)) {}
cpu_engine::~cpu_engine() = default;
const model_config& cpu_engine::config() const { return p_->cfg; }
const engine_options& cpu_engine::options() const { return p_->opts; }
const kv_block_table& cpu_engine::kv_table() const { return p_->table; }
kv_pool& cpu_engine::kv_storage() { return p_->pool; }
std::size_t cpu_engine::weight_bytes_per_token() const { return p_->weight_bytes; }
const engine_phase_times& cpu_engine::phase_times() const { return p_->phases; }
void cpu_engine::reset_phase_times() { p_->phases = {}; }
void cpu_engine::free_sequence(seq_id s) { (void)p_->table.free_sequence(s); }

kv_blob cpu_engine::export_sequence(seq_id s) const {
  kv_blob b;
  const auto& table = p_->table;
  if (!table.contains(s) || table.n_tokens(s) == 0) return b;
  b.n_tokens = table.n_tokens(s);
  const auto blocks = table.blocks(s);
  const int bs = table.block_size();
  kv_pool_shape shape = p_->pool.shape();
  shape.n_blocks = static_cast<int>(blocks.size());
  b.rows = std::make_unique<kv_pool>(shape);
  for (int t = 0; t < b.n_tokens; ++t)
    b.rows->copy_token_from(p_->pool, blocks[static_cast<std::size_t>(t / bs)], t % bs, t / bs, t % bs);
  return b;
}

forward_status cpu_engine::import_sequence(seq_id s, int n_tokens, const kv_pool& rows, std::string* why) {
  auto fail = [&](forward_status st, std::string msg) {
    if (why) *why = std::move(msg);
    return st;
  };
  auto& table = p_->table;
  const auto& mine = p_->pool.shape();
  const auto& theirs = rows.shape();
  const std::string name = "sequence " + std::to_string(s);
  if (table.contains(s)) return fail(forward_status::invalid_batch, name + " is already resident");
  if (n_tokens <= 0) return fail(forward_status::invalid_batch, name + ": nothing to import");
  if (theirs.n_layers != mine.n_layers || theirs.n_kv_heads != mine.n_kv_heads || theirs.head_dim != mine.head_dim ||
      theirs.block_size != mine.block_size)
    return fail(forward_status::invalid_batch, name + ": KV rows of another shape (layers, kv heads, head_dim, block size)");
  if (theirs.dtype != mine.dtype)
    return fail(forward_status::invalid_batch, name + ": KV rows of dtype " + std::string(kv_dtype_name(theirs.dtype)) +
                                                   ", this cache holds " + std::string(kv_dtype_name(mine.dtype)));
  if (static_cast<long long>(theirs.n_blocks) * theirs.block_size < n_tokens)
    return fail(forward_status::invalid_batch, name + ": " + std::to_string(n_tokens) + " tokens claimed, the rows hold " +
                                                   std::to_string(theirs.n_blocks * theirs.block_size));
  if (n_tokens > p_->cfg.max_position)
    return fail(forward_status::invalid_batch, name + ": " + std::to_string(n_tokens) + " tokens exceed max_position");
  const kv_append a{s, n_tokens};
  kv_plan plan;
  if (auto st = table.prepare(std::span<const kv_append>(&a, 1), plan); st != kv_status::ok) {
    if (st == kv_status::out_of_blocks)
      return fail(forward_status::kv_exhausted, "KV cache exhausted: importing " + name + " needs " +
                                                    std::to_string(table.blocks_needed(s, n_tokens)) + " blocks, " +
                                                    std::to_string(table.n_free()) + " free");
    return fail(forward_status::invalid_batch, name + ": " + kv_status_name(st));
  }
  table.apply(plan);
  const auto blocks = table.blocks(s);
  const int bs = table.block_size();
  for (int t = 0; t < n_tokens; ++t)
    p_->pool.copy_token_from(rows, t / bs, t % bs, blocks[static_cast<std::size_t>(t / bs)], t % bs);
  return forward_status::ok;
}

forward_status cpu_engine::import_sequence(seq_id s, const kv_blob& blob, std::string* why) {
  if (!blob.rows) {
    if (why) *why = "sequence " + std::to_string(s) + ": no KV rows to import";
    return forward_status::invalid_batch;
  }
  return import_sequence(s, blob.n_tokens, *blob.rows, why);
}

result<std::unique_ptr<cpu_engine>> cpu_engine::load(const std::string& path, const engine_options& opts) {
  auto m = load_model(path);
  if (!m) return m.err();
  return create(m->config, m->tensors, opts);
}

result<std::unique_ptr<cpu_engine>> cpu_engine::create(const model_config& cfg, const tensor_store& ts,
                                                        const engine_options& opts) {
  if (auto s = cfg.validate(); !s) return s.err();
  if (auto s = check_tensors(cfg, ts); !s) return s.err();
  if (opts.block_size < 1 || opts.block_size > 64) return make_error("engine: block_size must be in [1, 64]");
  if (cfg.head_dim % 2 != 0) return make_error("engine: head_dim must be even for RoPE");
  if (opts.n_threads < 1 || opts.max_batch_tokens < 1 || opts.max_logit_rows < 1)
    return make_error("engine: n_threads, max_batch_tokens and max_logit_rows must be positive");
  const int kv_tokens = opts.kv_tokens > 0 ? opts.kv_tokens : cfg.max_position;
  const int n_blocks = (kv_tokens + opts.block_size - 1) / opts.block_size;

  auto p = std::make_unique<impl>(cfg, opts, n_blocks);
  if (p->pool.bytes() > 0 && !p->pool.allocated())
    return make_error("engine: cannot allocate the KV cache (" + std::to_string(p->pool.bytes() >> 20) + " MiB)");
  const int H = cfg.n_heads, KV = cfg.n_kv_heads, D = cfg.head_dim, E = cfg.hidden_size, F = cfg.ffn_size;
  p->q_dim = H * D;
  p->kv_dim = KV * D;
  p->qkv_dim = p->q_dim + 2 * p->kv_dim;

  auto get = [&](const std::string& name) { return to_f32(*ts.find(name)); };
  // A matrix keeps its checkpoint's type when every tensor in it has that
  // type: bf16/f16 panels, or Q8_0 blocks (k a multiple of 32). The kernels
  // widen them exactly, so the logits are bitwise those of an f32 packing,
  // and a decode step streams half the bytes (Q8_0: 36 bytes for 32 values
  // instead of 128). Mixed matrices are packed as f32.
  using names = std::initializer_list<std::string>;
  auto stored = [&](names ns, int k) {
    const dtype t = ts.find(*ns.begin())->type;
    for (const auto& n : ns)
      if (ts.find(n)->type != t) return weight_dtype::f32;
    switch (t) {
      case dtype::bf16: return weight_dtype::bf16;
      case dtype::f16: return weight_dtype::f16;
      case dtype::q8_0: return k % q8_0_block == 0 ? weight_dtype::q8_0 : weight_dtype::f32;
      default: return weight_dtype::f32;
    }
  };
  // The Q8_0 rows of the tensors, one tensor after the other.
  auto q8_rows = [&](names ns, int k) {
    std::vector<const void*> rows;
    const std::size_t row_bytes = dtype_bytes(dtype::q8_0, k);
    for (const auto& n : ns) {
      const raw_tensor* t = ts.find(n);
      for (std::int64_t j = 0; j < t->shape[0]; ++j) rows.push_back(t->data + static_cast<std::size_t>(j) * row_bytes);
    }
    return rows;
  };
  // [n, k]: the tensors' rows, one tensor after the other. f32 is the one
  // copy the packing reads (a whole untied LM head at load: keep it single).
  auto pack = [&](names ns, int n, int k) {
    const weight_dtype dt = stored(ns, k);
    if (dt == weight_dtype::q8_0) return packed_weight::pack_q8_0(q8_rows(ns, k).data(), n, k);
    if (ns.size() == 1) return packed_weight::pack(get(*ns.begin()).data(), n, k, dt);
    std::vector<float> w(static_cast<std::size_t>(n) * k);
    std::size_t at = 0;
    for (const auto& name : ns) {
      const raw_tensor& t = *ts.find(name);
      convert_to_f32(t.type, t.data, w.data() + at, t.numel());
      at += static_cast<std::size_t>(t.numel());
    }
    return packed_weight::pack(w.data(), n, k, dt);
  };
  auto pack_swiglu = [&](const std::string& gate, const std::string& up, int f, int k) {
    const weight_dtype dt = stored({gate, up}, k);
    if (dt == weight_dtype::q8_0)
      return packed_weight::pack_swiglu_q8_0(q8_rows({gate}, k).data(), q8_rows({up}, k).data(), f, k);
    return packed_weight::pack_swiglu(get(gate).data(), get(up).data(), f, k, dt);
  };
  {
    const raw_tensor& t = *ts.find("model.embed_tokens.weight");
    p->embed.assign(t.data, t.data + t.nbytes);
    p->embed_type = t.type;
    p->embed_row_bytes = dtype_bytes(t.type, E);
  }
  p->final_norm = get("model.norm.weight");
  for (int l = 0; l < cfg.n_layers; ++l) {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    layer_weights lw;
    lw.attn_norm = get(pre + "input_layernorm.weight");
    lw.mlp_norm = get(pre + "post_attention_layernorm.weight");
    const std::string q = pre + "self_attn.q_proj.", k = pre + "self_attn.k_proj.", v = pre + "self_attn.v_proj.";
    lw.qkv = pack({q + "weight", k + "weight", v + "weight"}, p->qkv_dim, E);
    if (cfg.qkv_bias)
      for (const auto& proj : {q, k, v}) {
        const auto b = get(proj + "bias");
        lw.qkv_bias.insert(lw.qkv_bias.end(), b.begin(), b.end());
      }
    lw.o = pack({pre + "self_attn.o_proj.weight"}, E, p->q_dim);
    lw.gate_up = pack_swiglu(pre + "mlp.gate_proj.weight", pre + "mlp.up_proj.weight", F, E);
    lw.down = pack({pre + "mlp.down_proj.weight"}, E, F);
    for (const packed_weight* w : {&lw.qkv, &lw.o, &lw.gate_up, &lw.down})
      if (!w->data())
        return make_error("engine: cannot pack the weights of layer " + std::to_string(l) + " (out of memory)");
    p->layers.push_back(std::move(lw));
  }
  const std::string head = cfg.tie_embeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  p->lm_head = pack({head}, cfg.vocab_size, E);
  if (!p->lm_head.data()) return make_error("engine: cannot pack the LM head (out of memory)");
  // What a decode step streams: every packed matrix (with its panel padding).
  p->weight_bytes = p->lm_head.bytes();
  for (const auto& lw : p->layers)
    p->weight_bytes += lw.qkv.bytes() + lw.o.bytes() + lw.gate_up.bytes() + lw.down.bytes();

  p->rope = rope_table(cfg, std::min(n_blocks * opts.block_size, std::max(cfg.max_position, 1)));

  const std::size_t T = static_cast<std::size_t>(opts.max_batch_tokens);
  const std::size_t R = static_cast<std::size_t>(opts.max_logit_rows);
  p->x.resize(T * E);
  p->h.resize(T * E);
  p->qkv.resize(T * p->qkv_dim);
  p->attn.resize(T * p->q_dim);
  p->act.resize(T * F);
  p->hl.resize(R * E);
  p->logits_stride = static_cast<std::size_t>(kernels::padded_row_stride(cfg.vocab_size));
  p->logits.resize(R * p->logits_stride);
  // Per thread: the scores of one GQA group of query heads over the longest
  // context a sequence can have, for each token of an attention tile.
  p->scores.resize(static_cast<std::size_t>(opts.n_threads) * ops::max_tile_tokens * (cfg.n_heads / cfg.n_kv_heads) *
                   (static_cast<std::size_t>(p->rope.n_positions() + opts.block_size - 1) / opts.block_size *
                        opts.block_size +
                    64));
  p->ptrs_per_thread = static_cast<std::size_t>(n_blocks);
  const std::size_t n_ptrs = static_cast<std::size_t>(opts.n_threads) * 2 * p->ptrs_per_thread;
  if (opts.kv_cache_dtype == kv_dtype::f16)
    p->block_ptrs_f16.resize(n_ptrs);
  else
    p->block_ptrs.resize(n_ptrs);
  p->tokens.reserve(T);
  p->seq_blocks.reserve(T);
  p->token_runs.reserve(T);
  p->logit_token.reserve(R);
  return std::unique_ptr<cpu_engine>(new cpu_engine(std::move(p)));
}

forward_result cpu_engine::forward(std::span<const batch_sequence> batch) { return p_->run(batch); }

forward_result cpu_engine::impl::run(std::span<const batch_sequence> batch) {
  forward_result out;
  out.vocab = cfg.vocab_size;
  // OpenMP's thread count is per calling thread: set it for whoever calls.
  omp_set_num_threads(opts.n_threads);
  auto fail = [&](forward_status s, std::string msg) {
    out.status = s;
    out.message = std::move(msg);
    return out;
  };

  // -- validate the whole batch and reserve its KV; a failure changes nothing --
  const auto adm = admit_batch(batch, {cfg.vocab_size, rope.n_positions(), opts.max_batch_tokens, opts.max_logit_rows}, table,
                               appends, plan);
  if (adm.status != forward_status::ok) return fail(adm.status, adm.message);
  const int n_tok = adm.n_tokens;

  const int E = cfg.hidden_size;
  const int bs = opts.block_size;
  tokens.clear();
  logit_token.clear();
  seq_blocks.clear();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const int n = static_cast<int>(batch[i].tokens.size());
    const int start = table.n_tokens(batch[i].seq) - n;
    auto blocks = table.blocks(batch[i].seq);
    seq_blocks.push_back(blocks);
    for (int j = 0; j < n; ++j) {
      const int pos = start + j;
      tokens.push_back({static_cast<int>(i), pos, blocks[pos / bs], pos % bs});
    }
    if (batch[i].want_logits) logit_token.push_back(static_cast<int>(tokens.size()) - 1);
  }
  // Runs of at most 16 tokens, fewer where that would leave too few items
  // (runs x KV heads) to split evenly among the threads.
  const int run_cap = std::clamp(n_tok * cfg.n_kv_heads / (4 * opts.n_threads), ops::max_tile_tokens, 16);
  token_runs.clear();
  for (int t = 0; t < static_cast<int>(tokens.size()); ++t) {
    if (!token_runs.empty()) {
      auto& run = token_runs.back();
      const auto& prev = tokens[static_cast<std::size_t>(run.first + run.second - 1)];
      if (run.second < run_cap && prev.seq_index == tokens[t].seq_index && prev.pos + 1 == tokens[t].pos) {
        ++run.second;
        continue;
      }
    }
    token_runs.emplace_back(t, 1);
  }

  phase_clock pc(opts.time_phases ? &phases : nullptr);
  if (opts.time_phases) ++phases.forwards;
  // -- embeddings --
  {
    int t = 0;
    for (auto& b : batch)
      for (auto id : b.tokens) {
        convert_to_f32(embed_type, embed.data() + static_cast<std::size_t>(id) * embed_row_bytes,
                       &x[static_cast<std::size_t>(t) * E], E);
        ++t;
      }
  }
  pc.mark(engine_phase::embed);

  for (int l = 0; l < cfg.n_layers; ++l) {
    const auto& lw = layers[l];
    // attention block
#pragma omp parallel for schedule(static) if (n_tok >= 4)
    for (int t = 0; t < n_tok; ++t)
      ops::rms_norm(&x[static_cast<std::size_t>(t) * E], lw.attn_norm.data(), &h[static_cast<std::size_t>(t) * E], E,
                    cfg.rms_eps);
    pc.mark(engine_phase::norm);
    kernels::gemm(h.data(), n_tok, lw.qkv, qkv.data(), lw.qkv_bias.empty() ? nullptr : lw.qkv_bias.data());
    pc.mark(engine_phase::qkv_gemm);
    // RoPE on q and k, then K and V into the cache.
    if (pool.shape().dtype == kv_dtype::f16)
      write_kv<std::uint16_t>(l, n_tok);
    else
      write_kv<float>(l, n_tok);
    pc.mark(engine_phase::rope_kv);
    attention(l);
    pc.mark(engine_phase::attention);
    kernels::gemm(attn.data(), n_tok, lw.o, x.data(), nullptr, /*accumulate=*/true);
    pc.mark(engine_phase::o_gemm);
    // MLP block
#pragma omp parallel for schedule(static) if (n_tok >= 4)
    for (int t = 0; t < n_tok; ++t)
      ops::rms_norm(&x[static_cast<std::size_t>(t) * E], lw.mlp_norm.data(), &h[static_cast<std::size_t>(t) * E], E,
                    cfg.rms_eps);
    pc.mark(engine_phase::norm);
    // silu(gate) * up in the GEMM's epilogue: the gate and up products never
    // leave the registers (they were 2 ffn floats a token, written and read back).
    kernels::gemm_swiglu(h.data(), n_tok, lw.gate_up, act.data());
    pc.mark(engine_phase::gate_up_gemm);
    kernels::gemm(act.data(), n_tok, lw.down, x.data(), nullptr, /*accumulate=*/true);
    pc.mark(engine_phase::down_gemm);
  }

  // -- final norm and LM head, only on the rows that want logits --
  const int R = static_cast<int>(logit_token.size());
  for (int r = 0; r < R; ++r)
    ops::rms_norm(&x[static_cast<std::size_t>(logit_token[r]) * E], final_norm.data(),
                  &hl[static_cast<std::size_t>(r) * E], E, cfg.rms_eps);
  if (R > 0)
    kernels::gemm(hl.data(), R, lm_head, logits.data(), nullptr, false, static_cast<std::ptrdiff_t>(logits_stride));
  pc.mark(engine_phase::lm_head);
  out.row_stride = logits_stride;
  if (R > 0)
    out.logits_rows =
        std::span<const float>(logits.data(), static_cast<std::size_t>(R - 1) * logits_stride + cfg.vocab_size);
  return out;
}

template <class T>
void cpu_engine::impl::write_kv(int l, int n_tok) {
  const int D = cfg.head_dim, bs = opts.block_size;
#pragma omp parallel for schedule(static) if (n_tok >= 4)
  for (int t = 0; t < n_tok; ++t) {
    float* row = &qkv[static_cast<std::size_t>(t) * qkv_dim];
    const auto& tk = tokens[t];
    const float* c = rope.cos_at(tk.pos);
    const float* s = rope.sin_at(tk.pos);
    for (int hh = 0; hh < cfg.n_heads; ++hh) ops::rope_rotate(row + hh * D, c, s, D);
    float* k = row + q_dim;
    const float* v = row + q_dim + kv_dim;
    T* kb = pool.k_block<T>(l, tk.block);  // [n_kv_heads, head_dim, block_size]
    T* vb = pool.v_block<T>(l, tk.block);  // [n_kv_heads, block_size, head_dim]
    for (int g = 0; g < cfg.n_kv_heads; ++g) {
      ops::rope_rotate(k + g * D, c, s, D);
      T* vdst = vb + (static_cast<std::size_t>(g) * bs + tk.slot) * D;
      if constexpr (std::is_same_v<T, float>) {
        for (int d = 0; d < D; ++d) kb[(static_cast<std::size_t>(g) * D + d) * bs + tk.slot] = k[g * D + d];
        std::memcpy(vdst, v + g * D, sizeof(float) * D);
      } else {
        // K narrowed 64 elements at a time, then scattered down its column.
        std::uint16_t kh[64];
        for (int d0 = 0; d0 < D; d0 += 64) {
          const int n = std::min(64, D - d0);
          ops::f32_to_f16(k + g * D + d0, kh, n);
          for (int d = 0; d < n; ++d) kb[(static_cast<std::size_t>(g) * D + d0 + d) * bs + tk.slot] = kh[d];
        }
        ops::f32_to_f16(v + g * D, vdst, D);
      }
    }
  }
}

void cpu_engine::impl::attention(int layer) {
  if (pool.shape().dtype == kv_dtype::f16)
    attention_as<std::uint16_t>(layer, block_ptrs_f16);
  else
    attention_as<float>(layer, block_ptrs);
}

template <class T>
void cpu_engine::impl::attention_as(int layer, std::vector<const T*>& ptrs) {
  const int KV = cfg.n_kv_heads, D = cfg.head_dim, bs = opts.block_size;
  const int group = cfg.n_heads / cfg.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const std::size_t per_thread = scores.size() / static_cast<std::size_t>(opts.n_threads);
  // Every (token, head) pair is independent, and its arithmetic does not
  // depend on the batch around it: batched equals one-at-a-time, bit for bit.
  // Items are (run of tokens, KV head) in that order: a decode token is a run
  // of its own, and a prefill chunk's tokens go in together (for groups of up
  // to 3 query heads, ops::attend_paged_tokens shares each K/V block load
  // among a few of them, and gives each token what it would get alone). Each thread takes one contiguous range of items of about equal
  // cost (context length). A token's KV heads sit side by side in each block
  // ([n_kv_heads, head_dim, block]), so a thread reads one contiguous stretch
  // per block instead of several threads each reading a part of it. And each
  // thread knows its next item and prefetches that item's first K/V blocks
  // meanwhile: the kernel's own prefetch reaches ahead only within an item,
  // and an item's first blocks otherwise arrive cold. (At 32 decode sequences
  // this took attention from 8.1-9.2 ms to 7.2-8.1 with F32 K/V, 4.8-6.0 to
  // 4.5-5.0 with F16; a round-robin split with the same prefetch gained nothing.)
  const int n_items = static_cast<int>(token_runs.size()) * KV;
  auto item_cost = [&](int item) {  // sum over the run of (pos + 1 + 16)
    const auto [t0, cnt] = token_runs[static_cast<std::size_t>(item / KV)];
    return static_cast<long long>(cnt) * (tokens[t0].pos + 17) + static_cast<long long>(cnt) * (cnt - 1) / 2;
  };
  long long total_cost = 0;
  for (int item = 0; item < n_items; ++item) total_cost += item_cost(item);
  // First item of thread `th` of `nth`: where the running cost reaches th/nth of the total.
  auto range_start = [&](int th, int nth) {
    if (th <= 0) return 0;
    if (th >= nth) return n_items;
    long long cum = 0;
    for (int item = 0; item < n_items; ++item) {
      if (cum * nth >= total_cost * th) return item;
      cum += item_cost(item);
    }
    return n_items;
  };
  constexpr int kPrefetchBlocks = 2;
  auto prefetch_item = [&](int item) {
    const int g = item % KV;
    const auto& tk = tokens[token_runs[static_cast<std::size_t>(item / KV)].first];
    const auto blocks = seq_blocks[static_cast<std::size_t>(tk.seq_index)];
    const int n_blk = std::min(kPrefetchBlocks, (tk.pos + bs) / bs);
    const std::size_t bytes = static_cast<std::size_t>(D) * bs * sizeof(T);  // one head's K (or V) of a block
    for (int b = 0; b < n_blk; ++b) {
      const char* k = reinterpret_cast<const char*>(pool.k_block<T>(layer, blocks[b]) + static_cast<std::size_t>(g) * D * bs);
      const char* v = reinterpret_cast<const char*>(pool.v_block<T>(layer, blocks[b]) + static_cast<std::size_t>(g) * bs * D);
      for (std::size_t o = 0; o < bytes; o += 64) {
        __builtin_prefetch(k + o, 0, 2);
        __builtin_prefetch(v + o, 0, 2);
      }
    }
  };
#pragma omp parallel
  {
    const int tid = omp_get_thread_num() % opts.n_threads;
    const int nth = omp_get_num_threads();
    float* sc = &scores[static_cast<std::size_t>(tid) * per_thread];
    const T** kp = &ptrs[static_cast<std::size_t>(tid) * 2 * ptrs_per_thread];
    const T** vp = kp + ptrs_per_thread;
    const int i0 = range_start(omp_get_thread_num(), nth), i1 = range_start(omp_get_thread_num() + 1, nth);
    for (int item = i0; item < i1; ++item) {
      if (item + 1 < i1) prefetch_item(item + 1);
      const int g = item % KV;  // the query heads of one KV head together: its K/V are read once
      const auto [t0, cnt] = token_runs[static_cast<std::size_t>(item / KV)];
      const auto& tk = tokens[t0];
      const auto blocks = seq_blocks[static_cast<std::size_t>(tk.seq_index)];
      const int n_ctx0 = tk.pos + 1;
      const int n_blk = (n_ctx0 + cnt - 1 + bs - 1) / bs;  // the run's last token sees the most
      for (int b = 0; b < n_blk; ++b) {
        kp[b] = pool.k_block<T>(layer, blocks[b]) + static_cast<std::size_t>(g) * D * bs;  // [head_dim, block]
        vp[b] = pool.v_block<T>(layer, blocks[b]) + static_cast<std::size_t>(g) * bs * D;  // [block, head_dim]
      }
      const std::size_t head0 = static_cast<std::size_t>(g) * group * D;
      ops::attend_paged_tokens(&qkv[static_cast<std::size_t>(t0) * qkv_dim + head0], qkv_dim, group, cnt, kp, vp,
                               n_ctx0, D, bs, scale, sc, &attn[static_cast<std::size_t>(t0) * q_dim + head0], q_dim);
    }
  }
}

}  // namespace kairos
