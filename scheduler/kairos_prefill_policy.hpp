#pragma once
// Kairos urgency-first prefill, with the on-time set chosen Moore-Hodgson style.
//
// Each call:
//  1. A request that has waited `starvation_s` is starving. With
//     `starving_share` 0 the starving go first, oldest first. With a share s
//     in (0, 1] they are owed s of the prefill capacity instead: a credit that
//     fills at s x instances per second (up to `starving_credit_s` x
//     instances) pays for their batches, and while it is spent the on-time
//     set runs; when nothing else can be on time they run for free. No one
//     starves either way (the starving get at least s of the capacity over
//     any stretch longer than repaying one batch, and all of it when nothing
//     else can be on time), but under sustained overload the requests that
//     have waited long no longer take the whole capacity from the ones that
//     can still be on time.
//  2. Predict each request's prefill time p_i from the cost model; deadline
//     d_i = arrival + TTFT SLO. A request with now + p_i > d_i is hopeless.
//  3. Over the others, in deadline order, build the largest set that can all
//     finish on time (Moore-Hodgson: when the next one would be late, drop the
//     longest so far). Parallel prefill instances are modelled as list
//     scheduling: a job starts once the work ahead of it, spread over the
//     instances, is done.
//  4. Run the on-time set in deadline order. Batch the next ones with the head
//     under the token budget while every member still makes its deadline and
//     the batch is no slower than running them one after another.
//  5. With nothing on time, serve the deferred ones oldest first.
#include "scheduler/prefill_policy.hpp"

namespace kairos::sched {

struct kairos_prefill_options {
  time_s starvation_s = 10.0;  // wait after which a request is starving
  bool batch = true;           // batch on-time requests under the token budget
  bool shortest_first = false; // run the on-time set shortest first instead of by deadline
  double starving_share = 0.1; // 0: the starving go first; else their share of the capacity (see above)
  time_s starving_credit_s = 0.25;  // the most credit the starving may bank, per instance
};

class kairos_prefill_policy final : public prefill_policy {
 public:
  explicit kairos_prefill_policy(kairos_prefill_options o = {}) : opt_(o) {}
  std::string name() const override { return "kairos"; }
  void select(std::span<const queued_prefill> queue, const prefill_context& ctx, const cost_model& cost,
              const prefill_limits& limits, prefill_batch& out) override;

  // The on-time set of the last call, queue indices in run order (for tests).
  std::span<const int32_t> last_on_time() const { return on_time_; }

 private:
  struct cand {
    time_s deadline;
    double p;
    int32_t qi;
  };
  void sort_by_deadline();

  kairos_prefill_options opt_;
  double credit_s_ = 0;      // prefill seconds the starving are owed
  time_s last_now_ = -1;     // the previous call's time
  std::vector<cand> cand_, merged_;
  std::vector<uint8_t> pile_of_;
  std::vector<int32_t> heap_;  // positions in cand_, max-heap on p
  std::vector<uint8_t> dropped_;
  std::vector<int32_t> on_time_;
  std::vector<int32_t> order_;
  std::vector<prefill_piece> pieces_;
};

}  // namespace kairos::sched
