#pragma once
// Prefill policy: a pure step function. Given the queue (arrival order), the
// time, the cost model and the batch limits, it returns the next batch for one
// idle prefill instance. No clock, no I/O; scratch buffers are reused across
// calls but carry no meaning between them.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "scheduler/cost_model.hpp"
#include "scheduler/request.hpp"

namespace kairos::sched {

struct queued_prefill {
  request_id id = 0;
  time_s arrival_s = 0;
  time_s deadline_s = 0;         // arrival + TTFT SLO
  int32_t input_tokens = 0;
  int32_t prefilled_tokens = 0;  // > 0 only with chunked prefill

  int32_t remaining() const { return input_tokens - prefilled_tokens; }
};

struct prefill_limits {
  int32_t max_batch_tokens = 4096;  // token budget of one batch
  int32_t max_batch_size = 64;      // requests in one batch
  int32_t chunk_tokens = 0;         // 0: whole prompts; > 0: split prompts into chunks of at most this
};

struct prefill_context {
  time_s now = 0;
  // When each of the other prefill instances of the group frees up (seconds,
  // absolute); lets a policy predict completion with parallel instances.
  std::span<const time_s> others_busy_until;
};

struct prefill_item {
  int32_t queue_index = 0;  // into the queue span given to select()
  int32_t tokens = 0;       // new tokens of this request in the batch
};

struct prefill_batch {
  std::vector<prefill_item> items;
  int32_t total_tokens() const {
    int32_t n = 0;
    for (auto& i : items) n += i.tokens;
    return n;
  }
};

class prefill_policy {
 public:
  virtual ~prefill_policy() = default;
  virtual std::string name() const = 0;
  // Fills `out` (cleared first). An empty batch means: wait.
  virtual void select(std::span<const queued_prefill> queue, const prefill_context& ctx, const cost_model& cost,
                      const prefill_limits& limits, prefill_batch& out) = 0;
};

// Takes queue entries in `order` into `out` under the limits: with whole
// prompts, stops at the first that does not fit (one oversized prompt may run
// alone); with chunking, the last one is cut to the budget left.
void fill_batch_in_order(std::span<const queued_prefill> queue, std::span<const int32_t> order,
                         const prefill_limits& limits, prefill_batch& out);

}  // namespace kairos::sched
