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

namespace {

using namespace kairos;
using namespace kairos::sched;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

// "poisson:rate=10,n=1000" or "gamma:rate=10,cv=2,n=1000[,in=1024,out=128]", as `kairos sim` reads it.
bool parse_synthetic(const std::string& spec, synthetic_spec& out, std::string& err) {
  const auto colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  if (kind != "poisson" && kind != "gamma") {
    err = "--synthetic: expected poisson:... or gamma:...";
    return false;
  }
  if (colon != std::string::npos)
    for (auto& kv : split(spec.substr(colon + 1), ',')) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos) continue;
      const std::string k = kv.substr(0, eq);
      const double v = std::stod(kv.substr(eq + 1));
      if (k == "rate") out.rate = v;
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
  if (kind == "poisson") out.burstiness = 1.0;
  return true;
}

int run_replay(int argc, char** argv) {
  CLI::App app{"Replay a workload through the actor runtime in process (sim devices: virtual time)"};
  std::string config_path = "configs/default.yaml", trace, synthetic, json_out, policies;
  int64_t limit = 0;
  uint64_t seed = 0;
  double rate_scale = 1, slo_scale = 1;
  bool mixed = false, quiet = false;
  app.add_option("--config", config_path, "runtime config (YAML)");
  app.add_option("--trace", trace, "Azure CSV or Mooncake JSONL trace");
  app.add_option("--synthetic", synthetic, "poisson:rate=R,n=N | gamma:rate=R,cv=C,n=N [,in=..,out=..]");
  app.add_option("--limit", limit, "first N requests only");
  app.add_option("--rate-scale", rate_scale, "multiply the arrival rate (gaps / F)");
  app.add_option("--slo-scale", slo_scale, "multiply both SLOs");
  app.add_flag("--mixed-classes", mixed, "half interactive, half relaxed, by seeded hash");
  app.add_option("--policies", policies, "comma-separated policy sets (default: the config's)");
  app.add_option("--seed", seed, "seed (class hash, synthetic arrivals)");
  app.add_option("--json", json_out, "write {\"results\": [ROW...]} here (the keys of kairos sim)");
  app.add_flag("--quiet", quiet, "no table on stdout");
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
  std::vector<trace_row> rows;
  std::string source;
  if (!trace.empty()) {
    auto tr = read_trace(trace);
    if (!tr.error.empty()) {
      std::fprintf(stderr, "kairos replay: %s\n", tr.error.c_str());
      return 2;
    }
    rows = std::move(tr.rows);
    source = trace + " (" + tr.format + ")";
  }
  if (!synthetic.empty()) {
    synthetic_spec sp;
    sp.seed = seed;
    std::string err;
    if (!parse_synthetic(synthetic, sp, err)) {
      std::fprintf(stderr, "kairos replay: %s\n", err.c_str());
      return 2;
    }
    rows = synthetic_rows(sp, rows);
    source = "synthetic " + synthetic;
  }
  if (rows.empty()) {
    std::fprintf(stderr, "kairos replay: give --trace FILE or --synthetic SPEC\n");
    return 2;
  }
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
  for (const auto& pol : policies.empty() ? std::vector<std::string>{cfg.policies} : split(policies, ',')) {
    runtime_config c = cfg;
    c.policies = pol;
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
