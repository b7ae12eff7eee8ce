// `kairos replay`: runs a workload through the actor runtime in process (the
// same actors that serve), with the workload flags and JSON keys of
// `kairos sim`. sim devices run in virtual time, cpu devices in real time.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "actors/replay.hpp"
#include "scheduler/experiment.hpp"
#include "scheduler/trace_reader.hpp"
#include "tools/cmd_sim_report.hpp"
#include "tools/subcommand.hpp"
#include "tools/workload_flags.hpp"

namespace {

using namespace kairos;
using namespace kairos::sched;
using namespace kairos::tools;

int run_replay(int argc, char** argv) {
  CLI::App app{"Replay a workload through the actor runtime in process (sim devices: virtual time)"};
  std::string config_path = "configs/default.yaml", trace, synthetic, json_out, policies, trace_out;
  int64_t limit = 0;
  uint64_t seed = 0;
  double rate_scale = 1, slo_scale = 1;
  bool mixed = false, quiet = false;
  app.add_option("--config", config_path, "runtime config (YAML)");
  app.add_option("--trace", trace, "Azure CSV or Mooncake JSONL trace");
  app.add_option("--synthetic", synthetic, synthetic_flag_help);
  app.add_option("--limit", limit, "first N requests only");
  app.add_option("--rate-scale", rate_scale, "multiply the arrival rate (gaps / F)");
  app.add_option("--slo-scale", slo_scale, "multiply both SLOs");
  app.add_flag("--mixed-classes", mixed, "half interactive, half relaxed, by seeded hash");
  app.add_option("--policies", policies, "comma-separated policy sets (default: the config's)");
  app.add_option("--seed", seed, "seed (class hash, synthetic arrivals)");
  app.add_option("--json", json_out, "write {\"results\": [ROW...]} here (the keys of kairos sim)");
  app.add_flag("--quiet", quiet, "no table on stdout");
  app.add_option("--trace-out", trace_out,
                 "record an actor trace to FILE (docs/tracing.md; with several policies, FILE.POLICY)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto cfg_r = load_runtime_config(config_path);
  if (!cfg_r) {
    std::fprintf(stderr, "kairos replay: %s\n", cfg_r.message().c_str());
    return 2;
  }
  runtime_config cfg = cfg_r.value();
  workload_rows wr = read_workload_rows(trace, synthetic, seed, false);
  if (!wr.error.empty()) {
    std::fprintf(stderr, "kairos replay: %s\n", wr.error.c_str());
    return 2;
  }
  const std::vector<trace_row>& rows = wr.rows;
  const std::string& source = wr.source;
  workload_options wo;
  wo.rate_scale = rate_scale;
  wo.slo_scale = slo_scale;
  wo.slo = cfg.slo[size_t(request_class::standard)];
  wo.mixed_classes = mixed;
  wo.seed = seed;
  wo.limit = limit;
  wo.max_tokens = cfg.admission.max_tokens_limit;
  const workload w = make_workload(rows, wo);
  const double dur = w.duration_s();

  std::vector<point_result> results;
  const auto policy_list = policies.empty() ? std::vector<std::string>{cfg.policies} : split(policies, ',');
  for (const auto& pol : policy_list) {
    runtime_config c = cfg;
    c.policies = pol;
    if (!trace_out.empty()) c.trace.out = policy_list.size() > 1 ? trace_out + "." + pol : trace_out;
    auto rr = replay(c, w, seed);
    if (!rr.error.empty()) {
      std::fprintf(stderr, "kairos replay: %s\n", rr.error.c_str());
      return 2;
    }
    point_result p;
    p.policy = pol;
    p.rate_scale = rate_scale;
    p.slo_scale = slo_scale;
    p.rate_rps = dur > 0 ? double(w.requests.size() - 1) / dur : 0.0;
    p.sim.decode = rr.decode;
    p.sim.rejected = rr.rejected + rr.failed;
    p.all = summarize(rr.outcomes, rr.decode);
    if (mixed)
      for (int k = 0; k < n_request_classes; ++k) p.by_class[size_t(k)] = summarize(rr.outcomes, rr.decode, request_class(k));
    if (!quiet)
      std::fprintf(stderr, "%s: %zu requests replayed in %.2f s wall (%.2f s on the runtime clock)\n", pol.c_str(),
                   w.requests.size(), rr.wall_s, rr.virtual_s);
    if (!quiet && !c.trace.out.empty()) std::fprintf(stderr, "%s: trace written to %s\n", pol.c_str(), c.trace.out.c_str());
    results.push_back(std::move(p));
  }
  if (!quiet) {
    std::printf("replay: %s, %zu requests; config %s (%zuP%zuD)\n", source.c_str(), w.requests.size(), config_path.c_str(),
                cfg.prefill.devices.size(), cfg.decode.devices.size());
    std::fputs(tools::sim_table(results).c_str(), stdout);
  }
  if (!json_out.empty()) {
    nlohmann::json j;
    j["results"] = nlohmann::json::array();
    for (const auto& p : results) j["results"].push_back(tools::sim_row_json(p, mixed));
    j["config"] = {{"source", source}, {"config", config_path}, {"prefill", cfg.prefill.devices.size()},
                   {"decode", cfg.decode.devices.size()}, {"seed", seed}, {"limit", limit}};
    std::ofstream f(json_out);
    if (!f) {
      std::fprintf(stderr, "kairos replay: cannot write %s\n", json_out.c_str());
      return 2;
    }
    f << j.dump(1) << "\n";
  }
  return 0;
}

KAIROS_SUBCOMMAND("replay", "replay a workload through the actor runtime in process (same flags/JSON as sim)", run_replay);

}  // namespace
