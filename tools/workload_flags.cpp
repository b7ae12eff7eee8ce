#include "tools/workload_flags.hpp"

#include <sstream>
#include <stdexcept>

namespace kairos::tools {

using namespace kairos::sched;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

bool parse_synthetic(const std::string& spec, synthetic_spec& out, std::string& err) {
  const auto colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  if (kind != "poisson" && kind != "gamma") {
    err = "--synthetic: expected poisson:... or gamma:...";
    return false;
  }
  if (colon != std::string::npos) {
    for (auto& kv : split(spec.substr(colon + 1), ',')) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos) continue;
      const std::string k = kv.substr(0, eq), val = kv.substr(eq + 1);
      if (k == "in_dist" || k == "out_dist") {
        if (!parse_length_dist(val, k == "in_dist" ? out.input_dist : out.output_dist)) {
          err = "--synthetic: " + k + "=" + val + ": expected fixed, uniform, exponential or lognormal";
          return false;
        }
        continue;
      }
      double v = 0;
      try {
        size_t used = 0;
        v = std::stod(val, &used);
        if (used != val.size()) throw std::invalid_argument(val);
      } catch (const std::exception&) {
        err = "--synthetic: " + k + "=" + val + ": not a number";
        return false;
      }
      if (k == "rate") out.rate = v;
      else if (k == "in_cv") out.input_cv = v;
      else if (k == "out_cv") out.output_cv = v;
      else if (k == "n") out.n = int64_t(v);
      else if (k == "cv") out.burstiness = 1.0 / (v * v);
      else if (k == "burstiness") out.burstiness = v;
      else if (k == "in") out.input_tokens = int32_t(v);
      else if (k == "out") out.output_tokens = int32_t(v);
      else {
        err = "--synthetic: unknown key " + k;
        return false;
      }
    }
  }
  if (kind == "poisson") out.burstiness = 1.0;
  if (out.rate <= 0 || out.n <= 0 || out.input_tokens < 1 || out.output_tokens < 1 || out.input_cv < 0 ||
      out.output_cv < 0 || out.burstiness <= 0) {
    err = "--synthetic: rate, n, in and out must be positive, in_cv and out_cv not negative";
    return false;
  }
  return true;
}

workload_rows read_workload_rows(const std::string& trace, const std::string& synthetic, std::uint64_t seed,
                                 bool note_trace_lengths) {
  workload_rows w;
  if (!trace.empty()) {
    auto tr = read_trace(trace);
    if (!tr.error.empty()) {
      w.error = tr.error;
      return w;
    }
    w.rows = std::move(tr.rows);
    w.source = trace + " (" + tr.format + ")";
  }
  if (!synthetic.empty()) {
    synthetic_spec sp;
    sp.seed = seed;
    if (!parse_synthetic(synthetic, sp, w.error)) {
      w.rows.clear();
      return w;
    }
    w.rows = synthetic_rows(sp, w.rows);
    w.source = "synthetic " + synthetic;
    if (note_trace_lengths && !trace.empty()) w.source += " with lengths of " + trace;
  }
  if (w.rows.empty()) w.error = "give --trace FILE or --synthetic SPEC";
  return w;
}

}  // namespace kairos::tools
