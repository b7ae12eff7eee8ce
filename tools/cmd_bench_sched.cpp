// `kairos bench sched`: how fast the scheduling core decides and simulates.
//  - one prefill decision with N queued requests, per policy;
//  - one decode decision with M running (and some waiting), per policy;
//  - the whole Azure conv trace under all six policy sets, 1 thread and all.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "scheduler/cb_decode_policy.hpp"
#include "scheduler/edf_prefill_policy.hpp"
#include "scheduler/experiment.hpp"
#include "scheduler/fcfs_prefill_policy.hpp"
#include "scheduler/kairos_decode_policy.hpp"
#include "scheduler/kairos_prefill_policy.hpp"
#include "scheduler/preset_reader.hpp"
#include "scheduler/spf_prefill_policy.hpp"
#include "scheduler/trace_reader.hpp"
#include "tools/subcommand.hpp"

namespace {

using namespace kairos::sched;
using clock_type = std::chrono::steady_clock;

template <class F>
double time_per_call_us(F&& f, int iters) {
  f();  // warm
  const auto t0 = clock_type::now();
  for (int i = 0; i < iters; ++i) f();
  return std::chrono::duration<double, std::micro>(clock_type::now() - t0).count() / iters;
}

int run_bench_sched(int argc, char** argv) {
  CLI::App app{"Benchmark the scheduling core: decision latency and simulator speed"};
  int n_queued = 1000, n_running = 512, n_waiting = 64, iters = 2000;
  // <repo>/configs/presets -> <repo>/../shared/traces
  std::string trace = default_preset_dir() + "/../../../shared/traces/AzureLLMInferenceTrace_conv.csv";
  bool skip_sim = false;
  app.add_option("--queued", n_queued, "prefill queue length");
  app.add_option("--running", n_running, "running decode sequences");
  app.add_option("--waiting", n_waiting, "waiting decode sequences");
  app.add_option("--iters", iters, "decisions timed per policy");
  app.add_option("--trace", trace, "trace for the simulator timing");
  app.add_flag("--no-sim", skip_sim, "only the decision benchmarks");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto cm = load_preset("llama3-8b-h100");
  const cost_model& cost = *cm.model;
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<int> len(50, 8000);
  std::uniform_real_distribution<double> u(0, 1);

  // Prefill: a queue of n_queued requests that arrived over the last 2 s,
  // two SLO classes so deadlines are not in arrival order.
  std::vector<queued_prefill> queue;
  const time_s now = 100.0;
  for (int i = 0; i < n_queued; ++i) {
    queued_prefill q;
    q.id = i;
    q.arrival_s = now - 2.0 + 2.0 * i / n_queued;
    q.deadline_s = q.arrival_s + (u(rng) < 0.5 ? 0.25 : 2.0);
    q.input_tokens = len(rng);
    queue.push_back(q);
  }
  prefill_limits pl;
  prefill_batch out;
  std::vector<time_s> others;
  prefill_context ctx{now, others};
  fcfs_prefill_policy fcfs;
  spf_prefill_policy spf;
  edf_prefill_policy edf;
  kairos_prefill_policy kp;
  std::printf("prefill decision, %d queued (us per decision):\n", n_queued);
  for (prefill_policy* p : std::initializer_list<prefill_policy*>{&fcfs, &spf, &edf, &kp})
    std::printf("  %-8s %8.2f\n", p->name().c_str(),
                time_per_call_us([&] { p->select(queue, ctx, cost, pl, out); }, iters));

  // Decode: n_running resident sequences mid-generation, n_waiting new ones.
  std::vector<decode_seq> running, waiting;
  for (int i = 0; i < n_running + n_waiting; ++i) {
    decode_seq s;
    s.id = i;
    s.context_tokens = 200 + int(u(rng) * 1500);
    s.tokens_generated = 1 + int(u(rng) * 200);
    s.tpot_s = u(rng) < 0.5 ? 0.03 : 0.1;
    s.first_token_s = now - s.tokens_generated * s.tpot_s * (0.5 + u(rng));
    (i < n_running ? running : waiting).push_back(s);
  }
  decode_limits dl;
  dl.kv_capacity_tokens = cm.setup.kv_capacity_tokens();
  dl.max_num_seqs = 1024;
  decode_decision dd;
  cb_decode_policy cb;
  kairos_decode_policy kd;
  std::printf("decode decision, %d running + %d waiting (us per decision):\n", n_running, n_waiting);
  for (decode_policy* p : std::initializer_list<decode_policy*>{&cb, &kd})
    std::printf("  %-14s %8.2f\n", p->name().c_str(),
                time_per_call_us([&] { p->select(running, waiting, now, cost, dl, dd); }, iters));
  // Tight budgets force the sit-out path.
  for (auto& s : running) s.tpot_s = 0.012;
  std::printf("  %-14s %8.2f   (tight budgets: sit-out path)\n", "kairos-decode",
              time_per_call_us([&] { kd.select(running, waiting, now, cost, dl, dd); }, iters));

  if (skip_sim) return 0;
  auto tr = read_trace(trace);
  if (!tr.error.empty()) {
    std::fprintf(stderr, "kairos bench sched: %s\n", tr.error.c_str());
    return 2;
  }
  experiment_setup setup;
  setup.rows = tr.rows;
  setup.cluster.prefill = {cm.setup.limits.prefill_max_batch_tokens, cm.setup.limits.prefill_max_batch_size, 0};
  setup.cluster.decode.kv_capacity_tokens = cm.setup.kv_capacity_tokens();
  setup.cluster.decode.max_num_seqs = cm.setup.limits.max_num_seqs;
  setup.truth = cm.model.get();
  const std::vector<std::string> pols{"fcfs+cb", "edf+cb", "spf+cb", "kairos", "kairos-prefill+cb", "fcfs+kairos-decode"};
  for (unsigned n_threads : {1u, std::max(1u, std::thread::hardware_concurrency())}) {
    std::atomic<size_t> next{0};
    std::atomic<int64_t> steps{0};
    const auto t0 = clock_type::now();
    auto worker = [&] {
      for (size_t i = next++; i < pols.size(); i = next++) steps += run_point(setup, pols[i], 1.0, 1.0).sim.decode.steps;
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < n_threads; ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::printf("whole trace (%zu requests), six policy sets, %u thread(s): %.3f s (%.1f M decode steps)\n",
                tr.rows.size(), n_threads, s, double(steps) / 1e6);
  }
  return 0;
}

KAIROS_SUBCOMMAND("bench sched", "time scheduling decisions and the simulator", run_bench_sched);

}  // namespace
