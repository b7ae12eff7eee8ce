// `kairos bench trace`: what recording a trace costs. Replays one sim-cluster
// workload (virtual time, so the runtime is CPU-bound: the worst case for
// overhead) with tracing off and on, alternating, and reports the throughput
// (requests per wall-clock second and per CPU second of replay) of each and
// the median of the rounds' ratios. The trace file write at shutdown is not
// counted: it happens after the run.
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
  bool real_time = false;
  app.add_option("--config", config_path, "runtime config (sim devices)")->capture_default_str();
  app.add_option("--trace", trace, "Azure CSV or Mooncake JSONL workload");
  app.add_option("--synthetic", synthetic, kairos::tools::synthetic_flag_help);
  app.add_option("--limit", limit, "first N requests")->capture_default_str();
  app.add_option("--rate-scale", rate_scale, "multiply the arrival rate")->capture_default_str();
  app.add_option("--repeat", repeat, "runs of each (alternating off and on)")->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--trace-out", trace_file, "where the traced runs write (removed afterwards)")->capture_default_str();
  app.add_option("--json", json_out, "also write the numbers here");
  app.add_flag("--real-time", real_time,
               "replay the sim devices in real time (a served sim cluster at this load) instead of virtual time");
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

  // Throughput per wall-clock second and per CPU second (the process's CPU
  // time over the replay: on a shared VM it does not count time the host gave
  // to someone else, so it is the steadier of the two).
  std::vector<double> off, on, off_cpu, on_cpu, ratio, ratio_cpu, off_tok, on_tok;
  size_t events = 0;
  // Alternating, and swapping which goes first each round, so drift of a
  // shared machine and any order effect fall on both sides alike; each
  // round's on/off ratio is paired, and the overhead is their median.
  for (int i = 0; i < repeat; ++i) {
    double wall[2] = {0, 0}, cpu[2] = {0, 0};
    for (bool traced : {i % 2 == 1, i % 2 == 0}) {
      runtime_config c = cfg;
      if (traced) c.trace.out = trace_file;
      const auto rr = replay(c, w, 0, real_time);
      if (!rr.error.empty()) {
        std::fprintf(stderr, "kairos bench trace: %s\n", rr.error.c_str());
        return 2;
      }
      wall[traced] = rr.wall_s;
      cpu[traced] = rr.cpu_s;
      (traced ? on : off).push_back(n / rr.wall_s);
      (traced ? on_cpu : off_cpu).push_back(n / rr.cpu_s);
      (traced ? on_tok : off_tok).push_back(double(rr.stats.decode_tokens) / rr.wall_s);
      if (traced) {
        std::ifstream f(trace_file);
        events = size_t(std::count(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>(), '\n'));
        std::remove(trace_file.c_str());
      }
    }
    ratio.push_back(wall[0] / wall[1]);
    ratio_cpu.push_back(cpu[0] / cpu[1]);
  }
  const double overhead = 1.0 - median(ratio), overhead_cpu = 1.0 - median(ratio_cpu);
  std::printf("bench trace: %s, %zu requests from %s, rate x%.3g, %s time, %d runs each (median)\n", config_path.c_str(),
              w.requests.size(), wr.source.c_str(), rate_scale, real_time ? "real" : "virtual", repeat);
  std::printf("  %-12s %16s %16s %18s\n", "tracing", "requests/s wall", "requests/CPU-s", "decode tok/s wall");
  std::printf("  %-12s %16.1f %16.1f %18.1f\n", "off", median(off), median(off_cpu), median(off_tok));
  std::printf("  %-12s %16.1f %16.1f %18.1f   (%zu lines in the trace file)\n", "on", median(on), median(on_cpu), median(on_tok),
              events);
  // In real time the CPU figure includes the actor system's idle workers; the
  // wall throughput is what the served cluster delivers.
  std::printf("  overhead (median of each round's on/off ratio): %.2f%% of wall throughput, %.2f%% of CPU throughput "
              "(budget 3%%): %s\n",
              100 * overhead, 100 * overhead_cpu, (real_time ? overhead : std::max(overhead, overhead_cpu)) <= 0.03 ? "within" : "OVER");
  if (!json_out.empty()) {
    nlohmann::json j = {{"config", config_path},
                        {"requests", w.requests.size()},
                        {"repeat", repeat},
                        {"off_rps", off},
                        {"on_rps", on},
                        {"off_rps_cpu", off_cpu},
                        {"on_rps_cpu", on_cpu},
                        {"off_median_rps", median(off)},
                        {"on_median_rps", median(on)},
                        {"overhead", overhead},
                        {"overhead_cpu", overhead_cpu},
                        {"off_decode_tok_s", off_tok},
                        {"on_decode_tok_s", on_tok},
                        {"real_time", real_time},
                        {"trace_lines", events}};
    std::ofstream(json_out) << j.dump(1) << "\n";
  }
  return 0;
}

}  // namespace

KAIROS_SUBCOMMAND("bench trace", "throughput of a sim-cluster replay with tracing off and on (overhead budget 3%)",
                  run_bench_trace);
