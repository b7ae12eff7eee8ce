#include "scheduler/metrics.hpp"

#include <algorithm>
#include <cmath>

namespace kairos::sched {

double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const size_t lo = size_t(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

metrics_summary summarize(std::span<const request_outcome> outcomes, const decode_counters& decode,
                          std::optional<request_class> only) {
  metrics_summary s;
  std::vector<double> ttft, tpot, e2e;
  int64_t n_ttft = 0, n_tpot = 0, n_both = 0;
  time_s t0 = 0, t1 = 0;
  bool any = false;
  for (const auto& o : outcomes) {
    if (only && o.cls != *only) continue;
    ++s.n_requests;
    if (!any || o.arrival_s < t0) t0 = o.arrival_s;
    if (!any) t1 = o.arrival_s;
    any = true;
    if (!o.finished) continue;
    ++s.n_finished;
    t1 = std::max(t1, o.last_token_s);
    ttft.push_back(o.ttft() * 1e3);
    tpot.push_back(o.tpot() * 1e3);
    e2e.push_back(o.e2e() * 1e3);
    n_ttft += o.meets_ttft();
    n_tpot += o.meets_tpot();
    n_both += o.meets_both();
  }
  if (s.n_requests == 0) return s;
  const double n = double(s.n_requests);
  s.ttft_attainment = double(n_ttft) / n;
  s.tpot_attainment = double(n_tpot) / n;
  s.e2e_attainment = double(n_both) / n;
  s.duration_s = t1 - t0;
  s.goodput_rps = s.duration_s > 0 ? double(n_both) / s.duration_s : 0.0;
  s.decode_throughput_tok_s = decode.busy_s > 0 ? double(decode.tokens) / decode.busy_s : 0.0;
  s.mean_decode_batch = decode.steps > 0 ? double(decode.batch_sum) / double(decode.steps) : 0.0;
  s.ttft_p50_ms = percentile(ttft, 0.50);
  s.ttft_p90_ms = percentile(ttft, 0.90);
  s.ttft_p99_ms = percentile(ttft, 0.99);
  s.tpot_p50_ms = percentile(tpot, 0.50);
  s.tpot_p90_ms = percentile(tpot, 0.90);
  s.tpot_p99_ms = percentile(tpot, 0.99);
  s.e2e_p50_ms = percentile(e2e, 0.50);
  s.e2e_p90_ms = percentile(e2e, 0.90);
  s.e2e_p99_ms = percentile(e2e, 0.99);
  return s;
}

}  // namespace kairos::sched
