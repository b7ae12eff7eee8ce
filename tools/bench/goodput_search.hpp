#pragma once
// Goodput@90 (DistServe) for a live server: the highest rate scale at which
// joint SLO attainment stays >= the target, by bracketing and geometric
// bisection. Each probe is a real-time run, so the search counts them and
// stops at `max_probes`. Pure: the probe is a callback.
#include <functional>
#include <vector>

namespace kairos::bench {

struct goodput_search_options {
  double start = 1.0;     // first rate scale probed
  double target = 0.9;    // joint attainment to keep
  double rel_tol = 0.05;  // stop when hi / lo < 1 + rel_tol
  int max_probes = 8;
  double min_scale = 1.0 / 64, max_scale = 64;
};

struct goodput_search_result {
  double rate_scale = 0;  // highest passing scale found (0: none passed)
  double failing_scale = 0;  // lowest failing scale found (0: none failed)
  std::vector<std::pair<double, double>> probes;  // (rate scale, joint attainment), in probe order
};

// `probe(scale)` runs the load at that rate scale and returns joint attainment.
goodput_search_result search_goodput(const std::function<double(double)>& probe, const goodput_search_options& opt);

}  // namespace kairos::bench
