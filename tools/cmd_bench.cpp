// `kairos bench`: a load generator for serving systems, in the manner of `vllm
// bench serve`. It replays a trace or synthetic arrivals (the workload flags
// of `kairos sim`) against a server over the Kairos WebSocket protocol or
// OpenAI HTTP/SSE, and reports TTFT/TPOT/ITL/E2EL percentiles, throughput,
// goodput and SLO attainment; optionally over a rate sweep with goodput@90.
// A thin main over tools/bench/.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sys/resource.h>
#include <unistd.h>

#include "tools/bench/bench_client.hpp"
#include "tools/bench/bench_report.hpp"
#include "tools/bench/goodput_search.hpp"
#include "tools/bench/proc_stat.hpp"
#include "tools/cmd_sim_report.hpp"
#include "tools/subcommand.hpp"
#include "tools/workload_flags.hpp"

namespace {

using namespace kairos;
using namespace kairos::bench;

// 1,000 streams need more descriptors than the usual soft limit of 1024.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// A progress bar on a terminal, a plain line every 10% otherwise.
struct progress_printer {
  bool tty = isatty(2) != 0;
  bool quiet = false;
  int64_t last_decile = -1;
  void operator()(const progress& p) {
    if (quiet || p.total == 0) return;
    if (tty) {
      const int width = 30;
      const int fill = int(width * p.done / p.total);
      std::fprintf(stderr, "\r[%.*s%*s] %lld/%lld done, %lld in flight, %lld failed, %lld tokens, %.1f s ", fill,
                   "==============================", width - fill, "", (long long)p.done, (long long)p.total,
                   (long long)p.in_flight, (long long)p.failed, (long long)p.tokens, p.elapsed_s);
      if (p.done == p.total) std::fputc('\n', stderr);
    } else {
      const int64_t d = p.done * 10 / p.total;
      if (d != last_decile) {
        last_decile = d;
        std::fprintf(stderr, "bench: %lld/%lld done, %lld in flight, %lld failed, %lld tokens, %.1f s\n", (long long)p.done,
                     (long long)p.total, (long long)p.in_flight, (long long)p.failed, (long long)p.tokens, p.elapsed_s);
      }
    }
  }
};

struct run_context {
  std::vector<sched::trace_row> rows;
  bench_workload_options wo;
  client_options co;
  goodput_slo gp;
  int server_pid = 0;
  bool quiet = false;
};

// One load level: the workload at `rate_scale`, sent, measured.
bench_run run_level(const run_context& ctx, double rate_scale) {
  bench_workload_options wo = ctx.wo;
  wo.rate_scale = rate_scale;
  const auto reqs = make_bench_requests(ctx.rows, wo);
  bench_run run;
  run.rate_scale = rate_scale;
  const double span = reqs.size() > 1 ? reqs.back().send_at_s - reqs.front().send_at_s : 0;
  run.offered_rps = span > 0 ? double(reqs.size() - 1) / span : 0;
  cpu_times c0, c1;
  std::string err;
  const bool cpu = ctx.server_pid > 0 && read_cpu_times(ctx.server_pid, c0, err);
  if (ctx.server_pid > 0 && !cpu) std::fprintf(stderr, "kairos bench: %s\n", err.c_str());
  progress_printer pp;
  pp.quiet = ctx.quiet;
  auto recs = run_bench(ctx.co, reqs, std::ref(pp));
  run.summary = summarize_bench(recs, ctx.gp);
  for (auto& r : recs)
    if (!r.ok) run.failures.push_back(std::move(r));
  if (cpu && read_cpu_times(ctx.server_pid, c1, err)) {
    run.server_cpu_s = c1.total() - c0.total();
    run.server_cpu_user_s = c1.user_s - c0.user_s;
    run.server_cpu_system_s = c1.system_s - c0.system_s;
  }
  return run;
}

void print_run(const bench_run& r) {
  std::printf("rate scale %.3g, offered %.2f req/s\n", r.rate_scale, r.offered_rps);
  std::fputs(summary_text(r.summary).c_str(), stdout);
  if (r.server_cpu_s >= 0) {
    const auto& s = r.summary;
    int64_t tokens = s.total_output_tokens;
    std::printf("Server CPU: %.2f s (user %.2f, system %.2f) over %.2f s = %.2f cores; %.1f us per streamed token\n",
                r.server_cpu_s, r.server_cpu_user_s, r.server_cpu_system_s, s.duration_s,
                s.duration_s > 0 ? r.server_cpu_s / s.duration_s : 0.0, tokens > 0 ? 1e6 * r.server_cpu_s / double(tokens) : 0.0);
  }
}

int run_bench_cmd(int argc, char** argv) {
  CLI::App app{"Load a serving system with a trace or synthetic traffic; report TTFT/TPOT/ITL/E2EL, throughput, goodput, attainment"};
  std::string backend_name = "ws", url = "http://127.0.0.1:8080", trace, synthetic, json_out, sweep, plot_att, plot_lat;
  std::string api_key, model, prompt_mode = "ids", id_range = "1:256", label;
  std::vector<std::string> goodput;
  int64_t limit = 0;
  uint64_t seed = 0;
  double rate_scale = 1, ttft_ms = -1, tpot_ms = -1, timeout_s = 0;
  int max_conc = 0, per_conn = 1, max_tokens = 4096, server_pid = 0, probes = 6;
  bool quiet = false, goodput90 = false, no_slo = false;
  app.add_option("--backend", backend_name, "ws (Kairos WebSocket) | openai (HTTP/SSE completions)")->check(CLI::IsMember({"ws", "openai"}));
  app.add_option("--url", url, "server: http://HOST:PORT[/PATH] (path default /v1/stream or /v1/completions)")->capture_default_str();
  app.add_option("--trace", trace, "Azure CSV or Mooncake JSONL trace (format chosen by content)");
  app.add_option("--synthetic", synthetic, kairos::tools::synthetic_flag_help);
  app.add_option("--limit", limit, "first N requests only");
  app.add_option("--rate-scale", rate_scale, "multiply the arrival rate (gaps / F)")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed (synthetic arrivals, prompts)");
  app.add_option("--goodput", goodput, "goodput bounds, vLLM style: ttft:MS tpot:MS [e2el:MS]")->expected(1, 3);
  app.add_option("--ttft-ms", ttft_ms, "TTFT SLO of every request (default: --goodput's ttft, else 500)");
  app.add_option("--tpot-ms", tpot_ms, "TPOT SLO of every request (default: --goodput's tpot, else 50)");
  app.add_option("--max-tokens", max_tokens, "cap on the trace's output lengths (sent as max_tokens, with ignore_eos)")->check(CLI::PositiveNumber);
  app.add_option("--max-concurrency", max_conc, "requests in flight at most; later ones wait for a slot")->check(CLI::NonNegativeNumber);
  app.add_option("--ws-requests-per-conn", per_conn, "ws: requests multiplexed on one connection (server limit 64)")->check(CLI::Range(1, 64));
  app.add_option("--json", json_out, "write the result here");
  app.add_option("--sweep-rates", sweep, "comma-separated rate scales, one run each");
  app.add_flag("--goodput90", goodput90, "find goodput@90 (joint attainment >= 90%) by bisection over the rate scale");
  app.add_option("--goodput90-probes", probes, "at most this many runs for --goodput90")->check(CLI::Range(2, 50));
  app.add_option("--plot-attainment", plot_att, "SVG of joint attainment against rate (sweeps)");
  app.add_option("--plot-latency", plot_lat, "SVG of TTFT/TPOT percentiles against rate (sweeps)");
  app.add_option("--label", label, "name of this run in plots and JSON (default: the backend)");
  app.add_option("--api-key", api_key, "Bearer key (default: $KAIROS_API_KEY, then $OPENAI_API_KEY)");
  app.add_option("--model", model, "openai: the model field (default: not sent)");
  app.add_option("--prompt", prompt_mode, "ids (token ids of the exact length) | text (words; checked against usage)")->check(CLI::IsMember({"ids", "text"}));
  app.add_option("--token-id-range", id_range, "prompt token ids drawn from [LO, HI)")->capture_default_str();
  app.add_option("--timeout", timeout_s, "fail a request running longer than this many seconds (0: never)");
  app.add_option("--server-pid", server_pid, "report this process's CPU time per streamed token (/proc/PID/stat)");
  app.add_flag("--no-slo", no_slo, "ws: do not send the SLO with each request (the server then uses its class default)");
  app.add_flag("--quiet", quiet, "no progress, no report on stdout");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  run_context ctx;
  ctx.quiet = quiet;
  ctx.server_pid = server_pid;
  std::string err;
  if (!goodput.empty()) {
    std::vector<std::string> parts;
    for (const auto& g : goodput)
      for (auto& p : tools::split(g, ',')) parts.push_back(p);
    if (!parse_goodput(parts, ctx.gp, err)) {
      std::fprintf(stderr, "kairos bench: %s\n", err.c_str());
      return 2;
    }
  }
  ctx.co.kind = backend_name == "ws" ? backend::ws : backend::openai;
  if (!parse_url(url, ctx.co.kind, ctx.co.url, err)) {
    std::fprintf(stderr, "kairos bench: %s\n", err.c_str());
    return 2;
  }
  if (api_key.empty())
    for (const char* env : {"KAIROS_API_KEY", "OPENAI_API_KEY"})
      if (const char* k = std::getenv(env); k && api_key.empty()) api_key = k;
  ctx.co.api_key = api_key;
  ctx.co.model = model;
  ctx.co.max_concurrency = max_conc;
  ctx.co.ws_requests_per_conn = per_conn;
  ctx.co.prompt = prompt_mode == "ids" ? prompt_kind::token_ids : prompt_kind::text;
  ctx.co.seed = seed;
  ctx.co.send_slo = !no_slo;
  ctx.co.request_timeout_s = timeout_s;
  {
    const auto colon = id_range.find(':');
    char* e1 = nullptr;
    char* e2 = nullptr;
    const long lo = colon == std::string::npos ? 0 : std::strtol(id_range.c_str(), &e1, 10);
    const long hi = colon == std::string::npos ? 0 : std::strtol(id_range.c_str() + colon + 1, &e2, 10);
    if (colon == std::string::npos || e1 != id_range.c_str() + colon || *e2 != '\0' || lo < 0 || hi <= lo) {
      std::fprintf(stderr, "kairos bench: --token-id-range: expected LO:HI with 0 <= LO < HI, got '%s'\n", id_range.c_str());
      return 2;
    }
    ctx.co.token_id_lo = int32_t(lo);
    ctx.co.token_id_hi = int32_t(hi);
  }
  // The SLO every request is judged by: explicit flags, else --goodput's bounds, else evaluation.md's defaults.
  ctx.wo.slo.ttft_s = (ttft_ms > 0 ? ttft_ms : ctx.gp.ttft_ms > 0 ? ctx.gp.ttft_ms : 500) / 1e3;
  ctx.wo.slo.tpot_s = (tpot_ms > 0 ? tpot_ms : ctx.gp.tpot_ms > 0 ? ctx.gp.tpot_ms : 50) / 1e3;
  ctx.wo.limit = limit;
  ctx.wo.max_tokens = max_tokens;

  tools::workload_rows wr = tools::read_workload_rows(trace, synthetic, seed, true);
  if (!wr.error.empty()) {
    std::fprintf(stderr, "kairos bench: %s\n", wr.error.c_str());
    return 2;
  }
  ctx.rows = std::move(wr.rows);
  raise_fd_limit();
  if (label.empty()) label = backend_name;

  std::vector<double> rates;
  for (const auto& s : tools::split(sweep, ',')) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (*end != '\0' || !(v > 0)) {
      std::fprintf(stderr, "kairos bench: --sweep-rates: '%s' is not a positive number\n", s.c_str());
      return 2;
    }
    rates.push_back(v);
  }
  if (rates.empty()) rates.push_back(rate_scale);

  if (!quiet)
    std::printf("bench: %s, %s backend at %s:%u%s, SLO TTFT %.0f ms, TPOT %.0f ms%s\n", wr.source.c_str(), backend_name.c_str(),
                ctx.co.url.host.c_str(), unsigned(ctx.co.url.port), ctx.co.url.path.c_str(), ctx.wo.slo.ttft_s * 1e3,
                ctx.wo.slo.tpot_s * 1e3, max_conc > 0 ? (", max concurrency " + std::to_string(max_conc)).c_str() : "");
  std::vector<bench_run> runs;
  for (double r : rates) {
    runs.push_back(run_level(ctx, r));
    if (!quiet) print_run(runs.back());
  }
  goodput_search_result g90;
  if (goodput90) {
    goodput_search_options so;
    so.start = rates.back();
    so.max_probes = probes;
    g90 = search_goodput(
        [&](double s) {
          for (const auto& r : runs)
            if (r.rate_scale == s) return r.summary.joint_attainment;  // already measured
          runs.push_back(run_level(ctx, s));
          if (!quiet)
            std::printf("goodput@90 probe: rate x%.3g (%.2f req/s): joint attainment %.1f%%\n", s, runs.back().offered_rps,
                        100 * runs.back().summary.joint_attainment);
          return runs.back().summary.joint_attainment;
        },
        so);
    double rps = 0;
    for (const auto& r : runs)
      if (r.rate_scale == g90.rate_scale) rps = r.offered_rps;
    std::printf("goodput@90 %s: rate x%.3g = %.2f req/s (lowest failing x%.3g; %zu probes)\n", label.c_str(), g90.rate_scale,
                rps, g90.failing_scale, g90.probes.size());
  }
  std::sort(runs.begin(), runs.end(), [](const bench_run& a, const bench_run& b) { return a.rate_scale < b.rate_scale; });

  if (!json_out.empty()) {
    nlohmann::json j;
    j["kairos_bench"] = 1;
    j["config"] = {{"label", label},          {"backend", backend_name},     {"url", url},
                   {"source", wr.source},     {"limit", limit},              {"seed", seed},
                   {"ttft_slo_ms", ctx.wo.slo.ttft_s * 1e3}, {"tpot_slo_ms", ctx.wo.slo.tpot_s * 1e3},
                   {"max_concurrency", max_conc}, {"max_tokens", max_tokens}, {"prompt", prompt_mode}};
    if (ctx.gp.any()) j["config"]["goodput"] = goodput;
    j["runs"] = nlohmann::json::array();
    for (const auto& r : runs) j["runs"].push_back(run_json(r));
    if (goodput90)
      j["goodput90"] = {{"rate_scale", g90.rate_scale}, {"failing_scale", g90.failing_scale}, {"probes", g90.probes.size()}};
    std::ofstream f(json_out);
    if (!f) {
      std::fprintf(stderr, "kairos bench: cannot write %s\n", json_out.c_str());
      return 2;
    }
    f << j.dump(1) << "\n";
  }
  const std::string title = label + ", " + (trace.empty() ? "synthetic" : trace.substr(trace.rfind('/') + 1));
  if (!plot_att.empty()) {
    std::vector<sched::point_result> pts;
    for (const auto& r : runs) pts.push_back(as_point(label, r));
    std::ofstream f(plot_att);
    if (!f) {
      std::fprintf(stderr, "kairos bench: cannot write %s\n", plot_att.c_str());
      return 2;
    }
    f << tools::sim_plot_svg(pts, title);
  }
  if (!plot_lat.empty()) {
    std::ofstream f(plot_lat);
    if (!f) {
      std::fprintf(stderr, "kairos bench: cannot write %s\n", plot_lat.c_str());
      return 2;
    }
    f << latency_plot_svg(runs, title);
  }
  int64_t failed = 0;
  for (const auto& r : runs) failed += r.summary.n_failed;
  return failed > 0 ? 3 : 0;
}

}  // namespace

KAIROS_SUBCOMMAND("bench", "load a server (Kairos WS or OpenAI HTTP/SSE) with a trace; TTFT/TPOT, goodput, attainment", run_bench_cmd);
