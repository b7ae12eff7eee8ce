// `kairos profile`: runs a group's backend (its first device, built as the
// runtime builds it) over a grid of batch shapes and writes the profile file
// that the fitted and the lookup-table cost models load
// (cost_model: {type: file, file: OUT}). Prints the fit and its error.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>

#include "actors/profiler.hpp"
#include "scheduler/preset_reader.hpp"
#include "tools/subcommand.hpp"

namespace {

using namespace kairos;

int run_profile(int argc, char** argv) {
  CLI::App app{"Profile a group's backend over batch shapes; write the cost-model profile file"};
  std::string config_path = "configs/default.yaml", out, group = "decode", type = "fitted";
  int repeats = 3;
  app.add_option("--config", config_path, "runtime config (YAML)");
  app.add_option("--out", out, "profile file to write (JSON)")->required();
  app.add_option("--group", group, "prefill | decode: whose first device to profile");
  app.add_option("--type", type, "fitted | table: how the file loads (it holds the data of both)");
  app.add_option("--repeats", repeats, "timed runs per shape (the median is kept)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (type != "fitted" && type != "table") {
    std::fprintf(stderr, "kairos profile: --type must be fitted or table\n");
    return 2;
  }
  auto cfg = load_runtime_config(config_path);
  if (!cfg) {
    std::fprintf(stderr, "kairos profile: %s\n", cfg.message().c_str());
    return 2;
  }
  std::fprintf(stderr, "kairos profile: %s group of %s ...\n", group.c_str(), config_path.c_str());
  auto r = profile_group(cfg.value(), group, nullptr, repeats);
  if (!r) {
    std::fprintf(stderr, "kairos profile: %s\n", r.message().c_str());
    return 1;
  }
  const auto text = profile_json(r.value(), cfg.value(), type);
  {
    std::ofstream f(out);
    if (!(f << text)) {
      std::fprintf(stderr, "kairos profile: cannot write %s\n", out.c_str());
      return 2;
    }
  }
  // Load it back as the scheduler will.
  auto lm = sched::load_cost_model_file(out);
  if (!lm.model) {
    std::fprintf(stderr, "kairos profile: the written file does not load: %s\n", lm.error.c_str());
    return 1;
  }
  const auto& fit = r.value().fit;
  std::printf("device %s: %zu prefill and %zu decode samples -> %s (loads as %s)\n", r.value().device.c_str(),
              r.value().samples.prefill.size(), r.value().samples.decode.size(), out.c_str(), lm.kind.c_str());
  std::printf("fitted prefill ms: A %.4f  B %.6f/token  C %.3g/token^2   MAPE %.1f%%\n", fit.prefill_coef[0] * 1e3,
              fit.prefill_coef[1] * 1e3, fit.prefill_coef[2] * 1e3, fit.prefill_mape * 100);
  std::printf("fitted decode  ms: A %.4f  B %.6f/ctx token  C %.4f/seq   MAPE %.1f%%\n", fit.decode_coef[0] * 1e3,
              fit.decode_coef[1] * 1e3, fit.decode_coef[2] * 1e3, fit.decode_mape * 100);
  return 0;
}

KAIROS_SUBCOMMAND("profile", "profile a group's backend over batch shapes; write the cost-model profile file", run_profile);

}  // namespace
