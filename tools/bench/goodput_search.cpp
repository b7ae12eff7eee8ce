#include "tools/bench/goodput_search.hpp"

#include <cmath>

namespace kairos::bench {

goodput_search_result search_goodput(const std::function<double(double)>& probe, const goodput_search_options& opt) {
  goodput_search_result r;
  auto passes = [&](double s) {
    const double a = probe(s);
    r.probes.push_back({s, a});
    return a >= opt.target;
  };
  double lo = 0, hi = 0;  // lo passes, hi fails (0: not found yet)
  double s = opt.start;
  // Bracket: double until a failure, or halve until a pass.
  if (passes(s)) {
    lo = s;
    while (int(r.probes.size()) < opt.max_probes && s * 2 <= opt.max_scale) {
      s *= 2;
      if (!passes(s)) {
        hi = s;
        break;
      }
      lo = s;
    }
  } else {
    hi = s;
    while (int(r.probes.size()) < opt.max_probes && s / 2 >= opt.min_scale) {
      s /= 2;
      if (passes(s)) {
        lo = s;
        break;
      }
      hi = s;
    }
  }
  while (lo > 0 && hi > 0 && hi / lo > 1 + opt.rel_tol && int(r.probes.size()) < opt.max_probes) {
    const double mid = std::sqrt(lo * hi);
    if (passes(mid)) lo = mid;
    else hi = mid;
  }
  r.rate_scale = lo;
  r.failing_scale = hi;
  return r;
}

}  // namespace kairos::bench
