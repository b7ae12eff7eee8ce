#include "gpu/engine/sampler.hpp"

#include <immintrin.h>

#include <algorithm>
#include <limits>
#include <cmath>
#include <numeric>

namespace kairos {

const char* stop_reason_name(stop_reason r) {
  switch (r) {
    case stop_reason::none: return "none";
    case stop_reason::eos: return "eos";
    case stop_reason::max_tokens: return "length";
    case stop_reason::stop_token: return "stop";
  }
  return "?";
}

stop_reason stop_criteria::check(std::int32_t token, int n_generated) const {
  if (!ignore_eos && std::find(eos_ids.begin(), eos_ids.end(), token) != eos_ids.end()) return stop_reason::eos;
  if (std::find(stop_ids.begin(), stop_ids.end(), token) != stop_ids.end()) return stop_reason::stop_token;
  if (n_generated >= max_tokens) return stop_reason::max_tokens;
  return stop_reason::none;
}

namespace {

// Two passes over the row: the largest value, then the first index holding
// it. Each pass is a stream the compiler (or AVX-512) vectorises, where the
// one-pass "keep the best index" loop carries a dependency through every
// element: at 32 rows of a 49k vocabulary that loop took ~7 ms of each decode step.
// From i0; -1 when no element equals v.
std::int32_t find_from(const float* x, std::int32_t i0, std::int32_t n, float v) {
  for (std::int32_t i = i0; i < n; ++i)
    if (x[i] == v) return i;
  return -1;
}

std::int32_t argmax_scalar(const float* x, std::int32_t n) {
  float mx = -std::numeric_limits<float>::infinity();
  for (std::int32_t i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;  // NaN never wins
  const std::int32_t at = find_from(x, 0, n, mx);
  return at < 0 ? 0 : at;  // no number in the row (all NaN): 0
}

typedef float v16f __attribute__((vector_size(64)));

// (The max and reduce intrinsics trip GCC 12's uninitialized warnings: the
// max pass is written with vector types instead.)
__attribute__((target("avx512f"))) std::int32_t argmax_avx512(const float* x, std::int32_t n) {
  const float ninf = -std::numeric_limits<float>::infinity();
  v16f m[4];
  for (auto& v : m)
    for (int l = 0; l < 16; ++l) v[l] = ninf;
  std::int32_t i = 0;
  for (; i + 64 <= n; i += 64)
    for (int j = 0; j < 4; ++j) {
      v16f v;
      __builtin_memcpy(&v, x + i + 16 * j, 64);
      m[j] = v > m[j] ? v : m[j];  // NaN compares false: never wins
    }
  float mx = ninf;
  for (const auto& v : m)
    for (int l = 0; l < 16; ++l) mx = v[l] > mx ? v[l] : mx;
  for (; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  const __m512 target = _mm512_set1_ps(mx);
  for (i = 0; i + 16 <= n; i += 16) {
    const __mmask16 eq = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), target, _CMP_EQ_OQ);
    if (eq) return i + static_cast<std::int32_t>(__builtin_ctz(eq));
  }
  const std::int32_t at = find_from(x, i, n, mx);
  return at < 0 ? 0 : at;  // no number in the row (all NaN): 0
}

}  // namespace

std::int32_t argmax(std::span<const float> logits) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  const auto n = static_cast<std::int32_t>(logits.size());
  return avx512 ? argmax_avx512(logits.data(), n) : argmax_scalar(logits.data(), n);
}

sampler::sampler(const sampling_params& p) : p_(p), state_(p.seed ^ 0x9e3779b97f4a7c15ull) {}

// splitmix64: small, fast, and the same on every platform.
double sampler::next_uniform() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

std::int32_t sampler::sample(std::span<const float> logits) {
  if (p_.temperature <= 0.0f || p_.top_k == 1) return argmax(logits);
  const int V = static_cast<int>(logits.size());
  idx_.resize(static_cast<std::size_t>(V));
  prob_.resize(static_cast<std::size_t>(V));
  std::iota(idx_.begin(), idx_.end(), 0);
  // Candidates: the top_k largest (all when off), sorted by logit, ties by id.
  auto by_logit = [&](std::int32_t a, std::int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  int n = V;
  if (p_.top_k > 0 && p_.top_k < V) {
    n = p_.top_k;
    std::partial_sort(idx_.begin(), idx_.begin() + n, idx_.end(), by_logit);
  } else {
    std::sort(idx_.begin(), idx_.end(), by_logit);
  }
  const float inv_t = 1.0f / p_.temperature;
  const float mx = logits[idx_[0]];
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    prob_[i] = std::exp((logits[idx_[i]] - mx) * inv_t);
    sum += prob_[i];
  }
  // top-p: the smallest prefix whose mass reaches p (at least one token).
  if (p_.top_p < 1.0f) {
    double acc = 0;
    int keep = n;
    for (int i = 0; i < n; ++i) {
      acc += prob_[i] / sum;
      if (acc >= p_.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
    sum = 0;
    for (int i = 0; i < n; ++i) sum += prob_[i];
  }
  double u = next_uniform() * sum;
  for (int i = 0; i < n; ++i) {
    u -= prob_[i];
    if (u < 0) return idx_[i];
  }
  return idx_[n - 1];
}

}  // namespace kairos
