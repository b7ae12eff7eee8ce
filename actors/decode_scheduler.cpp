// The decode scheduler actor, one per decode group: holds each device's
// running and waiting sets, asks its decode policy for the next step after
// every event (KV arrival, step done), and forwards new tokens to the
// request actors. The apply logic follows scheduler/simulator.cpp, so the
// same policy makes the same decisions here and in `kairos sim`.
#include <algorithm>
#include <unordered_map>

#include "actors/actor_context.hpp"
#include "actors/scheduler_setup.hpp"
#include "actors/trace.hpp"

namespace kairos::actors {

namespace {

struct dc_seq {
  request_actor owner;
  sched::request_spec spec;
  stop_criteria stop;
  int32_t last_token = 0;
  int32_t n_generated = 1;
  int32_t device = 0;
  double first_token_s = 0;
  std::shared_ptr<seq_handoff> kv;  // set while the KV is not on the device (arriving, swapped out)
  bool in_transit = false;
  bool cancelled = false;
};

struct dc_device {
  device_actor handle;
  std::string name;
  device_gauge* gauge = nullptr;
  bool alive = true;
  bool busy = false;
  std::vector<sched::decode_seq> running, waiting;
  std::vector<uint8_t> ran;    // [running]: runs in the step in flight
  int32_t in_transit = 0;
  int64_t in_transit_ctx = 0;
  int32_t step_batch = 0;
  int64_t step_ctx = 0;
};

struct decode_state {
  scheduler_init init;
  std::unique_ptr<sched::corrected_cost_model> cost;
  prefill_scheduler_actor prefill;
  std::vector<dc_device> devs;
  std::unordered_map<int64_t, dc_seq> seqs;
  uint64_t next_step = 0;
  sched::decode_decision dec;
  std::vector<uint8_t> mark, wmark, run_flags;
  static inline const char* name = "kairos.decode_scheduler";
};

using self_ptr = decode_scheduler_actor::stateful_pointer<decode_state>;

// Called after every change to the devices' sets: publishes the group's
// waiting/running gauges, then the loads the prefill scheduler places by.
void report_loads(self_ptr self) {
  auto& st = self->state;
  int64_t waiting = 0, running = 0;
  for (const auto& d : st.devs) {
    waiting += int64_t(d.waiting.size()) + d.in_transit;
    running += int64_t(d.running.size());
  }
  st.init.shared->counters.decode_waiting.store(waiting, std::memory_order_relaxed);
  st.init.shared->counters.decode_running.store(running, std::memory_order_relaxed);
  if (!st.prefill) return;
  decode_loads l;
  for (const auto& d : st.devs) {
    int64_t ctx = d.in_transit_ctx;
    for (const auto& s : d.running) ctx += s.context_tokens;
    for (const auto& s : d.waiting) ctx += s.context_tokens;
    l.loads.push_back({int32_t(d.running.size() + d.waiting.size()) + d.in_transit, ctx, st.init.decode_limits.kv_capacity_tokens});
    l.alive.push_back(d.alive ? 1 : 0);
  }
  trace::sent(trace::actor_kind::decode_scheduler, trace::what::load_report, self->id());
  self->send(st.prefill, load_atom::value, std::move(l));
}

void free_on_device(self_ptr self, int32_t d, std::vector<int64_t> ids) {
  auto& dev = self->state.devs[size_t(d)];
  if (!dev.alive || ids.empty()) return;
  if (trace::enabled())
    for (int64_t q : ids) trace::sent(trace::actor_kind::decode_scheduler, trace::what::free_kv, self->id(), q, int32_t(ids.size()));
  self->send(dev.handle, free_atom::value, std::move(ids));
}

void fail_seq(self_ptr self, int64_t id, const std::string& why) {
  auto& st = self->state;
  auto it = st.seqs.find(id);
  if (it == st.seqs.end()) return;
  if (!it->second.cancelled) {
    trace::sent(trace::actor_kind::decode_scheduler, trace::what::fail, self->id(), id);
    self->send(it->second.owner, fail_atom::value, why);
  }
  st.seqs.erase(it);
}

void start_step(self_ptr self, int32_t d);

void on_device_down(self_ptr self, int32_t d, const std::string& reason) {
  auto& st = self->state;
  auto& dev = st.devs[size_t(d)];
  if (!dev.alive) return;
  dev.alive = false;
  dev.busy = false;
  dev.gauge->alive.store(false);
  const std::string why = "decode device " + dev.name + " failed: " + reason;
  for (const auto& s : dev.running) fail_seq(self, s.id, why);
  for (const auto& s : dev.waiting) fail_seq(self, s.id, why);
  dev.running.clear();
  dev.waiting.clear();
  dev.ran.clear();
  report_loads(self);
}

void arrive(self_ptr self, int64_t id) {
  auto& st = self->state;
  auto it = st.seqs.find(id);
  if (it == st.seqs.end()) return;
  auto& s = it->second;
  auto& dev = st.devs[size_t(s.device)];
  if (s.in_transit) {
    s.in_transit = false;
    dev.in_transit -= 1;
    dev.in_transit_ctx -= s.spec.input_tokens + 1;
  }
  trace::record(trace::actor_kind::decode_scheduler, trace::kind::span_end, trace::what::kv_transfer, self->id(), id);
  if (s.cancelled) {
    st.seqs.erase(it);
    report_loads(self);
    return;
  }
  if (!dev.alive) {
    fail_seq(self, id, "decode device " + dev.name + " failed before the KV arrived");
    report_loads(self);
    return;
  }
  sched::decode_seq q;
  q.id = int32_t(id);
  q.context_tokens = s.spec.input_tokens + 1;
  q.tokens_generated = 1;
  q.max_tokens = s.spec.max_tokens;
  q.arrival_s = s.spec.arrival_s;
  q.first_token_s = s.first_token_s;
  q.tpot_s = s.spec.slo.tpot_s;
  dev.waiting.push_back(q);
  trace::sent(trace::actor_kind::decode_scheduler, trace::what::decoding, self->id(), id);
  self->send(s.owner, decoding_atom::value, dev.name);
  if (!dev.busy) start_step(self, s.device);
  report_loads(self);
}

void on_step_done(self_ptr self, int32_t d, step_job& job, step_result& r);

void begin_step(self_ptr self, int32_t d, step_job job, int32_t n_run, int64_t ctx) {
  auto& st = self->state;
  auto& dev = st.devs[size_t(d)];
  dev.busy = true;
  dev.step_batch = n_run;
  dev.step_ctx = ctx;
  job.step_id = st.next_step++;
  auto jp = std::make_shared<step_job>(std::move(job));
  const auto step_id = int64_t(jp->step_id);
  // The step's members are recorded once, by the device that runs it.
  trace::sent(trace::actor_kind::decode_scheduler, trace::what::decode_step, self->id(), -1, n_run, step_id);
  self->request(dev.handle, caf::infinite, step_atom::value, *jp)
      .then(
          [=](step_result& r) {
            trace::handler h(trace::actor_kind::decode_scheduler, trace::what::step_done, self->id(), -1, step_id);
            on_step_done(self, d, *jp, r);
          },
          [=](caf::error& e) {
            trace::handler h(trace::actor_kind::decode_scheduler, trace::what::device_down, self->id(), -1, step_id);
            on_device_down(self, d, self->system().render(e));
          });
}

void start_step(self_ptr self, int32_t d) {
  auto& st = self->state;
  auto& dev = st.devs[size_t(d)];
  if (!dev.alive || dev.busy) return;
  if (dev.running.empty() && dev.waiting.empty()) return;
  const double now = now_s(self, *st.init.shared);
  auto& dec = st.dec;
  st.init.policies->decode->select(dev.running, dev.waiting, now, *st.cost, st.init.decode_limits, dec);
  if (dec.run.empty() && dec.admit.empty() && dec.preempt.empty()) {
    if (!dev.running.empty()) {  // a policy must make progress: run everyone
      for (size_t i = 0; i < dev.running.size(); ++i) dec.run.push_back(int32_t(i));
    } else {  // nothing resident, nothing admitted: the head can never fit
      const auto& h = dev.waiting.front();
      if (sched::kv_slots(h.context_tokens + 1, st.init.decode_limits.block_size) > st.init.decode_limits.kv_capacity_tokens) {
        const int64_t id = h.id;
        dev.waiting.erase(dev.waiting.begin());
        fail_seq(self, id, "rejected: the request's KV (" + std::to_string(h.context_tokens) + " tokens) does not fit decode device " + dev.name);
        return start_step(self, d);
      }
      dec.admit.push_back(0);
    }
  }
  step_job job;
  // Preempt, then admit; mark who runs (as the simulator applies a decision).
  st.mark.assign(dev.running.size(), 0);
  for (int32_t i : dec.run) st.mark[size_t(i)] = 1;
  for (int32_t i : dec.preempt) st.mark[size_t(i)] = 2;
  std::vector<sched::decode_seq> evicted;
  size_t k = 0;
  st.run_flags.clear();
  for (size_t i = 0; i < dev.running.size(); ++i) {
    if (st.mark[i] == 2) {
      auto s = dev.running[i];
      s.swapped = true;
      evicted.push_back(s);
      job.evict.push_back(s.id);
      st.init.shared->counters.preemptions.fetch_add(1);
      continue;
    }
    dev.running[k++] = dev.running[i];
    st.run_flags.push_back(st.mark[i]);
  }
  dev.running.resize(k);
  st.wmark.assign(dev.waiting.size(), 0);
  for (int32_t w : dec.admit) {
    if (st.wmark[size_t(w)]) continue;
    st.wmark[size_t(w)] = 1;
    auto s = dev.waiting[size_t(w)];
    s.swapped = false;
    auto& info = st.seqs.at(s.id);
    job.load.push_back({s.id, std::move(info.kv)});
    info.kv.reset();
    dev.running.push_back(s);
    st.run_flags.push_back(1);
  }
  size_t m = 0;
  for (size_t i = 0; i < dev.waiting.size(); ++i)
    if (!st.wmark[i]) dev.waiting[m++] = dev.waiting[i];
  dev.waiting.resize(m);
  if (!evicted.empty()) dev.waiting.insert(dev.waiting.begin(), evicted.begin(), evicted.end());
  dev.ran.assign(st.run_flags.begin(), st.run_flags.end());
  int32_t n_run = 0;
  int64_t ctx = 0;
  for (size_t i = 0; i < dev.running.size(); ++i)
    if (dev.ran[i]) {
      ++n_run;
      ctx += dev.running[i].context_tokens;
      job.run.push_back({dev.running[i].id, st.seqs.at(dev.running[i].id).last_token});
    }
  if (n_run == 0 && job.evict.empty() && job.load.empty()) {
    if (!dev.running.empty() || !dev.waiting.empty()) return start_step(self, d);
    return;
  }
  begin_step(self, d, std::move(job), n_run, ctx);
}

void on_step_done(self_ptr self, int32_t d, step_job& job, step_result& r) {
  auto& st = self->state;
  auto& dev = st.devs[size_t(d)];
  if (!dev.alive) return;
  dev.busy = false;
  if (!r.error.empty()) {  // the step failed: its sequences fail, the device stays
    std::vector<int64_t> ids;
    for (const auto& w : job.run) ids.push_back(w.seq);
    for (const auto& l : job.load) ids.push_back(l.seq);
    for (int64_t id : ids) fail_seq(self, id, "decode step failed on " + r.error);
    std::erase_if(dev.running, [&](const sched::decode_seq& s) { return !st.seqs.count(s.id); });
    dev.ran.clear();
    free_on_device(self, d, ids);
    start_step(self, d);
    report_loads(self);
    return;
  }
  st.cost->observe_decode(dev.step_batch, dev.step_ctx, r.seconds);
  auto& c = st.init.shared->counters;
  if (dev.step_batch > 0) {
    c.decode_steps.fetch_add(1, std::memory_order_relaxed);
    c.decode_batch_sum.fetch_add(dev.step_batch, std::memory_order_relaxed);
    c.decode_busy_ns.fetch_add(int64_t(r.seconds * 1e9), std::memory_order_relaxed);
    dev.gauge->busy_ns.fetch_add(int64_t(r.seconds * 1e9), std::memory_order_relaxed);
  }
  for (size_t i = 0; i < job.evict.size() && i < r.evicted.size(); ++i)
    if (auto it = st.seqs.find(job.evict[i]); it != st.seqs.end()) it->second.kv = std::move(r.evicted[i]);
  std::vector<int64_t> to_free;
  size_t t = 0;  // index into r.tokens (job.run order = running order with ran set)
  size_t k = 0;
  for (size_t i = 0; i < dev.running.size(); ++i) {
    auto s = dev.running[i];
    auto it = st.seqs.find(s.id);
    const bool ran = i < dev.ran.size() && dev.ran[i];
    const int32_t tok = ran && t < r.tokens.size() ? r.tokens[t++] : 0;
    if (it == st.seqs.end() || it->second.cancelled) {  // cancelled during the step
      to_free.push_back(s.id);
      if (it != st.seqs.end()) st.seqs.erase(it);
      continue;
    }
    if (ran) {
      auto& info = it->second;
      s.tokens_generated += 1;
      s.context_tokens += 1;
      info.n_generated += 1;
      info.last_token = tok;
      c.decode_tokens.fetch_add(1, std::memory_order_relaxed);
      const stop_reason why = info.stop.check(tok, info.n_generated);
      trace::sent(trace::actor_kind::decode_scheduler, trace::what::token, self->id(), s.id, tok);
      self->send(info.owner, token_atom::value, tok, int32_t(why));
      if (why != stop_reason::none) {
        to_free.push_back(s.id);
        st.seqs.erase(it);
        continue;
      }
    }
    dev.running[k++] = s;
  }
  dev.running.resize(k);
  dev.ran.clear();
  free_on_device(self, d, std::move(to_free));
  start_step(self, d);
  report_loads(self);
}

decode_scheduler_actor::behavior_type decode_fn(self_ptr self, scheduler_init init) {
  setup_scheduler(self, std::move(init), trace::actor_kind::decode_scheduler,
                  [self](size_t d, const std::string& reason) { on_device_down(self, int32_t(d), reason); });
  return {
      [=](admit_atom, decode_request& r) {
        trace::handler h(trace::actor_kind::decode_scheduler, trace::what::admit, self->id(), r.spec.id, -1);
        auto& s = self->state;
        const int64_t id = r.spec.id;
        int32_t d = std::clamp<int32_t>(r.device, 0, int32_t(s.devs.size()) - 1);
        if (!s.devs[size_t(d)].alive) {  // placed on a device that has since failed: take the least loaded live one
          d = -1;
          size_t best = SIZE_MAX;
          for (size_t i = 0; i < s.devs.size(); ++i)
            if (s.devs[i].alive && s.devs[i].running.size() + s.devs[i].waiting.size() < best) {
              best = s.devs[i].running.size() + s.devs[i].waiting.size();
              d = int32_t(i);
            }
          if (d < 0) {
            trace::sent(trace::actor_kind::decode_scheduler, trace::what::fail, self->id(), id);
            self->send(r.owner, fail_atom::value, std::string("no decode device left"));
            return;
          }
        }
        dc_seq q{r.owner, r.spec, r.stop, r.first_token, 1, d, r.first_token_s, std::move(r.kv), true, false};
        auto& dev = s.devs[size_t(d)];
        dev.in_transit += 1;
        dev.in_transit_ctx += r.spec.input_tokens + 1;
        s.seqs.emplace(id, std::move(q));
        trace::record(trace::actor_kind::decode_scheduler, trace::kind::span_begin, trace::what::kv_transfer, self->id(), id, r.spec.input_tokens);
        // sim: the transfer takes the link's modelled time on the actor clock;
        // cpu: the rows were copied out of the prefill pool already and are
        // copied into the decode pool when the request is admitted to a step.
        const bool modelled = !s.seqs.at(id).kv || !s.seqs.at(id).kv->staging;
        const double t = modelled ? s.init.base_cost->transfer_time(r.spec.input_tokens) : 0.0;
        if (t > 0) {
          trace::sent(trace::actor_kind::decode_scheduler, trace::what::arrive, self->id(), id);
          self->delayed_send(self, to_timespan(t), arrive_atom::value, id);
        } else {
          arrive(self, id);
        }
        report_loads(self);
      },
      [=](arrive_atom, int64_t id) {
        trace::handler h(trace::actor_kind::decode_scheduler, trace::what::arrive, self->id(), id, -1);
        arrive(self, id);
      },
      [=](cancel_atom, int64_t id) {
        trace::handler h(trace::actor_kind::decode_scheduler, trace::what::cancel, self->id(), id, -1);
        auto& s = self->state;
        auto it = s.seqs.find(id);
        if (it == s.seqs.end()) return;
        auto& q = it->second;
        auto& dev = s.devs[size_t(q.device)];
        if (q.in_transit) {  // dropped when the transfer ends
          q.cancelled = true;
          return;
        }
        auto wit = std::find_if(dev.waiting.begin(), dev.waiting.end(), [&](const auto& w) { return w.id == id; });
        if (wit != dev.waiting.end()) {  // its KV is in the handoff, not on the device
          dev.waiting.erase(wit);
          s.seqs.erase(it);
          report_loads(self);
          return;
        }
        if (dev.busy) {  // resident and maybe in the step: freed when the step returns
          q.cancelled = true;
          return;
        }
        const int32_t d = q.device;
        std::erase_if(dev.running, [&](const auto& r) { return r.id == id; });
        s.seqs.erase(it);
        free_on_device(self, d, {id});
        report_loads(self);
      },
      [=](register_atom, prefill_scheduler_actor p) {
        trace::handler h(trace::actor_kind::decode_scheduler, trace::what::register_peer, self->id(), -1, -1);
        self->state.prefill = std::move(p);
        report_loads(self);
      },
  };
}

}  // namespace

decode_scheduler_actor spawn_decode_scheduler(caf::actor_system& sys, scheduler_init init) {
  return sys.spawn(decode_fn, std::move(init));
}

}  // namespace kairos::actors
