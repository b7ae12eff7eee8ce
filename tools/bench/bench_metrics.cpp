#include "tools/bench/bench_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

#include "scheduler/metrics.hpp"

namespace kairos::bench {

// A nanosecond of slack absorbs floating-point rounding, as sched::request_outcome does.
constexpr double kEps = 1e-9;

int32_t request_record::output_tokens() const {
  if (usage_completion_tokens >= 0) return usage_completion_tokens;
  int32_t n = 0;
  for (const auto& c : chunks) n += c.n_tokens;
  return n;
}

double request_record::ttft() const {
  for (const auto& c : chunks)
    if (c.n_tokens > 0) return c.recv_s - send_s;
  return -1;
}

double request_record::tpot() const {
  const int32_t n = output_tokens();
  const double t = ttft();
  return n > 1 && t >= 0 ? (e2el() - t) / double(n - 1) : 0.0;
}

bool parse_goodput(const std::vector<std::string>& parts, goodput_slo& out, std::string& err) {
  for (const auto& p : parts) {
    const auto colon = p.find(':');
    const std::string key = p.substr(0, colon);
    if (colon == std::string::npos) {
      err = "--goodput: expected KEY:MS (ttft, tpot or e2el), got '" + p + "'";
      return false;
    }
    char* end = nullptr;
    const std::string num = p.substr(colon + 1);
    const double v = std::strtod(num.c_str(), &end);
    if (num.empty() || *end != '\0' || !(v >= 0) || !std::isfinite(v)) {
      err = "--goodput: '" + p + "': the bound must be a number of milliseconds >= 0";
      return false;
    }
    if (key == "ttft") out.ttft_ms = v;
    else if (key == "tpot") out.tpot_ms = v;
    else if (key == "e2el") out.e2el_ms = v;
    else {
      err = "--goodput: unknown metric '" + key + "' (expected ttft, tpot or e2el)";
      return false;
    }
  }
  return true;
}

latency_stats stats_ms(std::vector<double> v) {
  latency_stats s;
  s.n = int64_t(v.size());
  if (v.empty()) return s;
  for (auto& x : v) x *= 1e3;
  s.mean_ms = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
  s.median_ms = sched::percentile(v, 0.50);
  s.p90_ms = sched::percentile(v, 0.90);
  s.p99_ms = sched::percentile(v, 0.99);
  s.max_ms = v.back();  // percentile() sorted it
  return s;
}

front_latency_result front_latency(std::span<const request_record> records) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  double lo = -inf, hi = inf;
  for (const auto& r : records) {
    if (r.server_arrival_s >= 0 && r.send_s >= 0) hi = std::min(hi, r.server_arrival_s - r.send_s);
    for (const auto& c : r.chunks)
      if (c.server_t >= 0) lo = std::max(lo, c.server_t - c.recv_s);
  }
  front_latency_result out;
  if (lo == -inf) return out;  // no server timestamps
  // Without admission times only the lower bound is known: the fastest token
  // then counts as 0, and the samples are lower bounds instead.
  const double offset = hi == inf ? lo : std::max(lo, hi);
  out.uncertainty_s = hi == inf ? inf : std::max(0.0, hi - lo);
  for (const auto& r : records)
    for (const auto& c : r.chunks)
      if (c.server_t >= 0) out.samples.push_back(c.recv_s - c.server_t + offset);
  for (const auto& r : records)
    if (r.server_arrival_s >= 0 && r.send_s >= 0) out.ingress.push_back(r.server_arrival_s - offset - r.send_s);
  return out;
}

bench_summary summarize_bench(std::span<const request_record> records, const goodput_slo& gp) {
  bench_summary s;
  s.n_requests = int64_t(records.size());
  if (records.empty()) return s;
  std::vector<double> ttft, tpot, itl, e2el;
  double t0 = std::numeric_limits<double>::infinity(), t1 = -t0;
  int64_t met_ttft = 0, met_tpot = 0, met_both = 0, good = 0;
  int64_t srv_ttft = 0, srv_tpot = 0, srv_both = 0;
  double prompt_err_sum = 0;
  for (const auto& r : records) {
    if (r.send_s >= 0) {
      t0 = std::min(t0, r.send_s);
      t1 = std::max(t1, std::max(r.end_s, r.send_s));
    }
    if (r.server_slo_met >= 0) {
      ++s.n_server_reported;
      srv_ttft += r.server_ttft_met == 1;
      srv_tpot += r.server_tpot_met == 1;
      srv_both += r.server_slo_met == 1;
    }
    if (r.usage_prompt_tokens >= 0 && r.prompt_tokens > 0) {
      ++s.n_usage_prompt;
      s.n_prompt_mismatch += r.usage_prompt_tokens != r.prompt_tokens;
      prompt_err_sum += std::abs(double(r.usage_prompt_tokens - r.prompt_tokens)) / double(r.prompt_tokens);
    }
    if (!r.ok) {
      ++s.n_failed;
      ++s.errors[r.error.empty() ? std::string("unknown error") : r.error];
      continue;
    }
    ++s.n_completed;
    const int32_t out = r.output_tokens();
    s.total_input_tokens += r.usage_prompt_tokens >= 0 ? r.usage_prompt_tokens : r.prompt_tokens;
    s.total_output_tokens += out;
    const double t = r.ttft();
    if (t >= 0) ttft.push_back(t);
    if (out > 1 && t >= 0) tpot.push_back(r.tpot());
    e2el.push_back(r.e2el());
    for (size_t i = 1; i < r.chunks.size(); ++i) itl.push_back(r.chunks[i].recv_s - r.chunks[i - 1].recv_s);
    // A completed request without a token chunk has no TTFT: it misses the TTFT SLO.
    const bool ok_ttft = t >= 0 && t <= r.slo.ttft_s + kEps;
    const bool ok_tpot = r.tpot() <= r.slo.tpot_s + kEps;
    met_ttft += ok_ttft;
    met_tpot += ok_tpot;
    met_both += ok_ttft && ok_tpot;
    // vLLM's goodput: every given bound met (TPOT 0 with one token).
    const bool g = (gp.ttft_ms < 0 || (t >= 0 && t * 1e3 <= gp.ttft_ms + kEps)) &&
                   (gp.tpot_ms < 0 || r.tpot() * 1e3 <= gp.tpot_ms + kEps) &&
                   (gp.e2el_ms < 0 || r.e2el() * 1e3 <= gp.e2el_ms + kEps);
    good += g;
  }
  s.duration_s = t1 > t0 ? t1 - t0 : 0.0;
  const double n = double(s.n_requests);
  s.ttft_attainment = double(met_ttft) / n;
  s.tpot_attainment = double(met_tpot) / n;
  s.joint_attainment = double(met_both) / n;
  if (s.n_server_reported > 0) {
    s.server_ttft_attainment = double(srv_ttft) / n;
    s.server_tpot_attainment = double(srv_tpot) / n;
    s.server_joint_attainment = double(srv_both) / n;
  }
  if (s.duration_s > 0) {
    s.request_throughput = double(s.n_completed) / s.duration_s;
    s.output_throughput = double(s.total_output_tokens) / s.duration_s;
    s.total_token_throughput = double(s.total_input_tokens + s.total_output_tokens) / s.duration_s;
    if (gp.any()) s.goodput_rps = double(good) / s.duration_s;
  } else if (gp.any()) {
    s.goodput_rps = 0;
  }
  if (s.n_usage_prompt > 0) s.prompt_len_error = prompt_err_sum / double(s.n_usage_prompt);
  s.ttft = stats_ms(std::move(ttft));
  s.tpot = stats_ms(std::move(tpot));
  s.itl = stats_ms(std::move(itl));
  s.e2el = stats_ms(std::move(e2el));

  // Peak output tokens/s: tokens of completed requests by 1-second bin of receive time.
  std::map<int64_t, int64_t> bins;
  for (const auto& r : records)
    if (r.ok)
      for (const auto& c : r.chunks) bins[int64_t(std::floor(c.recv_s - t0))] += c.n_tokens;
  for (const auto& [b, k] : bins) s.peak_output_tok_s = std::max(s.peak_output_tok_s, double(k));

  // Peak concurrency: a sweep over sends (+1) and ends (-1); an end at the
  // same instant as a send goes first.
  std::vector<std::pair<double, int>> ev;
  for (const auto& r : records)
    if (r.send_s >= 0) {
      ev.push_back({r.send_s, +1});
      ev.push_back({std::max(r.end_s, r.send_s), -1});
    }
  std::sort(ev.begin(), ev.end());
  int64_t cur = 0;
  for (const auto& [t, d] : ev) s.peak_concurrency = std::max(s.peak_concurrency, cur += d);

  auto fl = front_latency(records);
  s.front = stats_ms(std::move(fl.samples));
  s.ingress = stats_ms(std::move(fl.ingress));
  s.front_offset_uncertainty_ms = fl.uncertainty_s < 0 ? -1 : fl.uncertainty_s * 1e3;
  return s;
}

namespace {
nlohmann::json stats_json(const latency_stats& s) {
  return {{"n", s.n}, {"mean_ms", s.mean_ms}, {"median_ms", s.median_ms}, {"p90_ms", s.p90_ms}, {"p99_ms", s.p99_ms}, {"max_ms", s.max_ms}};
}
// JSON has no infinity; an unbounded value is written as null.
nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace

nlohmann::json summary_json(const bench_summary& s) {
  nlohmann::json j;
  j["n_requests"] = s.n_requests;
  j["completed"] = s.n_completed;
  j["failed"] = s.n_failed;
  j["errors"] = nlohmann::json::object();
  for (const auto& [e, k] : s.errors) j["errors"][e] = k;
  j["duration_s"] = s.duration_s;
  j["total_input_tokens"] = s.total_input_tokens;
  j["total_output_tokens"] = s.total_output_tokens;
  j["request_throughput"] = s.request_throughput;
  j["output_throughput"] = s.output_throughput;
  j["total_token_throughput"] = s.total_token_throughput;
  j["ttft"] = stats_json(s.ttft);
  j["tpot"] = stats_json(s.tpot);
  j["itl"] = stats_json(s.itl);
  j["e2el"] = stats_json(s.e2el);
  j["ttft_attainment"] = s.ttft_attainment;
  j["tpot_attainment"] = s.tpot_attainment;
  j["joint_attainment"] = s.joint_attainment;
  j["goodput_rps"] = s.goodput_rps >= 0 ? nlohmann::json(s.goodput_rps) : nlohmann::json(nullptr);
  j["peak_output_tok_s"] = s.peak_output_tok_s;
  j["peak_concurrency"] = s.peak_concurrency;
  if (s.n_server_reported > 0)
    j["server"] = {{"n_reported", s.n_server_reported},
                   {"ttft_attainment", s.server_ttft_attainment},
                   {"tpot_attainment", s.server_tpot_attainment},
                   {"joint_attainment", s.server_joint_attainment}};
  if (s.n_usage_prompt > 0)
    j["prompt_check"] = {{"n_reported", s.n_usage_prompt}, {"mismatched", s.n_prompt_mismatch}, {"mean_rel_error", s.prompt_len_error}};
  if (s.front.n > 0) {
    j["front_latency"] = stats_json(s.front);
    j["front_latency"]["offset_uncertainty_ms"] = finite_or_null(s.front_offset_uncertainty_ms);
  }
  if (s.ingress.n > 0) j["ingress_latency"] = stats_json(s.ingress);
  return j;
}

std::string summary_text(const bench_summary& s) {
  std::string o;
  char b[256];
  auto line = [&](const char* k, const char* fmt, double v) {
    char val[64];
    std::snprintf(val, sizeof val, fmt, v);
    std::snprintf(b, sizeof b, "%-40s %s\n", k, val);
    o += b;
  };
  auto head = [&](const char* t) {
    std::snprintf(b, sizeof b, "%s\n", t);
    o += b;
  };
  auto lat = [&](const char* name, const latency_stats& l) {
    std::string t = std::string("---------------") + name + "---------------";
    t.resize(std::max<size_t>(t.size(), 50), '-');
    head(t.c_str());
    std::string k;
    for (auto [what, v] : {std::pair{"Mean", l.mean_ms}, {"Median", l.median_ms}, {"P90", l.p90_ms}, {"P99", l.p99_ms}}) {
      k = std::string(what) + " " + name + " (ms):";
      line(k.c_str(), "%.2f", v);
    }
  };
  head("============ Serving Benchmark Result ============");
  line("Successful requests:", "%.0f", double(s.n_completed));
  line("Failed requests:", "%.0f", double(s.n_failed));
  line("Benchmark duration (s):", "%.2f", s.duration_s);
  line("Total input tokens:", "%.0f", double(s.total_input_tokens));
  line("Total generated tokens:", "%.0f", double(s.total_output_tokens));
  line("Request throughput (req/s):", "%.2f", s.request_throughput);
  if (s.goodput_rps >= 0) line("Request goodput (req/s):", "%.2f", s.goodput_rps);
  line("Output token throughput (tok/s):", "%.2f", s.output_throughput);
  line("Peak output token throughput (tok/s):", "%.2f", s.peak_output_tok_s);
  line("Peak concurrent requests:", "%.0f", double(s.peak_concurrency));
  line("Total token throughput (tok/s):", "%.2f", s.total_token_throughput);
  lat("Time to First Token", s.ttft);
  lat("Time per Output Token (excl. 1st token)", s.tpot);
  lat("Inter-token Latency", s.itl);
  lat("End-to-end Latency", s.e2el);
  head("-----------------SLO attainment-------------------");
  line("TTFT attainment (%):", "%.1f", 100 * s.ttft_attainment);
  line("TPOT attainment (%):", "%.1f", 100 * s.tpot_attainment);
  line("Joint attainment (%):", "%.1f", 100 * s.joint_attainment);
  if (s.n_server_reported > 0) {
    line("Server-reported TTFT attainment (%):", "%.1f", 100 * s.server_ttft_attainment);
    line("Server-reported TPOT attainment (%):", "%.1f", 100 * s.server_tpot_attainment);
    line("Server-reported joint attainment (%):", "%.1f", 100 * s.server_joint_attainment);
  }
  if (s.front.n > 0) {
    head("----------Front latency (server token -> client)--");
    line("Median front latency (ms):", "%.3f", s.front.median_ms);
    line("P90 front latency (ms):", "%.3f", s.front.p90_ms);
    line("P99 front latency (ms):", "%.3f", s.front.p99_ms);
    line("Clock offset uncertainty (ms):", "%.3f", s.front_offset_uncertainty_ms);
    if (s.ingress.n > 0) {
      line("Median ingress (send -> admitted) (ms):", "%.3f", s.ingress.median_ms);
      line("P99 ingress (send -> admitted) (ms):", "%.3f", s.ingress.p99_ms);
    }
  }
  if (s.n_usage_prompt > 0 && s.n_prompt_mismatch > 0) {
    std::snprintf(b, sizeof b, "Prompt length: %lld of %lld prompts differ from the requested length (mean error %.1f%%)\n",
                  (long long)s.n_prompt_mismatch, (long long)s.n_usage_prompt, 100 * s.prompt_len_error);
    o += b;
  }
  if (!s.errors.empty()) {
    head("-----------------Errors---------------------------");
    for (const auto& [e, k] : s.errors) {
      std::snprintf(b, sizeof b, "%6lld x %s\n", (long long)k, e.c_str());
      o += b;
    }
  }
  head("==================================================");
  return o;
}

}  // namespace kairos::bench
