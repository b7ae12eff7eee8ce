#pragma once
// A small harness for the CUDA tests, which have their own main (no
// doctest: the GPU machine may not have it): checks that count failures,
// exit 77 without a device (CTest: skipped), float64 reference helpers.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gpu/cuda/cuda_info.hpp"
#include "gpu/model/dtype.hpp"

namespace kairos::cuda::test {

inline int& failures() {
  static int n = 0;
  return n;
}

inline void check(bool ok, const std::string& what, const char* file, int line) {
  if (!ok) {
    ++failures();
    std::printf("  FAILED %s:%d: %s\n", file, line, what.c_str());
  }
}

#define KCHECK(cond, what) ::kairos::cuda::test::check((cond), (what), __FILE__, __LINE__)
// A CUDA call in a test: failure is reported and counted, the test goes on.
#define KCUDA(expr)                                                                                   \
  do {                                                                                                \
    const cudaError_t e_ = (expr);                                                                    \
    ::kairos::cuda::test::check(e_ == cudaSuccess, std::string(#expr) + ": " + cudaGetErrorString(e_), \
                                __FILE__, __LINE__);                                                  \
  } while (0)

// Exits 77 when there is no device; prints the runtime line either way.
inline void require_device() {
  std::printf("%s\n", runtime_summary().c_str());
  if (device_count() == 0) {
    std::printf("no CUDA device: skipped\n");
    std::exit(77);
  }
}

inline int finish(const char* name) {
  if (failures() == 0) {
    std::printf("%s: ok\n", name);
    return 0;
  }
  std::printf("%s: %d check(s) failed\n", name, failures());
  return 1;
}

// ||out - ref|| / ||ref||; NaN anywhere gives +inf (never passes).
inline double rel_l2(const std::vector<double>& out, const std::vector<double>& ref) {
  if (out.size() != ref.size()) return INFINITY;
  double num = 0, den = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) return INFINITY;
    num += (out[i] - ref[i]) * (out[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

inline void check_close(const std::vector<double>& out, const std::vector<double>& ref, double tol, const std::string& what,
                        const char* file, int line) {
  const double e = rel_l2(out, ref);
  std::printf("  %-48s rel L2 %.3e (tol %.0e)\n", what.c_str(), e, tol);
  check(e <= tol, what + ": rel L2 " + std::to_string(e), file, line);
}
#define KCLOSE(out, ref, tol, what) ::kairos::cuda::test::check_close((out), (ref), (tol), (what), __FILE__, __LINE__)

// Fresh random inputs each run (the seed is printed so a failure can be
// replayed with KAIROS_TEST_SEED).
inline std::mt19937_64& rng() {
  static std::mt19937_64 g([] {
    const char* s = std::getenv("KAIROS_TEST_SEED");
    const std::uint64_t seed = s ? std::strtoull(s, nullptr, 10) : std::random_device{}();
    std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
    return seed;
  }());
  return g;
}

inline std::vector<float> randn(std::size_t n, float sd = 1.f) {
  std::normal_distribution<float> d(0.f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng());
  return v;
}

// Values rounded to bf16, kept as floats (what the device stores).
inline std::vector<float> round_bf16(std::vector<float> v) {
  for (auto& x : v) x = bf16_to_f32(f32_to_bf16(x));
  return v;
}

inline std::vector<std::uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<std::uint16_t> o(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) o[i] = f32_to_bf16(v[i]);
  return o;
}

inline std::vector<double> bf16_to_double(const std::vector<std::uint16_t>& v) {
  std::vector<double> o(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) o[i] = bf16_to_f32(v[i]);
  return o;
}

// Device buffer for tests: upload, download, poison.
template <class T>
struct dbuf {
  T* p = nullptr;
  std::size_t n = 0;
  explicit dbuf(std::size_t count) : n(count) { KCUDA(cudaMalloc(&p, std::max<std::size_t>(count, 1) * sizeof(T))); }
  explicit dbuf(const std::vector<T>& v) : dbuf(v.size()) { up(v); }
  ~dbuf() { cudaFree(p); }
  dbuf(const dbuf&) = delete;
  dbuf& operator=(const dbuf&) = delete;
  void up(const std::vector<T>& v) { KCUDA(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice)); }
  std::vector<T> down() const {
    std::vector<T> v(n);
    KCUDA(cudaDeviceSynchronize());
    KCUDA(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    return v;
  }
  // 0xFF bytes: NaN for floats and bf16, so an unwritten element fails.
  void poison() { KCUDA(cudaMemset(p, 0xff, n * sizeof(T))); }
};

template <class T>
T* dptr(dbuf<T>& b) {
  return b.p;
}
inline __nv_bfloat16* bfp(dbuf<std::uint16_t>& b) { return reinterpret_cast<__nv_bfloat16*>(b.p); }

}  // namespace kairos::cuda::test
