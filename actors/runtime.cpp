#include "actors/runtime.hpp"

#include "actors/model_source.hpp"

#include <caf/scheduler/test_coordinator.hpp>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "actors/cpu_backend.hpp"
#include "actors/cuda_backend.hpp"
#include "actors/runtime_impl.hpp"
#include "actors/sim_backend.hpp"
#include "actors/trace.hpp"
#include "gpu/model/model_loader.hpp"
#include "scheduler/fitted_cost_model.hpp"
#include "scheduler/preset_reader.hpp"

namespace kairos {

const char* to_string(request_status s) {
  switch (s) {
    case request_status::queued: return "queued";
    case request_status::prefilling: return "prefilling";
    case request_status::transferring: return "transferring";
    case request_status::decoding: return "decoding";
    case request_status::finished: return "finished";
    case request_status::cancelled: return "cancelled";
    case request_status::failed: return "failed";
  }
  return "?";
}

void request_handle::cancel() const {
  if (actor_) caf::anon_send(*static_cast<const actors::request_actor*>(actor_.get()), actors::cancel_atom::value);
}

caf::scheduler::test_coordinator* Runtime::impl::coordinator() {
  if (!opt.virtual_time || !sys) return nullptr;
  return dynamic_cast<caf::scheduler::test_coordinator*>(&sys->scheduler());
}

namespace {

struct cost_setup {
  std::shared_ptr<const sched::cost_model> model;
  sched::preset setup;  // limits and KV capacity of the preset (sim)
  std::string error;
};

cost_setup make_cost(const runtime_config& cfg) {
  cost_setup c;
  if (cfg.cost.type == "fitted") {
    sched::fit_report f;
    for (int i = 0; i < 3; ++i) {
      f.prefill_coef[size_t(i)] = cfg.cost.prefill_ms[size_t(i)] / 1e3;
      f.decode_coef[size_t(i)] = cfg.cost.decode_ms[size_t(i)] / 1e3;
    }
    f.ok = true;
    c.model = std::make_shared<sched::fitted_cost_model>(f, cfg.cost.kv_latency_ms / 1e3, cfg.cost.kv_ms_per_token / 1e3);
    return c;
  }
  auto lm = cfg.cost.type == "preset" ? sched::load_preset(cfg.cost.preset) : sched::load_cost_model_file(cfg.cost.file);
  if (!lm.model) {
    c.error = cfg.source + ": cost_model: " + lm.error;
    return c;
  }
  c.setup = lm.setup;
  c.model = std::shared_ptr<const sched::cost_model>(std::move(lm.model));
  return c;
}

}  // namespace

Runtime::Runtime(std::unique_ptr<impl> p) : p_(std::move(p)) {}

Runtime::~Runtime() { shutdown(); }

const runtime_config& Runtime::config() const { return p_->cfg; }

double Runtime::now_s() const {
  return std::chrono::duration<double>(p_->sys->clock().now() - p_->shared->epoch).count();
}

result<std::unique_ptr<Runtime>> Runtime::create(const runtime_config& cfg_in, const runtime_options& opt) {
  if (auto s = validate(cfg_in); !s) return s.err();
  auto p = std::make_unique<impl>();
  p->cfg = cfg_in;
  p->opt = opt;
  const auto& cfg = p->cfg;
  if (opt.virtual_time && !cfg.all_sim())
    return make_error(cfg.source + ": virtual time needs sim devices only (cpu and cuda devices run in real time)");
  // cuda: say why there is no GPU before anything is loaded or spawned.
  for (auto* g : {&cfg.prefill, &cfg.decode})
    for (const auto& dc : g->devices)
      if (dc.backend == backend_kind::cuda)
        if (auto s = cuda_device_usable(dc.gpu); !s) return make_error(cfg.source + ": device " + dc.name + ": " + s.message());

  auto cost = make_cost(cfg);
  if (!cost.model) return make_error(cost.error);
  auto policies = std::make_shared<sched::policy_set>();
  {
    std::string err;
    *policies = sched::make_policy_set(cfg.policies, cfg.policy_options, err);
    if (!policies->ok()) return make_error(cfg.source + ": policies: " + err);
  }

  // -- the model, for cpu and cuda devices: host tensors, or (cuda,
  // model.random_shape) only a config, the weights made on each GPU --
  std::optional<loaded_model> model;
  std::optional<model_config> model_cfg;
  if (!cfg.model_random_shape.empty()) {
    auto c = random_shape_config(cfg);
    if (!c) return c.err();
    model_cfg = c.value();
  } else if (!cfg.all_sim()) {
    auto loaded = load_configured_model(cfg);
    if (!loaded) return loaded.err();
    model = std::move(loaded.value());
    model_cfg = model->config;
  }
  if (model_cfg) {
    p->vocab = model_cfg->vocab_size;
    p->eos_ids.assign(model_cfg->eos_token_ids.begin(), model_cfg->eos_token_ids.end());
    p->max_context = cfg.max_context > 0 ? std::min(cfg.max_context, model_cfg->max_position) : model_cfg->max_position;
  } else {
    p->sim = true;
    p->max_context = cfg.max_context > 0 ? cfg.max_context : cost.setup.limits.max_model_len;
  }
  int64_t kv_tokens = cfg.kv_capacity_tokens;
  if (kv_tokens <= 0) kv_tokens = model_cfg ? int64_t(model_cfg->max_position) * 4 : cost.setup.kv_capacity_tokens();
  const int n_blocks = int((kv_tokens + cfg.block_size - 1) / cfg.block_size);
  p->decode_kv_tokens = int64_t(n_blocks) * cfg.block_size;
  p->max_context = int32_t(std::min<int64_t>(p->max_context, p->decode_kv_tokens));

  // -- the actor system --
  if (opt.virtual_time) p->sys_cfg.set("scheduler.policy", caf::atom("testing"));
  if (opt.worker_threads > 0) p->sys_cfg.set("scheduler.max-threads", opt.worker_threads);
  p->sys = std::make_unique<caf::actor_system>(p->sys_cfg);
  p->shared = std::make_shared<actors::runtime_shared>();
  p->shared->epoch = p->sys->clock().now();
  // The trace reads the actor clock, so a virtual-time replay is traced in
  // virtual time: nanoseconds since the runtime started.
  // Virtual time reads the test clock's time point directly (a load, not a
  // virtual call: the hooks run millions of times in a replay).
  p->trace_clock.origin_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(p->shared->epoch.time_since_epoch()).count();
  p->trace_clock.virtual_time = opt.virtual_time;
  if (auto* coord = p->coordinator()) {
    p->trace_clock.ctx = &coord->clock().current_time;
    // The test clock's time point is one count of nanoseconds: read it in place.
    using tp = caf::actor_clock::time_point;
    static_assert(sizeof(tp) == sizeof(int64_t) && std::is_same_v<tp::rep, int64_t> &&
                  std::is_same_v<tp::period, std::nano>);
    p->trace_clock.direct_ns = reinterpret_cast<const int64_t*>(&coord->clock().current_time);
    p->trace_clock.now = [](const void* ctx) {
      return int64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                         static_cast<const caf::actor_clock::time_point*>(ctx)->time_since_epoch())
                         .count());
    };
  } else {  // CAF's real actor clock is the steady clock
    p->trace_clock.now = [](const void*) {
      return int64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                         caf::actor_clock::clock_type::now().time_since_epoch())
                         .count());
    };
  }
  trace::install_clock(&p->trace_clock);
  if (!cfg.trace.out.empty()) {
    auto fail = [&](const std::string& why) {
      trace::uninstall_clock(&p->trace_clock);
      return make_error(cfg.source + ": trace.out: " + why);
    };
    if (trace::enabled() || trace::recording()) return fail("tracing is already on in this process (one recording at a time)");
    if (auto s = trace::set_capacity(size_t(cfg.trace.buffer_events)); !s) return fail(s.message());
    if (auto s = trace::start_recording(cfg.trace.out); !s) return fail(s.message());
    p->trace_owner = true;
  }

  // -- devices --
  auto make_device = [&](const device_config& dc, const char* group) -> result<actors::device_actor> {
    auto g = std::make_unique<actors::device_gauge>();
    g->name = dc.name;
    g->group = group;
    actors::device_init init;
    init.shared = p->shared;
    init.gauge = g.get();
    init.name = dc.name;
    init.fail_at_batch = dc.fail_at_batch;
    // The decode policy may run more than max_num_seqs (kairos admits past
    // it when slack allows): size the engines' scratch for its hard cap.
    const int max_seqs = std::max(cfg.max_num_seqs, cfg.policy_options.kairos_decode.max_seqs);
    if (dc.backend == backend_kind::cuda) {
      cuda_device_options co;
      co.gpu = dc.gpu;
      co.block_size = cfg.block_size;
      co.max_seq_len = p->max_context;
      co.kv_tokens = int(kv_tokens);
      co.max_batch_tokens = std::max({cfg.prefill_limits.max_batch_tokens, p->max_context, max_seqs});
      co.max_logit_rows = std::max(cfg.prefill_limits.max_batch_size, max_seqs);
      auto b = make_cuda_backend(dc.name, model ? &model->config : nullptr, model ? &model->tensors : nullptr,
                                 cfg.model_random_shape, cfg.model_seed, co);
      if (!b) return b.err();
      g->kv_dtype = "bf16";  // the CUDA engine keeps K/V in its activation type
      init.backend = std::move(b.value());
    } else if (dc.backend == backend_kind::cpu) {
      engine_options eo;
      eo.n_threads = std::max(1, cfg.threads_per_device);
      eo.block_size = cfg.block_size;
      eo.kv_cache_dtype = cfg.kv_cache_dtype;
      eo.kv_tokens = int(kv_tokens);
      eo.max_batch_tokens = std::max({cfg.prefill_limits.max_batch_tokens, p->max_context, max_seqs});
      eo.max_logit_rows = std::max(cfg.prefill_limits.max_batch_size, max_seqs);
      auto e = cpu_engine::create(model->config, model->tensors, eo);
      if (!e) return make_error("device " + dc.name + ": " + e.message());
      g->kv_dtype = std::string(kv_dtype_name(e.value()->kv_storage().shape().dtype));
      init.backend = std::make_shared<cpu_backend>(std::move(e.value()));
    } else {
      init.backend = std::make_shared<sim_backend>(cost.model, n_blocks, cfg.block_size, dc.slowdown);
      init.modelled_time = true;
    }
    p->shared->gauges.push_back(std::move(g));
    // Real devices block their thread for a whole batch: detached.
    return actors::spawn_device(*p->sys, std::move(init), dc.backend != backend_kind::sim);
  };
  actors::scheduler_init pi, di;
  for (auto* grp : {&cfg.prefill, &cfg.decode}) {
    const bool is_prefill = grp == &cfg.prefill;
    auto& si = is_prefill ? pi : di;
    for (const auto& dc : grp->devices) {
      auto d = make_device(dc, is_prefill ? "prefill" : "decode");
      if (!d) {
        for (auto& a : p->devices) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
        return d.err();
      }
      p->devices.push_back(d.value());
      p->device_names.push_back(dc.name);
      si.devices.push_back(d.value());
      si.device_names.push_back(dc.name);
      si.gauges.push_back(p->shared->gauges.back().get());
    }
    si.shared = p->shared;
    si.base_cost = cost.model;
    si.policies = policies;
    si.correction_alpha = cfg.cost.correction_alpha;
  }
  pi.prefill_limits = cfg.prefill_limits;
  pi.prefill_limits.chunk_tokens = 0;  // whole prompts: the KV hand-off is per finished prompt
  di.decode_limits.kv_capacity_tokens = p->decode_kv_tokens;
  di.decode_limits.block_size = cfg.block_size;
  di.decode_limits.max_num_seqs = cfg.max_num_seqs;
  di.decode_limits.watermark = cfg.kv_watermark;
  p->decode = actors::spawn_decode_scheduler(*p->sys, std::move(di));
  p->prefill = actors::spawn_prefill_scheduler(*p->sys, std::move(pi), p->decode);
  // Names for the trace; registered traced or not, so a window opened later names them.
  for (size_t i = 0; i < p->devices.size(); ++i)
    trace::register_actor(p->devices[i].id(), trace::actor_kind::device, p->device_names[i],
                          i < cfg.prefill.devices.size() ? "prefill" : "decode");
  trace::register_actor(p->prefill.id(), trace::actor_kind::prefill_scheduler, "prefill scheduler", "prefill");
  trace::register_actor(p->decode.id(), trace::actor_kind::decode_scheduler, "decode scheduler", "decode");
  if (auto* c = p->coordinator()) c->run();
  return std::unique_ptr<Runtime>(new Runtime(std::move(p)));
}

result<request_handle> Runtime::submit(const generate_request& r, request_callbacks cb) {
  auto& p = *p_;
  auto& c = p.shared->counters;
  auto reject = [&](std::string why) -> result<request_handle> {
    c.rejected.fetch_add(1);
    return make_error(std::move(why));
  };
  if (p.down) return reject("rejected: the runtime is shut down");
  const int32_t n = r.prompt.empty() ? (p.sim ? r.prompt_tokens : 0) : int32_t(r.prompt.size());
  if (n <= 0) return reject("rejected: empty prompt");
  const int32_t max_tokens = r.max_tokens > 0 ? r.max_tokens : p.cfg.admission.default_max_tokens;
  if (max_tokens > p.cfg.admission.max_tokens_limit)
    return reject("rejected: max_tokens " + std::to_string(max_tokens) + " exceeds the limit of " +
                  std::to_string(p.cfg.admission.max_tokens_limit) + " (admission.max_tokens)");
  if (int64_t(n) + max_tokens > p.max_context)
    return reject("rejected: request too long: " + std::to_string(n) + " prompt tokens + " + std::to_string(max_tokens) +
                  " max_tokens = " + std::to_string(int64_t(n) + max_tokens) + " exceeds the context of " +
                  std::to_string(p.max_context) + " tokens");
  if (!p.sim)
    for (int32_t t : r.prompt)
      if (t < 0 || t >= p.vocab)
        return reject("rejected: prompt token id " + std::to_string(t) + " is outside the vocabulary of " +
                      std::to_string(p.vocab));
  // Bounded queues: count first, then check, so concurrent submits cannot overshoot.
  if (const int64_t q = c.queued.fetch_add(1) + 1; q > p.cfg.admission.max_queued) {
    c.queued.fetch_sub(1);
    return reject("rejected: overloaded: " + std::to_string(q - 1) + " requests already wait for prefill (admission.max_queued = " +
                  std::to_string(p.cfg.admission.max_queued) + "); retry later");
  }
  if (const int64_t f = c.in_flight.fetch_add(1) + 1; f > p.cfg.admission.max_in_flight) {
    c.in_flight.fetch_sub(1);
    c.queued.fetch_sub(1);
    return reject("rejected: overloaded: " + std::to_string(f - 1) + " requests in flight (admission.max_in_flight = " +
                  std::to_string(p.cfg.admission.max_in_flight) + "); retry later");
  }
  c.submitted.fetch_add(1);
  request_init init;
  init.spec.id = int32_t(p.next_id.fetch_add(1));
  init.spec.arrival_s = now_s();
  init.spec.input_tokens = n;
  init.spec.max_tokens = max_tokens;
  init.spec.cls = r.cls;
  init.spec.slo = r.slo ? *r.slo : p.cfg.slo[size_t(r.cls)];
  if (!r.prompt.empty()) init.prompt = std::make_shared<const std::vector<int32_t>>(r.prompt);
  init.sampling = r.sampling;
  init.stop.max_tokens = r.sim_output_tokens > 0 ? std::min(r.sim_output_tokens, max_tokens) : max_tokens;
  if (!r.ignore_eos) init.stop.eos_ids = p.eos_ids;
  init.stop.stop_ids = r.stop_ids;
  const bool traced = trace::enabled();
  if (traced) {  // how it ended, for attainment in the trace
    cb.on_done = [inner = std::move(cb.on_done)](const request_result& res) {
      trace::end_request(res.id, to_string(res.status), int32_t(res.tokens.size()));
      if (inner) inner(res);
    };
  }
  init.cb = std::move(cb);
  init.prefill = p.prefill;
  init.shared = p.shared;
  request_handle h;
  h.id_ = init.spec.id;
  trace::request_record rec;
  if (traced) {
    rec.request = init.spec.id;
    rec.arrival_ns = trace::now_ns();
    rec.input_tokens = n;
    rec.max_tokens = max_tokens;
    rec.cls = sched::to_string(init.spec.cls);
    rec.ttft_slo_s = init.spec.slo.ttft_s;
    rec.tpot_slo_s = init.spec.slo.tpot_s;
  }
  auto actor = spawn_request(*p.sys, std::move(init));
  if (traced) {
    rec.actor = actor.id();
    trace::record_request(rec);
  }
  h.actor_ = std::make_shared<actors::request_actor>(std::move(actor));
  return h;
}

runtime_stats Runtime::stats() const {
  const auto& c = p_->shared->counters;
  runtime_stats s;
  s.submitted = c.submitted.load();
  s.rejected = c.rejected.load();
  s.finished = c.finished.load();
  s.cancelled = c.cancelled.load();
  s.failed = c.failed.load();
  s.in_flight = c.in_flight.load();
  s.queued = c.queued.load();
  s.request_actors = c.request_actors.load();
  s.prefill_batches = c.prefill_batches.load();
  s.decode_steps = c.decode_steps.load();
  s.decode_tokens = c.decode_tokens.load();
  s.preemptions = c.preemptions.load();
  s.decode_busy_s = double(c.decode_busy_ns.load()) / 1e9;
  s.decode_batch_sum = c.decode_batch_sum.load();
  s.mean_decode_batch = s.decode_steps ? double(c.decode_batch_sum.load()) / double(s.decode_steps) : 0.0;
  for (const auto& g : p_->shared->gauges)
    s.devices.push_back({g->name, g->group, g->alive.load(), g->kv_free.load(), g->kv_total.load(), g->batches.load(),
                         double(g->busy_ns.load()) / 1e9, g->kv_dtype});
  const int64_t dw = c.decode_waiting.load(), dr = c.decode_running.load();
  s.groups.push_back({"prefill", s.queued, std::max<int64_t>(0, s.in_flight - s.queued - dw - dr)});
  s.groups.push_back({"decode", dw, dr});
  return s;
}

status Runtime::inject_fault(const std::string& device) {
  for (size_t i = 0; i < p_->device_names.size(); ++i)
    if (p_->device_names[i] == device) {
      caf::anon_send(p_->devices[i], actors::fault_atom::value);
      return {};
    }
  return make_error("inject_fault: no device named '" + device + "'");
}

void Runtime::set_tracing(bool on) { trace::set_enabled(on); }
bool Runtime::tracing() const { return trace::enabled(); }
status Runtime::dump_trace(const std::string& path) const { return trace::dump_jsonl(path); }
void Runtime::clear_trace() { trace::clear(); }

namespace {
using trace_stop_atom = caf::atom_constant<caf::atom("trace_stop")>;
}  // namespace

status Runtime::trace_window(double seconds, const std::string& path) {
  auto& p = *p_;
  if (p.down) return make_error("trace window: the runtime is shut down");
  if (!(seconds > 0 && seconds <= 3600))
    return make_error("trace window: seconds must be in (0, 3600], got " + std::to_string(seconds));
  if (path.empty()) return make_error("trace window: no path to write the trace to");
  if (auto s = trace::start_recording(path); !s) return make_error("trace window: " + s.message());
  p.trace_owner = true;
  // A timer actor on the runtime's clock ends the window (virtual time too).
  if (p.trace_timer) caf::anon_send_exit(p.trace_timer, caf::exit_reason::user_shutdown);
  p.trace_timer = p.sys->spawn(
      [](caf::event_based_actor* self, caf::timespan d) -> caf::behavior {
        self->delayed_send(self, d, trace_stop_atom::value);
        return {[=](trace_stop_atom) {
          if (trace::recording()) (void)trace::stop_recording();
          self->quit();
        }};
      },
      actors::to_timespan(seconds));
  if (auto* c = p.coordinator()) c->run();
  return {};
}

void Runtime::shutdown() {
  auto& p = *p_;
  if (p.down || !p.sys) return;
  p.down = true;
  caf::anon_send_exit(p.prefill, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(p.decode, caf::exit_reason::user_shutdown);
  for (auto& d : p.devices) caf::anon_send_exit(d, caf::exit_reason::user_shutdown);
  if (auto* c = p.coordinator()) {
    // Drain: exits, then the request actors' down messages, until idle.
    for (int i = 0; i < 1000 && (c->has_job() || c->clock().has_pending_timeout()); ++i) {
      c->run();
      if (c->clock().has_pending_timeout()) c->trigger_timeouts();
    }
  }
  if (p.trace_timer) caf::anon_send_exit(p.trace_timer, caf::exit_reason::user_shutdown);
  p.trace_timer = nullptr;
  if (auto* c = p.coordinator()) c->run();
  p.prefill = nullptr;
  p.decode = nullptr;
  p.devices.clear();
  if (!p.coordinator()) {
    // Request actors end on the prefill scheduler's down message; wait for
    // them (bounded), so every subscriber hears how its request ended.
    const auto t0 = std::chrono::steady_clock::now();
    while (p.shared->counters.request_actors.load() > 0 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30))
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // The recording this runtime started ends with it; a write error cannot
  // be returned from here, so it is reported on stderr.
  if (p.trace_owner && trace::recording())
    if (auto s = trace::stop_recording(); !s) std::fprintf(stderr, "kairos: %s\n", s.message().c_str());
  p.trace_owner = false;
  trace::uninstall_clock(&p.trace_clock);
  p.sys.reset();
}

}  // namespace kairos
