#pragma once
// The simulator's front, I/O: reads presets and cost-model files (JSON).
//   preset file:     configs/presets/NAME.json, a roofline cost model
//   cost-model file: {"type": "roofline" | "fitted" | "table", ...}
//     fitted: "profile": {"prefill": [{"lengths": [..], "ms": x}],
//                         "decode":  [{"batch": b, "context": c, "ms": x}]}
//     table:  "prefill": {"tokens": [..], "ms": [..]},
//             "decode":  {"batch": [..], "context": [..], "ms": [[..], ..]}
//   Either may also carry "model", "hardware", "kv_link" and "limits" blocks;
//   missing ones take the llama3-8b-h100 defaults (model_shape.hpp).
#include <memory>
#include <optional>
#include <string>

#include "scheduler/cost_model.hpp"
#include "scheduler/fitted_cost_model.hpp"
#include "scheduler/model_shape.hpp"

namespace kairos::sched {

struct loaded_cost_model {
  preset setup;                       // shape, ceilings, link, limits
  std::unique_ptr<cost_model> model;  // null on error
  std::string kind;                   // "roofline", "fitted" or "table"
  std::optional<fit_report> fit;      // for "fitted"
  std::string source;                 // file it came from
  std::string error;
};

// Directory searched for presets by name (compiled in: <repo>/configs/presets).
std::string default_preset_dir();

loaded_cost_model load_preset(const std::string& name, const std::string& dir = default_preset_dir());
loaded_cost_model load_cost_model_file(const std::string& path);
// From JSON text already in memory.
loaded_cost_model parse_cost_model(const std::string& json_text, const std::string& source);

}  // namespace kairos::sched
