// kairos_cuda_bench: decode and prefill of the Llama-3.1-8B shape (random
// BF16 weights made on the GPU) beside the two ceilings measured in the same
// run: device copy bandwidth and cuBLAS BF16 GEMM rate. Prints a markdown
// table. No CAF, no BLAS: runs on a bare GPU machine. Exits 77 without a GPU.
//
//   kairos_cuda_bench [--shape llama3-8b] [--context 1024] [--batches 1,16,64,128]
//                     [--prefill 512,2048,8192] [--steps 20]
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "gpu/cuda/cuda_engine.hpp"
#include "gpu/cuda/cuda_gemm.hpp"
#include "gpu/cuda/cuda_info.hpp"
#include "gpu/cuda/kernels/random_fill.cuh"

using namespace kairos;
using namespace kairos::cuda;

namespace {

#define BENCH_CUDA(expr)                                                                            \
  do {                                                                                              \
    const cudaError_t e_ = (expr);                                                                  \
    if (e_ != cudaSuccess) {                                                                        \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(e_));   \
      std::exit(1);                                                                                 \
    }                                                                                               \
  } while (0)

std::vector<int> parse_list(const char* s) {
  std::vector<int> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::atoi(item.c_str()));
  return v;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Device-to-device copy of a 2 GiB buffer, counting bytes read plus written.
double copy_bandwidth_gbs() {
  const std::size_t n = 2ull << 30;
  void *a = nullptr, *b = nullptr;
  BENCH_CUDA(cudaMalloc(&a, n));
  BENCH_CUDA(cudaMalloc(&b, n));
  BENCH_CUDA(cudaMemset(a, 1, n));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<double> t;
  for (int i = 0; i < 13; ++i) {
    cudaEventRecord(e0);
    BENCH_CUDA(cudaMemcpyAsync(b, a, n, cudaMemcpyDeviceToDevice));
    cudaEventRecord(e1);
    BENCH_CUDA(cudaEventSynchronize(e1));
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    if (i >= 3) t.push_back(ms);
  }
  cudaFree(a);
  cudaFree(b);
  return 2.0 * n / (median(t) * 1e-3) / 1e9;
}

// A big square BF16 GEMM through the engine's own cuBLAS path, on random data.
double gemm_peak_tflops(int n) {
  cudaStream_t st;
  BENCH_CUDA(cudaStreamCreate(&st));
  auto g = gemm_runner::create(st);
  if (!g) {
    std::fprintf(stderr, "gemm: %s\n", g.message().c_str());
    std::exit(1);
  }
  const std::size_t e = static_cast<std::size_t>(n) * n;
  __nv_bfloat16 *a, *b, *c;
  BENCH_CUDA(cudaMalloc(&a, e * 2));
  BENCH_CUDA(cudaMalloc(&b, e * 2));
  BENCH_CUDA(cudaMalloc(&c, e * 2));
  BENCH_CUDA(kernels::fill_normal_bf16(a, e, 1, 1.f, st));
  BENCH_CUDA(kernels::fill_normal_bf16(b, e, 2, 1.f, st));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<double> t;
  for (int i = 0; i < 13; ++i) {
    cudaEventRecord(e0, st);
    if (!(*g)->run(a, b, c, gemm_out::bf16, n, n, n)) std::exit(1);
    cudaEventRecord(e1, st);
    BENCH_CUDA(cudaEventSynchronize(e1));
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    if (i >= 3) t.push_back(ms);
  }
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
  g->reset();
  cudaStreamDestroy(st);
  return 2.0 * n * n * static_cast<double>(n) / (median(t) * 1e-3) / 1e12;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string shape = "llama3-8b";
  int context = 1024, steps = 20;
  std::vector<int> batches = {1, 16, 64, 128}, prefills = {512, 2048, 8192};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--shape")) shape = argv[i + 1];
    else if (!std::strcmp(argv[i], "--context")) context = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--batches")) batches = parse_list(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--prefill")) prefills = parse_list(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
  }
  std::printf("%s\n", runtime_summary().c_str());
  if (device_count() == 0) {
    std::printf("no CUDA device: skipped\n");
    return 77;
  }
  cudaDeviceProp prop{};
  BENCH_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs, %.1f GiB\n", prop.name, prop.multiProcessorCount, prop.totalGlobalMem / 1073741824.0);

  const double bw = copy_bandwidth_gbs();
  const double peak = gemm_peak_tflops(8192);
  std::printf("copy bandwidth %.0f GB/s (read + write), cuBLAS bf16 8192^3 %.0f TFLOP/s\n", bw, peak);

  const int max_batch = *std::max_element(batches.begin(), batches.end());
  const int max_prefill = *std::max_element(prefills.begin(), prefills.end());
  cuda_engine_options o;
  o.max_seq_len = std::max(context + steps * 8 + 64, max_prefill);
  o.max_batch_tokens = std::max(max_prefill, 8 * context);
  o.max_logit_rows = std::max(max_batch, 1);
  o.kv_tokens = max_batch * (context + steps * 8 + 64) + max_prefill;
  const double t0 = now_s();
  auto made = make_random_cuda_engine(shape, 1234, o);
  if (!made) {
    std::fprintf(stderr, "engine: %s\n", made.message().c_str());
    return 1;
  }
  auto& eng = **made;
  const auto& cfg = eng.config();
  std::printf("%s random bf16 weights on the device in %.2f s: %.2f GB of weights, %zu KV bytes/token\n",
              shape.c_str(), now_s() - t0, eng.weight_bytes() / 1e9, eng.kv_bytes_per_token());

  // -- fill max_batch sequences to `context` tokens (prefill, no logits) --
  std::vector<std::int32_t> toks(static_cast<std::size_t>(context));
  for (int i = 0; i < context; ++i) toks[i] = (i * 7919) % cfg.vocab_size;
  {
    std::vector<batch_sequence> b;
    for (int s = 0; s < max_batch; ++s) {
      b.push_back({s, toks, s == max_batch - 1});
      if (static_cast<int>(b.size()) * context + context > o.max_batch_tokens || s == max_batch - 1) {
        b.back().want_logits = true;
        auto r = eng.forward(b);
        if (r.status != forward_status::ok) {
          std::fprintf(stderr, "fill: %s\n", r.message.c_str());
          return 1;
        }
        b.clear();
      }
    }
  }

  // -- decode: steps of the first B sequences, replayed from CUDA graphs --
  struct decode_row {
    int batch;
    double ms, floor_ms, ctx;
  };
  std::vector<decode_row> dec;
  std::vector<std::int32_t> one = {1};
  for (int B : batches) {
    std::vector<batch_sequence> b;
    for (int s = 0; s < B; ++s) b.push_back({s, one, true});
    for (int w = 0; w < 3; ++w)
      if (eng.forward(b).status != forward_status::ok) return 1;
    if (!eng.synchronize()) return 1;
    const double ctx = eng.kv_table().n_tokens(0);
    const double s0 = now_s();
    for (int i = 0; i < steps; ++i) {
      auto r = eng.forward_async(b);
      if (r.status != forward_status::ok) {
        std::fprintf(stderr, "decode: %s\n", r.message.c_str());
        return 1;
      }
    }
    if (!eng.synchronize()) return 1;
    const double ms = (now_s() - s0) * 1e3 / steps;
    const double bytes = static_cast<double>(eng.weight_bytes()) + B * (ctx + steps / 2.0) * eng.kv_bytes_per_token();
    dec.push_back({B, ms, bytes / (bw * 1e9) * 1e3, ctx + steps / 2.0});
  }
  for (int s = 0; s < max_batch; ++s) eng.free_sequence(s);

  // -- prefill: one fresh sequence of n tokens --
  struct prefill_row {
    int n;
    double ms, tflops;
  };
  std::vector<prefill_row> pre;
  const double E = cfg.hidden_size, F = cfg.ffn_size, D = cfg.head_dim, H = cfg.n_heads, KV = cfg.n_kv_heads;
  const double layer_params = E * (H + 2 * KV) * D + E * H * D + 3 * E * F;
  seq_id next = 100000;
  for (int n : prefills) {
    std::vector<std::int32_t> p(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) p[i] = (i * 31337) % cfg.vocab_size;
    std::vector<double> t;
    for (int rep = 0; rep < 4; ++rep) {
      std::vector<batch_sequence> b = {{next, p, true}};
      if (!eng.synchronize()) return 1;
      const double s0 = now_s();
      auto r = eng.forward(b);  // waits for the logits
      if (r.status != forward_status::ok) {
        std::fprintf(stderr, "prefill: %s\n", r.message.c_str());
        return 1;
      }
      if (rep > 0) t.push_back(now_s() - s0);
      eng.free_sequence(next++);
    }
    // Linear layers on every token, causal attention (QK^T and PV), LM head on one row.
    const double flops = 2.0 * n * layer_params * cfg.n_layers + 4.0 * cfg.n_layers * H * D * (n * (n + 1.0) / 2) +
                         2.0 * E * cfg.vocab_size;
    const double s = median(t);
    pre.push_back({n, s * 1e3, flops / s / 1e12});
  }

  std::printf("\n| %s on %s | batch / tokens | time | yardstick | ratio |\n|---|---|---|---|---|\n", shape.c_str(),
              prop.name);
  for (auto& d : dec)
    std::printf("| decode step, context %.0f | %d | %.3f ms (%.0f tok/s) | HBM floor %.3f ms | %.2fx floor (target <= 1.3x) |\n",
                d.ctx, d.batch, d.ms, d.batch / d.ms * 1e3, d.floor_ms, d.ms / d.floor_ms);
  for (auto& p : pre)
    std::printf("| prefill | %d | %.1f ms (%.0f TFLOP/s) | cuBLAS peak %.0f TFLOP/s | %.0f%% of peak (target >= 60%%) |\n",
                p.n, p.ms, p.tflops, peak, 100.0 * p.tflops / peak);
  std::printf("\nceilings measured in this run: device copy %.0f GB/s (read + write), cuBLAS bf16 8192^3 GEMM %.0f TFLOP/s;"
              " HBM floor = (weight bytes %.2f GB + KV bytes read) / copy bandwidth; graphs captured: %d\n",
              bw, peak, eng.weight_bytes() / 1e9, eng.graphs_captured());
  return 0;
}
