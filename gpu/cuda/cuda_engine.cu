#include "gpu/cuda/cuda_engine.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "gpu/cuda/cuda_check.hpp"
#include "gpu/engine/batch_admission.hpp"
#include "gpu/cuda/cuda_gemm.hpp"
#include "gpu/cuda/kernels/decode_attention.cuh"
#include "gpu/cuda/kernels/layer_ops.cuh"
#include "gpu/cuda/kernels/prefill_attention.cuh"
#include "gpu/cuda/kernels/random_fill.cuh"
#include "gpu/engine/rope_table.hpp"
#include "gpu/model/dtype.hpp"
#include "gpu/model/model_loader.hpp"
#include "gpu/model/random_weights.hpp"

namespace kairos::cuda {

namespace {

namespace k = kernels;
using bf16 = __nv_bfloat16;

// A device allocation that frees itself.
template <class T>
struct dev_buf {
  T* p = nullptr;
  std::size_t n = 0;
  dev_buf() = default;
  dev_buf(const dev_buf&) = delete;
  dev_buf& operator=(const dev_buf&) = delete;
  dev_buf(dev_buf&& o) noexcept : p(o.p), n(o.n) { o.p = nullptr; o.n = 0; }
  dev_buf& operator=(dev_buf&& o) noexcept {
    std::swap(p, o.p);
    std::swap(n, o.n);
    return *this;
  }
  ~dev_buf() {
    if (p) cudaFree(p);
  }
  status alloc(std::size_t count) {
    n = count;
    if (count == 0) return {};
    KAIROS_CUDA_TRY(cudaMalloc(&p, count * sizeof(T)));
    return {};
  }
};

// Pinned host memory: H2D copies from it are asynchronous, and a copy
// issued before a graph replay reads it when the stream gets there.
template <class T>
struct host_buf {
  T* p = nullptr;
  std::size_t n = 0;
  host_buf() = default;
  host_buf(const host_buf&) = delete;
  host_buf& operator=(const host_buf&) = delete;
  ~host_buf() {
    if (p) cudaFreeHost(p);
  }
  status alloc(std::size_t count) {
    n = count;
    if (count == 0) return {};
    KAIROS_CUDA_TRY(cudaMallocHost(&p, count * sizeof(T)));
    return {};
  }
};

struct layer_weights {
  dev_buf<float> attn_norm;  // [hidden]
  dev_buf<bf16> qkv;         // [q_dim + 2 kv_dim, hidden]
  dev_buf<float> qkv_bias;   // [q_dim + 2 kv_dim] or empty
  dev_buf<bf16> o;           // [hidden, q_dim]
  dev_buf<float> mlp_norm;   // [hidden]
  dev_buf<bf16> gate_up;     // [2 ffn, hidden]: gate rows, then up rows
  dev_buf<bf16> down;        // [hidden, ffn]
};

// What one forward launches; with the plan buffers' contents, all a graph
// replay depends on.
struct step_shape {
  int n_tok = 0;
  int n_rows = 0;  // logits rows
  int n_dec = 0;   // decode sequences (one query token each)
  int n_tiles = 0;  // prefill attention tiles
  k::decode_attention_plan dplan;
  bool operator==(const step_shape& o) const {
    return n_tok == o.n_tok && n_rows == o.n_rows && n_dec == o.n_dec && n_tiles == o.n_tiles &&
           dplan.n_splits == o.dplan.n_splits && dplan.partition_size == o.dplan.partition_size;
  }
};

struct graph_entry {
  int batch = 0;
  step_shape shape;
  cudaGraphExec_t exec = nullptr;
};

}  // namespace

struct cuda_engine::impl {
  model_config cfg;
  cuda_engine_options opts;
  int n_sms = 0;
  int q_dim = 0, kv_dim = 0, qkv_dim = 0;
  int max_seq_len = 0, n_blocks = 0, max_blocks_per_seq = 0;
  cudaStream_t stream = nullptr;
  // Recorded after each plan upload: the host waits on it before it
  // rewrites the pinned staging for the next step (forward_async lets the
  // host run one step ahead of the device).
  cudaEvent_t upload_done = nullptr;
  std::unique_ptr<gemm_runner> gemm;

  // -- weights --
  dev_buf<bf16> embed;  // [vocab, hidden]
  std::vector<layer_weights> layers;
  dev_buf<float> final_norm;  // [hidden]
  dev_buf<bf16> lm_head;      // [vocab, hidden]; empty when tied to embed
  dev_buf<float> rope_cos, rope_sin;  // [max_seq_len, head_dim / 2]
  std::size_t weight_bytes = 0;

  // -- KV --
  kv_block_table table;
  dev_buf<bf16> k_cache, v_cache;  // [n_layers, n_blocks, n_kv_heads, block_size, head_dim]
  std::size_t layer_kv_elems = 0;

  // -- activations, sized for T = max_batch_tokens, R = max_logit_rows --
  dev_buf<float> x;      // [T, hidden] residual stream
  dev_buf<bf16> h;       // [T, hidden] normed
  dev_buf<bf16> qkv;     // [T, qkv_dim]
  dev_buf<bf16> attn;    // [T, q_dim]
  dev_buf<bf16> y;       // [T, hidden] output of o_proj / down_proj
  dev_buf<bf16> gu;      // [T, 2 ffn]
  dev_buf<bf16> act;     // [T, ffn]
  dev_buf<bf16> hl;      // [R, hidden] normed rows that want logits
  dev_buf<float> logits;  // [R, vocab]
  dev_buf<float> dec_ws;  // decode attention partials
  std::size_t dec_ws_floats = 0;

  // -- the step plan: pinned host staging and its device copy --
  // int32 regions of fixed capacity, so graph-captured kernels see fixed
  // addresses: ids, positions, slots [T]; logit rows [R]; decode rows and
  // lengths [T]; block tables [T, max_blocks_per_seq].
  std::size_t off_ids = 0, off_pos = 0, off_slots = 0, off_lrows = 0, off_drows = 0, off_dlens = 0, off_tables = 0,
              plan_ints = 0;
  host_buf<std::int32_t> plan_h;
  dev_buf<std::int32_t> plan_d;
  host_buf<k::prefill_tile> tiles_h;
  dev_buf<k::prefill_tile> tiles_d;
  host_buf<float> logits_h;  // [R, vocab]
  host_buf<k::sample_row> sample_h;
  dev_buf<k::sample_row> sample_d;
  host_buf<std::int32_t> tokens_h;
  dev_buf<std::int32_t> tokens_d;

  // -- host-side scratch, reserved once --
  std::vector<kv_append> appends;
  kv_plan plan;
  std::vector<int> order;  // batch indices: decodes first, then prefills
  std::vector<k::prefill_span> spans;
  std::vector<k::prefill_tile> tiles;
  int last_rows = 0;

  std::vector<graph_entry> graphs;
  std::vector<std::pair<int, step_shape>> warmed_shapes;  // (bucket, shape) run once eagerly, not yet captured
  bool device_failed = false;

  impl(const model_config& c, const cuda_engine_options& o, int blocks, int max_len)
      : cfg(c),
        opts(o),
        max_seq_len(max_len),
        n_blocks(blocks),
        max_blocks_per_seq((max_len + o.block_size - 1) / o.block_size),
        table(blocks, o.block_size, std::min(blocks, (max_len + o.block_size - 1) / o.block_size)) {}
  ~impl() {
    for (auto& g : graphs)
      if (g.exec) cudaGraphExecDestroy(g.exec);
    gemm.reset();
    if (upload_done) cudaEventDestroy(upload_done);
    if (stream) cudaStreamDestroy(stream);
  }

  // Checks the options and sizes an engine (no device work yet).
  static result<std::unique_ptr<impl>> make(const model_config& cfg, const cuda_engine_options& opts);
  status init_device();
  status alloc_buffers();
  status enqueue(const step_shape& s);
  forward_result run(std::span<const batch_sequence> batch, bool copy_logits);
  status upload_plan(int n_tok, int n_rows, int n_dec, int n_tables, int n_tiles);
  status launch_decode_graph(const step_shape& s, int bucket);
  int bucket_for(int n) const {
    for (int b : opts.graph_batch_sizes)
      if (b >= n && b <= opts.max_logit_rows && b <= opts.max_batch_tokens) return b;
    return 0;
  }
  std::int32_t* plan_dev(std::size_t off) { return plan_d.p + off; }
  bf16* k_layer(int l) { return k_cache.p + static_cast<std::size_t>(l) * layer_kv_elems; }
  bf16* v_layer(int l) { return v_cache.p + static_cast<std::size_t>(l) * layer_kv_elems; }
};

cuda_engine::cuda_engine(std::unique_ptr<impl> p) : p_(std::move(p)) {}
cuda_engine::~cuda_engine() = default;
const model_config& cuda_engine::config() const { return p_->cfg; }
const cuda_engine_options& cuda_engine::options() const { return p_->opts; }
const kv_block_table& cuda_engine::kv_table() const { return p_->table; }
void cuda_engine::free_sequence(seq_id s) { (void)p_->table.free_sequence(s); }
std::size_t cuda_engine::weight_bytes() const { return p_->weight_bytes; }
std::size_t cuda_engine::kv_bytes_per_token() const {
  return 2ull * p_->cfg.n_layers * p_->kv_dim * sizeof(bf16);
}
int cuda_engine::graphs_captured() const { return static_cast<int>(p_->graphs.size()); }
void cuda_engine::set_cuda_graphs(bool on) { p_->opts.cuda_graphs = on; }
cudaStream_t cuda_engine::stream() const { return p_->stream; }
const float* cuda_engine::device_logits() const { return p_->logits.p; }

status cuda_engine::synchronize() {
  KAIROS_CUDA_TRY(cudaStreamSynchronize(p_->stream));
  return {};
}

status cuda_engine::impl::init_device() {
  int n = 0;
  KAIROS_CUDA_TRY(cudaGetDeviceCount(&n));
  if (opts.device < 0 || opts.device >= n)
    return make_error("cuda engine: device " + std::to_string(opts.device) + " not present (" + std::to_string(n) +
                      " devices)");
  KAIROS_CUDA_TRY(cudaSetDevice(opts.device));
  KAIROS_CUDA_TRY(cudaDeviceGetAttribute(&n_sms, cudaDevAttrMultiProcessorCount, opts.device));
  KAIROS_CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  KAIROS_CUDA_TRY(cudaEventCreateWithFlags(&upload_done, cudaEventDisableTiming));
  auto g = gemm_runner::create(stream);
  if (!g) return g.err();
  gemm = std::move(*g);
  return {};
}

status cuda_engine::impl::alloc_buffers() {
  const int E = cfg.hidden_size, F = cfg.ffn_size, D = cfg.head_dim, V = cfg.vocab_size;
  q_dim = cfg.n_heads * D;
  kv_dim = cfg.n_kv_heads * D;
  qkv_dim = q_dim + 2 * kv_dim;
  const std::size_t T = static_cast<std::size_t>(opts.max_batch_tokens);
  const std::size_t R = static_cast<std::size_t>(opts.max_logit_rows);

  layer_kv_elems = static_cast<std::size_t>(n_blocks) * opts.block_size * kv_dim;
  KAIROS_TRY_STATUS(k_cache.alloc(layer_kv_elems * cfg.n_layers));
  KAIROS_TRY_STATUS(v_cache.alloc(layer_kv_elems * cfg.n_layers));

  KAIROS_TRY_STATUS(x.alloc(T * E));
  KAIROS_TRY_STATUS(h.alloc(T * E));
  KAIROS_TRY_STATUS(qkv.alloc(T * qkv_dim));
  KAIROS_TRY_STATUS(attn.alloc(T * q_dim));
  KAIROS_TRY_STATUS(y.alloc(T * E));
  KAIROS_TRY_STATUS(gu.alloc(T * 2 * F));
  KAIROS_TRY_STATUS(act.alloc(T * F));
  KAIROS_TRY_STATUS(hl.alloc(R * E));
  KAIROS_TRY_STATUS(logits.alloc(R * V));
  // Workspace for any decode plan: up to T sequences (a graph bucket or an
  // eager batch), any context up to the longest.
  const std::size_t ws =
      k::decode_attention_workspace_bound(static_cast<int>(T), cfg.n_heads, cfg.n_kv_heads, D, max_seq_len, n_sms);
  dec_ws_floats = ws;
  KAIROS_TRY_STATUS(dec_ws.alloc(ws));

  off_ids = 0;
  off_pos = off_ids + T;
  off_slots = off_pos + T;
  off_lrows = off_slots + T;
  off_drows = off_lrows + R;
  off_dlens = off_drows + T;
  off_tables = off_dlens + T;
  plan_ints = off_tables + T * max_blocks_per_seq;
  KAIROS_TRY_STATUS(plan_h.alloc(plan_ints));
  KAIROS_TRY_STATUS(plan_d.alloc(plan_ints));
  std::memset(plan_h.p, 0, plan_ints * sizeof(std::int32_t));
  KAIROS_CUDA_TRY(cudaMemset(plan_d.p, 0, plan_ints * sizeof(std::int32_t)));
  KAIROS_TRY_STATUS(tiles_h.alloc(T));
  KAIROS_TRY_STATUS(tiles_d.alloc(T));
  KAIROS_TRY_STATUS(logits_h.alloc(R * V));
  KAIROS_TRY_STATUS(sample_h.alloc(R));
  KAIROS_TRY_STATUS(sample_d.alloc(R));
  KAIROS_TRY_STATUS(tokens_h.alloc(R));
  KAIROS_TRY_STATUS(tokens_d.alloc(R));

  // RoPE angles from the CPU engine's table: the same float values.
  rope_table rope(cfg, max_seq_len);
  const std::size_t half = static_cast<std::size_t>(D / 2);
  KAIROS_TRY_STATUS(rope_cos.alloc(static_cast<std::size_t>(max_seq_len) * half));
  KAIROS_TRY_STATUS(rope_sin.alloc(static_cast<std::size_t>(max_seq_len) * half));
  KAIROS_CUDA_TRY(cudaMemcpy(rope_cos.p, rope.cos_at(0), rope_cos.n * sizeof(float), cudaMemcpyHostToDevice));
  KAIROS_CUDA_TRY(cudaMemcpy(rope_sin.p, rope.sin_at(0), rope_sin.n * sizeof(float), cudaMemcpyHostToDevice));

  weight_bytes = sizeof(bf16) * (static_cast<std::size_t>(cfg.n_layers) *
                                     (static_cast<std::size_t>(qkv_dim) * E + static_cast<std::size_t>(E) * q_dim +
                                      3ull * F * E) +
                                 static_cast<std::size_t>(V) * E);
  appends.reserve(T);
  order.reserve(T);
  spans.reserve(T);
  tiles.reserve(T);
  return {};
}

namespace {

// Converts one stored tensor (any dtype) to BF16 and uploads it.
status upload_bf16(const raw_tensor& t, bf16* dst, std::vector<float>& f32, std::vector<std::uint16_t>& b16) {
  const std::size_t n = static_cast<std::size_t>(t.numel());
  f32.resize(n);
  b16.resize(n);
  convert_to_f32(t.type, t.data, f32.data(), t.numel());
  for (std::size_t i = 0; i < n; ++i) b16[i] = f32_to_bf16(f32[i]);
  KAIROS_CUDA_TRY(cudaMemcpy(dst, b16.data(), n * sizeof(bf16), cudaMemcpyHostToDevice));
  return {};
}

status upload_f32(const raw_tensor& t, float* dst, std::vector<float>& f32) {
  const std::size_t n = static_cast<std::size_t>(t.numel());
  f32.resize(n);
  convert_to_f32(t.type, t.data, f32.data(), t.numel());
  KAIROS_CUDA_TRY(cudaMemcpy(dst, f32.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  return {};
}

}  // namespace

// Checks the options and sizes an engine; shared by create and create_random.
result<std::unique_ptr<cuda_engine::impl>> cuda_engine::impl::make(const model_config& cfg, const cuda_engine_options& opts) {
  if (auto s = cfg.validate(); !s) return s.err();
  if (opts.block_size < 1 || opts.block_size > 256) return make_error("cuda engine: block_size must be in [1, 256]");
  if (opts.max_batch_tokens < 1 || opts.max_logit_rows < 1)
    return make_error("cuda engine: max_batch_tokens and max_logit_rows must be positive");
  if (cfg.hidden_size % 8 != 0 || cfg.ffn_size % 8 != 0 || cfg.head_dim % 8 != 0)
    return make_error("cuda engine: hidden_size, ffn_size and head_dim must be multiples of 8");
  // A shape the decode kernel is not compiled for is refused here, not at
  // the first decode step (which would mark the engine failed).
  const int group = cfg.n_heads / std::max(1, cfg.n_kv_heads);
  if (k::decode_attention_supports(cfg.head_dim, group) != cudaSuccess)
    return make_error("cuda engine: head_dim " + std::to_string(cfg.head_dim) + " with " + std::to_string(group) +
                      " query heads per KV head is not supported by the decode attention kernel");
  const int max_len = opts.max_seq_len > 0 ? opts.max_seq_len : std::max(cfg.max_position, 1);
  const int kv_tokens = opts.kv_tokens > 0 ? opts.kv_tokens : max_len;
  const int n_blocks = (kv_tokens + opts.block_size - 1) / opts.block_size;
  return std::make_unique<impl>(cfg, opts, n_blocks, max_len);
}

result<std::unique_ptr<cuda_engine>> cuda_engine::create(const model_config& cfg, const tensor_store& ts,
                                                         const cuda_engine_options& opts) {
  if (auto s = check_tensors(cfg, ts); !s) return s.err();
  auto pi = impl::make(cfg, opts);
  if (!pi) return pi.err();
  auto& p = *pi;
  KAIROS_TRY_STATUS(p->init_device());
  KAIROS_TRY_STATUS(p->alloc_buffers());
  const int E = cfg.hidden_size, F = cfg.ffn_size, V = cfg.vocab_size;
  std::vector<float> f32;
  std::vector<std::uint16_t> b16;
  auto find = [&](const std::string& n) { return ts.find(n); };

  KAIROS_TRY_STATUS(p->embed.alloc(static_cast<std::size_t>(V) * E));
  KAIROS_TRY_STATUS(upload_bf16(*find("model.embed_tokens.weight"), p->embed.p, f32, b16));
  KAIROS_TRY_STATUS(p->final_norm.alloc(E));
  KAIROS_TRY_STATUS(upload_f32(*find("model.norm.weight"), p->final_norm.p, f32));
  if (!cfg.tie_embeddings) {
    KAIROS_TRY_STATUS(p->lm_head.alloc(static_cast<std::size_t>(V) * E));
    KAIROS_TRY_STATUS(upload_bf16(*find("lm_head.weight"), p->lm_head.p, f32, b16));
  }
  p->layers.resize(cfg.n_layers);
  for (int l = 0; l < cfg.n_layers; ++l) {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    auto& lw = p->layers[l];
    KAIROS_TRY_STATUS(lw.attn_norm.alloc(E));
    KAIROS_TRY_STATUS(upload_f32(*find(pre + "input_layernorm.weight"), lw.attn_norm.p, f32));
    KAIROS_TRY_STATUS(lw.mlp_norm.alloc(E));
    KAIROS_TRY_STATUS(upload_f32(*find(pre + "post_attention_layernorm.weight"), lw.mlp_norm.p, f32));
    // q, k, v rows stacked into one [qkv_dim, hidden] matrix: one GEMM.
    KAIROS_TRY_STATUS(lw.qkv.alloc(static_cast<std::size_t>(p->qkv_dim) * E));
    if (cfg.qkv_bias) KAIROS_TRY_STATUS(lw.qkv_bias.alloc(p->qkv_dim));
    std::size_t row = 0;
    for (const char* n : {"q_proj", "k_proj", "v_proj"}) {
      const raw_tensor& w = *find(pre + "self_attn." + n + ".weight");
      KAIROS_TRY_STATUS(upload_bf16(w, lw.qkv.p + row * E, f32, b16));
      if (cfg.qkv_bias) KAIROS_TRY_STATUS(upload_f32(*find(pre + "self_attn." + n + ".bias"), lw.qkv_bias.p + row, f32));
      row += static_cast<std::size_t>(w.shape[0]);
    }
    KAIROS_TRY_STATUS(lw.o.alloc(static_cast<std::size_t>(E) * p->q_dim));
    KAIROS_TRY_STATUS(upload_bf16(*find(pre + "self_attn.o_proj.weight"), lw.o.p, f32, b16));
    KAIROS_TRY_STATUS(lw.gate_up.alloc(2ull * F * E));
    KAIROS_TRY_STATUS(upload_bf16(*find(pre + "mlp.gate_proj.weight"), lw.gate_up.p, f32, b16));
    KAIROS_TRY_STATUS(upload_bf16(*find(pre + "mlp.up_proj.weight"), lw.gate_up.p + static_cast<std::size_t>(F) * E, f32, b16));
    KAIROS_TRY_STATUS(lw.down.alloc(static_cast<std::size_t>(E) * F));
    KAIROS_TRY_STATUS(upload_bf16(*find(pre + "mlp.down_proj.weight"), lw.down.p, f32, b16));
  }
  // The start-up memsets and pageable copies ran on the legacy stream, which
  // the engine's non-blocking stream does not wait for.
  KAIROS_CUDA_TRY(cudaDeviceSynchronize());
  return std::unique_ptr<cuda_engine>(new cuda_engine(std::move(p)));
}

result<std::unique_ptr<cuda_engine>> cuda_engine::load(const std::string& path, const cuda_engine_options& opts) {
  auto m = load_model(path);
  if (!m) return m.err();
  return create(m->config, m->tensors, opts);
}

result<std::unique_ptr<cuda_engine>> cuda_engine::create_random(const model_config& cfg, std::uint64_t seed,
                                                                const cuda_engine_options& opts) {
  auto pi = impl::make(cfg, opts);
  if (!pi) return pi.err();
  auto& p = *pi;
  KAIROS_TRY_STATUS(p->init_device());
  KAIROS_TRY_STATUS(p->alloc_buffers());
  const int E = cfg.hidden_size, F = cfg.ffn_size, V = cfg.vocab_size;
  const float sd = random_weight_std;
  std::uint64_t tensor_id = 0;  // each tensor its own stream of the hash
  auto normal = [&](dev_buf<bf16>& b, std::size_t n) -> status {
    KAIROS_TRY_STATUS(b.alloc(n));
    KAIROS_CUDA_TRY(k::fill_normal_bf16(b.p, n, seed * 0x100000001b3ull + ++tensor_id, sd, p->stream));
    return {};
  };
  auto ones = [&](dev_buf<float>& b, std::size_t n) -> status {
    KAIROS_TRY_STATUS(b.alloc(n));
    KAIROS_CUDA_TRY(k::fill_f32(b.p, n, 1.f, p->stream));
    return {};
  };
  KAIROS_TRY_STATUS(normal(p->embed, static_cast<std::size_t>(V) * E));
  KAIROS_TRY_STATUS(ones(p->final_norm, E));
  if (!cfg.tie_embeddings) KAIROS_TRY_STATUS(normal(p->lm_head, static_cast<std::size_t>(V) * E));
  p->layers.resize(cfg.n_layers);
  dev_buf<bf16> bias_tmp;
  for (auto& lw : p->layers) {
    KAIROS_TRY_STATUS(ones(lw.attn_norm, E));
    KAIROS_TRY_STATUS(ones(lw.mlp_norm, E));
    KAIROS_TRY_STATUS(normal(lw.qkv, static_cast<std::size_t>(p->qkv_dim) * E));
    if (cfg.qkv_bias) {
      KAIROS_TRY_STATUS(normal(bias_tmp, p->qkv_dim));
      KAIROS_TRY_STATUS(lw.qkv_bias.alloc(p->qkv_dim));
      KAIROS_CUDA_TRY(k::bf16_to_f32(bias_tmp.p, lw.qkv_bias.p, p->qkv_dim, p->stream));
      KAIROS_CUDA_TRY(cudaStreamSynchronize(p->stream));  // before bias_tmp is reallocated
      bias_tmp = dev_buf<bf16>();
    }
    KAIROS_TRY_STATUS(normal(lw.o, static_cast<std::size_t>(E) * p->q_dim));
    KAIROS_TRY_STATUS(normal(lw.gate_up, 2ull * F * E));
    KAIROS_TRY_STATUS(normal(lw.down, static_cast<std::size_t>(E) * F));
  }
  // The start-up memsets and pageable copies ran on the legacy stream, which
  // the engine's non-blocking stream does not wait for.
  KAIROS_CUDA_TRY(cudaDeviceSynchronize());
  return std::unique_ptr<cuda_engine>(new cuda_engine(std::move(p)));
}

result<std::unique_ptr<cuda_engine>> make_random_cuda_engine(const std::string& shape, std::uint64_t seed,
                                                             const cuda_engine_options& opts) {
  auto cfg = named_shape(shape);
  if (!cfg) return cfg.err();
  cfg->weight_dtype = dtype::bf16;
  return cuda_engine::create_random(*cfg, seed, opts);
}

// -- one step --

status cuda_engine::impl::enqueue(const step_shape& s) {
  const int E = cfg.hidden_size, F = cfg.ffn_size, D = cfg.head_dim, V = cfg.vocab_size;
  const int T = s.n_tok;
  cudaStream_t st = stream;
  const std::int32_t* tables = plan_dev(off_tables);

  KAIROS_CUDA_TRY(k::embedding_lookup({plan_dev(off_ids), embed.p, x.p, T, E}, st));
  for (int l = 0; l < cfg.n_layers; ++l) {
    const auto& lw = layers[l];
    // x += y (the previous layer's MLP output); h = norm(x)
    KAIROS_CUDA_TRY(k::add_rmsnorm({x.p, l == 0 ? nullptr : y.p, lw.attn_norm.p, h.p, nullptr, T, E, cfg.rms_eps}, st));
    KAIROS_TRY_STATUS(gemm->run(h.p, lw.qkv.p, qkv.p, gemm_out::bf16, T, qkv_dim, E));
    k::rope_kv_params rp;
    rp.qkv = qkv.p;
    rp.qkv_stride = qkv_dim;
    rp.bias = lw.qkv_bias.p;
    rp.cos = rope_cos.p;
    rp.sin = rope_sin.p;
    rp.positions = plan_dev(off_pos);
    rp.slots = plan_dev(off_slots);
    rp.k_cache = k_layer(l);
    rp.v_cache = v_layer(l);
    rp.n_tokens = T;
    rp.n_heads = cfg.n_heads;
    rp.n_kv_heads = cfg.n_kv_heads;
    rp.head_dim = D;
    rp.block_size = opts.block_size;
    KAIROS_CUDA_TRY(k::rope_kv_append(rp, st));
    if (s.n_dec > 0) {
      k::decode_attention_params dp;
      dp.q = qkv.p;
      dp.q_stride = qkv_dim;
      dp.k_cache = k_layer(l);
      dp.v_cache = v_layer(l);
      dp.block_tables = tables;
      dp.max_blocks_per_seq = max_blocks_per_seq;
      dp.seq_lens = plan_dev(off_dlens);
      dp.rows = plan_dev(off_drows);
      dp.out = attn.p;
      dp.out_stride = q_dim;
      dp.workspace = dec_ws.p;
      dp.n_seqs = s.n_dec;
      dp.n_heads = cfg.n_heads;
      dp.n_kv_heads = cfg.n_kv_heads;
      dp.head_dim = D;
      dp.block_size = opts.block_size;
      dp.scale = 1.0f / std::sqrt(static_cast<float>(D));
      KAIROS_CUDA_TRY(k::decode_attention(dp, s.dplan, st));
    }
    if (s.n_tiles > 0) {
      k::prefill_attention_params pp;
      pp.q = qkv.p;
      pp.q_stride = qkv_dim;
      pp.k_cache = k_layer(l);
      pp.v_cache = v_layer(l);
      pp.block_tables = tables;
      pp.max_blocks_per_seq = max_blocks_per_seq;
      pp.tiles = tiles_d.p;
      pp.n_tiles = s.n_tiles;
      pp.out = attn.p;
      pp.out_stride = q_dim;
      pp.n_heads = cfg.n_heads;
      pp.n_kv_heads = cfg.n_kv_heads;
      pp.head_dim = D;
      pp.block_size = opts.block_size;
      pp.scale = 1.0f / std::sqrt(static_cast<float>(D));
      KAIROS_CUDA_TRY(k::prefill_attention(pp, st));
    }
    KAIROS_TRY_STATUS(gemm->run(attn.p, lw.o.p, y.p, gemm_out::bf16, T, E, q_dim));
    KAIROS_CUDA_TRY(k::add_rmsnorm({x.p, y.p, lw.mlp_norm.p, h.p, nullptr, T, E, cfg.rms_eps}, st));
    KAIROS_TRY_STATUS(gemm->run(h.p, lw.gate_up.p, gu.p, gemm_out::bf16, T, 2 * F, E));
    KAIROS_CUDA_TRY(k::swiglu({gu.p, act.p, T, F}, st));
    KAIROS_TRY_STATUS(gemm->run(act.p, lw.down.p, y.p, gemm_out::bf16, T, E, F));
  }
  // Final norm on the rows that want logits only (the residual add of the
  // last MLP output is done on the fly), then the LM head in FP32 out.
  if (s.n_rows > 0) {
    KAIROS_CUDA_TRY(k::add_rmsnorm({x.p, y.p, final_norm.p, hl.p, plan_dev(off_lrows), s.n_rows, E, cfg.rms_eps}, st));
    const bf16* head = cfg.tie_embeddings ? embed.p : lm_head.p;
    KAIROS_TRY_STATUS(gemm->run(hl.p, head, logits.p, gemm_out::f32, s.n_rows, V, E));
  }
  return {};
}

status cuda_engine::impl::upload_plan(int n_tok, int n_rows, int n_dec, int n_tables, int n_tiles) {
  (void)n_dec;
  auto copy = [&](std::size_t off, std::size_t n) -> status {
    if (n == 0) return {};
    KAIROS_CUDA_TRY(cudaMemcpyAsync(plan_d.p + off, plan_h.p + off, n * sizeof(std::int32_t), cudaMemcpyHostToDevice,
                                    stream));
    return {};
  };
  // ids, positions, slots and logit rows are contiguous: one copy up to the
  // end of the logit rows region when the batch fills it, else four.
  KAIROS_TRY_STATUS(copy(off_ids, n_tok));
  KAIROS_TRY_STATUS(copy(off_pos, n_tok));
  KAIROS_TRY_STATUS(copy(off_slots, n_tok));
  KAIROS_TRY_STATUS(copy(off_lrows, n_rows));
  KAIROS_TRY_STATUS(copy(off_drows, 2 * static_cast<std::size_t>(opts.max_batch_tokens)));  // rows and lengths
  KAIROS_TRY_STATUS(copy(off_tables, static_cast<std::size_t>(n_tables) * max_blocks_per_seq));
  if (n_tiles > 0)
    KAIROS_CUDA_TRY(cudaMemcpyAsync(tiles_d.p, tiles_h.p, n_tiles * sizeof(k::prefill_tile), cudaMemcpyHostToDevice,
                                    stream));
  KAIROS_CUDA_TRY(cudaEventRecord(upload_done, stream));
  return {};
}

status cuda_engine::impl::launch_decode_graph(const step_shape& s, int bucket) {
  graph_entry* g = nullptr;
  for (auto& e : graphs)
    if (e.batch == bucket && e.shape == s) g = &e;
  if (!g) {
    // A shape's first step runs eagerly, so that its kernels' modules load
    // and cuBLAS picks its algorithms outside any capture; the second is
    // captured, once per bucket: kernel arguments point into the fixed plan
    // regions, whose contents are refreshed before every replay.
    bool seen = false;
    for (const auto& w : warmed_shapes) seen = seen || (w.first == bucket && w.second == s);
    if (!seen) {
      warmed_shapes.emplace_back(bucket, s);
      return enqueue(s);
    }
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    cudaError_t err = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
    const status st = err == cudaSuccess ? enqueue(s) : status{};
    if (err == cudaSuccess) {
      err = cudaStreamEndCapture(stream, &graph);
      if (st && err == cudaSuccess) err = cudaGraphInstantiate(&exec, graph, 0);
      if (graph) cudaGraphDestroy(graph);
    }
    if (!st || err != cudaSuccess) {
      // A failed capture costs the graphs, not the engine: this step and
      // every later one run eagerly (a real device error fails there).
      (void)cudaGetLastError();
      if (exec) cudaGraphExecDestroy(exec);
      opts.cuda_graphs = false;
      std::fprintf(stderr, "kairos cuda engine: CUDA graph capture failed (%s); decode runs without graphs\n",
                   !st ? st.message().c_str() : cudaGetErrorString(err));
      return enqueue(s);
    }
    graphs.push_back({bucket, s, exec});
    g = &graphs.back();
  }
  KAIROS_CUDA_TRY(cudaGraphLaunch(g->exec, stream));
  return {};
}

forward_result cuda_engine::impl::run(std::span<const batch_sequence> batch, bool copy_logits) {
  forward_result out;
  out.vocab = cfg.vocab_size;
  auto fail = [&](forward_status s, std::string msg) {
    out.status = s;
    out.message = std::move(msg);
    return out;
  };
  if (device_failed) return fail(forward_status::invalid_batch, "device error earlier: the engine is unusable");

  // -- validate the whole batch and reserve its KV; a failure changes nothing --
  const auto adm = admit_batch(batch, {cfg.vocab_size, max_seq_len, opts.max_batch_tokens, opts.max_logit_rows}, table,
                               appends, plan);
  if (adm.status != forward_status::ok) return fail(adm.status, adm.message);
  const int n_tok = adm.n_tokens, n_rows = adm.n_logit_rows;
  const bool all_decode = adm.all_decode;
  // Everything from here on is plan building and launching; the host-side
  // checks above are the only ones that leave the table untouched.
  if (auto e = cudaEventSynchronize(upload_done); e != cudaSuccess) {
    device_failed = true;
    return fail(forward_status::invalid_batch, "device error: " + cuda_error(e, "cudaEventSynchronize", __FILE__, __LINE__).message);
  }

  // -- the plan: token rows in batch order; block-table rows with the
  // decode sequences first (decode entry i uses row i), then the prompts --
  const int bs = opts.block_size;
  std::int32_t* ids = plan_h.p + off_ids;
  std::int32_t* pos = plan_h.p + off_pos;
  std::int32_t* slots = plan_h.p + off_slots;
  std::int32_t* lrows = plan_h.p + off_lrows;
  std::int32_t* drows = plan_h.p + off_drows;
  std::int32_t* dlens = plan_h.p + off_dlens;
  std::int32_t* tabs = plan_h.p + off_tables;
  int n_dec = 0;
  {
    int t = 0, r = 0;
    for (auto& b : batch) {
      const int n = static_cast<int>(b.tokens.size());
      const int start = table.n_tokens(b.seq) - n;
      const auto blocks = table.blocks(b.seq);
      for (int j = 0; j < n; ++j) {
        ids[t + j] = b.tokens[j];
        pos[t + j] = start + j;
        slots[t + j] = blocks[(start + j) / bs] * bs + (start + j) % bs;
      }
      if (b.want_logits) lrows[r++] = t + n - 1;
      if (n == 1) {
        std::copy(blocks.begin(), blocks.end(), tabs + static_cast<std::size_t>(n_dec) * max_blocks_per_seq);
        drows[n_dec] = t;
        dlens[n_dec] = start + 1;
        ++n_dec;
      }
      t += n;
    }
    spans.clear();
    int row = n_dec;
    t = 0;
    for (auto& b : batch) {
      const int n = static_cast<int>(b.tokens.size());
      if (n > 1) {
        const auto blocks = table.blocks(b.seq);
        std::copy(blocks.begin(), blocks.end(), tabs + static_cast<std::size_t>(row) * max_blocks_per_seq);
        spans.push_back({row, t, n, table.n_tokens(b.seq) - n});
        ++row;
      }
      t += n;
    }
  }
  const int group = cfg.n_heads / cfg.n_kv_heads;
  k::plan_prefill_tiles(spans.data(), static_cast<int>(spans.size()), group, tiles);
  std::copy(tiles.begin(), tiles.end(), tiles_h.p);

  auto device_fail = [&](const status& st) {
    device_failed = true;
    return fail(forward_status::invalid_batch, "device error: " + st.message());
  };

  step_shape s;
  s.n_rows = n_rows;
  s.n_tiles = static_cast<int>(tiles.size());
  const int bucket = (opts.cuda_graphs && all_decode) ? bucket_for(n_tok) : 0;
  if (bucket > 0) {
    // Pad to the bucket: padding tokens are id 0 at position 0, store no
    // KV (slot -1) and attend to nothing (length 0); their logits rows are
    // computed and ignored.
    for (int i = n_tok; i < bucket; ++i) {
      ids[i] = 0;
      pos[i] = 0;
      slots[i] = -1;
      lrows[i] = i;
      drows[i] = i;
      dlens[i] = 0;
    }
    s.n_tok = bucket;
    s.n_rows = bucket;
    s.n_dec = bucket;
    s.dplan = k::plan_decode_attention(bucket, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, max_seq_len, n_sms);
    if (s.dplan.workspace_floats > dec_ws_floats)
      return device_fail(make_error("decode attention workspace too small (internal)"));
    if (auto st = upload_plan(bucket, bucket, bucket, n_dec, 0); !st) return device_fail(st);
    if (auto st = launch_decode_graph(s, bucket); !st) return device_fail(st);
  } else {
    int max_ctx = 1;
    for (int i = 0; i < n_dec; ++i) max_ctx = std::max(max_ctx, dlens[i]);
    s.n_tok = n_tok;
    s.n_dec = n_dec;
    s.dplan = k::plan_decode_attention(n_dec, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, max_ctx, n_sms);
    if (s.dplan.workspace_floats > dec_ws_floats)
      return device_fail(make_error("decode attention workspace too small (internal)"));
    if (auto st = upload_plan(n_tok, n_rows, n_dec, n_dec + static_cast<int>(spans.size()), s.n_tiles); !st)
      return device_fail(st);
    if (auto st = enqueue(s); !st) return device_fail(st);
  }
  last_rows = n_rows;
  if (copy_logits && n_rows > 0) {
    const std::size_t n = static_cast<std::size_t>(n_rows) * cfg.vocab_size;
    if (auto e = cudaMemcpyAsync(logits_h.p, logits.p, n * sizeof(float), cudaMemcpyDeviceToHost, stream); e != cudaSuccess)
      return device_fail(cuda_error(e, "cudaMemcpyAsync(logits)", __FILE__, __LINE__));
    if (auto e = cudaStreamSynchronize(stream); e != cudaSuccess)
      return device_fail(cuda_error(e, "cudaStreamSynchronize", __FILE__, __LINE__));
    out.logits_rows = std::span<const float>(logits_h.p, n);
  }
  return out;
}

forward_result cuda_engine::forward(std::span<const batch_sequence> batch) { return p_->run(batch, true); }
forward_result cuda_engine::forward_async(std::span<const batch_sequence> batch) { return p_->run(batch, false); }

result<std::vector<std::int32_t>> cuda_engine::sample(std::span<const kernels::sample_row> rows) {
  auto& p = *p_;
  if (static_cast<int>(rows.size()) != p.last_rows)
    return make_error("cuda engine: sample() got " + std::to_string(rows.size()) + " rows, the last forward has " +
                      std::to_string(p.last_rows));
  if (rows.empty()) return std::vector<std::int32_t>{};
  std::copy(rows.begin(), rows.end(), p.sample_h.p);
  KAIROS_CUDA_TRY(cudaMemcpyAsync(p.sample_d.p, p.sample_h.p, rows.size() * sizeof(kernels::sample_row),
                                  cudaMemcpyHostToDevice, p.stream));
  KAIROS_CUDA_TRY(kernels::sample_tokens({p.logits.p, p.sample_d.p, p.tokens_d.p, static_cast<int>(rows.size()),
                                          p.cfg.vocab_size},
                                         p.stream));
  KAIROS_CUDA_TRY(cudaMemcpyAsync(p.tokens_h.p, p.tokens_d.p, rows.size() * sizeof(std::int32_t),
                                  cudaMemcpyDeviceToHost, p.stream));
  KAIROS_CUDA_TRY(cudaStreamSynchronize(p.stream));
  return std::vector<std::int32_t>(p.tokens_h.p, p.tokens_h.p + rows.size());
}

}  // namespace kairos::cuda

// -- KV hand-off --

namespace kairos::cuda {

namespace {

// Copies a sequence's blocks between the cache and a packed buffer, one
// cudaMemcpy2DAsync per run of consecutive block ids (rows = layers), so a
// freshly allocated sequence costs two copies instead of 2 x layers x blocks.
// Pitches past the device's limit fall back to one copy per layer.
status copy_blocks(std::span<const std::int32_t> blocks, bf16* cache, std::size_t layer_elems, int n_layers,
                   std::size_t block_elems, bf16* packed, bool to_packed, int device, cudaStream_t stream) {
  int max_pitch = 0;
  KAIROS_CUDA_TRY(cudaDeviceGetAttribute(&max_pitch, cudaDevAttrMaxPitch, device));
  const std::size_t bb = block_elems * sizeof(bf16);
  const std::size_t nb = blocks.size();
  const std::size_t cache_pitch = layer_elems * sizeof(bf16), packed_pitch = nb * bb;
  const bool two_d = cache_pitch <= static_cast<std::size_t>(max_pitch) && packed_pitch <= static_cast<std::size_t>(max_pitch);
  for (std::size_t j = 0; j < nb;) {
    std::size_t run = 1;
    while (j + run < nb && blocks[j + run] == blocks[j] + static_cast<std::int32_t>(run)) ++run;
    char* c = reinterpret_cast<char*>(cache) + static_cast<std::size_t>(blocks[j]) * bb;
    char* q = reinterpret_cast<char*>(packed) + j * bb;
    if (two_d) {
      if (to_packed)
        KAIROS_CUDA_TRY(cudaMemcpy2DAsync(q, packed_pitch, c, cache_pitch, run * bb, n_layers, cudaMemcpyDeviceToDevice, stream));
      else
        KAIROS_CUDA_TRY(cudaMemcpy2DAsync(c, cache_pitch, q, packed_pitch, run * bb, n_layers, cudaMemcpyDeviceToDevice, stream));
    } else {
      for (int l = 0; l < n_layers; ++l) {
        char* cl = c + l * cache_pitch;
        char* ql = q + l * packed_pitch;
        KAIROS_CUDA_TRY(cudaMemcpyAsync(to_packed ? ql : cl, to_packed ? cl : ql, run * bb, cudaMemcpyDeviceToDevice, stream));
      }
    }
    j += run;
  }
  return {};
}

// A sequence's K then V blocks to or from the packed layout of
// kv_packed_bytes(): [K: layers x blocks][V: layers x blocks].
status copy_kv_blocks(std::span<const std::int32_t> blocks, bf16* k_cache, bf16* v_cache, std::size_t layer_elems,
                      int n_layers, std::size_t block_elems, bf16* packed, bool to_packed, int device, cudaStream_t stream) {
  KAIROS_TRY_STATUS(copy_blocks(blocks, k_cache, layer_elems, n_layers, block_elems, packed, to_packed, device, stream));
  return copy_blocks(blocks, v_cache, layer_elems, n_layers, block_elems, packed + blocks.size() * n_layers * block_elems,
                     to_packed, device, stream);
}

}  // namespace

std::size_t cuda_engine::kv_packed_bytes(int n_tokens) const {
  const auto& p = *p_;
  const std::size_t n_blk = static_cast<std::size_t>((n_tokens + p.opts.block_size - 1) / p.opts.block_size);
  return 2 * n_blk * p.cfg.n_layers * static_cast<std::size_t>(p.opts.block_size) * p.kv_dim * sizeof(bf16);
}

status cuda_engine::export_sequence(seq_id s, void* dst) {
  auto& p = *p_;
  if (p.device_failed) return make_error("cuda engine: device error earlier: the engine is unusable");
  if (!p.table.contains(s)) return make_error("cuda engine: export of unknown sequence " + std::to_string(s));
  const auto blocks = p.table.blocks(s);
  const std::size_t block_elems = static_cast<std::size_t>(p.opts.block_size) * p.kv_dim;
  status st = copy_kv_blocks(blocks, p.k_cache.p, p.v_cache.p, p.layer_kv_elems, p.cfg.n_layers, block_elems,
                             static_cast<bf16*>(dst), true, p.opts.device, p.stream);
  if (!st) p.device_failed = true;
  return st;
}

forward_status cuda_engine::import_sequence(seq_id s, int n_tokens, const void* src, std::string* why) {
  auto& p = *p_;
  auto fail = [&](forward_status fs, std::string msg) {
    if (why) *why = std::move(msg);
    return fs;
  };
  if (p.device_failed) return fail(forward_status::invalid_batch, "device error earlier: the engine is unusable");
  if (p.table.contains(s)) return fail(forward_status::invalid_batch, "sequence " + std::to_string(s) + " is already resident");
  if (n_tokens < 1 || n_tokens > p.max_seq_len)
    return fail(forward_status::invalid_batch, std::to_string(n_tokens) + " tokens: outside [1, " +
                                                   std::to_string(p.max_seq_len) + "]");
  const kv_append one{s, n_tokens};
  if (auto ks = p.table.prepare(std::span<const kv_append>(&one, 1), p.plan); ks != kv_status::ok)
    return fail(ks == kv_status::out_of_blocks ? forward_status::kv_exhausted : forward_status::invalid_batch,
                std::string("KV reservation: ") + kv_status_name(ks) + " (" + std::to_string(p.table.n_free()) +
                    " free blocks)");
  p.table.apply(p.plan);
  const auto blocks = p.table.blocks(s);
  const std::size_t block_elems = static_cast<std::size_t>(p.opts.block_size) * p.kv_dim;
  // Only read from: copy_blocks takes one pointer for both directions.
  status st = copy_kv_blocks(blocks, p.k_cache.p, p.v_cache.p, p.layer_kv_elems, p.cfg.n_layers, block_elems,
                             const_cast<bf16*>(static_cast<const bf16*>(src)), false, p.opts.device, p.stream);
  if (!st) {
    p.device_failed = true;
    return fail(forward_status::invalid_batch, "device error: " + st.message());
  }
  return forward_status::ok;
}

}  // namespace kairos::cuda
