#pragma once
// Placement: which decode instance receives a prefilled request. The KV
// transfer to it is paid by the caller (cost_model::transfer_time).
#include <span>
#include <string>

#include "scheduler/cost_model.hpp"
#include "scheduler/request.hpp"

namespace kairos::sched {

struct decode_instance_load {
  int32_t n_seqs = 0;          // resident + waiting + in transit to it
  int64_t context_tokens = 0;  // their KV, in tokens
  int64_t kv_capacity_tokens = 0;
};

class placement_policy {
 public:
  virtual ~placement_policy() = default;
  virtual std::string name() const = 0;
  virtual int32_t place(const request_spec& r, std::span<const decode_instance_load> loads,
                        const cost_model& cost) const = 0;
};

// Fewest KV tokens first; ties to the lowest index.
class least_loaded_placement final : public placement_policy {
 public:
  std::string name() const override { return "least-loaded"; }
  int32_t place(const request_spec& r, std::span<const decode_instance_load> loads,
                const cost_model& cost) const override;
};

// Smallest predicted step time after joining, among instances whose KV still
// fits the request; falls back to least loaded when none fits.
class slack_aware_placement final : public placement_policy {
 public:
  std::string name() const override { return "slack-aware"; }
  int32_t place(const request_spec& r, std::span<const decode_instance_load> loads,
                const cost_model& cost) const override;
};

}  // namespace kairos::sched
