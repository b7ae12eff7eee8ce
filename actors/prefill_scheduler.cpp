// The prefill scheduler actor, one per prefill group: holds the queue, asks
// its prefill policy for a batch for each idle device on every event
// (arrival, batch done), places each prefilled request on a decode device
// and hands it to the decode scheduler with its KV.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "actors/actor_context.hpp"
#include "actors/scheduler_setup.hpp"
#include "actors/trace.hpp"

namespace kairos::actors {

namespace {

struct pf_device {
  device_actor handle;
  std::string name;
  device_gauge* gauge = nullptr;
  bool alive = true;
  bool busy = false;
  double busy_until = 0;
  std::vector<int64_t> batch;                 // request ids in flight
  std::vector<sched::prefill_piece> pieces;   // for the cost model's correction
};

struct prefill_state {
  scheduler_init init;
  std::unique_ptr<sched::corrected_cost_model> cost;
  decode_scheduler_actor decode;
  std::vector<pf_device> devs;
  std::vector<sched::queued_prefill> queue;  // arrival order
  std::unordered_map<int64_t, prefill_request> reqs;  // queued or in a batch
  std::unordered_map<int64_t, double> prefill_start;
  std::unordered_set<int64_t> cancelled;              // cancelled while in a batch
  decode_loads loads;
  uint64_t next_batch = 0;
  // scratch
  std::vector<double> others;
  std::vector<sched::decode_instance_load> alive_loads;
  std::vector<int32_t> alive_index;
  sched::prefill_batch batch;
  static inline const char* name = "kairos.prefill_scheduler";
};

using self_ptr = prefill_scheduler_actor::stateful_pointer<prefill_state>;

void fail_request(self_ptr self, int64_t id, const std::string& why) {
  auto& st = self->state;
  auto it = st.reqs.find(id);
  if (it == st.reqs.end()) return;
  trace::sent(trace::actor_kind::prefill_scheduler, trace::what::fail, self->id(), id);
  self->send(it->second.owner, fail_atom::value, why);
  st.reqs.erase(it);
  st.prefill_start.erase(id);
  st.cancelled.erase(id);
}

void dispatch(self_ptr self);

void on_device_down(self_ptr self, size_t d, const std::string& reason) {
  auto& st = self->state;
  auto& dev = st.devs[d];
  if (!dev.alive) return;
  dev.alive = false;
  dev.busy = false;
  dev.gauge->alive.store(false);
  const std::string why = "prefill device " + dev.name + " failed: " + reason;
  for (int64_t id : dev.batch) fail_request(self, id, why);
  dev.batch.clear();
  if (std::none_of(st.devs.begin(), st.devs.end(), [](const pf_device& x) { return x.alive; })) {
    for (const auto& q : st.queue) {
      st.init.shared->counters.queued.fetch_sub(1);
      fail_request(self, q.id, "no prefill device left (" + why + ")");
    }
    st.queue.clear();
  }
}

void on_batch_done(self_ptr self, size_t d, prefill_result& r) {
  auto& st = self->state;
  auto& dev = st.devs[d];
  dev.busy = false;
  const double now = now_s(self, *st.init.shared);
  if (!r.error.empty()) {
    for (int64_t id : dev.batch) fail_request(self, id, "prefill failed on " + r.error);
    dev.batch.clear();
    dispatch(self);
    return;
  }
  st.cost->observe_prefill(dev.pieces, r.seconds);
  dev.gauge->busy_ns.fetch_add(int64_t(r.seconds * 1e9), std::memory_order_relaxed);
  for (auto& o : r.out) {
    auto it = st.reqs.find(o.seq);
    if (it == st.reqs.end()) continue;
    auto& req = it->second;
    const double started = st.prefill_start[o.seq];
    st.prefill_start.erase(o.seq);
    if (st.cancelled.erase(o.seq)) {  // its KV is already out of the device; drop it
      st.reqs.erase(it);
      continue;
    }
    const bool last = req.stop.check(o.first_token, 1) != stop_reason::none;
    trace::sent(trace::actor_kind::prefill_scheduler, trace::what::first_token, self->id(), o.seq, o.first_token);
    self->send(req.owner, first_atom::value, o.first_token, started, dev.name, last);
    if (last) {
      st.reqs.erase(it);
      continue;
    }
    // Placement among the live decode devices.
    st.alive_loads.clear();
    st.alive_index.clear();
    for (size_t k = 0; k < st.loads.loads.size(); ++k)
      if (st.loads.alive[k]) {
        st.alive_loads.push_back(st.loads.loads[k]);
        st.alive_index.push_back(int32_t(k));
      }
    int32_t target = 0;
    if (st.alive_index.size() > 1) {
      const int32_t a = st.init.policies->placement->place(req.spec, st.alive_loads, *st.cost);
      target = st.alive_index[size_t(std::clamp<int32_t>(a, 0, int32_t(st.alive_index.size()) - 1))];
    } else if (st.alive_index.size() == 1) {
      target = st.alive_index[0];
    }
    if (!st.loads.loads.empty()) {  // until the decode scheduler's next report
      st.loads.loads[size_t(target)].n_seqs += 1;
      st.loads.loads[size_t(target)].context_tokens += req.spec.input_tokens + 1;
    }
    decode_request dr{req.spec, req.stop, o.first_token, now, target, std::move(o.kv), req.owner};
    trace::sent(trace::actor_kind::prefill_scheduler, trace::what::admit, self->id(), o.seq, req.spec.input_tokens);
    self->send(st.decode, admit_atom::value, std::move(dr));
    st.reqs.erase(it);
  }
  dev.batch.clear();
  dispatch(self);
}

void dispatch(self_ptr self) {
  auto& st = self->state;
  if (st.queue.empty()) return;
  const double now = now_s(self, *st.init.shared);
  for (size_t p = 0; p < st.devs.size() && !st.queue.empty(); ++p) {
    auto& dev = st.devs[p];
    if (dev.busy || !dev.alive) continue;
    st.others.clear();
    for (size_t o = 0; o < st.devs.size(); ++o)
      if (o != p && st.devs[o].alive) st.others.push_back(st.devs[o].busy ? st.devs[o].busy_until : now);
    sched::prefill_context ctx{now, st.others};
    st.init.policies->prefill->select(st.queue, ctx, *st.cost, st.init.prefill_limits, st.batch);
    if (st.batch.items.empty()) continue;
    prefill_job job;
    job.batch_id = st.next_batch++;
    dev.pieces.clear();
    dev.batch.clear();
    std::vector<uint8_t> taken(st.queue.size(), 0);
    for (const auto& item : st.batch.items) {
      const size_t qi = size_t(item.queue_index);
      if (qi >= st.queue.size() || taken[qi]) continue;
      taken[qi] = 1;
      const auto& q = st.queue[qi];
      const auto& req = st.reqs.at(q.id);
      job.work.push_back({q.id, req.prompt, q.input_tokens, req.sampling});
      dev.pieces.push_back({q.input_tokens, 0});
      dev.batch.push_back(q.id);
      st.prefill_start[q.id] = now;
      trace::record(trace::actor_kind::prefill_scheduler, trace::kind::span_end, trace::what::queue_wait, self->id(), q.id);
      trace::sent(trace::actor_kind::prefill_scheduler, trace::what::prefill_start, self->id(), q.id);
      self->send(req.owner, prefill_atom::value, now, dev.name);
    }
    size_t k = 0;
    for (size_t i = 0; i < st.queue.size(); ++i)
      if (!taken[i]) st.queue[k++] = st.queue[i];
    st.queue.resize(k);
    st.init.shared->counters.queued.fetch_sub(int64_t(job.work.size()));
    st.init.shared->counters.prefill_batches.fetch_add(1);
    dev.busy = true;
    dev.busy_until = now + st.cost->prefill_time(dev.pieces);
    // The batch's members are recorded once, by the device that runs it.
    trace::sent(trace::actor_kind::prefill_scheduler, trace::what::prefill_batch, self->id(), -1, int32_t(job.work.size()), int64_t(job.batch_id));
    const auto batch_id = int64_t(job.batch_id);
    self->request(dev.handle, caf::infinite, prefill_atom::value, std::move(job))
        .then(
            [=](prefill_result& r) {
        trace::handler h(trace::actor_kind::prefill_scheduler, trace::what::batch_done, self->id(), -1, batch_id);
              on_batch_done(self, p, r);
            },
            [=](caf::error& e) {
        trace::handler h(trace::actor_kind::prefill_scheduler, trace::what::device_down, self->id(), -1, batch_id);
              on_device_down(self, p, self->system().render(e));
            });
  }
}

prefill_scheduler_actor::behavior_type prefill_fn(self_ptr self, scheduler_init init, decode_scheduler_actor decode) {
  self->state.decode = decode;
  setup_scheduler(self, std::move(init), trace::actor_kind::prefill_scheduler,
                  [self](size_t d, const std::string& reason) { on_device_down(self, d, reason); });
  trace::sent(trace::actor_kind::prefill_scheduler, trace::what::register_peer, self->id());
  self->send(decode, register_atom::value, prefill_scheduler_actor{self});
  return {
      [=](enqueue_atom, prefill_request& r) {
        auto& s = self->state;
        trace::handler h(trace::actor_kind::prefill_scheduler, trace::what::enqueue, self->id(), r.spec.id, -1);
        if (std::none_of(s.devs.begin(), s.devs.end(), [](const pf_device& x) { return x.alive; })) {
          s.init.shared->counters.queued.fetch_sub(1);
          trace::sent(trace::actor_kind::prefill_scheduler, trace::what::fail, self->id(), r.spec.id);
          self->send(r.owner, fail_atom::value, std::string("no prefill device left"));
          return;
        }
        sched::queued_prefill q{r.spec.id, r.spec.arrival_s, r.spec.ttft_deadline_s(), r.spec.input_tokens, 0};
        auto pos = std::upper_bound(s.queue.begin(), s.queue.end(), q, [](const auto& a, const auto& b) {
          return a.arrival_s != b.arrival_s ? a.arrival_s < b.arrival_s : a.id < b.id;
        });
        s.queue.insert(pos, q);
        trace::record(trace::actor_kind::prefill_scheduler, trace::kind::span_begin, trace::what::queue_wait, self->id(), r.spec.id, r.spec.input_tokens);
        s.reqs.emplace(r.spec.id, std::move(r));
        dispatch(self);
      },
      [=](cancel_atom, int64_t id) {
        auto& s = self->state;
        trace::handler h(trace::actor_kind::prefill_scheduler, trace::what::cancel, self->id(), id, -1);
        auto qit = std::find_if(s.queue.begin(), s.queue.end(), [&](const auto& q) { return q.id == id; });
        if (qit != s.queue.end()) {
          trace::record(trace::actor_kind::prefill_scheduler, trace::kind::span_end, trace::what::queue_wait, self->id(), id);
          s.queue.erase(qit);
          s.reqs.erase(id);
          s.init.shared->counters.queued.fetch_sub(1);
          return;
        }
        if (s.reqs.count(id)) {
          s.cancelled.insert(id);  // in a batch: its KV is dropped when the batch returns
          return;
        }
        trace::sent(trace::actor_kind::prefill_scheduler, trace::what::cancel, self->id(), id);
        self->send(s.decode, cancel_atom::value, id);  // after our admit (FIFO per pair)
      },
      [=](load_atom, decode_loads& l) {
        trace::handler h(trace::actor_kind::prefill_scheduler, trace::what::load_report, self->id(), -1, -1);
        self->state.loads = std::move(l);
      },
  };
}

}  // namespace

prefill_scheduler_actor spawn_prefill_scheduler(caf::actor_system& sys, scheduler_init init,
                                                decode_scheduler_actor decode) {
  return sys.spawn(prefill_fn, std::move(init), std::move(decode));
}

}  // namespace kairos::actors
