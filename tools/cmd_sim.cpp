// `kairos sim`: trace-driven discrete-event simulation of the scheduling
// policies on an xPyD cluster. A thin main over scheduler/ (experiment.hpp).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "scheduler/experiment.hpp"
#include "scheduler/preset_reader.hpp"
#include "scheduler/trace_reader.hpp"
#include "tools/cmd_sim_report.hpp"
#include "tools/subcommand.hpp"
#include "tools/workload_flags.hpp"

namespace {

using namespace kairos::sched;
using namespace kairos::tools;

std::vector<double> parse_doubles(const std::string& s) {
  std::vector<double> v;
  for (auto& x : split(s, ',')) v.push_back(std::stod(x));
  return v;
}

int run_sim(int argc, char** argv) {
  CLI::App app{"Simulate prefill/decode scheduling policies on a trace (discrete events, modelled time)"};
  std::string trace, synthetic, preset_name = "llama3-8b-h100", cost_file, json_out, plot_out;
  std::string policies = "fcfs+cb,edf+cb,spf+cb,kairos,kairos-prefill+cb,fcfs+kairos-decode";
  std::string sweep_rates, sweep_slos;
  int n_prefill = 1, n_decode = 1, threads = 0, chunk = 0, max_num_seqs = 0;
  int64_t limit = 0;
  uint64_t seed = 0;
  double rate_scale = 1, slo_scale = 1, ttft_ms = 500, tpot_ms = 50, spf_aging = 10, starvation = 10, starving_share = 0.1;
  bool mixed = false, goodput90 = false, quiet = false, sit_out = false, kp_spt = false;
  double admit_margin = 0.9;
  app.add_option("--trace", trace, "Azure CSV or Mooncake JSONL trace (format chosen by content)");
  app.add_option("--synthetic", synthetic, synthetic_flag_help);
  app.add_option("--prefill", n_prefill, "prefill instances")->check(CLI::PositiveNumber);
  app.add_option("--decode", n_decode, "decode instances")->check(CLI::PositiveNumber);
  app.add_option("--preset", preset_name, "cost-model preset under configs/presets/");
  app.add_option("--cost-model", cost_file, "cost-model file (roofline | fitted | table JSON)");
  app.add_option("--limit", limit, "first N requests only");
  app.add_option("--rate-scale", rate_scale, "multiply the arrival rate (gaps / F)");
  app.add_option("--slo-scale", slo_scale, "multiply both SLOs");
  app.add_option("--ttft-ms", ttft_ms, "TTFT SLO (standard class)");
  app.add_option("--tpot-ms", tpot_ms, "TPOT SLO (standard class)");
  app.add_flag("--mixed-classes", mixed, "half interactive (250/30 ms), half relaxed (2000/100 ms), by seeded hash");
  app.add_option("--policies", policies, "comma-separated PREFILL+DECODE sets, or kairos");
  app.add_option("--seed", seed, "seed (class hash, synthetic arrivals)");
  app.add_option("--json", json_out, "write {\"results\": [ROW...]} here");
  app.add_option("--sweep-rates", sweep_rates, "comma-separated rate scales");
  app.add_option("--sweep-slo-scales", sweep_slos, "comma-separated SLO scales");
  app.add_flag("--goodput90", goodput90, "find goodput@90 by bisection over the rate scale");
  app.add_option("--plot", plot_out, "SVG of joint attainment against rate");
  app.add_option("--chunk-tokens", chunk, "chunked prefill: max tokens of one prompt per batch (0: off)");
  app.add_option("--max-num-seqs", max_num_seqs, "cb's decode cap (default: the preset's)");
  app.add_option("--spf-aging-s", spf_aging, "spf: wait after which a request goes first");
  app.add_option("--starvation-s", starvation, "kairos prefill: wait after which a deferred request is starving");
  app.add_option("--starving-share", starving_share,
                 "kairos prefill: 0 = the starving go first; F in (0,1] = they are owed F of the prefill capacity")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--threads", threads, "worker threads for independent points (0: hardware)");
  app.add_flag("--quiet", quiet, "no table on stdout");
  app.add_flag("--kairos-shortest-first", kp_spt, "kairos prefill: run the on-time set shortest first, not by deadline");
  app.add_flag("--sit-out", sit_out, "kairos decode: let sequences with slack sit out a step when the batch misses the tightest budget");
  app.add_option("--admit-margin", admit_margin, "kairos decode: past cb's cap, admitted step <= margin x tightest budget");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  // Cost model.
  loaded_cost_model cm = cost_file.empty() ? load_preset(preset_name) : load_cost_model_file(cost_file);
  if (!cm.model) {
    std::fprintf(stderr, "kairos sim: %s\n", cm.error.c_str());
    return 2;
  }
  if (cm.fit)
    std::fprintf(stderr, "fitted cost model: prefill MAPE %.2f%% (%d samples), decode MAPE %.2f%% (%d samples)\n",
                 100 * cm.fit->prefill_mape, cm.fit->n_prefill, 100 * cm.fit->decode_mape, cm.fit->n_decode);

  // Workload rows.
  workload_rows wr = read_workload_rows(trace, synthetic, seed, true);
  if (!wr.error.empty()) {
    std::fprintf(stderr, "kairos sim: %s\n", wr.error.c_str());
    return 2;
  }
  const std::vector<trace_row>& rows = wr.rows;
  const std::string& source = wr.source;

  experiment_setup setup;
  setup.rows = rows;
  setup.workload.slo = {ttft_ms / 1e3, tpot_ms / 1e3};
  setup.workload.mixed_classes = mixed;
  setup.workload.seed = seed;
  setup.workload.limit = limit;
  setup.cluster.n_prefill = n_prefill;
  setup.cluster.n_decode = n_decode;
  const auto& lim = cm.setup.limits;
  setup.cluster.prefill = {lim.prefill_max_batch_tokens, lim.prefill_max_batch_size, chunk};
  setup.cluster.decode.kv_capacity_tokens = cm.setup.kv_capacity_tokens();
  setup.cluster.decode.block_size = lim.block_size;
  setup.cluster.decode.max_num_seqs = max_num_seqs > 0 ? max_num_seqs : lim.max_num_seqs;
  setup.policies.spf_aging_s = spf_aging;
  setup.policies.kairos_prefill.starvation_s = starvation;
  setup.policies.kairos_prefill.starving_share = starving_share;
  setup.policies.kairos_decode.sit_out = sit_out;
  setup.policies.kairos_prefill.shortest_first = kp_spt;
  setup.policies.kairos_decode.admit_margin = admit_margin;
  setup.truth = cm.model.get();

  const auto pols = split(policies, ',');
  for (auto& p : pols) {
    std::string err;
    if (!make_policy_set(p, setup.policies, err).ok()) {
      std::fprintf(stderr, "kairos sim: %s\n", err.c_str());
      return 2;
    }
  }
  const std::vector<double> rates = sweep_rates.empty() ? std::vector<double>{rate_scale} : parse_doubles(sweep_rates);
  const std::vector<double> slos = sweep_slos.empty() ? std::vector<double>{slo_scale} : parse_doubles(sweep_slos);

  struct job {
    std::string policy;
    double rate, slo;
  };
  std::vector<job> jobs;
  for (double s : slos)
    for (double r : rates)
      for (auto& p : pols) jobs.push_back({p, r, s});
  std::vector<point_result> results(jobs.size());
  std::vector<goodput90_result> g90(goodput90 ? pols.size() * slos.size() : 0);

  const auto t0 = std::chrono::steady_clock::now();
  const size_t n_tasks = jobs.size() + g90.size();
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < n_tasks; i = next++) {
      if (i < jobs.size()) {
        results[i] = run_point(setup, jobs[i].policy, jobs[i].rate, jobs[i].slo);
      } else {
        const size_t k = i - jobs.size();
        g90[k] = goodput_at(setup, pols[k % pols.size()], slos[k / pols.size()]);
      }
    }
  };
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const unsigned n_threads = unsigned(std::min<size_t>(threads > 0 ? size_t(threads) : hw, std::max<size_t>(1, n_tasks)));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < n_threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  if (!quiet) {
    std::printf("trace: %s, %zu requests%s; cluster %dP%dD; cost model %s (%s)\n", source.c_str(),
                limit > 0 ? std::min<size_t>(size_t(limit), rows.size()) : rows.size(), mixed ? ", mixed classes" : "",
                n_prefill, n_decode, cm.kind.c_str(), cm.source.c_str());
    std::printf("SLO: TTFT %.0f ms, TPOT %.0f ms (standard class)\n", ttft_ms, tpot_ms);
    std::fputs(sim_table(results).c_str(), stdout);
    if (mixed) {
      for (const auto& p : results)
        std::printf("  %-22s rate %.2f slo %.2f: interactive e2e %.1f%%, relaxed e2e %.1f%%\n", p.policy.c_str(),
                    p.rate_scale, p.slo_scale, 100 * p.by_class[size_t(request_class::interactive)].e2e_attainment,
                    100 * p.by_class[size_t(request_class::relaxed)].e2e_attainment);
    }
    for (size_t k = 0; k < g90.size(); ++k)
      std::printf("goodput@90 %-22s slo %.2f: rate x%.3f = %.2f req/s (%.2f req/s per device, %d runs)\n",
                  pols[k % pols.size()].c_str(), slos[k / pols.size()], g90[k].rate_scale, g90[k].rate_rps,
                  g90[k].per_device_rps, g90[k].evaluations);
    std::printf("simulated %zu points in %.3f s (%u threads)\n", results.size(), wall, n_threads);
  }

  if (!json_out.empty()) {
    nlohmann::json j;
    j["results"] = nlohmann::json::array();
    for (const auto& p : results) j["results"].push_back(sim_row_json(p, mixed));
    if (goodput90) {
      j["goodput90"] = nlohmann::json::array();
      for (size_t k = 0; k < g90.size(); ++k)
        j["goodput90"].push_back({{"policy", pols[k % pols.size()]},
                                  {"slo_scale", slos[k / pols.size()]},
                                  {"rate_scale", g90[k].rate_scale},
                                  {"rate_rps", g90[k].rate_rps},
                                  {"per_device_rps", g90[k].per_device_rps}});
    }
    j["config"] = {{"source", source},       {"prefill", n_prefill},        {"decode", n_decode},
                   {"cost_model", cm.kind},  {"cost_model_source", cm.source}, {"ttft_ms", ttft_ms},
                   {"tpot_ms", tpot_ms},     {"mixed_classes", mixed},      {"seed", seed},
                   {"limit", limit},         {"chunk_tokens", chunk},       {"kv_capacity_tokens", setup.cluster.decode.kv_capacity_tokens}};
    std::ofstream f(json_out);
    if (!f) {
      std::fprintf(stderr, "kairos sim: cannot write %s\n", json_out.c_str());
      return 2;
    }
    f << j.dump(1) << "\n";
  }
  if (!plot_out.empty()) {
    std::ofstream f(plot_out);
    if (!f) {
      std::fprintf(stderr, "kairos sim: cannot write %s\n", plot_out.c_str());
      return 2;
    }
    char title[256];
    std::snprintf(title, sizeof title, "%dP%dD, %s", n_prefill, n_decode, trace.empty() ? "synthetic" : trace.substr(trace.rfind('/') + 1).c_str());
    f << sim_plot_svg(results, title);
  }
  return 0;
}

KAIROS_SUBCOMMAND("sim", "simulate scheduling policies on a trace (discrete events)", run_sim);

}  // namespace
