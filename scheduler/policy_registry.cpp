#include "scheduler/policy_registry.hpp"

#include "scheduler/cb_decode_policy.hpp"
#include "scheduler/edf_prefill_policy.hpp"
#include "scheduler/fcfs_prefill_policy.hpp"
#include "scheduler/spf_prefill_policy.hpp"

namespace kairos::sched {

policy_set make_policy_set(const std::string& name, const policy_options& opt, std::string& error) {
  policy_set s;
  s.name = name;
  std::string pre = name, dec = name;
  const auto plus = name.find('+');
  if (plus != std::string::npos) {
    pre = name.substr(0, plus);
    dec = name.substr(plus + 1);
  } else if (name != "kairos") {
    error = "policy '" + name + "': expected PREFILL+DECODE or 'kairos'";
    return s;
  }
  if (pre == "fcfs") s.prefill = std::make_unique<fcfs_prefill_policy>();
  else if (pre == "spf") s.prefill = std::make_unique<spf_prefill_policy>(opt.spf_aging_s);
  else if (pre == "edf") s.prefill = std::make_unique<edf_prefill_policy>();
  else if (pre == "kairos" || pre == "kairos-prefill") s.prefill = std::make_unique<kairos_prefill_policy>(opt.kairos_prefill);
  if (dec == "cb") {
    s.decode = std::make_unique<cb_decode_policy>();
    s.placement = std::make_unique<least_loaded_placement>();
  } else if (dec == "kairos" || dec == "kairos-decode") {
    s.decode = std::make_unique<kairos_decode_policy>(opt.kairos_decode);
    s.placement = std::make_unique<slack_aware_placement>();
  }
  if (!s.prefill) error = "unknown prefill policy '" + pre + "' (fcfs, spf, edf, kairos-prefill)";
  else if (!s.decode) error = "unknown decode policy '" + dec + "' (cb, kairos-decode)";
  return s;
}

}  // namespace kairos::sched
