#include "tools/bench/bench_report.hpp"

#include <algorithm>
#include <cstdio>

namespace kairos::bench {

nlohmann::json run_json(const bench_run& r) {
  nlohmann::json j;
  j["rate_scale"] = r.rate_scale;
  j["offered_rps"] = r.offered_rps;
  j["summary"] = summary_json(r.summary);
  if (r.server_cpu_s >= 0) {
    const int64_t tokens = r.summary.total_output_tokens;
    j["server_cpu"] = {{"total_s", r.server_cpu_s},
                       {"user_s", r.server_cpu_user_s},
                       {"system_s", r.server_cpu_system_s},
                       {"us_per_token", tokens > 0 ? 1e6 * r.server_cpu_s / double(tokens) : 0.0}};
  }
  j["failures"] = nlohmann::json::array();
  for (const auto& f : r.failures) {
    int64_t n = 0;
    for (const auto& c : f.chunks) n += c.n_tokens;
    j["failures"].push_back({{"index", f.index}, {"error", f.error}, {"tokens_received", n},
                             {"send_s", f.send_s}, {"end_s", f.end_s}});
  }
  return j;
}

sched::point_result as_point(const std::string& label, const bench_run& r) {
  sched::point_result p;
  p.policy = label;
  p.rate_scale = r.rate_scale;
  p.rate_rps = r.offered_rps;
  const auto& s = r.summary;
  p.all.n_requests = s.n_requests;
  p.all.n_finished = s.n_completed;
  p.all.ttft_attainment = s.ttft_attainment;
  p.all.tpot_attainment = s.tpot_attainment;
  p.all.e2e_attainment = s.joint_attainment;
  p.all.goodput_rps = std::max(0.0, s.goodput_rps);
  p.all.ttft_p50_ms = s.ttft.median_ms;
  p.all.ttft_p90_ms = s.ttft.p90_ms;
  p.all.ttft_p99_ms = s.ttft.p99_ms;
  p.all.tpot_p50_ms = s.tpot.median_ms;
  p.all.tpot_p90_ms = s.tpot.p90_ms;
  p.all.tpot_p99_ms = s.tpot.p99_ms;
  p.all.e2e_p50_ms = s.e2el.median_ms;
  p.all.e2e_p90_ms = s.e2el.p90_ms;
  p.all.e2e_p99_ms = s.e2el.p99_ms;
  p.all.duration_s = s.duration_s;
  return p;
}

std::string latency_plot_svg(const std::vector<bench_run>& runs_in, const std::string& title) {
  std::vector<bench_run> runs = runs_in;
  std::sort(runs.begin(), runs.end(), [](const bench_run& a, const bench_run& b) { return a.offered_rps < b.offered_rps; });
  const double W = 720, PH = 260, L = 70, R = 150, T = 40, gap = 50;
  double xmax = 0;
  for (const auto& r : runs) xmax = std::max(xmax, r.offered_rps);
  if (xmax <= 0) xmax = 1;
  static const char* colors[] = {"#1f77b4", "#ff7f0e", "#d62728"};
  std::string s;
  char b[512];
  std::snprintf(b, sizeof b,
                "<svg xmlns='http://www.w3.org/2000/svg' width='%g' height='%g' font-family='sans-serif' font-size='12'>\n"
                "<rect width='100%%' height='100%%' fill='white'/>\n<text x='%g' y='20' font-size='14'>%s</text>\n",
                W, T + 2 * PH + gap + 30, L, title.c_str());
  s += b;
  struct panel {
    const char* name;
    const latency_stats bench_summary::*field;
  };
  const panel panels[] = {{"TTFT (ms)", &bench_summary::ttft}, {"TPOT (ms)", &bench_summary::tpot}};
  for (int k = 0; k < 2; ++k) {
    const double top = T + k * (PH + gap), bottom = top + PH - 30;
    double ymax = 0;
    for (const auto& r : runs) ymax = std::max(ymax, (r.summary.*(panels[k].field)).p99_ms);
    if (ymax <= 0) ymax = 1;
    ymax *= 1.1;
    auto X = [&](double x) { return L + (W - L - R) * x / xmax; };
    auto Y = [&](double y) { return bottom - (bottom - top) * y / ymax; };
    for (int i = 0; i <= 5; ++i) {
      const double y = ymax * i / 5, x = xmax * i / 5;
      std::snprintf(b, sizeof b,
                    "<line x1='%g' y1='%g' x2='%g' y2='%g' stroke='#ddd'/><text x='%g' y='%g' text-anchor='end'>%.3g</text>\n"
                    "<text x='%g' y='%g' text-anchor='middle'>%.3g</text>\n",
                    L, Y(y), W - R, Y(y), L - 5, Y(y) + 4, y, X(x), bottom + 16, x);
      s += b;
    }
    std::snprintf(b, sizeof b,
                  "<text x='15' y='%g' transform='rotate(-90 15 %g)' text-anchor='middle'>%s</text>\n"
                  "<text x='%g' y='%g' text-anchor='middle'>offered rate (req/s)</text>\n",
                  (top + bottom) / 2, (top + bottom) / 2, panels[k].name, (L + W - R) / 2, bottom + 30);
    s += b;
    const std::pair<const char*, double latency_stats::*> qs[] = {
        {"p50", &latency_stats::median_ms}, {"p90", &latency_stats::p90_ms}, {"p99", &latency_stats::p99_ms}};
    for (int q = 0; q < 3; ++q) {
      std::string pts;
      for (const auto& r : runs) {
        std::snprintf(b, sizeof b, "%.1f,%.1f ", X(r.offered_rps), Y((r.summary.*(panels[k].field)).*(qs[q].second)));
        pts += b;
      }
      std::snprintf(b, sizeof b,
                    "<polyline fill='none' stroke='%s' stroke-width='2' points='%s'/>\n"
                    "<line x1='%g' y1='%g' x2='%g' y2='%g' stroke='%s' stroke-width='2'/><text x='%g' y='%g'>%s</text>\n",
                    colors[q], pts.c_str(), W - R + 10, top + 18.0 * q, W - R + 30, top + 18.0 * q, colors[q], W - R + 35,
                    top + 18.0 * q + 4, qs[q].first);
      s += b;
    }
  }
  s += "</svg>\n";
  return s;
}

namespace {
// A number at a JSON path ("ttft.p99_ms"), or nullopt.
std::optional<double> at_path(const nlohmann::json& j, const std::string& path) {
  const nlohmann::json* p = &j;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!p->is_object() || !p->contains(key)) return std::nullopt;
    p = &(*p)[key];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (!p->is_number()) return std::nullopt;
  return p->get<double>();
}
}  // namespace

bool compare_table(const std::vector<std::string>& names, const std::vector<nlohmann::json>& docs, std::string& out,
                   std::string& err) {
  struct column {
    std::string name;
    const nlohmann::json* summary;
  };
  std::vector<column> cols;
  for (size_t f = 0; f < docs.size(); ++f) {
    const auto& d = docs[f];
    if (!d.is_object() || !d.contains("runs") || !d["runs"].is_array() || d["runs"].empty()) {
      err = names[f] + ": not a `kairos bench --json` result (no \"runs\" array)";
      return false;
    }
    std::string base = names[f].substr(names[f].rfind('/') + 1);
    for (const auto& r : d["runs"]) {
      if (!r.contains("summary") || !r["summary"].is_object()) {
        err = names[f] + ": a run has no \"summary\" object";
        return false;
      }
      std::string name = base;
      if (d["runs"].size() > 1) {
        char b[64];
        std::snprintf(b, sizeof b, " x%.3g", r.value("rate_scale", 1.0));
        name += b;
      }
      cols.push_back({name, &r["summary"]});
    }
  }
  const std::pair<const char*, const char*> rows[] = {
      {"completed", "completed"},
      {"failed", "failed"},
      {"duration (s)", "duration_s"},
      {"request throughput (req/s)", "request_throughput"},
      {"goodput (req/s)", "goodput_rps"},
      {"output throughput (tok/s)", "output_throughput"},
      {"peak output (tok/s)", "peak_output_tok_s"},
      {"peak concurrency", "peak_concurrency"},
      {"TTFT mean (ms)", "ttft.mean_ms"},
      {"TTFT median (ms)", "ttft.median_ms"},
      {"TTFT p90 (ms)", "ttft.p90_ms"},
      {"TTFT p99 (ms)", "ttft.p99_ms"},
      {"TPOT mean (ms)", "tpot.mean_ms"},
      {"TPOT median (ms)", "tpot.median_ms"},
      {"TPOT p90 (ms)", "tpot.p90_ms"},
      {"TPOT p99 (ms)", "tpot.p99_ms"},
      {"ITL median (ms)", "itl.median_ms"},
      {"ITL p99 (ms)", "itl.p99_ms"},
      {"E2EL median (ms)", "e2el.median_ms"},
      {"E2EL p99 (ms)", "e2el.p99_ms"},
      {"TTFT attainment (%)", "ttft_attainment"},
      {"TPOT attainment (%)", "tpot_attainment"},
      {"joint attainment (%)", "joint_attainment"},
      {"front latency p99 (ms)", "front_latency.p99_ms"},
  };
  size_t w0 = 28, w = 12;
  for (const auto& c : cols) w = std::max(w, c.name.size() + 2);
  char b[256];
  std::snprintf(b, sizeof b, "%-*s", int(w0), "metric");
  out = b;
  for (const auto& c : cols) {
    std::snprintf(b, sizeof b, "%*s", int(w), c.name.c_str());
    out += b;
  }
  out += "\n";
  for (const auto& [label, path] : rows) {
    const bool pct = std::string(path).find("attainment") != std::string::npos;
    bool any = false;
    std::string line;
    std::snprintf(b, sizeof b, "%-*s", int(w0), label);
    line = b;
    for (const auto& c : cols) {
      const auto v = at_path(*c.summary, path);
      if (v) {
        any = true;
        std::snprintf(b, sizeof b, "%*.2f", int(w), pct ? 100 * *v : *v);
      } else {
        std::snprintf(b, sizeof b, "%*s", int(w), "-");
      }
      line += b;
    }
    if (any) out += line + "\n";  // rows no file has (front latency over HTTP) are left out
  }
  return true;
}

}  // namespace kairos::bench
