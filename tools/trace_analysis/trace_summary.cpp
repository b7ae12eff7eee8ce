#include "tools/trace_analysis/trace_summary.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <unordered_map>

#include "scheduler/metrics.hpp"

#include "tools/trace_analysis/text_format.hpp"

namespace kairos::trace_analysis {

namespace {

// Timers an actor sends itself wait out a modelled time, not a mailbox.
bool timer(what w) { return w == what::deliver || w == what::arrive; }

}  // namespace

trace_summary summarize(const trace_model& m) {
  const trace_file& f = *m.file;
  trace_summary s;
  s.duration_s = double(f.t_end() - f.t_begin()) / 1e9;
  s.virtual_clock = f.virtual_clock;
  s.dropped = f.dropped;
  s.events = f.events.size();

  struct acc {
    int64_t handled = 0, busy_ns = 0, open_ns = -1;
    std::vector<double> waits_ms;
  };
  std::map<uint64_t, acc> per_actor;
  std::unordered_map<int64_t, int64_t> send_at;  // msg -> send time
  for (const auto& e : f.events)
    if (e.kind == ev_kind::send && e.msg >= 0) send_at[e.msg] = e.t_ns;
  for (const auto& e : f.events) {
    if (e.type == actor_type::runtime) continue;
    auto& a = per_actor[e.actor];
    if (e.kind == ev_kind::handle_begin) {
      ++a.handled;
      a.open_ns = e.t_ns;
    } else if (e.kind == ev_kind::handle_end && a.open_ns >= 0) {
      a.busy_ns += e.t_ns - a.open_ns;
      a.open_ns = -1;
    } else if (e.kind == ev_kind::receive && e.msg >= 0 && !timer(e.w)) {
      if (auto it = send_at.find(e.msg); it != send_at.end()) a.waits_ms.push_back(double(e.t_ns - it->second) / 1e6);
    }
  }
  const double dur = std::max(s.duration_s, 1e-12);
  std::map<actor_type, std::pair<actor_load, std::vector<double>>> by_type;
  std::map<uint64_t, actor_type> type_at;
  for (const auto& e : f.events) type_at.emplace(e.actor, e.type);
  for (auto& [id, a] : per_actor) {
    actor_load l;
    l.actor = id;
    l.type = type_at[id];
    l.name = f.actor_name(id);
    l.handled = a.handled;
    l.busy_s = double(a.busy_ns) / 1e9;
    l.busy_frac = l.busy_s / dur;
    l.waits = int64_t(a.waits_ms.size());
    auto& [t, all] = by_type[l.type];
    all.insert(all.end(), a.waits_ms.begin(), a.waits_ms.end());
    l.wait_p50_ms = sched::percentile(a.waits_ms, 0.5);
    l.wait_p99_ms = sched::percentile(a.waits_ms, 0.99);
    t.instances = t.name.empty() ? 1 : t.instances + 1;
    t.type = l.type;
    t.name = to_string(l.type);
    t.handled += l.handled;
    t.busy_s += l.busy_s;
    t.waits += l.waits;
    s.actors.push_back(std::move(l));
  }
  for (auto& [type, tw] : by_type) {
    auto& [t, all] = tw;
    t.busy_frac = t.busy_s / (dur * std::max(1, t.instances));
    t.wait_p50_ms = sched::percentile(all, 0.5);
    t.wait_p99_ms = sched::percentile(all, 0.99);
    s.types.push_back(t);
  }
  for (const auto& [dev, idx] : m.work_by_device) {
    device_load d;
    d.actor = dev;
    d.name = f.actor_name(dev);
    if (auto it = f.actors.find(dev); it != f.actors.end()) d.group = it->second.group;
    int64_t seqs = 0;
    for (size_t i : idx) {
      const auto& w = m.work[i];
      if (w.end_ns < 0) continue;
      ++d.batches;
      d.busy_s += w.seconds();
      seqs += w.n_run;
    }
    d.utilisation = d.busy_s / dur;
    d.mean_batch = d.batches ? double(seqs) / double(d.batches) : 0;
    d.mean_ms = d.batches ? d.busy_s * 1e3 / double(d.batches) : 0;
    s.devices.push_back(std::move(d));
  }
  std::map<std::string, class_attainment> cls;
  for (const auto& [id, r] : m.requests) {
    if (!r.info) continue;
    auto& c = cls[r.info->cls];
    c.cls = r.info->cls;
    ++c.requests;
    const auto a = attainment_of(r);
    if (!a.ended) continue;
    ++c.ended;
    c.finished += a.finished;
    c.ttft_met += a.finished && a.ttft_met;
    c.tpot_met += a.finished && a.tpot_met;
    c.both_met += a.met();
  }
  for (auto& [k, c] : cls) s.classes.push_back(c);
  return s;
}

std::string format_summary(const trace_summary& s, bool each_request) {
  std::string o;
  o += fmt("trace: %.3f s on the %s clock, %zu events%s\n", s.duration_s, s.virtual_clock ? "virtual" : "real", s.events,
           s.dropped ? fmt(" (%llu older events were overwritten)", (unsigned long long)s.dropped).c_str() : "");
  if (s.virtual_clock) o += "(virtual time: handlers take no time, so busy % is 0; mailbox waits are queueing on the clock)\n";
  o += "\nactors\n";
  o += fmt("  %-26s %9s %10s %8s %12s %12s\n", "type / instance", "instances", "handled", "busy %", "wait p50 ms", "wait p99 ms");
  for (const auto& t : s.types) {
    o += fmt("  %-26s %9d %10lld %8.2f %12.3f %12.3f\n", t.name.c_str(), t.instances, (long long)t.handled, 100 * t.busy_frac,
             t.wait_p50_ms, t.wait_p99_ms);
    for (const auto& a : s.actors) {
      if (a.type != t.type || (a.type == actor_type::request && !each_request)) continue;
      o += fmt("    %-24s %9s %10lld %8.2f %12.3f %12.3f\n", a.name.c_str(), "", (long long)a.handled, 100 * a.busy_frac,
               a.wait_p50_ms, a.wait_p99_ms);
    }
  }
  o += "\ndevices\n";
  o += fmt("  %-12s %-8s %9s %8s %11s %10s\n", "device", "group", "batches", "util %", "mean batch", "mean ms");
  for (const auto& d : s.devices)
    o += fmt("  %-12s %-8s %9lld %8.2f %11.2f %10.3f\n", d.name.c_str(), d.group.c_str(), (long long)d.batches,
             100 * d.utilisation, d.mean_batch, d.mean_ms);
  o += "\nSLO attainment by class (requests recorded in the trace)\n";
  o += fmt("  %-12s %9s %7s %9s %7s %7s %7s\n", "class", "requests", "ended", "finished", "TTFT %", "TPOT %", "both %");
  for (const auto& c : s.classes) {
    const double n = std::max<double>(1, double(c.ended));
    o += fmt("  %-12s %9lld %7lld %9lld %7.1f %7.1f %7.1f\n", c.cls.c_str(), (long long)c.requests, (long long)c.ended,
             (long long)c.finished, 100 * double(c.ttft_met) / n, 100 * double(c.tpot_met) / n, 100 * double(c.both_met) / n);
  }
  if (s.classes.empty()) o += "  (no request records: the recording began after these requests were admitted)\n";
  return o;
}

}  // namespace kairos::trace_analysis
