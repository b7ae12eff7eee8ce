// `kairos bench engine`: CPU engine throughput on a model shape, beside the
// machine's own ceilings (OpenBLAS sgemm and triad bandwidth) measured in the
// same run, so the ratios hold however noisy the host is.
#include <CLI/CLI.hpp>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "gpu/engine/cpu_engine.hpp"
#include "gpu/engine/sampler.hpp"
#include "gpu/kernels/gemm.hpp"
#include "gpu/kernels/machine_ceilings.hpp"
#include "gpu/kernels/thread_affinity.hpp"
#include "gpu/model/model_loader.hpp"
#include "gpu/model/random_weights.hpp"
#include "tools/subcommand.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

std::vector<std::int32_t> prompt_ids(int n, int vocab, int salt) {
  std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) ids[i] = static_cast<std::int32_t>((1 + i * 7919 + salt * 104729) % (vocab - 1)) + 1;
  return ids;
}

// FLOPs of one token through every Linear and the LM head.
double linear_flops_per_token(const kairos::model_config& c) {
  const double E = c.hidden_size, D = c.head_dim, H = c.n_heads, KV = c.n_kv_heads, F = c.ffn_size;
  const double per_layer = E * (H + 2 * KV) * D + H * D * E + 3 * E * F;
  return 2.0 * (c.n_layers * per_layer + E * c.vocab_size);
}

// Attention FLOPs of a causal prefill of n tokens (QK and PV).
double attention_flops(const kairos::model_config& c, int n) {
  return 2.0 * 2.0 * c.n_layers * c.n_heads * c.head_dim * (static_cast<double>(n) * (n + 1) / 2);
}

int run_bench_engine(int argc, char** argv) {
  CLI::App app{"CPU engine benchmark: prefill, single and batched decode, beside machine ceilings"};
  std::string model_dir, shape = "smollm2-135m", json_path;
  int threads = 2, prefill_len = 512, decode_len = 128, reps = 3;
  std::vector<int> batch_sizes{1, 4, 16, 32};
  app.add_option("--model", model_dir, "model directory or GGUF file (default: random weights of --shape)");
  app.add_option("--shape", shape, "named shape for random weights")->capture_default_str();
  std::string weights_name = "f32";
  app.add_option("--weights", weights_name,
                 "element type of the random weights: f32, bf16, f16 or q8_0 (the engine keeps 16-bit and "
                 "Q8_0 matrices so in memory and computes in F32)")
      ->check(CLI::IsMember({"f32", "bf16", "f16", "q8_0"}))
      ->capture_default_str();
  app.add_option("--threads", threads, "threads")->capture_default_str();
  app.add_option("--prefill", prefill_len, "prompt length of the prefill test")->capture_default_str();
  app.add_option("--decode", decode_len, "tokens of the single-sequence decode test")->capture_default_str();
  app.add_option("--batches", batch_sizes, "sequence counts of the batched decode test")->delimiter(',')->capture_default_str();
  app.add_option("--reps", reps, "repetitions (best is kept)")->capture_default_str();
  std::vector<std::string> kv_dtype_names{"f32", "f16"};
  app.add_option("--kv-dtype", kv_dtype_names, "KV cache element types, each measured (alternating)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--json", json_path, "also write the results as JSON");
  bool no_pin = false, breakdown = false;
  app.add_flag("--breakdown", breakdown, "time each phase of the batched decode steps (adds clock reads)");
  app.add_flag("--no-pin", no_pin, "leave the OpenMP threads unpinned (default: pinned to distinct CPUs)");
  CLI11_PARSE(app, argc, argv);

  kairos::model_config cfg;
  kairos::tensor_store store;
  if (!model_dir.empty()) {
    auto m = kairos::load_model(model_dir);
    if (!m) {
      std::fprintf(stderr, "kairos bench engine: %s\n", m.message().c_str());
      return 1;
    }
    cfg = m->config;
    store = std::move(m->tensors);
  } else {
    auto c = kairos::named_shape(shape);
    if (!c) {
      std::fprintf(stderr, "kairos bench engine: %s\n", c.message().c_str());
      return 1;
    }
    cfg = *c;
    const kairos::dtype wt = kairos::parse_dtype(weights_name).value_or(kairos::dtype::f32);  // checked by CLI11
    cfg.weight_dtype = wt;
    auto rnd = kairos::make_random_tensor_store(cfg, wt, 1);
    if (!rnd) {
      std::fprintf(stderr, "kairos bench engine: %s\n", rnd.message().c_str());
      return 1;
    }
    store = std::move(*rnd);
  }
  std::vector<kairos::kv_dtype> kv_types;
  for (const auto& name : kv_dtype_names) {
    auto t = kairos::parse_kv_dtype(name);
    if (!t) {
      std::fprintf(stderr, "kairos bench engine: --kv-dtype: unknown KV cache dtype '%s' (f32 or f16)\n", name.c_str());
      return 1;
    }
    kv_types.push_back(*t);
  }
  const int max_seqs = *std::max_element(batch_sizes.begin(), batch_sizes.end());
  kairos::engine_options opts;
  opts.n_threads = threads;
  opts.max_batch_tokens = std::max(prefill_len, 128 * max_seqs);
  opts.max_logit_rows = std::max(max_seqs, 1);
  opts.kv_tokens = std::max(prefill_len + 16, max_seqs * (128 + 64 + 16)) + decode_len + 64;
  opts.time_phases = breakdown;
  // One engine per KV cache dtype; every test alternates between them
  // repetition by repetition, so their ratios come from the same host state.
  std::vector<std::unique_ptr<kairos::cpu_engine>> engines;
  for (auto t : kv_types) {
    opts.kv_cache_dtype = t;
    auto eng = kairos::cpu_engine::create(cfg, store, opts);
    if (!eng) {
      std::fprintf(stderr, "kairos bench engine: %s\n", eng.message().c_str());
      return 1;
    }
    engines.push_back(std::move(eng.value()));
  }
  store = {};  // the engines packed their own copies
  omp_set_num_threads(threads);
  const bool pinned = !no_pin && !std::getenv("OMP_PROC_BIND") && kairos::kernels::pin_openmp_threads(threads);
  std::printf(
      "kairos bench engine: %s, %.1fM params, %s weights (%.0f MB streamed a token), F32 compute, %d threads%s, "
      "gemm %s\n",
      model_dir.empty() ? shape.c_str() : model_dir.c_str(), cfg.n_params() / 1e6,
      kairos::dtype_name(cfg.weight_dtype), engines[0]->weight_bytes_per_token() / 1e6, threads,
      pinned ? " (pinned)" : "", kairos::kernels::gemm_isa());

  const double sgemm_peak = kairos::kernels::measure_sgemm_gflops(threads);
  const double triad = kairos::kernels::measure_triad_gbps(threads);
  std::printf("machine: OpenBLAS sgemm %.1f GFLOP/s, triad %.1f GB/s (same run)\n\n", sgemm_peak, triad);
  kairos::seq_id next_seq = 1;
  auto fail = [](const char* what, const kairos::forward_result& res) {
    std::fprintf(stderr, "kairos bench engine: %s failed: %s\n", what, res.message.c_str());
    return false;
  };

  // Seconds of one prefill of prefill_len tokens.
  auto time_prefill = [&](kairos::cpu_engine& e, double& s) {
    auto ids = prompt_ids(prefill_len, cfg.vocab_size, 0);
    kairos::batch_sequence b{next_seq, ids, true};
    auto t = clock_type::now();
    auto res = e.forward({&b, 1});
    s = since(t);
    e.free_sequence(next_seq++);
    return res.status == kairos::forward_status::ok || fail("prefill", res);
  };
  // Seconds of decode_len single-sequence decode steps.
  auto time_decode = [&](kairos::cpu_engine& e, double& s) {
    std::int32_t tok = 1;
    kairos::batch_sequence b{next_seq, {&tok, 1}, true};
    auto res = e.forward({&b, 1});
    tok = kairos::argmax(res.logits(0));
    auto t = clock_type::now();
    for (int i = 0; i < decode_len && res.status == kairos::forward_status::ok; ++i) {
      res = e.forward({&b, 1});
      if (res.status == kairos::forward_status::ok) tok = kairos::argmax(res.logits(0));
    }
    s = since(t);
    e.free_sequence(next_seq++);
    return res.status == kairos::forward_status::ok || fail("decode", res);
  };
  // Seconds of the 64 decode steps of n sequences after their 128-token prompts.
  auto time_batched = [&](kairos::cpu_engine& e, int n, double& s) {
    std::vector<std::vector<std::int32_t>> prompts;
    std::vector<std::int32_t> toks(static_cast<std::size_t>(n));
    std::vector<kairos::batch_sequence> batch;
    for (int i = 0; i < n; ++i) prompts.push_back(prompt_ids(128, cfg.vocab_size, i + 1));
    const kairos::seq_id base = next_seq;
    next_seq += n;
    for (int i = 0; i < n; ++i) batch.push_back({base + i, prompts[i], true});
    auto res = e.forward(batch);
    if (res.status != kairos::forward_status::ok) return fail("batched prefill", res);
    for (int i = 0; i < n; ++i) toks[i] = kairos::argmax(res.logits(i));
    for (int i = 0; i < n; ++i) batch[i].tokens = {&toks[i], 1};
    e.reset_phase_times();
    auto t = clock_type::now();
    for (int step = 0; step < 64; ++step) {
      res = e.forward(batch);
      if (res.status != kairos::forward_status::ok) return fail("batched decode", res);
      for (int i = 0; i < n; ++i) toks[i] = kairos::argmax(res.logits(i));
    }
    s = since(t);
    for (int i = 0; i < n; ++i) e.free_sequence(base + i);
    return true;
  };

  struct batched_row {
    int n;
    double tok_s;
    kairos::engine_phase_times phases;  // of the last repetition's decode steps
  };
  struct results {
    double pf_tok_s = 0, pf_gflops = 0, dec_tok_s = 0, dec_gbps = 0;
    // "One sequence" of the ratios: the faster of the tg128 test and the
    // batched one-sequence row (both single-sequence decode, either moved by
    // the host's noise), so no ratio is flattered by a slow baseline.
    double single_tok_s = 0;
    std::vector<batched_row> rows;
  };
  const std::size_t n_eng = engines.size();
  std::vector<results> out(n_eng);
  // Best seconds of each engine over `r` repetitions of time_one(engine, s),
  // the engines alternating; empty when a run failed.
  auto best_of = [&](int r, auto time_one) {
    std::vector<double> best(n_eng, 1e30);
    for (int k = 0; k < r; ++k)
      for (std::size_t i = 0; i < n_eng; ++i) {
        double s = 0;
        if (!time_one(*engines[i], s)) return std::vector<double>{};
        best[i] = std::min(best[i], s);
      }
    return best;
  };
  {
    const auto best = best_of(reps, time_prefill);
    if (best.empty()) return 1;
    for (std::size_t i = 0; i < n_eng; ++i) {
      out[i].pf_tok_s = prefill_len / best[i];
      out[i].pf_gflops = (linear_flops_per_token(cfg) * prefill_len -
                          2.0 * cfg.hidden_size * cfg.vocab_size * (prefill_len - 1) + attention_flops(cfg, prefill_len)) /
                         best[i] / 1e9;
    }
  }
  {
    const auto best = best_of(reps, time_decode);
    if (best.empty()) return 1;
    for (std::size_t i = 0; i < n_eng; ++i) {
      out[i].dec_tok_s = decode_len / best[i];
      out[i].dec_gbps = engines[i]->weight_bytes_per_token() * out[i].dec_tok_s / 1e9;
    }
  }
  for (int n : batch_sizes) {
    const auto best =
        best_of(std::max(1, reps - 1), [&](kairos::cpu_engine& e, double& s) { return time_batched(e, n, s); });
    if (best.empty()) return 1;
    for (std::size_t i = 0; i < n_eng; ++i) out[i].rows.push_back({n, n * 64 / best[i], engines[i]->phase_times()});
  }
  for (auto& o : out) {
    o.single_tok_s = o.dec_tok_s;
    for (auto& r : o.rows)
      if (r.n == 1) o.single_tok_s = std::max(o.single_tok_s, r.tok_s);
  }

  for (std::size_t i = 0; i < n_eng; ++i) {
    const auto& o = out[i];
    std::printf("KV cache %s\n", std::string(kairos::kv_dtype_name(kv_types[i])).c_str());
    std::printf("%-34s %10s   %s\n", "test", "tokens/s", "against the ceiling / target");
    std::printf("%-34s %10.1f   %.1f GFLOP/s = %.0f%% of sgemm peak (target >= 60%%); llama.cpp 812\n",
                ("prefill pp" + std::to_string(prefill_len)).c_str(), o.pf_tok_s, o.pf_gflops,
                100 * o.pf_gflops / sgemm_peak);
    std::printf("%-34s %10.1f   %.1f GB/s of weights = %.0f%% of triad (target >= 70%%); llama.cpp 82\n",
                ("decode tg" + std::to_string(decode_len) + ", 1 sequence").c_str(), o.dec_tok_s, o.dec_gbps,
                100 * o.dec_gbps / triad);
    const double one = o.single_tok_s;
    for (auto& r : o.rows)
      std::printf("%-34s %10.1f   %.1fx one sequence%s\n",
                  ("batched decode, " + std::to_string(r.n) + " sequences").c_str(), r.tok_s, r.tok_s / one,
                  r.n == 32 ? " (target >= 10x); llama.cpp 292" : "");
    if (breakdown) {
      // Per decode step, in ms: where the batched rows' time goes.
      std::printf("\nbatched decode step, ms per phase (last repetition):\n%-18s", "phase");
      for (auto& r : o.rows) std::printf(" %8d", r.n);
      std::printf("\n");
      for (int p = 0; p < static_cast<int>(kairos::engine_phase::count); ++p) {
        std::printf("%-18s", kairos::to_string(static_cast<kairos::engine_phase>(p)));
        for (auto& r : o.rows)
          std::printf(" %8.2f", 1e3 * r.phases.seconds[p] / std::max<std::int64_t>(1, r.phases.forwards));
        std::printf("\n");
      }
      std::printf("%-18s", "total");
      for (auto& r : o.rows) std::printf(" %8.2f", 1e3 * r.phases.total() / std::max<std::int64_t>(1, r.phases.forwards));
      std::printf("\n");
    }
    std::printf("\n");
  }

  if (!json_path.empty()) {
    nlohmann::json j;
    j["model"] = model_dir.empty() ? shape : model_dir;
    j["weights"] = kairos::dtype_name(cfg.weight_dtype);
    j["weight_bytes_per_token"] = engines[0]->weight_bytes_per_token();
    j["threads"] = threads;
    j["gemm_isa"] = kairos::kernels::gemm_isa();
    j["sgemm_peak_gflops"] = sgemm_peak;
    j["triad_gbps"] = triad;
    for (std::size_t i = 0; i < n_eng; ++i) {
      auto& k = j["kv_cache"][std::string(kairos::kv_dtype_name(kv_types[i]))];
      k["prefill_tok_s"] = out[i].pf_tok_s;
      k["prefill_gflops"] = out[i].pf_gflops;
      k["decode_tok_s"] = out[i].dec_tok_s;
      k["decode_weight_gbps"] = out[i].dec_gbps;
      for (auto& r : out[i].rows) k["batched_decode_tok_s"][std::to_string(r.n)] = r.tok_s;
      k["single_sequence_tok_s"] = out[i].single_tok_s;
    }
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  return 0;
}

}  // namespace

KAIROS_SUBCOMMAND("bench engine", "CPU engine throughput beside the machine's sgemm and bandwidth ceilings",
                  run_bench_engine);
