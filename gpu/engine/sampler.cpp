#include "gpu/engine/sampler.hpp"

#include <algorithm>
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

std::int32_t argmax(std::span<const float> logits) {
  std::int32_t best = 0;
  for (std::size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[static_cast<std::size_t>(best)]) best = static_cast<std::int32_t>(i);
  return best;
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
