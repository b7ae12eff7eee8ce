#pragma once
// Requests as the scheduler sees them: an immutable spec and the progress a
// real server can observe. The true output length is never part of either;
// only the simulator knows it, to end a request.
//
// Time convention for all of scheduler/: double seconds, on one clock that the
// caller passes in (`now`). Nothing here reads a clock.
#include <cstdint>

namespace kairos::sched {

using time_s = double;
using request_id = int32_t;  // dense index into a run's request table

enum class request_class : uint8_t { standard = 0, interactive = 1, relaxed = 2 };
inline constexpr int n_request_classes = 3;
const char* to_string(request_class c);

struct slo_targets {
  time_s ttft_s = 0.5;   // arrival -> first token
  time_s tpot_s = 0.05;  // mean gap after the first token
};

struct request_spec {
  request_id id = 0;
  time_s arrival_s = 0;
  int32_t input_tokens = 0;
  int32_t max_tokens = 0;  // the client's cap, not the true output length
  slo_targets slo;
  request_class cls = request_class::standard;

  time_s ttft_deadline_s() const { return arrival_s + slo.ttft_s; }
};

enum class request_state : uint8_t { queued, prefilling, transferring, waiting_decode, running, finished };

// What a policy may read about a request in flight.
struct request_progress {
  request_state state = request_state::queued;
  int32_t prefilled_tokens = 0;
  int32_t tokens_generated = 0;  // including the first token, made by prefill
  time_s prefill_start_s = -1;
  time_s first_token_s = -1;
  time_s last_token_s = -1;
  int32_t decode_instance = -1;
};

// TPOT slack at `now`: the time budget the request has earned since its first
// token (tpot x tokens after the first, counting the next one) minus the time
// it has used. The next token keeps the request on track iff it lands within
// `slack` seconds of now.
//
//   first token      now          first + tpot*n_generated
//   |----------------|------------|
//                     <- slack ->
inline time_s tpot_slack(time_s first_token_s, int32_t tokens_generated, time_s tpot_s, time_s now) {
  return first_token_s + tpot_s * tokens_generated - now;
}

}  // namespace kairos::sched
