#pragma once
// What every actor of one runtime shares: the clock's epoch, counters and
// per-device gauges (atomics, read by Runtime::stats() from any thread), and
// the spawn functions of the four actor kinds.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "actors/protocol.hpp"
#include "actors/runtime_config.hpp"
#include "scheduler/corrected_cost_model.hpp"
#include "scheduler/policy_registry.hpp"

namespace kairos::actors {

struct device_gauge {
  std::string name;
  std::string group;  // "prefill" | "decode"
  std::string kv_dtype;  // its KV cache's elements: "f32" | "f16" (cpu), "bf16" (cuda), "" (sim); set before it runs
  std::atomic<int> kv_free{0};
  std::atomic<int> kv_total{0};
  std::atomic<bool> alive{true};
  std::atomic<int64_t> batches{0};
  std::atomic<int64_t> busy_ns{0};  // time spent running batches or steps (its deltas: utilisation)
};

struct runtime_counters {
  std::atomic<int64_t> submitted{0}, rejected{0}, finished{0}, cancelled{0}, failed{0};
  std::atomic<int64_t> in_flight{0};  // admitted, not yet ended
  std::atomic<int64_t> queued{0};     // admitted, not yet taken into a prefill batch
  std::atomic<int64_t> request_actors{0};
  std::atomic<int64_t> prefill_batches{0};
  std::atomic<int64_t> decode_steps{0}, decode_batch_sum{0}, decode_tokens{0}, decode_busy_ns{0}, preemptions{0};
  // The decode group's sets as its scheduler last published them (gauges):
  // waiting = KV in transit, waiting for a slot or swapped out; running = in the running sets.
  std::atomic<int64_t> decode_waiting{0}, decode_running{0};
};

struct runtime_shared {
  caf::actor_clock::time_point epoch;
  runtime_counters counters;
  std::vector<std::unique_ptr<device_gauge>> gauges;  // prefill devices, then decode devices
};

// Seconds on the actor system's clock since the runtime started: the one
// clock every decision reads (real, or the test coordinator's virtual one).
inline double now_s(const caf::local_actor* self, const runtime_shared& sh) {
  return std::chrono::duration<double>(self->clock().now() - sh.epoch).count();
}
inline caf::timespan to_timespan(double seconds) {
  return caf::timespan(static_cast<int64_t>(seconds * 1e9 + 0.5));
}

// -- spawn functions ----------------------------------------------------------

struct device_init {
  std::shared_ptr<device_backend> backend;
  std::shared_ptr<runtime_shared> shared;
  device_gauge* gauge = nullptr;
  std::string name;
  bool modelled_time = false;  // sim: reply after the modelled time on the actor clock
  int32_t fail_at_batch = 0;
};
// cpu devices run detached (their own thread): a forward never blocks a
// scheduler thread. sim devices are event-based and only wait on the clock.
device_actor spawn_device(caf::actor_system& sys, device_init init, bool detached);

struct scheduler_init {
  std::shared_ptr<runtime_shared> shared;
  std::shared_ptr<const sched::cost_model> base_cost;  // what the policies predict with, corrected online
  std::shared_ptr<sched::policy_set> policies;         // each scheduler uses its half
  double correction_alpha = 0.1;
  std::vector<device_actor> devices;
  std::vector<std::string> device_names;
  std::vector<device_gauge*> gauges;
  sched::prefill_limits prefill_limits;
  sched::decode_limits decode_limits;
};
prefill_scheduler_actor spawn_prefill_scheduler(caf::actor_system& sys, scheduler_init init,
                                                decode_scheduler_actor decode);
decode_scheduler_actor spawn_decode_scheduler(caf::actor_system& sys, scheduler_init init);

}  // namespace kairos::actors
