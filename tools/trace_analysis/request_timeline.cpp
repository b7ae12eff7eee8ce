#include "tools/trace_analysis/request_timeline.hpp"

#include <algorithm>
#include <cstdio>

#include "tools/trace_analysis/text_format.hpp"

namespace kairos::trace_analysis {

result<request_timeline> timeline_of(const trace_model& m, int64_t id) {
  auto it = m.requests.find(id);
  if (it == m.requests.end())
    return make_error("request " + std::to_string(id) + " is not in the trace " + m.file->source + " (" +
                      std::to_string(m.requests.size()) + " requests recorded)");
  const trace_file& f = *m.file;
  const request_path& r = it->second;
  request_timeline t;
  t.id = id;
  t.path = &r;
  t.att = attainment_of(r);
  auto hop = [&](int64_t at, std::string what, std::string detail = {}) {
    if (at >= 0) t.hops.push_back({at, std::move(what), std::move(detail)});
  };
  if (r.info)
    hop(r.arrival_ns, "arrival", fmt("%s, %d prompt tokens, max_tokens %d", r.info->cls.c_str(), r.info->input_tokens,
                                     r.info->max_tokens));
  else
    hop(r.arrival_ns, "arrival");
  hop(r.enqueue_ns, "enqueued", "handled by the prefill scheduler");
  hop(r.queue_begin_ns, "queue wait begins");
  hop(r.queue_end_ns, "queue wait ends",
      r.queue_begin_ns >= 0 ? fmt("waited %.3f ms", double(r.queue_end_ns - r.queue_begin_ns) / 1e6) : "");
  if (r.prefill_work >= 0) {
    const auto& w = m.work[size_t(r.prefill_work)];
    hop(w.start_ns, "prefill begins",
        fmt("batch %lld on %s: %d requests, %lld tokens", (long long)w.id, f.actor_name(w.device).c_str(), w.n_run,
            (long long)w.tokens));
    hop(w.end_ns, "prefill ends", fmt("took %.3f ms", w.seconds() * 1e3));
  }
  hop(r.first_token_ns, "first token", "handled by the request actor");
  hop(r.admit_ns, "admitted to decode", "handled by the decode scheduler");
  hop(r.kv_begin_ns, "KV transfer begins");
  hop(r.kv_end_ns, "KV transfer ends",
      r.kv_begin_ns >= 0 ? fmt("took %.3f ms", double(r.kv_end_ns - r.kv_begin_ns) / 1e6) : "");
  hop(r.decoding_ns, "decoding", "the request actor hears its KV arrived");
  for (size_t i : r.evictions) hop(m.work[i].start_ns, "preempted", fmt("swapped out by step %lld", (long long)m.work[i].id));
  for (size_t i : r.loads)
    hop(m.work[i].start_ns, "loaded", fmt("KV loaded by step %lld on %s", (long long)m.work[i].id, f.actor_name(m.work[i].device).c_str()));
  for (size_t i : r.steps) {
    const auto& w = m.work[i];
    t.steps.push_back({w.id, f.actor_name(w.device), w.start_ns, w.seconds() * 1e3, w.n_run});
  }
  if (r.info && r.info->end_ns >= 0)
    hop(r.info->end_ns, "end", fmt("%s, %d tokens", r.info->status.c_str(), r.info->output_tokens));
  else if (r.failed)
    hop(r.end_ns, "end", "failed");
  std::stable_sort(t.hops.begin(), t.hops.end(), [](const auto& a, const auto& b) { return a.t_ns < b.t_ns; });
  return t;
}

std::string format_timeline(const request_timeline& t) {
  std::string o = fmt("request %lld", (long long)t.id);
  const auto* info = t.path->info;
  if (info) {
    o += fmt(": %s, %d prompt tokens, %s", info->cls.c_str(), info->input_tokens,
             info->status.empty() ? "not ended in the trace" : info->status.c_str());
    o += "\n";
    o += fmt("  TTFT %.3f ms (SLO %.0f ms, %s); TPOT %.3f ms (SLO %.0f ms, %s)\n", t.att.ttft_s * 1e3, info->ttft_slo_s * 1e3,
             t.att.ttft_met ? "met" : "missed", t.att.tpot_s * 1e3, info->tpot_slo_s * 1e3, t.att.tpot_met ? "met" : "missed");
  } else {
    o += " (admitted before the recording began: no SLOs)\n";
  }
  const int64_t t0 = t.hops.empty() ? 0 : t.hops.front().t_ns;
  o += fmt("  %12s %10s  %s\n", "t ms", "+ms", "hop");
  int64_t prev = t0;
  for (const auto& h : t.hops) {
    o += fmt("  %12.3f %10.3f  %-20s %s\n", double(h.t_ns) / 1e6, double(h.t_ns - prev) / 1e6, h.what.c_str(), h.detail.c_str());
    prev = h.t_ns;
  }
  if (!t.steps.empty()) {
    o += fmt("  decode steps (%zu)\n  %12s %8s %-10s %6s %10s\n", t.steps.size(), "t ms", "step", "device", "batch", "step ms");
    for (const auto& s : t.steps)
      o += fmt("  %12.3f %8lld %-10s %6d %10.3f\n", double(s.start_ns) / 1e6, (long long)s.step, s.device.c_str(), s.batch, s.ms);
  }
  return o;
}

}  // namespace kairos::trace_analysis
