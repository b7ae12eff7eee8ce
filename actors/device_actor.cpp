// The device actor: unpacks a batch, calls its backend, replies with the
// results and the batch's time. A failure inside the backend is a failed
// batch (an error in the reply); a fault kills the actor, which its
// schedulers see through their monitors.
#include <unordered_map>

#include "actors/actor_context.hpp"
#include "actors/trace.hpp"

namespace kairos::actors {

namespace {

struct device_state {
  device_init init;
  int64_t batches = 0;
  uint64_t next_key = 0;
  std::unordered_map<uint64_t, std::pair<caf::typed_response_promise<prefill_result>, prefill_result>> pending_prefill;
  std::unordered_map<uint64_t, std::pair<caf::typed_response_promise<step_result>, step_result>> pending_step;
  static inline const char* name = "kairos.device";

  void update_gauge() {
    init.gauge->kv_free.store(init.backend->kv_free_blocks(), std::memory_order_relaxed);
    init.gauge->kv_total.store(init.backend->kv_total_blocks(), std::memory_order_relaxed);
    init.gauge->batches.store(batches, std::memory_order_relaxed);
  }
  // The injected fault: the Nth batch kills the device.
  bool fault_now() { return init.fail_at_batch > 0 && batches + 1 >= init.fail_at_batch; }
};

using self_ptr = device_actor::stateful_pointer<device_state>;

caf::error injected_fault(const std::string& name) {
  return caf::make_error(caf::sec::runtime_error, "injected fault in device " + name);
}

device_actor::behavior_type device_fn(self_ptr self, device_init init) {
  self->state.init = std::move(init);
  self->state.update_gauge();
  self->attach_functor([g = self->state.init.gauge] { g->alive.store(false); });
  return {
      [=](prefill_atom, prefill_job& job) -> caf::result<prefill_result> {
        auto& st = self->state;
        trace::handler h(trace::actor_kind::device, trace::what::prefill_batch, self->id(), -1, int64_t(job.batch_id));
        trace::scope span(trace::actor_kind::device, trace::what::prefill_batch, self->id(), -1, int32_t(job.work.size()), int64_t(job.batch_id));
        for (const auto& w : job.work) span.member(w.seq, w.n_tokens);
        if (st.fault_now()) {
          self->quit(injected_fault(st.init.name));
          return injected_fault(st.init.name);
        }
        prefill_result r;
        r.batch_id = job.batch_id;
        if (auto s = st.init.backend->prefill(job.work, r.out, r.seconds); !s)
          r.error = st.init.name + ": " + s.message();
        ++st.batches;
        st.update_gauge();
        if (!st.init.modelled_time || r.seconds <= 0) {
          trace::sent(trace::actor_kind::device, trace::what::batch_done, self->id(), -1, int32_t(r.out.size()), int64_t(r.batch_id));
          return r;
        }
        const uint64_t key = st.next_key++;
        auto rp = self->make_response_promise<prefill_result>();
        const double secs = r.seconds;
        st.pending_prefill.emplace(key, std::make_pair(rp, std::move(r)));
        trace::sent(trace::actor_kind::device, trace::what::deliver, self->id(), -1, 0, int64_t(key));
        self->delayed_send(self, to_timespan(secs), deliver_atom::value, key);
        return rp;
      },
      [=](step_atom, step_job& job) -> caf::result<step_result> {
        auto& st = self->state;
        trace::handler h(trace::actor_kind::device, trace::what::decode_step, self->id(), -1, int64_t(job.step_id));
        trace::scope span(trace::actor_kind::device, trace::what::decode_step, self->id(), -1, int32_t(job.run.size()), int64_t(job.step_id));
        span.runs(job.run, [](const auto& w) { return w.seq; });
        for (const auto& l : job.load) span.member(l.seq, -1);   // a: -1 loaded (swap-in / KV arrival)
        for (int64_t e : job.evict) span.member(e, -2);          // a: -2 evicted
        if (st.fault_now()) {
          self->quit(injected_fault(st.init.name));
          return injected_fault(st.init.name);
        }
        step_result r;
        r.step_id = job.step_id;
        if (auto s = st.init.backend->step(job.evict, job.load, job.run, r.evicted, r.tokens, r.seconds); !s)
          r.error = st.init.name + ": " + s.message();
        ++st.batches;
        st.update_gauge();
        if (!st.init.modelled_time || r.seconds <= 0) {
          trace::sent(trace::actor_kind::device, trace::what::step_done, self->id(), -1, int32_t(r.tokens.size()), int64_t(r.step_id));
          return r;
        }
        const uint64_t key = st.next_key++;
        auto rp = self->make_response_promise<step_result>();
        const double secs = r.seconds;
        st.pending_step.emplace(key, std::make_pair(rp, std::move(r)));
        trace::sent(trace::actor_kind::device, trace::what::deliver, self->id(), -1, 0, int64_t(key));
        self->delayed_send(self, to_timespan(secs), deliver_atom::value, key);
        return rp;
      },
      [=](free_atom, const std::vector<int64_t>& seqs) {
        trace::handler h(trace::actor_kind::device, trace::what::free_kv, self->id());
        if (trace::enabled())
          for (int64_t q : seqs) trace::record(trace::actor_kind::device, trace::kind::member, trace::what::free_kv, self->id(), q);
        self->state.init.backend->free(seqs);
        self->state.update_gauge();
      },
      [=](deliver_atom, uint64_t key) {
        trace::handler h(trace::actor_kind::device, trace::what::deliver, self->id(), -1, int64_t(key));
        auto& st = self->state;
        if (auto it = st.pending_prefill.find(key); it != st.pending_prefill.end()) {
          trace::sent(trace::actor_kind::device, trace::what::batch_done, self->id(), -1, int32_t(it->second.second.out.size()),
                      int64_t(it->second.second.batch_id));
          it->second.first.deliver(std::move(it->second.second));
          st.pending_prefill.erase(it);
        } else if (auto jt = st.pending_step.find(key); jt != st.pending_step.end()) {
          trace::sent(trace::actor_kind::device, trace::what::step_done, self->id(), -1, int32_t(jt->second.second.tokens.size()),
                      int64_t(jt->second.second.step_id));
          jt->second.first.deliver(std::move(jt->second.second));
          st.pending_step.erase(jt);
        }
      },
      [=](fault_atom) {
        trace::handler h(trace::actor_kind::device, trace::what::fault, self->id());
        self->quit(injected_fault(self->state.init.name));
      },
  };
}

}  // namespace

device_actor spawn_device(caf::actor_system& sys, device_init init, bool detached) {
  if (detached) return sys.spawn<caf::detached>(device_fn, std::move(init));
  return sys.spawn(device_fn, std::move(init));
}

}  // namespace kairos::actors
