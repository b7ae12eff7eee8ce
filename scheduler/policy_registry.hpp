#pragma once
// Policy sets by name: "PREFILL+DECODE" (fcfs|spf|edf|kairos|kairos-prefill
// + cb|kairos|kairos-decode), or "kairos" alone for both halves. Kairos
// decode goes with slack-aware placement; cb with least-loaded.
#include <memory>
#include <string>

#include "scheduler/decode_policy.hpp"
#include "scheduler/kairos_decode_policy.hpp"
#include "scheduler/kairos_prefill_policy.hpp"
#include "scheduler/placement_policy.hpp"
#include "scheduler/prefill_policy.hpp"

namespace kairos::sched {

struct policy_options {
  time_s spf_aging_s = 10.0;
  kairos_prefill_options kairos_prefill;
  kairos_decode_options kairos_decode;
};

struct policy_set {
  std::string name;
  std::unique_ptr<prefill_policy> prefill;
  std::unique_ptr<decode_policy> decode;
  std::unique_ptr<placement_policy> placement;
  bool ok() const { return prefill && decode && placement; }
};

// On an unknown name, returns a set with ok() == false and sets `error`.
policy_set make_policy_set(const std::string& name, const policy_options& opt, std::string& error);

}  // namespace kairos::sched
