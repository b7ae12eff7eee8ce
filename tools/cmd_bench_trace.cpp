// `kairos bench trace`: what recording a trace costs. Replays one sim-cluster
// workload (virtual time, so the runtime is CPU-bound: the worst case for
// overhead) with tracing off and on, alternating, and reports the throughput
// (requests per wall-clock second of replay) of each and their ratio. The
// trace file write at shutdown is not counted: it happens after the run.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "actors/replay.hpp"
#include "scheduler/workload.hpp"
#include "tools/subcommand.hpp"
#include "tools/workload_flags.hpp"

namespace {

using namespace kairos;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

int run_bench_trace(int argc, char** argv) {
  CLI::App app{"Throughput of a sim-cluster replay with tracing off and on (same run, alternating)"};
  std::string config_path = "configs/sim-2p2d-llama3-8b-h100.yaml", trace, synthetic, json_out;
  std::string trace_file = "/tmp/kairos-bench-trace." + std::to_string(::getpid()) + ".jsonl";
  int64_t limit = 500;
  double rate_scale = 24;
  int repeat = 5;
  app.add_option("--config", config_path, "runtime config (sim devices)")->capture_default_str();
  app.add_option("--trace", trace, "Azure CSV or Mooncake JSONL workload");
  app.add_option("--synthetic", synthetic, kairos::tools::synthetic_flag_help);
  app.add_option("--limit", limit, "first N requests")->capture_default_str();
  app.add_option("--rate-scale", rate_scale, "multiply the arrival rate")->capture_default_str();
  app.add_option("--repeat", repeat, "runs of each (alternating off and on)")->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--trace-out", trace_file, "where the traced runs write (removed afterwards)")->capture_default_str();
  app.add_option("--json", json_out, "also write the numbers here");
  CLI11_PARSE(app, argc, argv);

  auto cfg_r = load_runtime_config(config_path);
  if (!cfg_r) {
    std::fprintf(stderr, "kairos bench trace: %s\n", cfg_r.message().c_str());
    return 2;
  }
  const runtime_config cfg = cfg_r.value();
  if (!cfg.all_sim()) {
    std::fprintf(stderr, "kairos bench trace: %s has cpu devices; the benchmark replays sim devices in virtual time\n",
                 config_path.c_str());
    return 2;
  }
  auto wr = tools::read_workload_rows(trace, synthetic, 0, false);
  if (!wr.error.empty()) {
    std::fprintf(stderr, "kairos bench trace: %s\n", wr.error.c_str());
    return 2;
  }
  sched::workload_options wo;
  wo.rate_scale = rate_scale;
  wo.slo = cfg.slo[size_t(sched::request_class::standard)];
  wo.limit = limit;
  wo.max_tokens = cfg.admission.max_tokens_limit;
  const auto w = sched::make_workload(wr.rows, wo);
  const double n = double(w.requests.size());

  std::vector<double> off, on;
  size_t events = 0;
  // Alternating, and swapping which goes first each round, so drift of a
  // shared machine and any order effect fall on both sides alike.
  for (int i = 0; i < repeat; ++i)
    for (bool traced : {i % 2 == 1, i % 2 == 0}) {
      runtime_config c = cfg;
      if (traced) c.trace.out = trace_file;
      const auto rr = replay(c, w);
      if (!rr.error.empty()) {
        std::fprintf(stderr, "kairos bench trace: %s\n", rr.error.c_str());
        return 2;
      }
      (traced ? on : off).push_back(n / rr.wall_s);
      if (traced) {
        std::ifstream f(trace_file);
        events = size_t(std::count(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>(), '\n'));
        std::remove(trace_file.c_str());
      }
    }
  const double t_off = median(off), t_on = median(on);
  const double overhead = 1.0 - t_on / t_off;
  std::printf("bench trace: %s, %zu requests from %s, rate x%.3g, %d runs each (median)\n", config_path.c_str(), w.requests.size(),
              wr.source.c_str(), rate_scale, repeat);
  std::printf("  %-12s %16s\n", "tracing", "requests/s wall");
  std::printf("  %-12s %16.1f\n", "off", t_off);
  std::printf("  %-12s %16.1f   (%zu lines in the trace file)\n", "on", t_on, events);
  std::printf("  overhead %.2f%% of throughput (budget 3%%): %s\n", 100 * overhead, overhead <= 0.03 ? "within" : "OVER");
  if (!json_out.empty()) {
    nlohmann::json j = {{"config", config_path}, {"requests", w.requests.size()}, {"repeat", repeat},
                        {"off_rps", off},        {"on_rps", on},                  {"off_median_rps", t_off},
                        {"on_median_rps", t_on}, {"overhead", overhead},          {"trace_lines", events}};
    std::ofstream(json_out) << j.dump(1) << "\n";
  }
  return 0;
}

}  // namespace

KAIROS_SUBCOMMAND("bench trace", "throughput of a sim-cluster replay with tracing off and on (overhead budget 3%)",
                  run_bench_trace);
