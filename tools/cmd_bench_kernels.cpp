// `kairos bench kernels`: our packed gemm beside OpenBLAS cblas_sgemm on the
// Linear shapes of smollm2-135m (prefill and decode), with the machine's
// ceilings (STREAM triad, OpenBLAS 2048^3) measured in the same run.
//
// The weights are rotated over enough copies to exceed the L3 cache, as in the
// engine, where each layer's weights are cold when its turn comes.
#include <cblas.h>
#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gpu/kernels/gemm.hpp"
#include "gpu/kernels/machine_ceilings.hpp"
#include "gpu/kernels/thread_affinity.hpp"
#include "tools/subcommand.hpp"

namespace {

using kairos::kernels::gemm;
using kairos::kernels::packed_weight;

struct linear_shape {
  const char* name;
  int n, k;
};

struct bench_row {
  linear_shape s;
  int m;
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Seconds per call of fn(rep): the best call (the machine is shared: the best
// call is the one least disturbed), run until min_time has passed (at least min_reps).
template <class F>
double time_best(F&& fn, double min_time, int min_reps) {
  fn(0);  // warm-up
  std::vector<double> ts;
  const double start = now_s();
  for (int rep = 1; rep <= min_reps || now_s() - start < min_time; ++rep) {
    const double t0 = now_s();
    fn(rep);
    ts.push_back(now_s() - t0);
    if (ts.size() >= 20000) break;
  }
  return *std::min_element(ts.begin(), ts.end());
}

void fill(std::vector<float>& v, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  for (auto& e : v) e = d(rng);
}

void usage() {
  std::printf(
      "usage: kairos bench kernels [--threads N] [--min-time S] [--repeat R] [--quick] [--no-pin]\n"
      "  Times the packed gemm beside OpenBLAS cblas_sgemm on the Linear shapes of\n"
      "  smollm2-135m (prefill m=512 and more, decode m=1,4,16,32), with the machine's\n"
      "  ceilings (STREAM triad GB/s, OpenBLAS sgemm 2048^3 GFLOP/s) measured in the same run.\n"
      "  --threads N   threads for both (default: OpenMP's setting)\n"
      "  --min-time S  seconds per burst of calls (default 0.1)\n"
      "  --repeat R    bursts of ours and of OpenBLAS, alternated, per shape (default 3)\n"
      "  --quick       fewer shapes\n"
      "  --no-pin      leave the OpenMP threads unpinned (default: pinned to distinct CPUs,\n"
      "                unless OMP_PROC_BIND is set)\n");
}

int run_bench_kernels(int argc, char** argv) {
  int threads = omp_get_max_threads();
  double min_time = 0.1;
  int repeats = 3;
  bool quick = false;
  bool pin = std::getenv("OMP_PROC_BIND") == nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--threads" || a == "-t") && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--min-time" && i + 1 < argc) {
      min_time = std::atof(argv[++i]);
    } else if (a == "--repeat" && i + 1 < argc) {
      repeats = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--quick") {
      quick = true;
    } else if (a == "--no-pin") {
      pin = false;
    } else if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else {
      std::fprintf(stderr, "kairos bench kernels: unknown argument '%s'\n", a.c_str());
      usage();
      return 2;
    }
  }
  if (threads < 1) threads = 1;
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);

  const linear_shape qkv{"qkv", 960, 576}, o{"o_proj", 576, 576}, gate_up{"gate_up", 3072, 576},
      down{"down", 576, 1536}, head{"lm_head", 49152, 576};
  std::vector<bench_row> rows;
  for (auto s : {qkv, o, gate_up, down}) rows.push_back({s, 512});
  if (!quick) {
    rows.push_back({gate_up, 2048});
    rows.push_back({down, 2048});
    rows.push_back({qkv, 37});
    rows.push_back({qkv, 129});
  }
  for (int m : {1, 4, 16, 32})
    for (auto s : {qkv, o, gate_up, down, head})
      if (!quick || s.name == gate_up.name || s.name == head.name) rows.push_back({s, m});

  const bool pinned = pin && kairos::kernels::pin_openmp_threads(threads);
  std::printf("kairos bench kernels: %d threads%s, gemm path %s, OpenBLAS %s\n", threads,
              pinned ? " (pinned)" : "", kairos::kernels::gemm_isa(), openblas_get_config());
  const double triad0 = kairos::kernels::measure_triad_gbps(threads);
  const double sgemm0 = kairos::kernels::measure_sgemm_gflops(threads);
  std::printf("ceilings (start): STREAM triad %.1f GB/s, OpenBLAS sgemm 2048^3 %.1f GFLOP/s\n\n", triad0, sgemm0);
  std::printf("%-8s %5s %6s %5s | %9s %8s %7s | %8s %8s | %7s %8s\n", "shape", "m", "n", "k", "ours us", "GFLOP/s",
              "GB/s", "BLAS us", "GFLOP/s", "ours/BL", "rel.err");

  struct result_row {
    bench_row r;
    double ours_gbps;
    double triad_gbps;  // measured right after the row (memory bandwidth varies over minutes)
  };
  std::vector<result_row> decode;
  std::vector<std::pair<bench_row, double>> times;  // (row, our seconds per call)
  for (const bench_row& br : rows) {
    const int m = br.m, n = br.s.n, k = br.s.k;
    std::vector<float> w(static_cast<std::size_t>(n) * k), x(static_cast<std::size_t>(m) * k);
    fill(w, 1 + n + k);
    fill(x, 2 + m);
    const std::size_t wbytes = w.size() * sizeof(float);
    // Enough copies of the weights that a rotation through them (>= 256 MiB, at
    // least 2 copies) leaves nothing of the next one in the caches.
    const int copies =
        static_cast<int>(std::clamp<std::size_t>(((std::size_t(256) << 20) + wbytes - 1) / wbytes, 2, 256));
    std::vector<packed_weight> packed;
    for (int c = 0; c < copies; ++c) packed.push_back(packed_weight::pack(w.data(), n, k));
    std::vector<std::vector<float>> wcopies(copies, w);
    std::vector<float> y(static_cast<std::size_t>(m) * n), yb(y.size());

    // Alternate bursts of ours and OpenBLAS, keeping the best call of each.
    double t_ours = 1e30, t_blas = 1e30;
    for (int r = 0; r < repeats; ++r) {
      t_ours = std::min(t_ours, time_best([&](int rep) { gemm(x.data(), m, packed[rep % copies], y.data()); },
                                          min_time, 5));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let OpenMP's spinning threads sleep
      t_blas = std::min(t_blas, time_best(
                                    [&](int rep) {
                                      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.f, x.data(), k,
                                                  wcopies[rep % copies].data(), k, 0.f, yb.data(), n);
                                    },
                                    min_time, 5));
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // and OpenBLAS's
    }
    packed.clear();
    wcopies.clear();

    double num = 0, den = 0;
    for (std::size_t e = 0; e < y.size(); ++e) {
      num += (double(y[e]) - yb[e]) * (double(y[e]) - yb[e]);
      den += double(yb[e]) * yb[e];
    }
    const double flops = 2.0 * m * n * static_cast<double>(k);
    const double bytes = static_cast<double>(((n + 31) / 32) * 32) * k * 4 + (double(m) * k + double(m) * n) * 4;
    const double ours_gbps = bytes / t_ours * 1e-9;
    std::printf("%-8s %5d %6d %5d | %9.1f %8.1f %7.1f | %8.1f %8.1f | %7.2f %8.1e\n", br.s.name, m, n, k, t_ours * 1e6,
                flops / t_ours * 1e-9, ours_gbps, t_blas * 1e6, flops / t_blas * 1e-9, t_blas / t_ours,
                den > 0 ? std::sqrt(num / den) : 0.0);
    std::fflush(stdout);
    times.push_back({br, t_ours});
    if (m == 1) decode.push_back({br, ours_gbps, kairos::kernels::measure_triad_gbps(threads)});
  }

  const double triad1 = kairos::kernels::measure_triad_gbps(threads);
  const double sgemm1 = kairos::kernels::measure_sgemm_gflops(threads);
  std::printf("\nceilings (end):   STREAM triad %.1f GB/s, OpenBLAS sgemm 2048^3 %.1f GFLOP/s\n", triad1, sgemm1);
  std::printf("decode m=1 weight streaming vs STREAM triad measured right after each row:\n");
  for (const auto& d : decode)
    std::printf("  %-8s n=%5d k=%5d  %6.1f GB/s, triad %5.1f GB/s: %5.1f%%\n", d.r.s.name, d.r.s.n, d.r.s.k,
                d.ours_gbps, d.triad_gbps, 100.0 * d.ours_gbps / d.triad_gbps);
  std::printf("decode cost of a batch of 32 rows vs one row (our time m=32 / m=1):");
  for (const auto& [r1, t1] : times)
    for (const auto& [r32, t32] : times)
      if (r1.m == 1 && r32.m == 32 && r1.s.name == r32.s.name) std::printf(" %s %.2f", r1.s.name, t32 / t1);
  std::printf("\n");
  std::printf("(times: best call of each; GB/s counts packed weights + x + y once per call, weights rotated over\n"
              " copies larger than L3; ours/BL = OpenBLAS time / our time, > 1: we are faster)\n");
  return 0;
}

}  // namespace

KAIROS_SUBCOMMAND("bench kernels", "time the CPU gemm kernels beside OpenBLAS, with machine ceilings",
                  run_bench_kernels);
