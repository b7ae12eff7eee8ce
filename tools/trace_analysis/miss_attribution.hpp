#pragma once
// `kairos trace misses`: for every request that missed an SLO (or failed),
// the time it lost, split by cause, and a summary of the causes across all
// misses.
//
// TTFT = admission hop + queueing + dispatch + prefill execution + return.
//   queueing names the requests whose prefill ran while it waited, weighted
//   by how much of that time their tokens took.
// TPOT covers the first token to the last: KV transfer, decode wait (KV
//   arrived, no step yet), preemption (swapped out until reloaded) and, per
//   decode step it ran in, the step time over its TPOT budget. An over-budget
//   step is put on a slow device when another device of its group would run
//   that batch size within the budget (a least-squares line of its step times
//   over batch size) and this one took 1.5x longer than that; otherwise on
//   the batch being too large (its size is reported).
// A prefill device is slow when its median time per prompt token is 1.5x
// another prefill device's.
#include <cstdint>
#include <string>
#include <vector>

#include "tools/trace_analysis/trace_model.hpp"

namespace kairos::trace_analysis {

enum class cause : uint8_t {
  queueing,
  prefill_execution,
  kv_transfer,
  decode_wait,
  decode_batch_too_large,
  decode_slow_device,
  preemption,
  failed,
};
const char* to_string(cause c);

struct cause_part {
  cause c = cause::queueing;
  double seconds = 0;
  std::string device;      // prefill execution, decode steps
  bool slow_device = false;
  int32_t max_batch = 0;   // decode: the largest batch of its over-budget steps
  int32_t steps = 0;       // decode: over-budget steps; preemption: times swapped out
  struct ahead {
    int64_t request = -1;
    int32_t tokens = 0;
    double seconds = 0;  // its share of the wait
  };
  std::vector<ahead> behind;  // queueing: the requests it waited for, most first
  std::string key() const;    // what the summary groups by, e.g. "decode on slow device sim:3"
};

struct request_miss {
  int64_t id = -1;
  std::string cls;
  bool ttft_missed = false, tpot_missed = false, failed = false;
  double ttft_s = -1, tpot_s = -1, ttft_slo_s = 0, tpot_slo_s = 0;
  double lost_s = 0;  // over the SLOs: (TTFT - SLO) + (decode time - TPOT SLO x steps)
  std::vector<cause_part> parts;  // largest first
};

struct cause_total {
  std::string key;
  int64_t dominant = 0;  // misses where it is the largest part
  int64_t present = 0;   // misses where it appears
  double seconds = 0;
  int32_t max_batch = 0;  // decode causes: the largest over-budget batch
};

struct miss_report {
  int64_t judged = 0;  // requests with SLOs that ended in the trace
  std::vector<request_miss> misses;
  std::vector<cause_total> totals;  // most seconds first
};

miss_report attribute_misses(const trace_model& m);
// Lists at most `max_listed` misses (the ones that lost most), then the totals.
std::string format_misses(const miss_report& r, size_t max_listed = 20);

}  // namespace kairos::trace_analysis
