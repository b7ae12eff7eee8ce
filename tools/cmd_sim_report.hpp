#pragma once
// `kairos sim` output: JSON rows with the keys of issue 3, a text table, an SVG plot.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "scheduler/experiment.hpp"

namespace kairos::tools {

nlohmann::json sim_row_json(const sched::point_result& p, bool per_class);
std::string sim_table(const std::vector<sched::point_result>& rows);
// Joint attainment against offered rate, one line per policy (per SLO scale).
std::string sim_plot_svg(const std::vector<sched::point_result>& rows, const std::string& title);

}  // namespace kairos::tools
