#include "http/stats_series.hpp"

#include <algorithm>
#include <cmath>

namespace kairos::http {

using json = nlohmann::json;

namespace {

std::optional<double> ratio(uint64_t met, uint64_t missed) {
  if (met + missed == 0) return std::nullopt;
  return double(met) / double(met + missed);
}

json opt(const std::optional<double>& v) {
  if (!v) return nullptr;
  return std::round(*v * 1e4) / 1e4;  // four digits are plenty for a chart, and keep the body small
}

double kv_used(const device_stats& d) {
  return d.kv_total_blocks > 0 ? 1.0 - double(d.kv_free_blocks) / double(d.kv_total_blocks) : 0.0;
}

const group_load* find_group(const runtime_stats& st, const char* name) {
  for (const auto& g : st.groups)
    if (g.group == name) return &g;
  return nullptr;
}

}  // namespace

stats_series::stats_series(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

size_t stats_series::size() const {
  std::lock_guard lk(mu_);
  return points_.size();
}

void stats_series::sample(double t, const runtime_stats& st, const slo_totals& slo) {
  std::lock_guard lk(mu_);
  if (names_.empty())
    for (const auto& d : st.devices) names_.push_back(d.name);
  if (!last_ || t <= last_->t) {
    last_ = baseline{t, st, slo};
    return;
  }
  const baseline& b = *last_;
  const double dt = t - b.t;
  point p;
  p.t = t;
  p.ttft_attainment = ratio(slo.ttft_met - b.slo.ttft_met, slo.ttft_missed - b.slo.ttft_missed);
  p.tpot_attainment = ratio(slo.tpot_met - b.slo.tpot_met, slo.tpot_missed - b.slo.tpot_missed);
  if (const auto* g = find_group(st, "prefill")) {
    p.prefill_waiting = g->waiting;
    p.prefill_running = g->running;
  }
  if (const auto* g = find_group(st, "decode")) {
    p.decode_waiting = g->waiting;
    p.decode_running = g->running;
  }
  // Requests that left the prefill queue in the interval, over the batches that took them.
  if (const int64_t nb = st.prefill_batches - b.st.prefill_batches; nb > 0) {
    const int64_t taken = (st.submitted - b.st.submitted) - (st.queued - b.st.queued);
    p.prefill_batch = double(std::max<int64_t>(taken, 0)) / double(nb);
  }
  if (const int64_t ns = st.decode_steps - b.st.decode_steps; ns > 0)
    p.decode_batch = double(st.decode_batch_sum - b.st.decode_batch_sum) / double(ns);
  // Busy fraction of a group: the busy time its alive devices added, over
  // the interval times their number.
  auto group_busy = [&](const char* group) -> std::optional<double> {
    int n = 0;
    double added = 0;
    for (size_t i = 0; i < st.devices.size(); ++i) {
      const auto& d = st.devices[i];
      if (d.group != group || !d.alive) continue;
      ++n;
      if (i < b.st.devices.size()) added += d.busy_s - b.st.devices[i].busy_s;
    }
    if (n == 0) return std::nullopt;
    return std::clamp(added / (dt * n), 0.0, 1.0);
  };
  p.prefill_busy = group_busy("prefill");
  p.decode_busy = group_busy("decode");
  p.tokens_per_s = double(st.decode_tokens - b.st.decode_tokens) / dt;
  for (const auto& name : names_) {
    double used = 0, rate = 0, busy = 0;
    for (size_t i = 0; i < st.devices.size(); ++i) {
      if (st.devices[i].name != name) continue;
      used = kv_used(st.devices[i]);
      if (i < b.st.devices.size()) {
        rate = double(st.devices[i].batches - b.st.devices[i].batches) / dt;
        busy = std::clamp((st.devices[i].busy_s - b.st.devices[i].busy_s) / dt, 0.0, 1.0);
      }
    }
    p.kv_usage.push_back(used);
    p.batches_per_s.push_back(rate);
    p.busy.push_back(busy);
  }
  points_.push_back(std::move(p));
  while (points_.size() > capacity_) points_.pop_front();
  last_ = baseline{t, st, slo};
}

json stats_series::to_json(const runtime_stats& st, const slo_totals& slo) const {
  std::lock_guard lk(mu_);
  json out;
  out["interval_s"] = points_.size() >= 2 ? (points_.back().t - points_.front().t) / double(points_.size() - 1) : 0.0;
  out["window_s"] = points_.empty() ? 0.0 : points_.back().t - points_.front().t;
  out["t_now"] = last_ ? last_->t : 0.0;
  out["totals"] = {{"submitted", st.submitted},
                   {"rejected", st.rejected},
                   {"finished", slo.finished},
                   {"cancelled", slo.cancelled},
                   {"failed", slo.failed},
                   {"in_flight", st.in_flight},
                   {"generated_tokens", slo.generated_tokens},
                   {"decode_tokens", st.decode_tokens},
                   {"preemptions", st.preemptions},
                   {"mean_decode_batch", st.mean_decode_batch},
                   {"ttft_attainment", opt(ratio(slo.ttft_met, slo.ttft_missed))},
                   {"tpot_attainment", opt(ratio(slo.tpot_met, slo.tpot_missed))},
                   {"ttft_met", slo.ttft_met},
                   {"ttft_missed", slo.ttft_missed},
                   {"tpot_met", slo.tpot_met},
                   {"tpot_missed", slo.tpot_missed}};
  json groups = json::array();
  for (const auto& g : st.groups) groups.push_back({{"group", g.group}, {"waiting", g.waiting}, {"running", g.running}});
  out["groups"] = groups;
  json devs = json::array();
  for (const auto& d : st.devices)
    devs.push_back({{"name", d.name}, {"group", d.group}, {"alive", d.alive}, {"kv_used", opt(kv_used(d))},
                    {"kv_free_blocks", d.kv_free_blocks}, {"kv_total_blocks", d.kv_total_blocks}, {"batches", d.batches},
                    {"busy_s", d.busy_s}, {"kv_dtype", d.kv_dtype}});
  out["devices"] = devs;
  json s;
  json t = json::array(), ttft = json::array(), tpot = json::array(), pw = json::array(), pr = json::array(),
       dw = json::array(), dr = json::array(), pb = json::array(), db = json::array(), busy = json::array(),
       pbusy = json::array(), tps = json::array();
  json kv = json::object(), bps = json::object(), dbusy = json::object();
  for (const auto& name : names_) {
    kv[name] = json::array();
    bps[name] = json::array();
    dbusy[name] = json::array();
  }
  for (const auto& p : points_) {
    t.push_back(std::round(p.t * 1e3) / 1e3);
    ttft.push_back(opt(p.ttft_attainment));
    tpot.push_back(opt(p.tpot_attainment));
    pw.push_back(p.prefill_waiting);
    pr.push_back(p.prefill_running);
    dw.push_back(p.decode_waiting);
    dr.push_back(p.decode_running);
    pb.push_back(opt(p.prefill_batch));
    db.push_back(opt(p.decode_batch));
    busy.push_back(opt(p.decode_busy));
    pbusy.push_back(opt(p.prefill_busy));
    tps.push_back(std::round(p.tokens_per_s * 10) / 10);
    for (size_t i = 0; i < names_.size() && i < p.kv_usage.size(); ++i) {
      kv[names_[i]].push_back(opt(p.kv_usage[i]));
      bps[names_[i]].push_back(std::round(p.batches_per_s[i] * 10) / 10);
      dbusy[names_[i]].push_back(p.busy[i]);
    }
  }
  s["t"] = t;
  s["ttft_attainment"] = ttft;
  s["tpot_attainment"] = tpot;
  s["prefill_waiting"] = pw;
  s["prefill_running"] = pr;
  s["decode_waiting"] = dw;
  s["decode_running"] = dr;
  s["prefill_batch"] = pb;
  s["decode_batch"] = db;
  s["decode_busy"] = busy;
  s["prefill_busy"] = pbusy;
  s["busy"] = dbusy;
  s["tokens_per_s"] = tps;
  s["kv_usage"] = kv;
  s["batches_per_s"] = bps;
  out["series"] = s;
  return out;
}

}  // namespace kairos::http
