#include "scheduler/simulator.hpp"

#include <algorithm>
#include <queue>

namespace kairos::sched {

namespace {

enum class ev_kind : int32_t { prefill_done = 0, decode_done = 1, kv_arrive = 2 };

struct event {
  time_s t;
  int64_t seq;
  ev_kind kind;
  int32_t a;  // instance, or request for kv_arrive
  int32_t b;  // decode instance for kv_arrive
};
struct event_later {
  bool operator()(const event& x, const event& y) const { return x.t != y.t ? x.t > y.t : x.seq > y.seq; }
};

struct prefill_instance {
  bool busy = false;
  time_s busy_until = 0;
  std::vector<queued_prefill> batch;  // entries in flight
  std::vector<int32_t> tokens;        // new tokens of each entry
};

struct decode_instance {
  std::vector<decode_seq> running, waiting;
  std::vector<uint8_t> ran;  // [running]: ran in the current step
  bool busy = false;
  int32_t in_transit = 0;
  int64_t in_transit_ctx = 0;
};

class sim {
 public:
  sim(const workload& w, const sim_config& cfg, const sim_policies& pol, const cost_model& truth,
      const cost_model& pred)
      : w_(w), cfg_(cfg), pol_(pol), truth_(truth), pred_(pred) {
    res_.outcomes.resize(w.requests.size());
    for (size_t i = 0; i < w.requests.size(); ++i) {
      auto& o = res_.outcomes[i];
      o.arrival_s = w.requests[i].arrival_s;
      o.slo = w.requests[i].slo;
      o.cls = w.requests[i].cls;
    }
    if (cfg.record_token_times) res_.token_times.resize(w.requests.size());
    pf_.resize(size_t(std::max(1, cfg.n_prefill)));
    dc_.resize(size_t(std::max(1, cfg.n_decode)));
    loads_.resize(dc_.size());
  }

  sim_result run() {
    size_t next = 0;
    const auto& reqs = w_.requests;
    while (next < reqs.size() || !heap_.empty()) {
      const bool take_arrival = next < reqs.size() && (heap_.empty() || reqs[next].arrival_s < heap_.top().t);
      if (take_arrival) {
        const auto& r = reqs[next++];
        now_ = r.arrival_s;
        queue_.push_back({r.id, r.arrival_s, r.ttft_deadline_s(), r.input_tokens, 0});
      } else {
        const event e = heap_.top();
        heap_.pop();
        now_ = e.t;
        switch (e.kind) {
          case ev_kind::prefill_done: on_prefill_done(e.a); break;
          case ev_kind::decode_done: on_decode_done(e.a); break;
          case ev_kind::kv_arrive: on_kv_arrive(e.a, e.b); break;
        }
      }
      dispatch_prefill();
    }
    return std::move(res_);
  }

 private:
  void push(time_s t, ev_kind k, int32_t a, int32_t b = 0) { heap_.push({t, seq_++, k, a, b}); }

  // -- prefill ---------------------------------------------------------------

  void dispatch_prefill() {
    for (size_t p = 0; p < pf_.size() && !queue_.empty(); ++p) {
      auto& inst = pf_[p];
      if (inst.busy) continue;
      others_.clear();
      for (size_t o = 0; o < pf_.size(); ++o)
        if (o != p) others_.push_back(pf_[o].busy ? pf_[o].busy_until : now_);
      prefill_context ctx{now_, others_};
      pol_.prefill->select(queue_, ctx, pred_, cfg_.prefill, batch_);
      if (batch_.items.empty()) continue;
      pieces_.clear();
      inst.batch.clear();
      inst.tokens.clear();
      taken_.assign(queue_.size(), 0);
      for (const auto& it : batch_.items) {
        const auto& q = queue_[size_t(it.queue_index)];
        if (taken_[size_t(it.queue_index)]) continue;
        taken_[size_t(it.queue_index)] = 1;
        const int32_t n = std::clamp(it.tokens, 1, q.remaining());
        pieces_.push_back({n, q.prefilled_tokens});
        inst.batch.push_back(q);
        inst.tokens.push_back(n);
        auto& o = res_.outcomes[size_t(q.id)];
        if (o.prefill_start_s < 0) o.prefill_start_s = now_;
      }
      size_t k = 0;
      for (size_t i = 0; i < queue_.size(); ++i)
        if (!taken_[i]) queue_[k++] = queue_[i];
      queue_.resize(k);
      const double t = truth_.prefill_time(pieces_);
      inst.busy = true;
      inst.busy_until = now_ + t;
      ++res_.prefill_batches;
      push(inst.busy_until, ev_kind::prefill_done, int32_t(p));
    }
  }

  void on_prefill_done(int32_t p) {
    auto& inst = pf_[size_t(p)];
    inst.busy = false;
    for (size_t i = 0; i < inst.batch.size(); ++i) {
      queued_prefill q = inst.batch[i];
      q.prefilled_tokens += inst.tokens[i];
      if (q.prefilled_tokens < q.input_tokens) {  // chunked: back into the queue, in arrival order
        auto pos = std::upper_bound(queue_.begin(), queue_.end(), q, [](const queued_prefill& a, const queued_prefill& b) {
          return a.arrival_s != b.arrival_s ? a.arrival_s < b.arrival_s : a.id < b.id;
        });
        queue_.insert(pos, q);
        continue;
      }
      first_token(q.id);
    }
    inst.batch.clear();
  }

  void first_token(request_id id) {
    auto& o = res_.outcomes[size_t(id)];
    const auto& r = w_.requests[size_t(id)];
    o.first_token_s = now_;
    o.last_token_s = now_;
    o.output_tokens = 1;
    record(id);
    if (w_.output_tokens[size_t(id)] <= 1) {
      o.finished = true;
      return;
    }
    for (size_t d = 0; d < dc_.size(); ++d) {
      auto& di = dc_[d];
      int64_t ctx = di.in_transit_ctx;
      for (auto& s : di.running) ctx += s.context_tokens;
      for (auto& s : di.waiting) ctx += s.context_tokens;
      loads_[d] = {int32_t(di.running.size() + di.waiting.size()) + di.in_transit, ctx, cfg_.decode.kv_capacity_tokens};
    }
    const int32_t d = dc_.size() == 1 ? 0 : pol_.placement->place(r, loads_, pred_);
    dc_[size_t(d)].in_transit += 1;
    dc_[size_t(d)].in_transit_ctx += r.input_tokens + 1;
    push(now_ + truth_.transfer_time(r.input_tokens), ev_kind::kv_arrive, id, d);
  }

  void record(request_id id) {
    if (cfg_.record_token_times) res_.token_times[size_t(id)].push_back(now_);
  }

  // -- decode ----------------------------------------------------------------

  void on_kv_arrive(request_id id, int32_t d) {
    auto& di = dc_[size_t(d)];
    const auto& r = w_.requests[size_t(id)];
    di.in_transit -= 1;
    di.in_transit_ctx -= r.input_tokens + 1;
    decode_seq s;
    s.id = id;
    s.context_tokens = r.input_tokens + 1;
    s.tokens_generated = 1;
    s.max_tokens = r.max_tokens;
    s.arrival_s = r.arrival_s;
    s.first_token_s = res_.outcomes[size_t(id)].first_token_s;
    s.tpot_s = r.slo.tpot_s;
    di.waiting.push_back(s);
    if (!di.busy) start_step(d);
  }

  void start_step(int32_t d) {
    auto& di = dc_[size_t(d)];
    if (di.running.empty() && di.waiting.empty()) return;
    pol_.decode->select(di.running, di.waiting, now_, pred_, cfg_.decode, dec_);
    if (dec_.run.empty() && dec_.admit.empty() && dec_.preempt.empty()) {
      if (!di.running.empty()) {  // a policy must make progress; run everyone
        for (size_t i = 0; i < di.running.size(); ++i) dec_.run.push_back(int32_t(i));
      } else {  // nothing resident and nothing admitted: the head can never fit
        const auto& s = di.waiting.front();
        if (kv_slots(s.context_tokens + 1, cfg_.decode.block_size) > cfg_.decode.kv_capacity_tokens) {
          ++res_.rejected;
          di.waiting.erase(di.waiting.begin());
          return start_step(d);
        }
        dec_.admit.push_back(0);
      }
    }
    // Common case: everyone resident runs, nothing else changes.
    if (dec_.preempt.empty() && dec_.admit.empty() && dec_.run.size() == di.running.size()) {
      di.ran.assign(di.running.size(), 1);
      int64_t ctx = 0;
      for (const auto& s : di.running) ctx += s.context_tokens;
      return begin_step(d, int32_t(di.running.size()), ctx, 0.0);
    }
    // Apply: preempt, then admit; mark who runs.
    mark_.assign(di.running.size(), 0);
    for (int32_t i : dec_.run) mark_[size_t(i)] = 1;
    for (int32_t i : dec_.preempt) mark_[size_t(i)] = 2;
    std::vector<decode_seq>& evicted = evicted_;
    evicted.clear();
    size_t k = 0;
    run_flags_.clear();
    for (size_t i = 0; i < di.running.size(); ++i) {
      if (mark_[i] == 2) {
        decode_seq s = di.running[i];
        s.swapped = true;
        evicted.push_back(s);
        ++res_.decode.preemptions;
        continue;
      }
      di.running[k++] = di.running[i];
      run_flags_.push_back(mark_[i]);
    }
    di.running.resize(k);
    double extra = 0;
    wmark_.assign(di.waiting.size(), 0);
    for (int32_t w : dec_.admit) {
      if (wmark_[size_t(w)]) continue;
      wmark_[size_t(w)] = 1;
      decode_seq s = di.waiting[size_t(w)];
      if (s.swapped) extra += truth_.transfer_time(s.context_tokens);
      s.swapped = false;
      di.running.push_back(s);
      run_flags_.push_back(1);
    }
    size_t m = 0;
    for (size_t i = 0; i < di.waiting.size(); ++i)
      if (!wmark_[i]) di.waiting[m++] = di.waiting[i];
    di.waiting.resize(m);
    if (!evicted.empty()) di.waiting.insert(di.waiting.begin(), evicted.begin(), evicted.end());
    di.ran.assign(run_flags_.begin(), run_flags_.end());
    int32_t n_run = 0;
    int64_t ctx = 0;
    for (size_t i = 0; i < di.running.size(); ++i)
      if (di.ran[i]) {
        ++n_run;
        ctx += di.running[i].context_tokens;
      }
    if (n_run == 0) {  // only preemptions: decide again at once
      if (!di.running.empty() || !di.waiting.empty()) return start_step(d);
      return;
    }
    begin_step(d, n_run, ctx, extra);
  }

  void begin_step(int32_t d, int32_t n_run, int64_t ctx, double extra) {
    auto& di = dc_[size_t(d)];
    const double t = truth_.decode_step_time(n_run, ctx) + extra;
    di.busy = true;
    res_.decode.busy_s += t;
    res_.decode.steps += 1;
    res_.decode.batch_sum += n_run;
    push(now_ + t, ev_kind::decode_done, d);
  }

  void on_decode_done(int32_t d) {
    auto& di = dc_[size_t(d)];
    di.busy = false;
    size_t k = 0;
    for (size_t i = 0; i < di.running.size(); ++i) {
      decode_seq s = di.running[i];
      if (di.ran[i]) {
        s.tokens_generated += 1;
        s.context_tokens += 1;
        res_.decode.tokens += 1;
        record(s.id);
        if (s.tokens_generated >= w_.output_tokens[size_t(s.id)]) {
          auto& o = res_.outcomes[size_t(s.id)];
          o.last_token_s = now_;
          o.output_tokens = s.tokens_generated;
          o.finished = true;
          continue;
        }
      }
      di.running[k++] = s;
    }
    di.running.resize(k);
    di.ran.clear();
    start_step(d);
  }

  const workload& w_;
  const sim_config& cfg_;
  const sim_policies& pol_;
  const cost_model& truth_;
  const cost_model& pred_;
  sim_result res_;
  time_s now_ = 0;
  int64_t seq_ = 0;
  std::priority_queue<event, std::vector<event>, event_later> heap_;
  std::vector<queued_prefill> queue_;
  std::vector<prefill_instance> pf_;
  std::vector<decode_instance> dc_;
  std::vector<decode_instance_load> loads_;
  std::vector<time_s> others_;
  std::vector<prefill_piece> pieces_;
  std::vector<uint8_t> taken_, mark_, wmark_, run_flags_;
  std::vector<decode_seq> evicted_;
  prefill_batch batch_;
  decode_decision dec_;
};

}  // namespace

sim_result simulate(const workload& w, const sim_config& cfg, const sim_policies& pol, const cost_model& truth,
                    const cost_model& predictor) {
  sim s(w, cfg, pol, truth, predictor);
  return s.run();
}

}  // namespace kairos::sched
