// Sampling: greedy, temperature, top-k, top-p, seeds, and stop criteria.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "gpu/engine/sampler.hpp"

using namespace kairos;

TEST_CASE("greedy picks the argmax, lowest id on ties") {
  std::vector<float> l{0.1f, 2.0f, -1.0f, 2.0f};
  sampler s({0.0f, 0, 1.0f, 42});
  CHECK(s.sample(l) == 1);
  sampler k1({1.0f, 1, 1.0f, 42});  // top_k 1 is greedy whatever the temperature
  CHECK(k1.sample(l) == 1);
}

// The obvious loop: first index of the largest number, NaN never chosen, 0 when none.
static std::int32_t argmax_reference(const std::vector<float>& x) {
  std::int32_t best = -1;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!std::isnan(x[i]) && (best < 0 || x[i] > x[static_cast<std::size_t>(best)])) best = static_cast<std::int32_t>(i);
  return best < 0 ? 0 : best;
}

TEST_CASE("argmax: first index of the largest value over every length, with ties, NaN and -inf") {
  std::uint64_t st = 7;
  auto rnd = [&]() {  // small range: many ties
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>(static_cast<int>((st >> 33) % 40)) - 20.0f;
  };
  for (int n : {1, 2, 15, 16, 17, 63, 64, 65, 100, 129, 1000, 49152}) {
    for (int trial = 0; trial < 6; ++trial) {
      std::vector<float> x(static_cast<std::size_t>(n));
      for (auto& v : x) v = rnd();
      if (trial == 1) x[static_cast<std::size_t>(n - 1)] = 100.f;            // the last one, in the scalar tail
      if (trial == 2) x[static_cast<std::size_t>(n / 2)] = std::nanf("");    // a NaN is never chosen
      if (trial == 3) x[0] = std::nanf("");
      if (trial == 4) std::fill(x.begin(), x.end(), -INFINITY);
      if (trial == 5) std::fill(x.begin(), x.end(), std::nanf(""));
      CAPTURE(n);
      CAPTURE(trial);
      CHECK(argmax(x) == argmax_reference(x));
    }
  }
  std::vector<float> x(100, 1.0f);
  x[70] = 3.0f;
  x[90] = 3.0f;
  CHECK(argmax(x) == 70);
}

TEST_CASE("the same seed gives the same draws; another seed differs") {
  std::vector<float> l(100);
  for (int i = 0; i < 100; ++i) l[i] = 0.01f * i;
  auto draw = [&](std::uint64_t seed) {
    sampler s({1.0f, 0, 1.0f, seed});
    std::vector<int> v;
    for (int i = 0; i < 50; ++i) v.push_back(s.sample(l));
    return v;
  };
  CHECK(draw(1) == draw(1));
  CHECK(draw(1) != draw(2));
}

TEST_CASE("top-k never returns a token outside the k largest") {
  std::vector<float> l{5.f, 1.f, 4.f, 0.f, 3.f, 2.f};
  sampler s({2.0f, 3, 1.0f, 9});
  std::set<int> seen;
  for (int i = 0; i < 2000; ++i) seen.insert(s.sample(l));
  CHECK(seen == std::set<int>{0, 2, 4});
}

TEST_CASE("top-p keeps the smallest prefix reaching p") {
  // softmax at T=1 of these logits: ~0.665, 0.245, 0.090 for the first three.
  std::vector<float> l{3.f, 2.f, 1.f, -10.f};
  sampler s({1.0f, 0, 0.8f, 5});
  std::set<int> seen;
  for (int i = 0; i < 3000; ++i) seen.insert(s.sample(l));
  CHECK(seen == std::set<int>{0, 1});
}

TEST_CASE("temperature sampling follows the softmax distribution") {
  std::vector<float> l{std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  sampler s({1.0f, 0, 1.0f, 11});
  std::map<int, int> count;
  const int n = 20000;
  for (int i = 0; i < n; ++i) count[s.sample(l)]++;
  CHECK(count[0] / double(n) == doctest::Approx(0.5).epsilon(0.05));
  CHECK(count[1] / double(n) == doctest::Approx(0.3).epsilon(0.07));
  CHECK(count[2] / double(n) == doctest::Approx(0.2).epsilon(0.08));
}

TEST_CASE("stop criteria: eos, stop ids, max_tokens, ignore_eos") {
  stop_criteria c;
  c.max_tokens = 3;
  c.eos_ids = {7};
  c.stop_ids = {9};
  CHECK(c.check(7, 1) == stop_reason::eos);
  CHECK(c.check(9, 1) == stop_reason::stop_token);
  CHECK(c.check(5, 2) == stop_reason::none);
  CHECK(c.check(5, 3) == stop_reason::max_tokens);
  c.ignore_eos = true;
  CHECK(c.check(7, 1) == stop_reason::none);
}

// The candidate sets by the definition: a full sort by logit (ties by id),
// the k best, then the smallest prefix holding top_p of their softmax mass.
static std::set<int> candidate_set(const std::vector<float>& l, float t, int top_k, float top_p) {
  std::vector<int> idx(l.size());
  for (std::size_t i = 0; i < l.size(); ++i) idx[i] = static_cast<int>(i);
  std::sort(idx.begin(), idx.end(), [&](int a, int b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
  std::size_t n = top_k > 0 ? std::min<std::size_t>(static_cast<std::size_t>(top_k), l.size()) : l.size();
  std::vector<double> p(n);
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += p[i] = std::exp((static_cast<double>(l[idx[i]]) - l[idx[0]]) / t);
  double acc = 0;
  std::size_t keep = n;
  for (std::size_t i = 0; i < n; ++i) {
    acc += p[i];
    if (acc >= top_p * sum) {
      keep = i + 1;
      break;
    }
  }
  return std::set<int>(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(keep));
}

TEST_CASE("large vocabularies: top-k, top-p and both draw exactly from the full sort's candidate sets") {
  std::mt19937 rng(21);
  for (int V : {1000, 49152}) {
    for (double spread : {0.5, 8.0}) {  // flat (top-p needs most of the vocabulary) and peaked
      std::normal_distribution<float> nd(0.f, static_cast<float>(spread));
      std::vector<float> l(static_cast<std::size_t>(V));
      for (auto& v : l) v = nd(rng);
      l[7] = l[8];  // a tie
      for (auto [k, p] : {std::pair{0, 0.9f}, std::pair{50, 1.0f}, std::pair{200, 0.8f}, std::pair{0, 0.3f}}) {
        CAPTURE(V);
        CAPTURE(spread);
        CAPTURE(k);
        CAPTURE(p);
        const auto allowed = candidate_set(l, 0.8f, k, p);
        sampler s({0.8f, k, p, 77});
        std::set<int> seen;
        for (int i = 0; i < 1500; ++i) seen.insert(s.sample(l));
        bool inside = true;
        for (int id : seen) inside = inside && allowed.count(id) == 1;
        CHECK(inside);
        // Peaked: the likeliest id is drawn. Flat, where the set is large
        // and even: the draws spread over it.
        if (spread > 1.0) CHECK(seen.count(static_cast<int>(std::max_element(l.begin(), l.end()) - l.begin())) == 1);
        else CHECK(seen.size() > std::min<std::size_t>(allowed.size() / 2, 500));
      }
    }
  }
}

TEST_CASE("no truncation: the draw frequencies follow the softmax over the whole vocabulary") {
  std::vector<float> l(5000, -30.f);  // all but four ids carry almost no mass
  l[4000] = std::log(0.4f);
  l[17] = std::log(0.3f);
  l[2500] = std::log(0.2f);
  l[4999] = std::log(0.1f);
  sampler s({1.0f, 0, 1.0f, 5});
  std::map<int, int> count;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++count[s.sample(l)];
  CHECK(count[4000] / double(n) == doctest::Approx(0.4).epsilon(0.05));
  CHECK(count[17] / double(n) == doctest::Approx(0.3).epsilon(0.06));
  CHECK(count[2500] / double(n) == doctest::Approx(0.2).epsilon(0.08));
  CHECK(count[4999] / double(n) == doctest::Approx(0.1).epsilon(0.12));
}

TEST_CASE("masked logits (-inf) are never drawn, with or without truncation") {
  std::vector<float> l(3000, -INFINITY);
  l[5] = 0.0f;
  l[2999] = 0.5f;
  l[1200] = -1.0f;
  for (auto [k, p] : {std::pair{0, 1.0f}, std::pair{0, 0.99f}, std::pair{100, 1.0f}, std::pair{100, 0.9f}}) {
    CAPTURE(k);
    CAPTURE(p);
    sampler s({1.0f, k, p, 3});
    std::set<int> seen;
    for (int i = 0; i < 4000; ++i) seen.insert(s.sample(l));
    CHECK(seen == std::set<int>{5, 1200, 2999});
  }
}
