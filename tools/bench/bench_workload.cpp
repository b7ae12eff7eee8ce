#include "tools/bench/bench_workload.hpp"

#include <random>

namespace kairos::bench {

std::vector<bench_request> make_bench_requests(std::span<const sched::trace_row> rows, const bench_workload_options& opt) {
  sched::workload_options wo;
  wo.rate_scale = opt.rate_scale;
  wo.limit = opt.limit;
  wo.max_tokens = opt.max_tokens;
  wo.slo = opt.slo;
  const sched::workload w = sched::make_workload(rows, wo);
  std::vector<bench_request> out;
  out.reserve(w.requests.size());
  for (size_t i = 0; i < w.requests.size(); ++i) {
    const auto& r = w.requests[i];
    bench_request b;
    b.index = int64_t(i);
    b.send_at_s = r.arrival_s;
    b.input_tokens = r.input_tokens;
    // The trace's true output length is what the client asks for: with
    // ignore_eos the server generates exactly that many tokens.
    b.max_tokens = w.output_tokens[i];
    b.slo = r.slo;
    out.push_back(b);
  }
  return out;
}

std::vector<int32_t> prompt_token_ids(int64_t index, int32_t n, int32_t lo, int32_t hi, uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ull + uint64_t(index));
  std::uniform_int_distribution<int32_t> pick(lo, hi - 1);
  std::vector<int32_t> ids(size_t(n > 0 ? n : 0));
  for (auto& t : ids) t = pick(rng);
  return ids;
}

std::string prompt_text(int64_t index, int32_t n, uint64_t seed) {
  static const char* words[] = {"the", "time", "people", "year", "way",   "day",   "man",  "thing", "world", "life",
                                "hand", "part", "child", "eye",  "woman", "place", "work", "week",  "case",  "point",
                                "home", "water", "room", "mother", "area", "money", "story", "fact", "month", "lot"};
  constexpr size_t n_words = sizeof words / sizeof words[0];
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ull + uint64_t(index));
  std::uniform_int_distribution<size_t> pick(0, n_words - 1);
  std::string s;
  for (int32_t i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += words[pick(rng)];
  }
  return s;
}

}  // namespace kairos::bench
