#pragma once
// `kairos bench` results: the JSON file of a run or a rate sweep, the side by
// side table of `kairos bench compare`, and the latency-against-rate SVG
// (attainment against rate reuses `kairos sim`'s plot through as_point()).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "scheduler/experiment.hpp"
#include "tools/bench/bench_metrics.hpp"

namespace kairos::bench {

// One load level of a run.
struct bench_run {
  double rate_scale = 1;
  double offered_rps = 0;  // requests / span of send times in the workload
  bench_summary summary;
  std::vector<request_record> failures;  // the failed records, for the JSON file
  double server_cpu_s = -1, server_cpu_user_s = -1, server_cpu_system_s = -1;  // --server-pid: CPU time during the run
};

nlohmann::json run_json(const bench_run& r);

// The run as a `kairos sim` point (label as the policy), so that
// tools::sim_plot_svg draws attainment against rate for bench sweeps too.
sched::point_result as_point(const std::string& label, const bench_run& r);

// TTFT and TPOT percentiles (p50, p90, p99) against offered rate, two panels.
std::string latency_plot_svg(const std::vector<bench_run>& runs, const std::string& title);

// `kairos bench compare`: one column per run of each file (files written by
// `kairos bench --json`), one row per metric. An error names the file and what
// is missing.
bool compare_table(const std::vector<std::string>& names, const std::vector<nlohmann::json>& docs, std::string& out,
                   std::string& err);

}  // namespace kairos::bench
