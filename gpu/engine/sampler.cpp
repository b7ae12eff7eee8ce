#include "gpu/engine/sampler.hpp"

#include "gpu/engine/vector_ops.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
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

// argmax in two passes over the row: the largest value, then the first index
// holding it. Each pass is a stream the compiler (or AVX-512) vectorises,
// where the one-pass "keep the best index" loop carries a dependency through
// every element: at 32 rows of a 49k vocabulary that loop took ~7 ms of each
// decode step.

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

// Without a full sort of the vocabulary (std::sort of 152k ids took ~18 ms
// per token, on the decode device's thread). Candidates rank by logit, ties
// by id, as a full sort ranks them, so the top-k and top-p sets are exactly
// the full sort's; within a set the draw may walk the ids in any fixed order,
// which changes which id a given uniform picks but not the distribution.
// - neither: one vectorised exp pass and a walk over the ids;
// - top-k: partial_sort of the k best (a heap of k: near O(V) for small k);
// - top-p alone: the whole vocabulary's mass from the exp pass, then a
//   quickselect weighted by probability finds the shortest prefix of the
//   ranking that holds top_p of it, in expected O(V) even when that prefix is
//   most of the vocabulary.
std::int32_t sampler::sample(std::span<const float> logits) {
  if (p_.temperature <= 0.0f || p_.top_k == 1) return argmax(logits);
  const int V = static_cast<int>(logits.size());
  if (V == 0) return 0;
  prob_.resize(static_cast<std::size_t>(V));
  const float inv_t = 1.0f / p_.temperature;
  const float mx = logits[static_cast<std::size_t>(argmax(logits))];
  const bool top_k = p_.top_k > 0 && p_.top_k < V;
  const bool top_p = p_.top_p < 1.0f;

  if (!top_k) {  // every id is a candidate until top-p cuts: all the probabilities
    for (int i = 0; i < V; ++i) prob_[i] = (logits[i] - mx) * inv_t;
    ops::exp_inplace(prob_.data(), V);  // prob_[id]: unnormalised, the largest is 1
    // exp_inplace clamps at -87 (1.6e-38): a masked (-inf) or hopeless logit is exactly 0.
    for (int i = 0; i < V; ++i) prob_[i] = (logits[i] - mx) * inv_t < -87.0f ? 0.0f : prob_[i];
  }
  if (!top_k && !top_p) {
    double sum = 0;
    for (int i = 0; i < V; ++i) sum += prob_[i];
    double u = next_uniform() * sum;
    for (int i = 0; i < V; ++i) {
      u -= prob_[i];
      if (u < 0) return i;
    }
    return argmax(logits);  // rounding left u >= 0: the likeliest id
  }

  idx_.resize(static_cast<std::size_t>(V));
  std::iota(idx_.begin(), idx_.end(), 0);
  auto by_logit = [&](std::int32_t a, std::int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  int n = V;  // candidates: idx_[0, n)
  if (top_k) {
    n = p_.top_k;
    std::partial_sort(idx_.begin(), idx_.begin() + n, idx_.end(), by_logit);
    for (int i = 0; i < n; ++i) {
      float& p = prob_[idx_[i]];
      p = (logits[idx_[i]] - mx) * inv_t;
      const bool masked = p < -87.0f;
      ops::exp_inplace(&p, 1);
      if (masked) p = 0.0f;
    }
  }
  if (top_p) {
    double mass = 0;
    for (int i = 0; i < n; ++i) mass += prob_[top_k ? idx_[i] : i];
    double need = static_cast<double>(p_.top_p) * mass;
    if (top_k) {  // sorted already: the first prefix reaching p (at least one token)
      double acc = 0;
      int keep = n;
      for (int i = 0; i < n; ++i) {
        acc += prob_[idx_[i]];
        if (acc >= need) {
          keep = i + 1;
          break;
        }
      }
      n = keep;
    } else {
      // Invariant: idx_[0, lo) ranks above idx_[lo, hi), which ranks above
      // the rest; idx_[0, lo) holds less than the mass wanted, and the cut
      // (the first rank where the running mass reaches it) lies in [lo, hi).
      int lo = 0, hi = V;
      while (hi - lo > 32) {
        const int mid = lo + (hi - lo) / 2;
        // Median of three as the pivot, moved to the end of the range.
        auto a = idx_.begin() + lo, m = idx_.begin() + mid, z = idx_.begin() + (hi - 1);
        if (by_logit(*m, *a)) std::iter_swap(m, a);
        if (by_logit(*z, *a)) std::iter_swap(z, a);
        if (by_logit(*z, *m)) std::iter_swap(z, m);
        std::iter_swap(m, z);  // now *z is the median
        const std::int32_t pivot = *z;
        auto split = std::partition(idx_.begin() + lo, idx_.begin() + (hi - 1),
                                    [&](std::int32_t id) { return by_logit(id, pivot); });
        std::iter_swap(split, idx_.begin() + (hi - 1));  // pivot at its rank
        const int pos = static_cast<int>(split - idx_.begin());
        double upper = 0;
        for (int i = lo; i < pos; ++i) upper += prob_[idx_[i]];
        if (upper >= need) {
          hi = pos;
        } else if (upper + prob_[pivot] >= need) {
          lo = hi = pos + 1;  // the pivot is the last one kept
        } else {
          need -= upper + prob_[pivot];
          lo = pos + 1;
        }
      }
      n = hi;
      if (hi > lo) {  // a short range left: rank it and walk to the cut
        std::sort(idx_.begin() + lo, idx_.begin() + hi, by_logit);
        double acc = 0;
        for (int i = lo; i < hi; ++i) {
          acc += prob_[idx_[i]];
          if (acc >= need) {
            n = i + 1;
            break;
          }
        }
      }
      n = std::max(n, 1);
    }
  }
  double mass = 0;
  for (int i = 0; i < n; ++i) mass += prob_[idx_[i]];
  double u = next_uniform() * mass;
  for (int i = 0; i < n; ++i) {
    u -= prob_[idx_[i]];
    if (u < 0) return idx_[i];
  }
  return idx_[n - 1];
}

}  // namespace kairos
