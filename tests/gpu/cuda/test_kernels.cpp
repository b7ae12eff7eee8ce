// Every CUDA kernel against a float64 CPU reference on fresh random inputs
// (bf16 storage: tolerance 1e-2 relative L2). Outputs are poisoned (NaN)
// before each launch, so an element the kernel forgot fails the check.
// Exits 77 without a GPU.
#include <algorithm>
#include <numeric>

#include "gpu/cuda/cuda_gemm.hpp"
#include "gpu/cuda/kernels/decode_attention.cuh"
#include "gpu/cuda/kernels/layer_ops.cuh"
#include "gpu/cuda/kernels/prefill_attention.cuh"
#include "gpu/cuda/kernels/random_fill.cuh"
#include "gpu/cuda/kernels/sampling.cuh"
#include "gpu/engine/rope_table.hpp"
#include "tests/gpu/cuda/cuda_test_support.hpp"

using namespace kairos;
using namespace kairos::cuda;
using namespace kairos::cuda::test;
namespace k = kairos::cuda::kernels;

namespace {

constexpr double kTol = 1e-2;

void test_embedding() {
  std::printf("embedding_lookup\n");
  const int V = 100, E = 64, T = 37;
  auto table = round_bf16(randn(static_cast<std::size_t>(V) * E));
  std::vector<std::int32_t> ids(T);
  for (auto& i : ids) i = static_cast<int>(rng()() % V);
  dbuf<std::uint16_t> dt(to_bf16(table));
  dbuf<std::int32_t> di(ids);
  dbuf<float> dx(static_cast<std::size_t>(T) * E);
  dx.poison();
  KCUDA(k::embedding_lookup({di.p, bfp(dt), dx.p, T, E}, nullptr));
  auto x = dx.down();
  std::vector<double> out(x.begin(), x.end()), ref(out.size());
  for (int t = 0; t < T; ++t)
    for (int e = 0; e < E; ++e) ref[static_cast<std::size_t>(t) * E + e] = table[static_cast<std::size_t>(ids[t]) * E + e];
  KCLOSE(out, ref, 0.0, "embedding (exact)");
}

void test_add_rmsnorm(int E) {
  std::printf("add_rmsnorm E=%d\n", E);
  const int T = 19;
  const float eps = 1e-5f;
  auto x = randn(static_cast<std::size_t>(T) * E);
  auto d = round_bf16(randn(x.size(), 0.5f));
  auto w = randn(E, 0.3f);
  for (auto& v : w) v += 1.f;
  std::vector<std::int32_t> rows = {3, 0, 18, 7};
  auto ref_norm = [&](const std::vector<double>& v, int r) {
    double ss = 0;
    for (int e = 0; e < E; ++e) ss += v[static_cast<std::size_t>(r) * E + e] * v[static_cast<std::size_t>(r) * E + e];
    const double inv = 1.0 / std::sqrt(ss / E + eps);
    std::vector<double> o(E);
    for (int e = 0; e < E; ++e) o[e] = v[static_cast<std::size_t>(r) * E + e] * inv * w[e];
    return o;
  };
  std::vector<double> sum(x.size()), plain(x.begin(), x.end());
  for (std::size_t i = 0; i < x.size(); ++i) sum[i] = static_cast<double>(x[i]) + d[i];
  dbuf<float> dw(w);
  dbuf<std::uint16_t> dd(to_bf16(d)), dout(x.size());
  for (int mode = 0; mode < 3; ++mode) {  // 0: no delta; 1: delta, in place; 2: delta, gathered rows
    dbuf<float> dx(x);
    dout.poison();
    const bool gather = mode == 2;
    const int n_rows = gather ? static_cast<int>(rows.size()) : T;
    dbuf<std::int32_t> dr(rows);
    KCUDA(k::add_rmsnorm({dx.p, mode == 0 ? nullptr : bfp(dd), dw.p, bfp(dout), gather ? dr.p : nullptr, n_rows, E, eps},
                         nullptr));
    auto o = bf16_to_double(dout.down());
    o.resize(static_cast<std::size_t>(n_rows) * E);
    std::vector<double> ref;
    for (int r = 0; r < n_rows; ++r) {
      auto rr = ref_norm(mode == 0 ? plain : sum, gather ? rows[r] : r);
      ref.insert(ref.end(), rr.begin(), rr.end());
    }
    KCLOSE(o, ref, kTol, "add_rmsnorm mode " + std::to_string(mode) + " out");
    auto xr = dx.down();
    std::vector<double> xo(xr.begin(), xr.end());
    KCLOSE(xo, mode == 1 ? sum : plain, 1e-6, "add_rmsnorm mode " + std::to_string(mode) + " residual");
  }
}

void test_swiglu() {
  std::printf("swiglu\n");
  const int T = 13, F = 344;
  auto gu = round_bf16(randn(static_cast<std::size_t>(T) * 2 * F, 2.f));
  dbuf<std::uint16_t> dg(to_bf16(gu)), dout(static_cast<std::size_t>(T) * F);
  dout.poison();
  KCUDA(k::swiglu({bfp(dg), bfp(dout), T, F}, nullptr));
  auto o = bf16_to_double(dout.down());
  std::vector<double> ref(o.size());
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < F; ++i) {
      const double g = gu[static_cast<std::size_t>(t) * 2 * F + i], u = gu[static_cast<std::size_t>(t) * 2 * F + F + i];
      ref[static_cast<std::size_t>(t) * F + i] = g / (1 + std::exp(-g)) * u;
    }
  KCLOSE(o, ref, kTol, "swiglu");
}

void test_rope_kv(bool bias, bool llama3) {
  std::printf("rope_kv_append bias=%d llama3=%d\n", bias, llama3);
  model_config cfg;
  cfg.n_heads = 4;
  cfg.n_kv_heads = 2;
  cfg.head_dim = 64;
  cfg.rope_theta = llama3 ? 500000.f : 10000.f;
  if (llama3) {
    cfg.rope_scaling.llama3 = true;
    cfg.rope_scaling.factor = 8.f;
    cfg.rope_scaling.original_max_position = 64;
  }
  const int H = 4, KV = 2, D = 64, bs = 16, n_blocks = 8, n_pos = 128, T = 21;
  const int qkv_dim = (H + 2 * KV) * D;
  rope_table table(cfg, n_pos);
  const auto inv = rope_table::inverse_frequencies(cfg);
  std::vector<float> cs(static_cast<std::size_t>(n_pos) * D / 2), sn(cs.size());
  for (int p = 0; p < n_pos; ++p)
    for (int i = 0; i < D / 2; ++i) {
      cs[static_cast<std::size_t>(p) * D / 2 + i] = table.cos_at(p)[i];
      sn[static_cast<std::size_t>(p) * D / 2 + i] = table.sin_at(p)[i];
    }
  auto qkv = round_bf16(randn(static_cast<std::size_t>(T) * qkv_dim));
  auto b = randn(qkv_dim, 0.5f);
  std::vector<std::int32_t> pos(T), slots(T);
  std::vector<int> all(n_blocks * bs);
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng());
  for (int t = 0; t < T; ++t) {
    pos[t] = static_cast<int>(rng()() % n_pos);
    slots[t] = t == 5 ? -1 : all[t];  // one padding token: stores nothing
  }
  const std::size_t cache_n = static_cast<std::size_t>(n_blocks) * KV * bs * D;
  dbuf<std::uint16_t> dq(to_bf16(qkv)), dk(cache_n), dv(cache_n);
  dbuf<float> db(b), dc(cs), ds(sn);
  dbuf<std::int32_t> dp(pos), dsl(slots);
  dk.poison();
  dv.poison();
  k::rope_kv_params p;
  p.qkv = bfp(dq);
  p.qkv_stride = qkv_dim;
  p.bias = bias ? db.p : nullptr;
  p.cos = dc.p;
  p.sin = ds.p;
  p.positions = dp.p;
  p.slots = dsl.p;
  p.k_cache = bfp(dk);
  p.v_cache = bfp(dv);
  p.n_tokens = T;
  p.n_heads = H;
  p.n_kv_heads = KV;
  p.head_dim = D;
  p.block_size = bs;
  KCUDA(k::rope_kv_append(p, nullptr));
  auto oq = bf16_to_double(dq.down());
  auto ok = bf16_to_double(dk.down()), ov = bf16_to_double(dv.down());
  std::vector<double> ref(oq.size()), kout, kref, vout, vref;
  for (int t = 0; t < T; ++t) {
    std::vector<double> row(qkv_dim);
    for (int e = 0; e < qkv_dim; ++e)
      row[e] = qkv[static_cast<std::size_t>(t) * qkv_dim + e] + (bias ? static_cast<double>(b[e]) : 0.0);
    for (int h = 0; h < H + KV; ++h)
      for (int i = 0; i < D / 2; ++i) {  // angles in float64 from the frequencies, not the table
        const double a = pos[t] * inv[i], x0 = row[h * D + i], x1 = row[h * D + i + D / 2];
        row[h * D + i] = x0 * std::cos(a) - x1 * std::sin(a);
        row[h * D + i + D / 2] = x1 * std::cos(a) + x0 * std::sin(a);
      }
    for (int e = 0; e < qkv_dim; ++e) ref[static_cast<std::size_t>(t) * qkv_dim + e] = row[e];
    if (slots[t] < 0) continue;
    const int blk = slots[t] / bs, r = slots[t] % bs;
    for (int g = 0; g < KV; ++g)
      for (int d = 0; d < D; ++d) {
        const std::size_t c = ((static_cast<std::size_t>(blk) * KV + g) * bs + r) * D + d;
        kout.push_back(ok[c]);
        kref.push_back(row[H * D + g * D + d]);
        vout.push_back(ov[c]);
        vref.push_back(row[(H + KV) * D + g * D + d]);
      }
  }
  if (!bias)  // without bias the V part of qkv is left as it was
    for (int t = 0; t < T; ++t)
      for (int e = (H + KV) * D; e < qkv_dim; ++e)
        ref[static_cast<std::size_t>(t) * qkv_dim + e] = qkv[static_cast<std::size_t>(t) * qkv_dim + e];
  KCLOSE(oq, ref, kTol, "rope: q/k rotated in place");
  KCLOSE(kout, kref, kTol, "rope: K in its cache slot");
  KCLOSE(vout, vref, kTol, "rope: V in its cache slot");
  // Slots nobody wrote stay poisoned (NaN): exactly T-1 tokens were stored.
  std::size_t written = 0;
  for (double x : ok) written += std::isfinite(x) ? 1 : 0;
  KCHECK(written == static_cast<std::size_t>(T - 1) * KV * D, "rope: K written only in the given slots");
}

// Paged K/V cache with shuffled blocks, for the attention tests.
struct paged_cache {
  int KV, D, bs, n_blocks, max_blocks;
  std::vector<float> k, v;                      // [n_blocks, KV, bs, D], bf16-rounded
  std::vector<std::vector<std::int32_t>> tables;  // per sequence
  paged_cache(int kv, int d, int block, const std::vector<int>& lens) : KV(kv), D(d), bs(block) {
    max_blocks = 1;
    int total = 0;
    for (int l : lens) {
      max_blocks = std::max(max_blocks, (l + bs - 1) / bs);
      total += (l + bs - 1) / bs;
    }
    n_blocks = total + 3;
    std::vector<int> ids(n_blocks);
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng());
    int next = 0;
    for (int l : lens) {
      std::vector<std::int32_t> t(max_blocks, 0);
      for (int b = 0; b < (l + bs - 1) / bs; ++b) t[b] = ids[next++];
      tables.push_back(t);
    }
    k = round_bf16(randn(static_cast<std::size_t>(n_blocks) * KV * bs * D));
    v = round_bf16(randn(k.size()));
  }
  std::size_t at(int seq, int key, int g) const {
    return ((static_cast<std::size_t>(tables[seq][key / bs]) * KV + g) * bs + key % bs) * D;
  }
  std::vector<std::int32_t> flat_tables() const {
    std::vector<std::int32_t> f;
    for (auto& t : tables) f.insert(f.end(), t.begin(), t.end());
    return f;
  }
};

// Softmax attention of one query row over keys 0..n-1 of seq, float64.
std::vector<double> ref_attend(const paged_cache& c, int seq, int g, const float* q, int n, double scale) {
  std::vector<double> s(n), o(c.D, 0.0);
  double mx = -INFINITY;
  for (int j = 0; j < n; ++j) {
    double a = 0;
    const std::size_t off = c.at(seq, j, g);
    for (int d = 0; d < c.D; ++d) a += static_cast<double>(q[d]) * c.k[off + d];
    s[j] = a * scale;
    mx = std::max(mx, s[j]);
  }
  double z = 0;
  for (int j = 0; j < n; ++j) z += (s[j] = std::exp(s[j] - mx));
  for (int j = 0; j < n; ++j) {
    const std::size_t off = c.at(seq, j, g);
    for (int d = 0; d < c.D; ++d) o[d] += s[j] / z * c.v[off + d];
  }
  return o;
}

void test_decode_attention(int D, int G, int KV, int n_sms) {
  std::printf("decode_attention D=%d group=%d kv_heads=%d n_sms=%d\n", D, G, KV, n_sms);
  const int H = G * KV, bs = 16;
  std::vector<int> lens = {1, 700, 0, 129, 33, 517};  // 0: a padding row
  const int S = static_cast<int>(lens.size());
  paged_cache c(KV, D, bs, lens);
  const int q_stride = H * D + 24, out_stride = H * D + 8;  // strided rows, as in the engine
  std::vector<std::int32_t> rows(S);
  for (int s = 0; s < S; ++s) rows[s] = S - 1 - s;  // rows need not follow the sequence order
  auto q = round_bf16(randn(static_cast<std::size_t>(S) * q_stride));
  const int max_ctx = *std::max_element(lens.begin(), lens.end());
  const auto plan = k::plan_decode_attention(S, H, KV, D, max_ctx, n_sms);
  std::printf("  plan: %d splits of %d keys\n", plan.n_splits, plan.partition_size);
  dbuf<std::uint16_t> dk(to_bf16(c.k)), dv(to_bf16(c.v)), dq(to_bf16(q)), dout(static_cast<std::size_t>(S) * out_stride);
  dbuf<std::int32_t> dt(c.flat_tables()), dl(lens), dr(rows);
  dbuf<float> ws(std::max<std::size_t>(plan.workspace_floats, 1));
  dout.poison();
  ws.poison();
  k::decode_attention_params p;
  p.q = bfp(dq);
  p.q_stride = q_stride;
  p.k_cache = bfp(dk);
  p.v_cache = bfp(dv);
  p.block_tables = dt.p;
  p.max_blocks_per_seq = c.max_blocks;
  p.seq_lens = dl.p;
  p.rows = dr.p;
  p.out = bfp(dout);
  p.out_stride = out_stride;
  p.workspace = ws.p;
  p.n_seqs = S;
  p.n_heads = H;
  p.n_kv_heads = KV;
  p.head_dim = D;
  p.block_size = bs;
  p.scale = 1.f / std::sqrt(static_cast<float>(D));
  KCUDA(k::decode_attention(p, plan, nullptr));
  auto o = bf16_to_double(dout.down());
  std::vector<double> out, ref;
  for (int s = 0; s < S; ++s)
    for (int h = 0; h < H; ++h) {
      const float* qh = q.data() + static_cast<std::size_t>(rows[s]) * q_stride + h * D;
      auto r = lens[s] > 0 ? ref_attend(c, s, h / G, qh, lens[s], p.scale) : std::vector<double>(D, 0.0);
      for (int d = 0; d < D; ++d) {
        out.push_back(o[static_cast<std::size_t>(rows[s]) * out_stride + h * D + d]);
        ref.push_back(r[d]);
      }
    }
  KCLOSE(out, ref, kTol, "decode attention (zeros for the padding row)");
}

void test_prefill_attention(int D, int G, int KV) {
  std::printf("prefill_attention D=%d group=%d kv_heads=%d\n", D, G, KV);
  const int H = G * KV, bs = 16;
  // (prior context, new tokens): a fresh prompt, a chunk after a prefix, a
  // short one, and one that is not a multiple of any tile.
  std::vector<std::pair<int, int>> seqs = {{0, 100}, {37, 50}, {0, 5}, {130, 77}};
  std::vector<int> lens;
  for (auto [a, n] : seqs) lens.push_back(a + n);
  paged_cache c(KV, D, bs, lens);
  int T = 0;
  std::vector<k::prefill_span> spans;
  for (int s = 0; s < static_cast<int>(seqs.size()); ++s) {
    spans.push_back({s, T, seqs[s].second, seqs[s].first});
    T += seqs[s].second;
  }
  std::vector<k::prefill_tile> tiles;
  k::plan_prefill_tiles(spans.data(), static_cast<int>(spans.size()), G, tiles);
  const int q_stride = (H + 2 * KV) * D, out_stride = H * D;
  auto q = round_bf16(randn(static_cast<std::size_t>(T) * q_stride));
  dbuf<std::uint16_t> dk(to_bf16(c.k)), dv(to_bf16(c.v)), dq(to_bf16(q)), dout(static_cast<std::size_t>(T) * out_stride);
  dbuf<std::int32_t> dt(c.flat_tables());
  dbuf<k::prefill_tile> dtiles(tiles);
  dout.poison();
  k::prefill_attention_params p;
  p.q = bfp(dq);
  p.q_stride = q_stride;
  p.k_cache = bfp(dk);
  p.v_cache = bfp(dv);
  p.block_tables = dt.p;
  p.max_blocks_per_seq = c.max_blocks;
  p.tiles = dtiles.p;
  p.n_tiles = static_cast<int>(tiles.size());
  p.out = bfp(dout);
  p.out_stride = out_stride;
  p.n_heads = H;
  p.n_kv_heads = KV;
  p.head_dim = D;
  p.block_size = bs;
  p.scale = 1.f / std::sqrt(static_cast<float>(D));
  KCUDA(k::prefill_attention(p, nullptr));
  auto o = bf16_to_double(dout.down());
  std::vector<double> ref(o.size());
  for (auto& sp : spans)
    for (int j = 0; j < sp.n_tokens; ++j)
      for (int h = 0; h < H; ++h) {
        const int t = sp.token0 + j;
        auto r = ref_attend(c, sp.seq, h / G, q.data() + static_cast<std::size_t>(t) * q_stride + h * D, sp.pos0 + j + 1,
                            p.scale);
        for (int d = 0; d < D; ++d) ref[static_cast<std::size_t>(t) * out_stride + h * D + d] = r[d];
      }
  KCLOSE(o, ref, kTol, "prefill attention (ragged, causal, with prefix)");
}

void test_gemm() {
  std::printf("gemm (cuBLAS bf16, fp32 accumulate)\n");
  const int m = 37, n = 96, kk = 200;
  auto x = round_bf16(randn(static_cast<std::size_t>(m) * kk));
  auto w = round_bf16(randn(static_cast<std::size_t>(n) * kk));
  auto y0 = randn(static_cast<std::size_t>(m) * n);
  cudaStream_t st;
  KCUDA(cudaStreamCreate(&st));
  auto g = gemm_runner::create(st);
  KCHECK(g.ok(), g.ok() ? "" : g.message());
  if (!g) return;
  dbuf<std::uint16_t> dx(to_bf16(x)), dw(to_bf16(w)), dy(static_cast<std::size_t>(m) * n);
  dbuf<float> dyf(y0);
  dy.poison();
  KCHECK((*g)->run(dx.p, dw.p, dy.p, gemm_out::bf16, m, n, kk).ok(), "gemm bf16");
  KCHECK((*g)->run(dx.p, dw.p, dyf.p, gemm_out::f32, m, n, kk, 1.f).ok(), "gemm f32 accumulate");
  KCUDA(cudaStreamSynchronize(st));
  std::vector<double> ref(static_cast<std::size_t>(m) * n), ref_acc(ref.size());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double a = 0;
      for (int t = 0; t < kk; ++t) a += static_cast<double>(x[static_cast<std::size_t>(i) * kk + t]) * w[static_cast<std::size_t>(j) * kk + t];
      ref[static_cast<std::size_t>(i) * n + j] = a;
      ref_acc[static_cast<std::size_t>(i) * n + j] = a + y0[static_cast<std::size_t>(i) * n + j];
    }
  KCLOSE(bf16_to_double(dy.down()), ref, kTol, "gemm y = x w^T (bf16 out)");
  auto yf = dyf.down();
  KCLOSE(std::vector<double>(yf.begin(), yf.end()), ref_acc, 1e-4, "gemm y += x w^T (fp32 out)");
  g->reset();
  cudaStreamDestroy(st);
}

void test_sampling() {
  std::printf("sample_tokens\n");
  const int V = 1000, R = 8;
  auto l = randn(static_cast<std::size_t>(R) * V, 2.f);
  l[3 * V + 10] = l[3 * V + 20] = 50.f;  // a tie: argmax takes the lower index
  std::vector<k::sample_row> rows(R);
  rows[0] = {0.f, 0, 1.f, 1, 0};     // greedy
  rows[1] = {1.f, 1, 1.f, 2, 0};     // top-k 1 = greedy
  rows[2] = {0.8f, 20, 1.f, 3, 7};   // top-k
  rows[3] = {0.f, 0, 1.f, 4, 0};     // greedy with a tie
  rows[4] = {1.f, 0, 0.5f, 5, 1};    // top-p
  rows[5] = {0.7f, 50, 0.8f, 6, 2};  // both: top-p of what top-k kept
  rows[6] = {1.f, 0, 0.f, 7, 3};     // top-p 0: the most likely token, not none
  rows[7] = {2.f, 3, 0.3f, 8, 4};    // both, where top-p of the whole vocabulary would keep more
  dbuf<float> dl(l);
  dbuf<k::sample_row> dr(rows);
  dbuf<std::int32_t> dt(R);
  KCUDA(k::sample_tokens({dl.p, dr.p, dt.p, R, V}, nullptr));
  auto tok = dt.down();
  auto argmax = [&](int r) {
    return static_cast<int>(std::max_element(l.begin() + static_cast<long>(r) * V, l.begin() + static_cast<long>(r + 1) * V) -
                            (l.begin() + static_cast<long>(r) * V));
  };
  // The kept set of a row, by sorting: top-k, then the smallest prefix of
  // those with mass >= top_p of theirs (the CPU sampler's convention).
  auto kept = [&](int r) {
    const auto& s = rows[r];
    std::vector<int> idx(V);
    std::iota(idx.begin(), idx.end(), 0);
    const float* row = l.data() + static_cast<std::size_t>(r) * V;
    std::sort(idx.begin(), idx.end(), [&](int a, int b) { return row[a] > row[b]; });
    const double mx = row[idx[0]];
    int n = s.top_k > 0 ? std::min(s.top_k, V) : V;
    if (s.top_p < 1.f) {
      double z = 0, m = 0;
      for (int i = 0; i < n; ++i) z += std::exp((row[idx[i]] - mx) / s.temperature);
      for (int i = 0; i < n; ++i) {
        m += std::exp((row[idx[i]] - mx) / s.temperature) / z;
        if (m >= s.top_p) {
          n = i + 1;
          break;
        }
      }
    }
    return std::vector<int>(idx.begin(), idx.begin() + n);
  };
  KCHECK(tok[0] == argmax(0), "greedy = argmax");
  KCHECK(tok[1] == argmax(1), "top-k 1 = argmax");
  KCHECK(tok[3] == 10, "greedy tie goes to the lower index");
  KCHECK(tok[6] == argmax(6), "top-p 0 keeps the most likely token");
  // The Gumbel draw's uniform is strictly inside (0, 1): 2^25 draws reach its
  // top cell about 4 times (24 random bits rounded that cell to 1.0: +inf).
  {
    float lo = 1.f, hi = 0.f;
    for (int t = 0; t < (1 << 25); ++t) {
      const float u = k::sample_uniform_host(99, 5, t);
      lo = std::min(lo, u);
      hi = std::max(hi, u);
    }
    KCHECK(lo > 0.f && hi < 1.f, "uniform draws in (0, 1): min " + std::to_string(lo) + ", max " + std::to_string(1.0 - hi) + " below 1");
  }
  for (int r : {2, 4, 5, 7}) {
    auto ks = kept(r);
    KCHECK(std::find(ks.begin(), ks.end(), tok[r]) != ks.end(),
           "row " + std::to_string(r) + ": sampled token in the top-k/top-p set (size " + std::to_string(ks.size()) + ")");
  }
  // Distribution: 4000 draws of one row (counter = draw) against the
  // renormalised softmax of its top-5.
  const int N = 4000;
  std::vector<float> one(static_cast<std::size_t>(N) * V);
  for (int i = 0; i < N; ++i) std::copy(l.begin() + 2 * V, l.begin() + 3 * V, one.begin() + static_cast<long>(i) * V);
  std::vector<k::sample_row> many(N);
  for (int i = 0; i < N; ++i) many[i] = {1.f, 5, 1.f, 42, static_cast<std::uint64_t>(i)};
  dbuf<float> dl2(one);
  dbuf<k::sample_row> dr2(many);
  dbuf<std::int32_t> dt2(N);
  KCUDA(k::sample_tokens({dl2.p, dr2.p, dt2.p, N, V}, nullptr));
  auto draws = dt2.down();
  rows[2] = {1.f, 5, 1.f, 0, 0};
  auto top5 = kept(2);
  double z = 0;
  for (int t : top5) z += std::exp(l[2 * V + t]);
  double tv = 0;
  int outside = 0;
  for (int t : top5) {
    const double pr = std::exp(l[2 * V + t]) / z;
    const double f = static_cast<double>(std::count(draws.begin(), draws.end(), t)) / N;
    tv += std::fabs(pr - f) / 2;
  }
  for (int t : draws) outside += std::find(top5.begin(), top5.end(), t) == top5.end() ? 1 : 0;
  std::printf("  top-5 sampling: total variation %.4f over %d draws, %d outside the set\n", tv, N, outside);
  KCHECK(outside == 0 && tv < 0.04, "top-5 draws follow the renormalised softmax");
}

void test_random_fill() {
  std::printf("fill_normal_bf16\n");
  const std::size_t n = 1 << 20;
  dbuf<std::uint16_t> d(n);
  KCUDA(k::fill_normal_bf16(bfp(d), n, 123, 0.02f, nullptr));
  auto v = bf16_to_double(d.down());
  double m = 0, s = 0;
  for (double x : v) m += x;
  m /= n;
  for (double x : v) s += (x - m) * (x - m);
  s = std::sqrt(s / n);
  std::printf("  mean %.2e, std %.5f (want 0, 0.02)\n", m, s);
  KCHECK(std::fabs(m) < 1e-4 && std::fabs(s - 0.02) < 4e-4, "normal(0, 0.02) statistics");
}

}  // namespace

int main() {
  require_device();
  test_embedding();
  test_add_rmsnorm(256);
  test_add_rmsnorm(4096);
  test_swiglu();
  test_rope_kv(false, false);
  test_rope_kv(true, true);
  test_gemm();
  for (int n_sms : {1, 132}) {
    test_decode_attention(128, 4, 2, n_sms);
    test_decode_attention(64, 1, 3, n_sms);
    test_decode_attention(32, 3, 2, n_sms);
    test_decode_attention(16, 2, 2, n_sms);
    test_decode_attention(128, 8, 1, n_sms);
    test_decode_attention(256, 2, 1, n_sms);
    test_decode_attention(128, 7, 4, n_sms);  // Qwen2-7B / Qwen2.5-7B: 28 heads over 4 KV heads
    test_decode_attention(128, 5, 2, n_sms);  // Qwen2.5-32B's group
  }
  test_prefill_attention(128, 4, 2);
  test_prefill_attention(64, 1, 3);
  test_prefill_attention(32, 3, 2);
  test_prefill_attention(16, 2, 2);
  test_prefill_attention(256, 2, 1);
  test_sampling();
  test_random_fill();
  return finish("cuda kernels");
}
