#include "scheduler/experiment.hpp"

#include <cmath>

namespace kairos::sched {

point_result run_point(const experiment_setup& setup, const std::string& policy, double rate_scale, double slo_scale,
                       bool keep_outcomes) {
  point_result r;
  r.policy = policy;
  r.rate_scale = rate_scale;
  r.slo_scale = slo_scale;
  policy_set ps = make_policy_set(policy, setup.policies, r.error);
  if (!ps.ok()) return r;
  workload_options wo = setup.workload;
  wo.rate_scale = rate_scale;
  wo.slo_scale = slo_scale;
  const workload w = make_workload(setup.rows, wo);
  const double dur = w.duration_s();
  r.rate_rps = dur > 0 ? double(w.requests.size() - 1) / dur : 0.0;
  const sim_policies pol{ps.prefill.get(), ps.decode.get(), ps.placement.get()};
  const cost_model& truth = *setup.truth;
  const cost_model& pred = setup.predictor ? *setup.predictor : truth;
  r.sim = simulate(w, setup.cluster, pol, truth, pred);
  r.all = summarize(r.sim.outcomes, r.sim.decode);
  if (setup.workload.mixed_classes)
    for (int c = 0; c < n_request_classes; ++c) r.by_class[size_t(c)] = summarize(r.sim.outcomes, r.sim.decode, request_class(c));
  if (!keep_outcomes) {
    r.sim.outcomes.clear();
    r.sim.outcomes.shrink_to_fit();
  }
  return r;
}

goodput90_result goodput_at(const experiment_setup& setup, const std::string& policy, double slo_scale, double target,
                            double rel_tol, double max_hi) {
  goodput90_result g;
  auto ok = [&](double s, double& rate) {
    ++g.evaluations;
    auto p = run_point(setup, policy, s, slo_scale);
    rate = p.rate_rps;
    return p.error.empty() && p.all.e2e_attainment >= target;
  };
  double lo = 0, hi = 1, rate_lo = 0, rate = 0;
  // Bracket: grow hi until it fails, shrink when 1.0 already fails.
  if (ok(hi, rate)) {
    lo = hi;
    rate_lo = rate;
    while (hi < max_hi) {
      hi *= 2;
      if (!ok(hi, rate)) break;
      lo = hi;
      rate_lo = rate;
    }
    if (lo == hi) {
      g.rate_scale = lo;
      g.rate_rps = rate_lo;
      g.per_device_rps = rate_lo / double(setup.cluster.n_prefill + setup.cluster.n_decode);
      return g;
    }
  } else {
    while (hi > 1.0 / 256) {
      hi /= 2;
      if (ok(hi, rate)) {
        lo = hi;
        rate_lo = rate;
        hi *= 2;
        break;
      }
    }
    if (lo == 0) return g;
  }
  while (hi / lo > 1 + rel_tol) {
    const double mid = std::sqrt(lo * hi);
    if (ok(mid, rate)) {
      lo = mid;
      rate_lo = rate;
    } else {
      hi = mid;
    }
  }
  g.rate_scale = lo;
  g.rate_rps = rate_lo;
  g.per_device_rps = rate_lo / double(setup.cluster.n_prefill + setup.cluster.n_decode);
  return g;
}

}  // namespace kairos::sched
