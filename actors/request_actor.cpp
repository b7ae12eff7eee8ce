// The request actor, one per request: the state machine with its time
// stamps. It streams tokens to its subscriber and handles cancel in every
// state (the schedulers free its KV wherever it is).
#include "actors/runtime_impl.hpp"
#include "actors/trace.hpp"

namespace kairos {

namespace {

using actors::request_actor;

struct request_state {
  request_init init;
  request_result res;
  // A strong reference to itself until the request ends: the schedulers may
  // drop theirs (shutting down) before it has told its subscriber.
  request_actor keep_alive;
  static inline const char* name = "kairos.request";

  bool ended() const {
    return res.status == request_status::finished || res.status == request_status::cancelled ||
           res.status == request_status::failed;
  }
};

using self_ptr = request_actor::stateful_pointer<request_state>;

double now(self_ptr self) { return actors::now_s(self, *self->state.init.shared); }

void end(self_ptr self, request_status s, std::string error = {}) {
  auto& st = self->state;
  if (st.ended()) return;
  st.res.status = s;
  st.res.error = std::move(error);
  st.res.times.end_s = now(self);
  auto& c = st.init.shared->counters;
  (s == request_status::finished ? c.finished : s == request_status::cancelled ? c.cancelled : c.failed).fetch_add(1);
  c.in_flight.fetch_sub(1);
  if (st.init.cb.on_done) st.init.cb.on_done(st.res);
  st.keep_alive = nullptr;
  self->quit();
}

void on_token(self_ptr self, int32_t token) {
  auto& st = self->state;
  st.res.tokens.push_back(token);
  st.res.times.last_token_s = now(self);
  // The subscriber's callback runs inside this actor's token handler: the
  // trace has it as that handler's span, not as an event of its own.
  if (st.init.cb.on_token) st.init.cb.on_token(st.res.id, token);
}

request_actor::behavior_type request_fn(self_ptr self, request_init init) {
  auto& st = self->state;
  st.init = std::move(init);
  st.res.id = st.init.spec.id;
  st.keep_alive = request_actor{self};
  st.res.cls = st.init.spec.cls;
  st.res.slo = st.init.spec.slo;
  st.res.status = request_status::queued;
  st.res.times.queued_s = st.init.spec.arrival_s;
  st.init.shared->counters.request_actors.fetch_add(1);
  self->attach_functor([sh = st.init.shared] { sh->counters.request_actors.fetch_sub(1); });
  // The runtime going away ends the request.
  self->monitor(st.init.prefill);
  self->set_down_handler([=](caf::down_msg&) {
        trace::handler h(trace::actor_kind::request, trace::what::down, self->id(), self->state.res.id);
    end(self, request_status::failed, "runtime shut down");
  });
  actors::prefill_request pr{st.init.spec, st.init.prompt, st.init.sampling, st.init.stop, request_actor{self}};
  trace::sent(trace::actor_kind::request, trace::what::enqueue, self->id(), st.res.id, st.init.spec.input_tokens);
  self->send(st.init.prefill, actors::enqueue_atom::value, std::move(pr));
  return {
      [=](actors::prefill_atom, double start_s, const std::string& device) {
        trace::handler h(trace::actor_kind::request, trace::what::prefill_start, self->id(), self->state.res.id);
        auto& s = self->state;
        if (s.ended()) return;
        s.res.times.prefill_start_s = start_s;
        s.res.prefill_device = device;
        s.res.status = request_status::prefilling;
      },
      [=](actors::first_atom, int32_t token, double prefill_start_s, const std::string& device, bool last) {
        trace::handler h(trace::actor_kind::request, trace::what::first_token, self->id(), self->state.res.id);
        auto& s = self->state;
        if (s.ended()) return;
        s.res.times.prefill_start_s = prefill_start_s;
        s.res.times.first_token_s = now(self);
        s.res.prefill_device = device;
        s.res.status = request_status::transferring;
        on_token(self, token);
        if (last) {
          s.res.reason = s.init.stop.check(token, 1);
          end(self, request_status::finished);
        }
      },
      [=](actors::decoding_atom, const std::string& device) {
        trace::handler h(trace::actor_kind::request, trace::what::decoding, self->id(), self->state.res.id);
        auto& s = self->state;
        if (s.ended()) return;
        s.res.times.decode_start_s = now(self);
        s.res.decode_device = device;
        s.res.status = request_status::decoding;
      },
      [=](actors::token_atom, int32_t token, int32_t reason) {
        trace::handler h(trace::actor_kind::request, trace::what::token, self->id(), self->state.res.id);
        auto& s = self->state;
        if (s.ended()) return;
        on_token(self, token);
        if (reason != int32_t(stop_reason::none)) {
          s.res.reason = static_cast<stop_reason>(reason);
          end(self, request_status::finished);
        }
      },
      [=](actors::fail_atom, std::string& why) {
        trace::handler h(trace::actor_kind::request, trace::what::fail, self->id(), self->state.res.id);
        end(self, request_status::failed, std::move(why));
      },
      [=](actors::cancel_atom) {
        trace::handler h(trace::actor_kind::request, trace::what::cancel, self->id(), self->state.res.id);
        auto& s = self->state;
        if (s.ended()) return;
        trace::sent(trace::actor_kind::request, trace::what::cancel, self->id(), s.res.id);
        // Through the prefill scheduler, which forwards it to the decode
        // scheduler after its own hand-off (FIFO per sender): no race.
        self->send(s.init.prefill, actors::cancel_atom::value, int64_t(s.res.id));
        end(self, request_status::cancelled);
      },
  };
}

}  // namespace

actors::request_actor spawn_request(caf::actor_system& sys, request_init init) {
  return sys.spawn(request_fn, std::move(init));
}

}  // namespace kairos
