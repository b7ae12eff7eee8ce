#include "tools/cmd_sim_report.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

namespace kairos::tools {

namespace {
void put_metrics(nlohmann::json& j, const sched::metrics_summary& m) {
  j["ttft_attainment"] = m.ttft_attainment;
  j["tpot_attainment"] = m.tpot_attainment;
  j["e2e_attainment"] = m.e2e_attainment;
  j["goodput_rps"] = m.goodput_rps;
  j["decode_throughput_tok_s"] = m.decode_throughput_tok_s;
  j["ttft_p50_ms"] = m.ttft_p50_ms;
  j["ttft_p90_ms"] = m.ttft_p90_ms;
  j["ttft_p99_ms"] = m.ttft_p99_ms;
  j["tpot_p50_ms"] = m.tpot_p50_ms;
  j["tpot_p90_ms"] = m.tpot_p90_ms;
  j["tpot_p99_ms"] = m.tpot_p99_ms;
  j["e2e_p50_ms"] = m.e2e_p50_ms;
  j["e2e_p90_ms"] = m.e2e_p90_ms;
  j["e2e_p99_ms"] = m.e2e_p99_ms;
  j["mean_decode_batch"] = m.mean_decode_batch;
  j["n_requests"] = m.n_requests;
  j["n_finished"] = m.n_finished;
}
}  // namespace

nlohmann::json sim_row_json(const sched::point_result& p, bool per_class) {
  nlohmann::json j;
  j["policy"] = p.policy;
  j["rate_scale"] = p.rate_scale;
  j["slo_scale"] = p.slo_scale;
  put_metrics(j, p.all);
  j["rate_rps"] = p.rate_rps;
  j["duration_s"] = p.all.duration_s;
  j["preemptions"] = p.sim.decode.preemptions;
  j["rejected"] = p.sim.rejected;
  j["prefill_batches"] = p.sim.prefill_batches;
  if (per_class) {
    for (auto c : {sched::request_class::interactive, sched::request_class::relaxed}) {
      nlohmann::json k;
      put_metrics(k, p.by_class[size_t(c)]);
      j["classes"][sched::to_string(c)] = k;
    }
  }
  return j;
}

std::string sim_table(const std::vector<sched::point_result>& rows) {
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-22s %6s %5s %8s %6s %6s %6s %9s %9s %8s %8s %7s\n", "policy", "rate", "slo",
                "req/s", "ttft%", "tpot%", "e2e%", "goodput", "dec tok/s", "ttft p90", "tpot p90", "batch");
  out += buf;
  for (const auto& p : rows) {
    const auto& m = p.all;
    std::snprintf(buf, sizeof buf, "%-22s %6.2f %5.2f %8.2f %6.1f %6.1f %6.1f %9.2f %9.0f %8.0f %8.1f %7.1f\n",
                  p.policy.c_str(), p.rate_scale, p.slo_scale, p.rate_rps, 100 * m.ttft_attainment,
                  100 * m.tpot_attainment, 100 * m.e2e_attainment, m.goodput_rps, m.decode_throughput_tok_s,
                  m.ttft_p90_ms, m.tpot_p90_ms, m.mean_decode_batch);
    out += buf;
  }
  return out;
}

std::string sim_plot_svg(const std::vector<sched::point_result>& rows, const std::string& title) {
  const double W = 720, H = 440, L = 60, R = 200, T = 40, B = 50;
  std::map<std::string, std::vector<std::pair<double, double>>> lines;
  double xmax = 0;
  for (const auto& p : rows) {
    char key[160];
    std::snprintf(key, sizeof key, "%s (slo x%.2g)", p.policy.c_str(), p.slo_scale);
    lines[key].push_back({p.rate_rps, p.all.e2e_attainment});
    xmax = std::max(xmax, p.rate_rps);
  }
  if (xmax <= 0) xmax = 1;
  auto X = [&](double x) { return L + (W - L - R) * x / xmax; };
  auto Y = [&](double y) { return T + (H - T - B) * (1 - y); };
  static const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  std::string s;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "<svg xmlns='http://www.w3.org/2000/svg' width='%g' height='%g' font-family='sans-serif' font-size='12'>\n"
                "<rect width='100%%' height='100%%' fill='white'/>\n<text x='%g' y='20' font-size='14'>%s</text>\n",
                W, H, L, title.c_str());
  s += buf;
  for (int i = 0; i <= 10; ++i) {
    const double y = i / 10.0;
    std::snprintf(buf, sizeof buf,
                  "<line x1='%g' y1='%g' x2='%g' y2='%g' stroke='#ddd'/><text x='%g' y='%g' text-anchor='end'>%d%%</text>\n",
                  L, Y(y), W - R, Y(y), L - 5, Y(y) + 4, i * 10);
    s += buf;
  }
  for (int i = 0; i <= 5; ++i) {
    const double x = xmax * i / 5;
    std::snprintf(buf, sizeof buf, "<text x='%g' y='%g' text-anchor='middle'>%.3g</text>\n", X(x), H - B + 18, x);
    s += buf;
  }
  std::snprintf(buf, sizeof buf,
                "<text x='%g' y='%g' text-anchor='middle'>offered rate (req/s)</text>\n"
                "<text x='15' y='%g' transform='rotate(-90 15 %g)' text-anchor='middle'>joint SLO attainment</text>\n"
                "<line x1='%g' y1='%g' x2='%g' y2='%g' stroke='#999' stroke-dasharray='4 3'/>\n",
                (L + W - R) / 2, H - 12, (T + H - B) / 2, (T + H - B) / 2, L, Y(0.9), W - R, Y(0.9));
  s += buf;
  int k = 0;
  for (auto& [name, pts] : lines) {
    std::sort(pts.begin(), pts.end());
    const char* c = colors[k % 8];
    std::string poly;
    for (auto& [x, y] : pts) {
      std::snprintf(buf, sizeof buf, "%.1f,%.1f ", X(x), Y(y));
      poly += buf;
    }
    std::snprintf(buf, sizeof buf, "<polyline fill='none' stroke='%s' stroke-width='2' points='%s'/>\n", c, poly.c_str());
    s += buf;
    std::snprintf(buf, sizeof buf,
                  "<line x1='%g' y1='%g' x2='%g' y2='%g' stroke='%s' stroke-width='2'/><text x='%g' y='%g'>%s</text>\n",
                  W - R + 10, T + 18.0 * k, W - R + 30, T + 18.0 * k, c, W - R + 35, T + 18.0 * k + 4, name.c_str());
    s += buf;
    ++k;
  }
  s += "</svg>\n";
  return s;
}

}  // namespace kairos::tools
