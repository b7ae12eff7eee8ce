// `kairos bench attention`: the CPU engine's paged attention kernel
// (ops::attend_paged_tokens) alone, in the two shapes the engine gives it:
//  - decode: n sequences of one token each against their own scattered K/V
//    blocks, over as many layers of K/V as the model has, so each layer's
//    blocks are cold when its turn comes (as in a decode step), and over one
//    layer repeated (from cache): the kernel's memory cost and compute cost;
//  - prefill: one prompt, causal, in runs of 16 tokens (the engine's work
//    items for a long prompt), longest first over the threads.
// Beside them: the STREAM triad of the same run. Default shape: smollm2-135m
// (3 KV heads, 3 query heads each, head_dim 64, 30 layers).
#include <CLI/CLI.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "gpu/engine/vector_ops.hpp"
#include "gpu/kernels/machine_ceilings.hpp"
#include "gpu/kv/kv_pool.hpp"
#include "gpu/kernels/thread_affinity.hpp"
#include "tools/subcommand.hpp"

namespace {

constexpr int kBlock = 16;  // the engine's KV block size

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct shape {
  int kv_heads, group, head_dim;
  int q_row() const { return kv_heads * group * head_dim; }
};

// The engine's K/V storage (kairos::kv_pool: per block K [kv_heads,
// head_dim, 16] and V [kv_heads, 16, head_dim], on huge pages where the
// kernel gives them), random values, for `layers` layers; each layer's blocks
// handed out in a shuffled order, so a sequence's blocks are scattered as in
// a pool that has been serving for a while.
template <class T>
struct bench_kv {
  shape sh;
  kairos::kv_pool pool;
  std::vector<int> slot;  // the b-th block handed out -> its block in the pool
  bench_kv(shape s, int layers, int blocks, std::mt19937& rng)
      : sh(s),
        pool(kairos::kv_pool_shape{layers, s.kv_heads, s.head_dim, blocks, kBlock,
                                   std::is_same_v<T, float> ? kairos::kv_dtype::f32 : kairos::kv_dtype::f16}) {
    if (!pool.allocated()) throw std::runtime_error("out of memory for the K/V pool");
    std::normal_distribution<float> nd(0.f, 1.f);
    const std::size_t n = pool.shape().elements_per_block();
    std::vector<float> f(n);
    for (int l = 0; l < layers; ++l)
      for (int b = 0; b < blocks; ++b) {
        for (auto& x : f) x = 0.3f * nd(rng);
        store(f, pool.k_block<T>(l, b));
        for (auto& x : f) x = nd(rng);
        store(f, pool.v_block<T>(l, b));
      }
    slot.resize(static_cast<std::size_t>(blocks));
    for (int b = 0; b < blocks; ++b) slot[static_cast<std::size_t>(b)] = b;
    std::shuffle(slot.begin(), slot.end(), rng);
  }
  static void store(const std::vector<float>& f, T* dst) {
    if constexpr (std::is_same_v<T, float>)
      std::copy(f.begin(), f.end(), dst);
    else
      kairos::ops::f32_to_f16(f.data(), dst, static_cast<int>(f.size()));
  }
  const T* k_of(int layer, int b, int head) const {
    return pool.k_block<T>(layer, slot[static_cast<std::size_t>(b)]) + static_cast<std::size_t>(head) * sh.head_dim * kBlock;
  }
  const T* v_of(int layer, int b, int head) const {
    return pool.v_block<T>(layer, slot[static_cast<std::size_t>(b)]) + static_cast<std::size_t>(head) * kBlock * sh.head_dim;
  }
};

struct timing {
  double best, median;
};

template <class F>
timing time_reps(int reps, F&& fn) {
  fn();  // warm-up
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_s();
    fn();
    t.push_back(now_s() - t0);
  }
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

// Decode: n_seq sequences at context ctx; `layers` layers of K/V, each layer
// one parallel pass over the (sequence, KV head) items, split in contiguous
// ranges as the engine splits them. Seconds for all layers.
template <class T>
timing bench_decode(shape sh, int n_seq, int ctx, int layers, int reps, int threads, std::mt19937& rng) {
  const int nblk = (ctx + kBlock - 1) / kBlock;
  const bench_kv<T> kv(sh, layers, n_seq * nblk, rng);
  std::vector<float> q(static_cast<std::size_t>(n_seq) * sh.q_row()), out(q.size());
  std::normal_distribution<float> nd(0.f, 1.f);
  for (auto& x : q) x = nd(rng);
  const int items = n_seq * sh.kv_heads;
  std::vector<std::vector<const T*>> kp(threads, std::vector<const T*>(nblk)), vp = kp;
  std::vector<std::vector<float>> sc(threads, std::vector<float>(static_cast<std::size_t>(sh.group) * nblk * kBlock));
  const float scale = 1.0f / std::sqrt(static_cast<float>(sh.head_dim));
  return time_reps(reps, [&] {
    for (int l = 0; l < layers; ++l) {
#pragma omp parallel num_threads(threads)
      {
        const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        auto& k = kp[tid];
        auto& v = vp[tid];
        for (int it = items * tid / nth; it < items * (tid + 1) / nth; ++it) {
          const int s = it / sh.kv_heads, g = it % sh.kv_heads;
          for (int b = 0; b < nblk; ++b) {
            k[b] = kv.k_of(l, s * nblk + b, g);
            v[b] = kv.v_of(l, s * nblk + b, g);
          }
          const std::size_t off = static_cast<std::size_t>(s) * sh.q_row() + static_cast<std::size_t>(g) * sh.group * sh.head_dim;
          kairos::ops::attend_paged_tokens(&q[off], 0, sh.group, 1, k.data(), v.data(), ctx, sh.head_dim, kBlock, scale,
                                           sc[tid].data(), &out[off], 0);
        }
      }
    }
  });
}

// Prefill: one prompt of n_tok tokens, items (run of 16 tokens, KV head),
// dynamically scheduled. Seconds for one layer.
template <class T>
timing bench_prefill(shape sh, int n_tok, int reps, int threads, std::mt19937& rng) {
  constexpr int kRun = 16;
  const int nblk = (n_tok + kBlock - 1) / kBlock;
  const bench_kv<T> kv(sh, 1, nblk, rng);
  std::vector<float> q(static_cast<std::size_t>(n_tok) * sh.q_row()), out(q.size());
  std::normal_distribution<float> nd(0.f, 1.f);
  for (auto& x : q) x = nd(rng);
  std::vector<std::vector<const T*>> kp(sh.kv_heads, std::vector<const T*>(nblk)), vp = kp;
  for (int g = 0; g < sh.kv_heads; ++g)
    for (int b = 0; b < nblk; ++b) {
      kp[g][b] = kv.k_of(0, b, g);
      vp[g][b] = kv.v_of(0, b, g);
    }
  const int runs = (n_tok + kRun - 1) / kRun, items = runs * sh.kv_heads;
  std::vector<std::vector<float>> sc(threads, std::vector<float>(static_cast<std::size_t>(kairos::ops::max_tile_tokens) *
                                                                   sh.group * nblk * kBlock));
  const float scale = 1.0f / std::sqrt(static_cast<float>(sh.head_dim));
  const std::size_t stride = static_cast<std::size_t>(sh.q_row());
  return time_reps(reps, [&] {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int it = items - 1; it >= 0; --it) {  // longest runs first
      const int r = it / sh.kv_heads, g = it % sh.kv_heads;
      const int t0 = r * kRun, cnt = std::min(kRun, n_tok - t0);
      const std::size_t off = t0 * stride + static_cast<std::size_t>(g) * sh.group * sh.head_dim;
      kairos::ops::attend_paged_tokens(&q[off], stride, sh.group, cnt, kp[g].data(), vp[g].data(), t0 + 1, sh.head_dim,
                                       kBlock, scale, sc[omp_get_thread_num()].data(), &out[off], stride);
    }
  });
}

template <class T>
void run_dtype(const char* name, shape sh, int n_seq, int ctx, int layers, int prefill, int reps, int threads) {
  std::mt19937 rng(7);
  const double elt = sizeof(T);
  // Per (token, query head) over c keys: q·k and the weighted sum of V, 2 flops per multiply-add each.
  const double dec_flops = 4.0 * ctx * sh.head_dim * n_seq * sh.kv_heads * sh.group;
  // K and V read per layer: whole blocks, the last one too.
  const double dec_bytes = 2.0 * ((ctx + kBlock - 1) / kBlock * kBlock) * sh.head_dim * elt * n_seq * sh.kv_heads;
  const timing cold = bench_decode<T>(sh, n_seq, ctx, layers, reps, threads, rng);
  const timing hot = bench_decode<T>(sh, n_seq, ctx, 1, reps * layers, threads, rng);
  std::printf("%-4s decode, %d sequences x context %d, %d layers (cold):   %8.3f ms  (median %.3f)  %6.1f GB/s of K/V  %6.1f GFLOP/s\n",
              name, n_seq, ctx, layers, cold.best * 1e3, cold.median * 1e3, dec_bytes * layers / cold.best / 1e9,
              dec_flops * layers / cold.best / 1e9);
  std::printf("%-4s decode, the same, one layer repeated (from cache): %8.3f ms  (median %.3f)  %6.1f GB/s of K/V  %6.1f GFLOP/s\n",
              name, hot.best * 1e3 * layers, hot.median * 1e3 * layers, dec_bytes / hot.best / 1e9, dec_flops / hot.best / 1e9);
  if (prefill > 0) {
    const timing pf = bench_prefill<T>(sh, prefill, reps, threads, rng);
    const double pf_flops = 2.0 * static_cast<double>(prefill) * (prefill + 1) * sh.head_dim * sh.kv_heads * sh.group;  // causal
    std::printf("%-4s prefill, %d tokens, one layer:                     %8.3f ms  (median %.3f)  %6.1f GFLOP/s\n", name,
                prefill, pf.best * 1e3, pf.median * 1e3, pf_flops / pf.best / 1e9);
  }
}

int run_bench_attention(int argc, char** argv) {
  CLI::App app{"CPU paged attention kernel: decode (cold and from cache) and prefill, beside the triad"};
  int threads = 2, n_seq = 32, ctx = 160, layers = 30, prefill = 2048, reps = 10;
  shape sh{3, 3, 64};
  std::vector<std::string> dtypes{"f16", "f32"};
  bool no_pin = false;
  app.add_option("--threads", threads, "threads")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--seqs", n_seq, "decode sequences")->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--context", ctx, "decode context length")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--layers", layers, "layers of K/V (the decode test's cold pass)")->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--prefill", prefill, "prompt length of the prefill test (0: skip)")->capture_default_str()->check(CLI::Range(0, 1 << 20));
  app.add_option("--kv-heads", sh.kv_heads, "KV heads")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--group", sh.group, "query heads per KV head")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--head-dim", sh.head_dim, "head size")->capture_default_str()->check(CLI::IsMember({32, 64, 128, 256}));
  app.add_option("--kv-dtype", dtypes, "K/V element types")->delimiter(',')->capture_default_str()->check(CLI::IsMember({"f16", "f32"}));
  app.add_option("--reps", reps, "timed repetitions (best and median shown)")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_flag("--no-pin", no_pin, "leave the OpenMP threads unpinned");
  CLI11_PARSE(app, argc, argv);

  omp_set_num_threads(threads);
  const bool pinned = !no_pin && !std::getenv("OMP_PROC_BIND") && kairos::kernels::pin_openmp_threads(threads);
  const double triad = kairos::kernels::measure_triad_gbps(threads);
  std::printf("kairos bench attention: %d KV heads x %d query heads, head_dim %d, block %d, %d threads%s\n", sh.kv_heads,
              sh.group, sh.head_dim, kBlock, threads, pinned ? " (pinned)" : "");
  std::printf("machine: STREAM triad %.1f GB/s (same run)\n\n", triad);
  for (const auto& dt : dtypes) {
    if (dt == "f16")
      run_dtype<std::uint16_t>("f16", sh, n_seq, ctx, layers, prefill, reps, threads);
    else
      run_dtype<float>("f32", sh, n_seq, ctx, layers, prefill, reps, threads);
  }
  return 0;
}

}  // namespace

KAIROS_SUBCOMMAND("bench attention", "CPU paged attention kernel: decode and prefill, beside the triad", run_bench_attention);
