// The CUDA engine against the CPU engine on tiny random models with the same
// BF16 weights: a mixed ragged batch (prompts, a chunked prompt, decode
// steps) must give the same logits within 1e-2 relative L2, and decode steps
// replayed from CUDA graphs must match eager launches. Exits 77 without a GPU.
#include <algorithm>
#include <memory>

#include "gpu/cuda/cuda_engine.hpp"
#include "gpu/engine/cpu_engine.hpp"
#include "gpu/engine/sampler.hpp"
#include "gpu/model/random_weights.hpp"
#include "tests/gpu/cuda/cuda_test_support.hpp"

using namespace kairos;
using namespace kairos::cuda;
using namespace kairos::cuda::test;

namespace {

model_config base_config() {
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
  c.rope_theta = 10000.f;
  return c;
}

struct named_config {
  const char* name;
  model_config cfg;
};

std::vector<named_config> configs() {
  std::vector<named_config> v;
  v.push_back({"MHA, head_dim 16", base_config()});
  {
    auto c = base_config();
    c.vocab_size = 320;
    c.hidden_size = 128;
    c.n_layers = 3;
    c.n_kv_heads = 2;
    c.head_dim = 32;
    c.ffn_size = 352;
    c.rms_eps = 1e-6f;
    c.tie_embeddings = true;
    v.push_back({"GQA 4/2, tied embeddings", c});
  }
  {
    auto c = base_config();
    c.architecture = "qwen2";
    c.vocab_size = 384;
    c.hidden_size = 96;
    c.n_heads = 6;
    c.n_kv_heads = 2;
    c.head_dim = 32;
    c.ffn_size = 288;
    c.rope_theta = 1e6f;
    c.qkv_bias = true;
    v.push_back({"Qwen2 qkv bias, GQA 6/2", c});
  }
  {
    auto c = base_config();
    c.vocab_size = 512;
    c.hidden_size = 256;
    c.n_heads = 8;
    c.n_kv_heads = 2;
    c.head_dim = 128;  // the Llama-3 8B head shape: group 4, head_dim 128
    c.ffn_size = 512;
    c.max_position = 512;
    c.rope_theta = 500000.f;
    c.rope_scaling.llama3 = true;
    c.rope_scaling.factor = 8.f;
    c.rope_scaling.original_max_position = 64;
    v.push_back({"Llama-3 RoPE scaling, GQA 8/2, head_dim 128", c});
  }
  return v;
}

std::vector<double> as_double(std::span<const float> s) { return std::vector<double>(s.begin(), s.end()); }
// Every logits row, back to back (the CPU engine may pad its rows).
std::vector<double> as_double(const forward_result& r) {
  std::vector<double> out;
  for (std::size_t i = 0; i < r.n_rows(); ++i) {
    const auto row = r.logits(static_cast<int>(i));
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

std::vector<std::int32_t> prompt(int n, int vocab) {
  std::vector<std::int32_t> t(n);
  for (auto& x : t) x = static_cast<std::int32_t>(rng()() % vocab);
  return t;
}

// Runs the same schedule on the CPU and CUDA engines and compares logits at
// every step. The next token of each sequence is the CPU's argmax, fed to both.
void compare_with_cpu(const named_config& nc) {
  std::printf("%s\n", nc.name);
  const auto& cfg = nc.cfg;
  auto store = make_random_tensor_store(cfg, dtype::bf16, rng()());
  KCHECK(store.ok(), "random model");
  if (!store) return;
  engine_options co;
  co.max_batch_tokens = 256;
  co.max_logit_rows = 16;
  auto cpu = cpu_engine::create(cfg, *store, co);
  cuda_engine_options go;
  go.max_batch_tokens = 256;
  go.max_logit_rows = 16;
  go.cuda_graphs = false;
  auto gpu = cuda_engine::create(cfg, *store, go);
  KCHECK(cpu.ok() && gpu.ok(), std::string("engines: ") + (cpu.ok() ? "" : cpu.message()) + (gpu.ok() ? "" : gpu.message()));
  if (!cpu || !gpu) return;

  auto p1 = prompt(40, cfg.vocab_size), p2 = prompt(7, cfg.vocab_size), p3 = prompt(1, cfg.vocab_size);
  auto p4 = prompt(30, cfg.vocab_size);
  std::vector<std::int32_t> p4a(p4.begin(), p4.begin() + 20), p4b(p4.begin() + 20, p4.end());
  // step 0: three prompts (one of a single token) and the first chunk of a
  // fourth that wants no logits yet.
  std::vector<batch_sequence> b0 = {{1, p1, true}, {2, p2, true}, {3, p3, true}, {4, p4a, false}};
  auto step = [&](std::vector<batch_sequence>& b, const std::string& what) {
    auto rc = (*cpu)->forward(b);
    auto rg = (*gpu)->forward(b);
    KCHECK(rc.status == forward_status::ok && rg.status == forward_status::ok, what + ": " + rc.message + rg.message);
    if (rc.status != forward_status::ok || rg.status != forward_status::ok) return std::vector<std::int32_t>{};
    KCLOSE(as_double(rg), as_double(rc), 1e-2, what);
    std::vector<std::int32_t> next;
    for (std::size_t i = 0; i < rc.n_rows(); ++i) next.push_back(argmax(rc.logits(static_cast<int>(i))));
    return next;
  };
  auto n0 = step(b0, "mixed prefill (4 prompts, one chunked)");
  if (n0.size() != 3) return;
  // steps 1..6: decodes of 1-3, with the second chunk of 4 in step 1.
  std::vector<std::int32_t> t1{n0[0]}, t2{n0[1]}, t3{n0[2]}, t4{0};
  for (int s = 1; s <= 6; ++s) {
    std::vector<batch_sequence> b = {{1, t1, true}, {2, t2, true}, {3, t3, true}};
    if (s == 1) b.push_back({4, p4b, true});
    if (s > 1) b.push_back({4, t4, true});
    auto n = step(b, "step " + std::to_string(s) + (s == 1 ? " (decodes + prompt chunk)" : " (decodes)"));
    if (n.size() != 4) return;
    t1 = {n[0]};
    t2 = {n[1]};
    t3 = {n[2]};
    t4 = {n[3]};
  }
  // A sequence freed on both sides gives its blocks back.
  (*cpu)->free_sequence(2);
  (*gpu)->free_sequence(2);
  KCHECK((*gpu)->kv_table().n_free() == (*cpu)->kv_table().n_free(), "free_sequence returns the same blocks");
}

// The same decode steps through graph replay and through eager launches.
void graphs_match_eager() {
  std::printf("CUDA graphs: replay vs eager\n");
  auto cfg = configs()[3].cfg;
  auto store = make_random_tensor_store(cfg, dtype::bf16, rng()());
  if (!store) return;
  cuda_engine_options go;
  go.max_batch_tokens = 256;
  go.max_logit_rows = 16;
  go.cuda_graphs = true;
  auto ge = cuda_engine::create(cfg, *store, go);
  go.cuda_graphs = false;
  auto ee = cuda_engine::create(cfg, *store, go);
  KCHECK(ge.ok() && ee.ok(), "engines");
  if (!ge || !ee) return;
  const int S = 3;  // padded to the bucket of 4
  std::vector<std::vector<std::int32_t>> prompts;
  std::vector<batch_sequence> b;
  for (int s = 0; s < S; ++s) prompts.push_back(prompt(20 + 13 * s, cfg.vocab_size));
  for (int s = 0; s < S; ++s) b.push_back({s, prompts[s], true});
  auto rg = (*ge)->forward(b);
  auto re = (*ee)->forward(b);
  KCLOSE(as_double(rg.logits_rows), as_double(re.logits_rows), 1e-6, "prefill (eager on both): same logits");
  std::vector<std::vector<std::int32_t>> tok(S);
  for (int step = 0; step < 5; ++step) {
    for (int s = 0; s < S; ++s) tok[s] = {argmax(re.logits(s))};
    b.clear();
    for (int s = 0; s < S; ++s) b.push_back({s, tok[s], true});
    rg = (*ge)->forward(b);
    re = (*ee)->forward(b);
    KCHECK(rg.status == forward_status::ok, rg.message);
    // Different attention splits (the graph's is sized for the longest
    // sequence) change only the rounding of bf16 partials: well inside the
    // bf16 tolerance (1e-2), and not a coin toss at 2e-3.
    KCLOSE(as_double(rg.logits_rows), as_double(re.logits_rows), 5e-3, "decode step " + std::to_string(step));
  }
  // Step 0 of the bucket runs eagerly (warm-up), step 1 is captured.
  KCHECK((*ge)->graphs_captured() == 1, "one graph captured (bucket 4), " + std::to_string((*ge)->graphs_captured()));
  // Device sampling on the graph engine's last logits: greedy = host argmax.
  std::vector<kernels::sample_row> rows(S);
  auto drawn = (*ge)->sample(rows);
  KCHECK(drawn.ok(), drawn.ok() ? "" : drawn.message());
  if (drawn)
    for (int s = 0; s < S; ++s) KCHECK((*drawn)[s] == argmax(rg.logits(s)), "device greedy sample = argmax");
}

void random_device_weights() {
  std::printf("create_random (device-generated weights)\n");
  auto cfg = configs()[1].cfg;
  cuda_engine_options go;
  go.max_batch_tokens = 64;
  go.max_logit_rows = 4;
  auto e = cuda_engine::create_random(cfg, 7, go);
  KCHECK(e.ok(), e.ok() ? "" : e.message());
  if (!e) return;
  auto p = prompt(9, cfg.vocab_size);
  std::vector<batch_sequence> b = {{1, p, true}};
  auto r = (*e)->forward(b);
  bool finite = r.status == forward_status::ok && !r.logits_rows.empty();
  for (float x : r.logits_rows) finite = finite && std::isfinite(x);
  KCHECK(finite, "finite logits from random device weights");
}

}  // namespace

int main() {
  require_device();
  for (const auto& nc : configs()) compare_with_cpu(nc);
  graphs_match_eager();
  random_device_weights();
  return finish("cuda engine");
}
