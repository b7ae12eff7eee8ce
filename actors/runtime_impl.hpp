#pragma once
// Runtime's insides, for the runtime's own files (runtime.cpp, replay.cpp).
#include <caf/all.hpp>

#include "actors/actor_context.hpp"
#include "actors/runtime.hpp"
#include "actors/trace.hpp"

namespace kairos {

struct request_init {
  sched::request_spec spec;
  std::shared_ptr<const std::vector<int32_t>> prompt;
  sampling_params sampling;
  stop_criteria stop;
  request_callbacks cb;
  actors::prefill_scheduler_actor prefill;
  std::shared_ptr<actors::runtime_shared> shared;
};
actors::request_actor spawn_request(caf::actor_system& sys, request_init init);

struct Runtime::impl {
  runtime_config cfg;
  runtime_options opt;
  caf::actor_system_config sys_cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<actors::runtime_shared> shared;
  std::vector<actors::device_actor> devices;  // prefill group, then decode group
  std::vector<std::string> device_names;
  actors::prefill_scheduler_actor prefill;
  actors::decode_scheduler_actor decode;
  std::atomic<int64_t> next_id{0};
  bool down = false;
  // What admission checks against.
  int32_t max_context = 0;
  int32_t vocab = 0;
  int64_t decode_kv_tokens = 0;
  std::vector<int32_t> eos_ids;
  bool sim = false;

  // Tracing: the actor clock as the trace clock, and a recording this
  // runtime started (config trace.out, or a trace_window and its timer).
  trace::clock_source trace_clock;
  caf::actor trace_timer;
  bool trace_owner = false;

  caf::scheduler::test_coordinator* coordinator();  // null unless virtual time
};

}  // namespace kairos
