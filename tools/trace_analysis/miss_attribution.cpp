#include "tools/trace_analysis/miss_attribution.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <unordered_map>

#include "tools/trace_analysis/text_format.hpp"

namespace kairos::trace_analysis {

namespace {

constexpr double slow_factor = 1.5;

cause_part part(cause c, double seconds) {
  cause_part p;
  p.c = c;
  p.seconds = seconds;
  return p;
}

struct device_speed {
  std::string group;
  // decode: step seconds ~ alpha + beta x batch, least squares over its steps
  // (a device that ran few batch sizes is compared where it was not measured).
  double n = 0, sb = 0, st = 0, sbb = 0, sbt = 0;
  double prefill_s_per_token = 0;  // median
  bool has_steps() const { return n > 0; }
  double step_seconds(int32_t batch) const {
    const double den = n * sbb - sb * sb;
    const double beta = den > 0 ? (n * sbt - sb * st) / den : 0.0;
    const double alpha = (st - beta * sb) / n;
    return std::max(alpha + beta * double(batch), 1e-9);
  }
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::map<uint64_t, device_speed> device_speeds(const trace_model& m) {
  std::map<uint64_t, device_speed> out;
  std::map<uint64_t, std::vector<double>> per_token;
  for (const auto& [dev, idx] : m.work_by_device) {
    auto& d = out[dev];
    if (auto it = m.file->actors.find(dev); it != m.file->actors.end()) d.group = it->second.group;
    for (size_t i : idx) {
      const auto& w = m.work[i];
      if (w.end_ns < 0) continue;
      if (w.prefill) {
        if (w.tokens > 0) per_token[dev].push_back(w.seconds() / double(w.tokens));
      } else if (w.n_run > 0) {
        const double b = w.n_run, t = w.seconds();
        d.n += 1, d.sb += b, d.st += t, d.sbb += b * b, d.sbt += b * t;
      }
    }
    if (d.group.empty()) d.group = per_token.count(dev) ? "prefill" : "decode";
    d.prefill_s_per_token = median(per_token[dev]);
  }
  return out;
}


}  // namespace

const char* to_string(cause c) {
  switch (c) {
    case cause::queueing: return "queueing";
    case cause::prefill_execution: return "prefill execution";
    case cause::kv_transfer: return "KV transfer";
    case cause::decode_wait: return "decode wait";
    case cause::decode_batch_too_large: return "decode batch too large";
    case cause::decode_slow_device: return "decode on slow device";
    case cause::preemption: return "preemption";
    case cause::failed: return "failed";
  }
  return "?";
}

std::string cause_part::key() const {
  switch (c) {
    case cause::prefill_execution: return std::string("prefill execution on ") + (slow_device ? "slow device " : "") + device;
    case cause::decode_slow_device: return "decode on slow device " + device;
    default: return to_string(c);
  }
}

miss_report attribute_misses(const trace_model& m) {
  const trace_file& f = *m.file;
  const auto speeds = device_speeds(m);
  miss_report rep;
  for (const auto& [id, r] : m.requests) {
    if (!r.info || r.info->end_ns < 0 || r.info->status == "cancelled") continue;
    ++rep.judged;
    const auto a = attainment_of(r);
    request_miss x;
    x.id = id;
    x.cls = r.info->cls;
    x.failed = r.info->status == "failed";
    x.ttft_s = a.ttft_s;
    x.tpot_s = a.tpot_s;
    x.ttft_slo_s = r.info->ttft_slo_s;
    x.tpot_slo_s = r.info->tpot_slo_s;
    x.ttft_missed = a.ttft_s >= 0 && !a.ttft_met;
    x.tpot_missed = r.n_tokens() >= 2 && !a.tpot_met;
    if (!x.failed && !x.ttft_missed && !x.tpot_missed) continue;
    if (x.ttft_missed) x.lost_s += a.ttft_s - x.ttft_slo_s;
    if (x.tpot_missed) x.lost_s += (a.tpot_s - x.tpot_slo_s) * double(r.n_tokens() - 1);
    if (x.failed) x.parts.push_back(part(cause::failed, 0.0));

    if (x.ttft_missed || x.failed) {
      if (r.queue_begin_ns >= 0 && r.queue_end_ns >= r.queue_begin_ns) {
        cause_part q = part(cause::queueing, double(r.queue_end_ns - r.queue_begin_ns) / 1e9);
        // Whose prefill ran while it waited, by their share of each batch's time.
        std::unordered_map<int64_t, cause_part::ahead> ahead;
        for (const auto& w : m.work) {
          if (!w.prefill || w.end_ns < 0) continue;
          if (w.start_ns >= r.queue_end_ns) break;  // work is by start time
          const int64_t ov = std::min(w.end_ns, r.queue_end_ns) - std::max(w.start_ns, r.queue_begin_ns);
          if (ov <= 0 || w.tokens <= 0) continue;
          for (const auto& mb : w.members) {
            if (mb.request == id) continue;
            auto& h = ahead[mb.request];
            h.request = mb.request;
            h.tokens = mb.a;
            h.seconds += double(ov) / 1e9 * double(mb.a) / double(w.tokens);
          }
        }
        for (auto& [k, h] : ahead) q.behind.push_back(h);
        std::sort(q.behind.begin(), q.behind.end(), [](auto& p, auto& s) { return p.seconds > s.seconds; });
        x.parts.push_back(std::move(q));
      }
      if (r.prefill_work >= 0) {
        const auto& w = m.work[size_t(r.prefill_work)];
        cause_part p = part(cause::prefill_execution, w.seconds());
        p.device = f.actor_name(w.device);
        if (auto me = speeds.find(w.device); me != speeds.end())
          for (const auto& [dev, s] : speeds)
            if (dev != w.device && s.group == me->second.group && s.prefill_s_per_token > 0 &&
                me->second.prefill_s_per_token > slow_factor * s.prefill_s_per_token)
              p.slow_device = true;
        x.parts.push_back(std::move(p));
      }
    }
    if (x.tpot_missed) {
      if (r.kv_begin_ns >= 0 && r.kv_end_ns >= r.kv_begin_ns)
        x.parts.push_back(part(cause::kv_transfer, double(r.kv_end_ns - r.kv_begin_ns) / 1e9));
      if (r.kv_end_ns >= 0 && !r.steps.empty()) {
        const int64_t first_step = m.work[r.steps.front()].start_ns;
        if (first_step > r.kv_end_ns) x.parts.push_back(part(cause::decode_wait, double(first_step - r.kv_end_ns) / 1e9));
      }
      if (!r.evictions.empty()) {
        cause_part p = part(cause::preemption, 0.0);
        for (size_t e : r.evictions) {
          const int64_t out = m.work[e].start_ns;
          int64_t back = -1;
          for (size_t l : r.loads)
            if (m.work[l].start_ns > out) {
              back = m.work[l].start_ns;
              break;
            }
          if (back > out) p.seconds += double(back - out) / 1e9;
          ++p.steps;
        }
        x.parts.push_back(std::move(p));
      }
      cause_part big = part(cause::decode_batch_too_large, 0.0);
      std::map<std::string, cause_part> slow;
      for (size_t i : r.steps) {
        const auto& w = m.work[i];
        const double over = w.seconds() - x.tpot_slo_s;
        auto me_it = speeds.find(w.device);
        if (w.end_ns < 0 || over <= 0 || me_it == speeds.end()) continue;
        const auto& me = me_it->second;
        bool is_slow = false;
        for (const auto& [dev, s] : speeds) {
          if (dev == w.device || s.group != me.group || !s.has_steps()) continue;
          const double other = s.step_seconds(w.n_run);
          if (other <= x.tpot_slo_s && w.seconds() > slow_factor * other) is_slow = true;
        }
        cause_part& p = is_slow ? slow[f.actor_name(w.device)] : big;
        if (is_slow) {
          p.c = cause::decode_slow_device;
          p.device = f.actor_name(w.device);
        }
        p.seconds += over;
        p.steps += 1;
        p.max_batch = std::max(p.max_batch, w.n_run);
        if (!is_slow && p.device.find(f.actor_name(w.device)) == std::string::npos)
          p.device += (p.device.empty() ? "" : ",") + f.actor_name(w.device);
      }
      if (big.steps) x.parts.push_back(std::move(big));
      for (auto& [k, p] : slow) x.parts.push_back(std::move(p));
    }
    std::stable_sort(x.parts.begin(), x.parts.end(), [](auto& p, auto& s) { return p.seconds > s.seconds; });
    rep.misses.push_back(std::move(x));
  }
  std::map<std::string, cause_total> totals;
  for (const auto& x : rep.misses)
    for (size_t i = 0; i < x.parts.size(); ++i) {
      auto& t = totals[x.parts[i].key()];
      t.key = x.parts[i].key();
      t.present += 1;
      t.dominant += i == 0;
      t.seconds += x.parts[i].seconds;
      t.max_batch = std::max(t.max_batch, x.parts[i].max_batch);
    }
  for (auto& [k, t] : totals) rep.totals.push_back(t);
  std::sort(rep.totals.begin(), rep.totals.end(), [](auto& p, auto& s) { return p.seconds > s.seconds; });
  std::stable_sort(rep.misses.begin(), rep.misses.end(), [](auto& p, auto& s) { return p.lost_s > s.lost_s; });
  return rep;
}

std::string format_misses(const miss_report& r, size_t max_listed) {
  std::string o = fmt("%zu of %lld requests missed an SLO or failed", r.misses.size(), (long long)r.judged);
  o += r.misses.size() > max_listed ? fmt("; the %zu that lost most:\n", max_listed) : std::string(":\n");
  for (size_t i = 0; i < r.misses.size() && i < max_listed; ++i) {
    const auto& x = r.misses[i];
    o += fmt("\nrequest %lld (%s)%s: ", (long long)x.id, x.cls.c_str(), x.failed ? " FAILED" : "");
    o += fmt("TTFT %.1f ms / %.0f ms %s, TPOT %.1f ms / %.0f ms %s; lost %.1f ms\n", x.ttft_s * 1e3, x.ttft_slo_s * 1e3,
             x.ttft_missed ? "MISSED" : "met", x.tpot_s * 1e3, x.tpot_slo_s * 1e3, x.tpot_missed ? "MISSED" : "met",
             x.lost_s * 1e3);
    for (const auto& p : x.parts) {
      o += fmt("  %-40s %10.1f ms", p.key().c_str(), p.seconds * 1e3);
      if (p.c == cause::queueing && !p.behind.empty()) {
        o += "  behind";
        for (size_t k = 0; k < p.behind.size() && k < 5; ++k)
          o += fmt(" %lld (%d tok, %.0f ms)", (long long)p.behind[k].request, p.behind[k].tokens, p.behind[k].seconds * 1e3);
        if (p.behind.size() > 5) o += fmt(" and %zu more", p.behind.size() - 5);
      } else if (p.c == cause::decode_batch_too_large || p.c == cause::decode_slow_device) {
        o += fmt("  %d steps over the budget, batch up to %d on %s", p.steps, p.max_batch, p.device.c_str());
      } else if (p.c == cause::preemption) {
        o += fmt("  swapped out %d time%s", p.steps, p.steps == 1 ? "" : "s");
      }
      o += "\n";
    }
  }
  o += "\ncauses across all misses (by time lost)\n";
  o += fmt("  %-40s %8s %8s %12s\n", "cause", "largest", "present", "total ms");
  for (const auto& t : r.totals) {
    o += fmt("  %-40s %8lld %8lld %12.1f", t.key.c_str(), (long long)t.dominant, (long long)t.present, t.seconds * 1e3);
    o += t.max_batch > 0 ? fmt("  (batch up to %d)\n", t.max_batch) : std::string("\n");
  }
  if (r.totals.empty()) o += "  (no misses)\n";
  return o;
}

}  // namespace kairos::trace_analysis
