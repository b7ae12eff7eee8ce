#pragma once
// The actor runtime's protocol: atoms, message types and the typed interfaces
// of the four actor kinds (device, prefill scheduler, decode scheduler,
// request). They reference each other, so they are declared together here.
// CAF 0.17.6: atoms are atom_constant, interfaces typed_actor<replies_to /
// reacts_to>, messages carry 0.17-style inspect() overloads.
#include <caf/all.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "actors/device_backend.hpp"
#include "gpu/engine/sampler.hpp"
#include "scheduler/placement_policy.hpp"
#include "scheduler/request.hpp"

namespace kairos::sched {
// Found by ADL from decode_loads' inspect().
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, decode_instance_load& x) {
  return f(caf::meta::type_name("decode_instance_load"), x.n_seqs, x.context_tokens, x.kv_capacity_tokens);
}
}  // namespace kairos::sched

namespace kairos::actors {

// -- atoms --------------------------------------------------------------------

using prefill_atom = caf::atom_constant<caf::atom("prefill")>;
using step_atom = caf::atom_constant<caf::atom("step")>;
using free_atom = caf::atom_constant<caf::atom("free")>;
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
using fault_atom = caf::atom_constant<caf::atom("fault")>;
using enqueue_atom = caf::atom_constant<caf::atom("enqueue")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using load_atom = caf::atom_constant<caf::atom("load")>;
using admit_atom = caf::atom_constant<caf::atom("admit")>;
using arrive_atom = caf::atom_constant<caf::atom("arrive")>;
using register_atom = caf::atom_constant<caf::atom("register")>;
using first_atom = caf::atom_constant<caf::atom("first")>;
using decoding_atom = caf::atom_constant<caf::atom("decoding")>;
using token_atom = caf::atom_constant<caf::atom("token")>;
using fail_atom = caf::atom_constant<caf::atom("fail")>;

// -- device -------------------------------------------------------------------

struct prefill_job {
  uint64_t batch_id = 0;
  std::vector<prefill_work> work;
};
struct prefill_result {
  uint64_t batch_id = 0;
  std::vector<prefill_output> out;
  double seconds = 0;  // measured (cpu) or modelled (sim)
  std::string error;   // the batch failed; the device is still alive
};
struct step_job {
  uint64_t step_id = 0;
  std::vector<int64_t> evict;
  std::vector<step_load> load;
  std::vector<step_work> run;
};
struct step_result {
  uint64_t step_id = 0;
  std::vector<std::shared_ptr<seq_handoff>> evicted;  // [evict]
  std::vector<int32_t> tokens;                        // [run]
  double seconds = 0;
  std::string error;
};

using device_actor = caf::typed_actor<                        //
    caf::replies_to<prefill_atom, prefill_job>::with<prefill_result>,  //
    caf::replies_to<step_atom, step_job>::with<step_result>,        //
    caf::reacts_to<free_atom, std::vector<int64_t>>,                 // forget sequences, return their blocks
    caf::reacts_to<deliver_atom, uint64_t>,                          // sim: the modelled time has passed
    caf::reacts_to<fault_atom>>;                                     // test hook: fail now

// -- request ------------------------------------------------------------------

using request_actor = caf::typed_actor<                                //
    caf::reacts_to<prefill_atom, double, std::string>,                 // prefill started (s) on this device
    caf::reacts_to<first_atom, int32_t, double, std::string, bool>,  // token, prefill start (s), device, last
    caf::reacts_to<decoding_atom, std::string>,                        // KV arrived at this decode device
    caf::reacts_to<token_atom, int32_t, int32_t>,                      // token, stop_reason (0: more to come)
    caf::reacts_to<fail_atom, std::string>,                            // why
    caf::reacts_to<cancel_atom>>;

// -- schedulers ---------------------------------------------------------------

// A request as the prefill scheduler holds it.
struct prefill_request {
  sched::request_spec spec;
  std::shared_ptr<const std::vector<int32_t>> prompt;  // null for sim requests without ids
  sampling_params sampling;
  stop_criteria stop;
  request_actor owner;
};

// A prefilled request on its way to a decode device.
struct decode_request {
  sched::request_spec spec;
  stop_criteria stop;
  int32_t first_token = 0;
  double first_token_s = 0;
  int32_t device = 0;  // index in the decode group, chosen by placement
  std::shared_ptr<seq_handoff> kv;
  request_actor owner;
};

// The decode group's state as placement needs it.
struct decode_loads {
  std::vector<sched::decode_instance_load> loads;  // [devices]
  std::vector<uint8_t> alive;                      // [devices]
};

using prefill_scheduler_actor = caf::typed_actor<  //
    caf::reacts_to<enqueue_atom, prefill_request>,
    caf::reacts_to<cancel_atom, int64_t>,
    caf::reacts_to<load_atom, decode_loads>>;

using decode_scheduler_actor = caf::typed_actor<  //
    caf::reacts_to<admit_atom, decode_request>,
    caf::reacts_to<arrive_atom, int64_t>,  // sim: the KV transfer's modelled time has passed
    caf::reacts_to<cancel_atom, int64_t>,
    caf::reacts_to<register_atom, prefill_scheduler_actor>>;

// -- inspect() (0.17 style) ---------------------------------------------------
// Plain-field messages are inspectable; those that carry KV memory or actor
// handles inside shared pointers stay process-local (see the macros below).

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_work& x) {
  return f(caf::meta::type_name("step_work"), x.seq, x.last_token);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, decode_loads& x) {
  return f(caf::meta::type_name("decode_loads"), x.loads, x.alive);
}

}  // namespace kairos::actors

// Process-local: KV blobs, samplers and callbacks never leave the process.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kairos::actors::prefill_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kairos::actors::prefill_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kairos::actors::step_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kairos::actors::step_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kairos::actors::prefill_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(kairos::actors::decode_request)
