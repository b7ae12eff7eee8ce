#include "scheduler/workload.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <random>

namespace kairos::sched {

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

slo_targets class_slo(request_class c, const slo_targets& standard) {
  switch (c) {
    case request_class::interactive: return {0.250, 0.030};
    case request_class::relaxed: return {2.000, 0.100};
    case request_class::standard: break;
  }
  return standard;
}

request_class mixed_class_of(uint64_t index, uint64_t seed) {
  return (splitmix64(index ^ splitmix64(seed)) & 1) ? request_class::interactive : request_class::relaxed;
}

workload make_workload(std::span<const trace_row> rows_in, const workload_options& opt) {
  std::vector<trace_row> rows(rows_in.begin(), rows_in.end());
  std::stable_sort(rows.begin(), rows.end(), [](const trace_row& a, const trace_row& b) { return a.arrival_s < b.arrival_s; });
  if (opt.limit > 0 && size_t(opt.limit) < rows.size()) rows.resize(size_t(opt.limit));
  workload w;
  w.requests.reserve(rows.size());
  w.output_tokens.reserve(rows.size());
  const time_s t0 = rows.empty() ? 0 : rows.front().arrival_s;
  const double scale = opt.rate_scale > 0 ? opt.rate_scale : 1.0;
  for (size_t i = 0; i < rows.size(); ++i) {
    request_spec r;
    r.id = request_id(i);
    r.arrival_s = (rows[i].arrival_s - t0) / scale;
    r.input_tokens = std::max(1, rows[i].input_tokens);
    r.max_tokens = opt.max_tokens;
    r.cls = opt.mixed_classes ? mixed_class_of(i, opt.seed) : request_class::standard;
    const slo_targets s = class_slo(r.cls, opt.slo);
    r.slo = {s.ttft_s * opt.slo_scale, s.tpot_s * opt.slo_scale};
    w.requests.push_back(r);
    w.output_tokens.push_back(std::clamp(rows[i].output_tokens, 1, opt.max_tokens));
  }
  return w;
}

bool parse_length_dist(const std::string& name, length_dist& out) {
  for (auto d : {length_dist::fixed, length_dist::uniform, length_dist::exponential, length_dist::lognormal})
    if (name == to_string(d)) {
      out = d;
      return true;
    }
  return false;
}

const char* to_string(length_dist d) {
  switch (d) {
    case length_dist::fixed: return "fixed";
    case length_dist::uniform: return "uniform";
    case length_dist::exponential: return "exponential";
    case length_dist::lognormal: return "lognormal";
  }
  return "?";
}

namespace {

int32_t draw_length(std::mt19937_64& rng, length_dist d, double mean, double cv) {
  double v = mean;
  switch (d) {
    case length_dist::fixed: break;
    case length_dist::uniform: {
      const double half = std::min(mean - 1.0, std::sqrt(3.0) * cv * mean);  // keep the low end >= 1
      v = std::uniform_real_distribution<double>(mean - half, mean + half)(rng);
      break;
    }
    case length_dist::exponential: v = std::exponential_distribution<double>(1.0 / mean)(rng); break;
    case length_dist::lognormal: {
      // mean m and cv c: sigma^2 = ln(1 + c^2), mu = ln m - sigma^2 / 2.
      const double s2 = std::log1p(cv * cv);
      v = std::lognormal_distribution<double>(std::log(mean) - s2 / 2, std::sqrt(s2))(rng);
      break;
    }
  }
  return static_cast<int32_t>(std::clamp(std::llround(v), 1LL, static_cast<long long>(INT32_MAX)));
}

}  // namespace

std::vector<trace_row> synthetic_rows(const synthetic_spec& spec, std::span<const trace_row> length_source) {
  std::mt19937_64 rng(spec.seed);
  const double shape = spec.burstiness > 0 ? spec.burstiness : 1.0;
  std::gamma_distribution<double> gap(shape, 1.0 / (spec.rate * shape));
  std::uniform_int_distribution<size_t> pick(0, length_source.empty() ? 0 : length_source.size() - 1);
  std::vector<trace_row> rows;
  rows.reserve(size_t(spec.n));
  time_s t = 0;
  for (int64_t i = 0; i < spec.n; ++i) {
    trace_row r;
    if (i > 0) t += gap(rng);
    r.arrival_s = t;
    if (length_source.empty()) {
      r.input_tokens = draw_length(rng, spec.input_dist, spec.input_tokens, spec.input_cv);
      r.output_tokens = draw_length(rng, spec.output_dist, spec.output_tokens, spec.output_cv);
    } else {
      const auto& s = length_source[pick(rng)];
      r.input_tokens = s.input_tokens;
      r.output_tokens = s.output_tokens;
    }
    rows.push_back(r);
  }
  return rows;
}

}  // namespace kairos::sched
