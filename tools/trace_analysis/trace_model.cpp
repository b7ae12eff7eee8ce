#include "tools/trace_analysis/trace_model.hpp"

#include <algorithm>

namespace kairos::trace_analysis {

trace_model build_model(const trace_file& f) {
  trace_model m;
  m.file = &f;
  // Device work, keyed by (prefill?, id): ids are unique per scheduler.
  std::map<std::pair<bool, int64_t>, size_t> work_at;
  auto work_of = [&](bool prefill, int64_t id) -> device_work& {
    auto [it, fresh] = work_at.try_emplace({prefill, id}, m.work.size());
    if (fresh) {
      m.work.emplace_back();
      m.work.back().prefill = prefill;
      m.work.back().id = id;
    }
    return m.work[it->second];
  };
  auto path = [&](int64_t id) -> request_path& {
    auto& r = m.requests[id];
    r.id = id;
    return r;
  };
  for (const auto& e : f.events) {
    if (e.type == actor_type::device) {
      const bool pf = e.w == what::prefill_batch || e.w == what::batch_done;
      const bool dc = e.w == what::decode_step || e.w == what::step_done;
      if (!pf && !dc) continue;
      if (e.kind == ev_kind::handle_begin && (e.w == what::prefill_batch || e.w == what::decode_step)) {
        auto& w = work_of(pf, e.batch);
        w.device = e.actor;
        w.start_ns = e.t_ns;
      } else if (e.kind == ev_kind::member) {
        auto& w = work_of(pf, e.batch);
        w.members.push_back({e.request, e.a});
        if (pf) {
          ++w.n_run;
          w.tokens += e.a;
        } else if (e.a == step_runs) {
          ++w.n_run;
        }
      } else if (e.kind == ev_kind::send && (e.w == what::batch_done || e.w == what::step_done)) {
        work_of(pf, e.batch).end_ns = e.t_ns;
      }
      continue;
    }
    if (e.request < 0) continue;
    if (e.type == actor_type::prefill_scheduler) {
      if (e.w == what::enqueue && e.kind == ev_kind::receive) path(e.request).enqueue_ns = e.t_ns;
      if (e.w == what::queue_wait && e.kind == ev_kind::span_begin) path(e.request).queue_begin_ns = e.t_ns;
      if (e.w == what::queue_wait && e.kind == ev_kind::span_end) path(e.request).queue_end_ns = e.t_ns;
    } else if (e.type == actor_type::decode_scheduler) {
      if (e.w == what::admit && e.kind == ev_kind::receive) path(e.request).admit_ns = e.t_ns;
      if (e.w == what::kv_transfer && e.kind == ev_kind::span_begin) path(e.request).kv_begin_ns = e.t_ns;
      if (e.w == what::kv_transfer && e.kind == ev_kind::span_end) path(e.request).kv_end_ns = e.t_ns;
    } else if (e.type == actor_type::request) {
      auto& r = path(e.request);
      r.actor = e.actor;
      if (e.kind == ev_kind::send && e.w == what::enqueue && r.arrival_ns < 0) r.arrival_ns = e.t_ns;
      if (e.kind == ev_kind::handle_begin) {
        if (e.w == what::first_token) r.first_token_ns = e.t_ns;
        if (e.w == what::token) r.token_ns.push_back(e.t_ns);
        if (e.w == what::decoding) r.decoding_ns = e.t_ns;
        if (e.w == what::fail) r.failed = true;
      }
      r.end_ns = std::max(r.end_ns, e.t_ns);
    }
  }
  // Order work by start (work whose start was overwritten sorts first).
  std::vector<size_t> order(m.work.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return m.work[x].start_ns < m.work[y].start_ns; });
  std::vector<device_work> sorted;
  sorted.reserve(m.work.size());
  for (size_t i : order) sorted.push_back(std::move(m.work[i]));
  m.work = std::move(sorted);
  for (size_t i = 0; i < m.work.size(); ++i) {
    const auto& w = m.work[i];
    if (w.start_ns >= 0) m.work_by_device[w.device].push_back(i);
    for (const auto& mb : w.members) {
      if (mb.request < 0) continue;
      auto& r = path(mb.request);
      if (w.prefill) {
        r.prefill_work = int64_t(i);
      } else if (mb.a == step_runs) {
        r.steps.push_back(i);
      } else if (mb.a == step_loads) {
        r.loads.push_back(i);
      } else if (mb.a == step_evicts) {
        r.evictions.push_back(i);
      }
    }
  }
  for (const auto& [id, info] : f.requests) {
    auto& r = path(id);
    r.info = &info;
    r.arrival_ns = info.arrival_ns;
    if (info.end_ns >= 0) r.end_ns = info.end_ns;
    if (info.status == "failed") r.failed = true;
  }
  return m;
}

attainment attainment_of(const request_path& r) {
  attainment a;
  if (!r.info) return a;
  a.ended = r.info->end_ns >= 0;
  a.finished = r.info->status == "finished";
  if (r.first_token_ns >= 0 && r.arrival_ns >= 0) a.ttft_s = double(r.first_token_ns - r.arrival_ns) / 1e9;
  const int32_t n = r.n_tokens();
  if (n >= 2) a.tpot_s = double(r.last_token_ns() - r.first_token_ns) / 1e9 / double(n - 1);
  a.ttft_met = a.ttft_s >= 0 && a.ttft_s <= r.info->ttft_slo_s;
  a.tpot_met = n >= 2 ? a.tpot_s <= r.info->tpot_slo_s : a.ttft_s >= 0;
  return a;
}

}  // namespace kairos::trace_analysis
