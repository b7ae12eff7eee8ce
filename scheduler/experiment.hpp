#pragma once
// One sweep point = one workload x one policy set x one cluster, simulated and
// summarised; plus goodput@90 by bisection over the rate scale.
#include <array>
#include <span>
#include <string>

#include "scheduler/metrics.hpp"
#include "scheduler/policy_registry.hpp"
#include "scheduler/simulator.hpp"
#include "scheduler/workload.hpp"

namespace kairos::sched {

struct experiment_setup {
  std::span<const trace_row> rows;
  workload_options workload;  // rate_scale / slo_scale are set per point
  sim_config cluster;
  policy_options policies;
  const cost_model* truth = nullptr;
  const cost_model* predictor = nullptr;  // null: same as truth
};

struct point_result {
  std::string policy;
  double rate_scale = 1, slo_scale = 1;
  double rate_rps = 0;  // offered request rate at this point
  metrics_summary all;
  std::array<metrics_summary, n_request_classes> by_class;  // filled when classes are mixed
  sim_result sim;       // outcomes dropped unless keep_outcomes
  std::string error;
};

point_result run_point(const experiment_setup& setup, const std::string& policy, double rate_scale, double slo_scale,
                       bool keep_outcomes = false);

struct goodput90_result {
  double rate_scale = 0;  // highest rate scale found with joint attainment >= target
  double rate_rps = 0;    // that rate in requests per second
  double per_device_rps = 0;
  int evaluations = 0;
};

// Bisection over the rate scale on [lo, hi] (hi doubled until it fails, up to
// `max_hi`), stopping when hi/lo < 1 + rel_tol.
goodput90_result goodput_at(const experiment_setup& setup, const std::string& policy, double slo_scale,
                            double target = 0.9, double rel_tol = 0.01, double max_hi = 256.0);

}  // namespace kairos::sched
