#include "actors/profiler.hpp"

#include "actors/model_source.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>

#include "actors/cpu_backend.hpp"
#include "gpu/model/model_loader.hpp"

namespace kairos {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

std::shared_ptr<const std::vector<int32_t>> prompt(int32_t n, int32_t vocab, int salt) {
  auto p = std::make_shared<std::vector<int32_t>>(size_t(n));
  for (int32_t i = 0; i < n; ++i) (*p)[size_t(i)] = 3 + int32_t((int64_t(i) * 131 + int64_t(salt) * 977) % std::max(1, vocab - 3));
  return p;
}

// Times one prefill batch of `lengths` (median of repeats); the KV leaves
// the pool with the hand-off, as in the runtime.
result<double> time_prefill(device_backend& b, const std::vector<int32_t>& lengths, int repeats, int32_t vocab,
                            int64_t& next_seq) {
  std::vector<double> t;
  for (int r = 0; r <= repeats; ++r) {
    std::vector<prefill_work> work;
    for (size_t i = 0; i < lengths.size(); ++i)
      work.push_back({next_seq++, prompt(lengths[i], vocab, int(i) + r), lengths[i], sampling_params{}});
    std::vector<prefill_output> out;
    double s = 0;
    if (auto st = b.prefill(work, out, s); !st) return st.err();
    if (r > 0) t.push_back(s);  // the first run warms up
  }
  return median(std::move(t));
}

// Times a decode step of `batch` sequences over `total` context tokens:
// prefills them, loads their KV, then times `repeats` steps.
result<double> time_decode(device_backend& b, int32_t batch, int64_t total, int repeats, int32_t vocab,
                           int64_t& next_seq) {
  const int32_t per_seq = int32_t(std::max<int64_t>(1, total / batch));
  std::vector<prefill_work> work;
  for (int32_t i = 0; i < batch; ++i) work.push_back({next_seq++, prompt(per_seq, vocab, i), per_seq, sampling_params{}});
  std::vector<prefill_output> out;
  double s = 0;
  // Prefill in chunks of sequences so one forward stays within the scratch.
  for (size_t i = 0; i < work.size();) {
    size_t n = 1;
    int64_t tok = work[i].n_tokens;
    while (i + n < work.size() && tok + work[i + n].n_tokens <= 2048 && n < 64) tok += work[i + n++].n_tokens;
    std::vector<prefill_output> part;
    if (auto st = b.prefill(std::span<const prefill_work>(work.data() + i, n), part, s); !st) return st.err();
    for (auto& o : part) out.push_back(std::move(o));
    i += n;
  }
  std::vector<step_load> load;
  std::vector<step_work> run;
  std::vector<int64_t> seqs;
  for (auto& o : out) {
    load.push_back({o.seq, o.kv});
    run.push_back({o.seq, o.first_token});
    seqs.push_back(o.seq);
  }
  std::vector<std::shared_ptr<seq_handoff>> evicted;
  std::vector<int32_t> tokens;
  auto fail = [&](status st) -> result<double> {
    b.free(seqs);
    return st.err();
  };
  if (auto st = b.step({}, load, {}, evicted, tokens, s); !st) return fail(st);
  std::vector<double> t;
  for (int r = 0; r <= repeats; ++r) {
    if (auto st = b.step({}, {}, run, evicted, tokens, s); !st) return fail(st);
    for (size_t i = 0; i < run.size() && i < tokens.size(); ++i) run[i].last_token = tokens[i];
    if (r > 0) t.push_back(s);
  }
  b.free(seqs);
  return median(std::move(t));
}

}  // namespace

profile_grid default_profile_grid(const runtime_config& cfg, int32_t max_context, int64_t kv_tokens) {
  profile_grid g;
  const int32_t max_prompt = std::max(16, std::min(cfg.prefill_limits.max_batch_tokens, max_context));
  for (int32_t l = 16; l <= max_prompt; l *= 2) g.prefill_tokens.push_back(l);
  if (g.prefill_tokens.back() != max_prompt) g.prefill_tokens.push_back(max_prompt);
  const int32_t max_b = std::max(2, std::min(cfg.max_num_seqs, 64));
  for (int32_t b = 1; b <= max_b; b *= 2) g.decode_batches.push_back(b);
  // Room for the timed steps' tokens: batch 1 must not outgrow the context.
  const int64_t max_total = std::max<int64_t>(256, std::min<int64_t>(kv_tokens / 2, int64_t(max_context) - 16));
  for (int64_t c = 128; c <= max_total; c *= 4) g.decode_contexts.push_back(c);
  if (g.decode_contexts.back() < max_total) g.decode_contexts.push_back(max_total);
  return g;
}

result<profile_result> profile_backend(device_backend& b, const profile_grid& grid, int32_t vocab) {
  if (grid.prefill_tokens.size() < 2 || grid.decode_batches.size() < 2 || grid.decode_contexts.size() < 2)
    return make_error("profile: each grid axis needs at least 2 points");
  profile_result r;
  int64_t next_seq = 1;
  auto& t = r.table;
  for (int32_t l : grid.prefill_tokens) {
    for (int32_t n : grid.prefill_batch_sizes) {
      if (n < 1) continue;
      const int32_t each = std::max(1, l / n);
      std::vector<int32_t> lengths(size_t(n), each);
      auto s = time_prefill(b, lengths, grid.repeats, vocab, next_seq);
      if (!s) return make_error("profile: prefill of " + std::to_string(n) + " x " + std::to_string(each) + " tokens: " + s.message());
      r.samples.prefill.push_back({lengths, s.value()});
      if (n == 1) {
        t.prefill_tokens.push_back(double(l));
        t.prefill_s.push_back(s.value());
      }
    }
  }
  for (int64_t c : grid.decode_contexts) t.decode_context.push_back(double(c));
  for (int32_t bsz : grid.decode_batches) {
    t.decode_batch.push_back(double(bsz));
    for (int64_t c : grid.decode_contexts) {
      auto s = time_decode(b, bsz, c, grid.repeats, vocab, next_seq);
      if (!s) return make_error("profile: decode of " + std::to_string(bsz) + " sequences over " + std::to_string(c) + " tokens: " + s.message());
      // The context the step really read: per-sequence rounding, plus the tokens the timed steps appended.
      const int64_t per_seq = std::max<int64_t>(1, c / bsz);
      r.samples.decode.push_back({bsz, per_seq * bsz, s.value()});
      t.decode_s.push_back(s.value());
    }
  }
  r.fit = sched::fit_distserve(r.samples);
  return r;
}

result<profile_result> profile_group(const runtime_config& cfg, const std::string& group, const profile_grid* grid,
                                     int repeats) {
  const group_config* g = group == "prefill" ? &cfg.prefill : group == "decode" ? &cfg.decode : nullptr;
  if (!g) return make_error("profile: unknown group '" + group + "' (expected prefill or decode)");
  if (g->devices.empty()) return make_error("profile: groups." + group + " has no devices");
  const auto& dc = g->devices.front();
  if (dc.backend != backend_kind::cpu)
    return make_error("profile: groups." + group + " runs " + to_string(dc.backend) +
                      " devices, whose time is modelled; only cpu devices can be measured");
  auto loaded = load_configured_model(cfg);
  if (!loaded) return loaded.err();
  std::optional<loaded_model> model = std::move(loaded.value());
  const int32_t max_context = cfg.max_context > 0 ? std::min(cfg.max_context, model->config.max_position) : model->config.max_position;
  const int64_t kv_tokens = cfg.kv_capacity_tokens > 0 ? cfg.kv_capacity_tokens : int64_t(model->config.max_position) * 4;
  // The engine as the runtime builds it for this device.
  engine_options eo;
  eo.n_threads = std::max(1, cfg.threads_per_device);
  eo.block_size = cfg.block_size;
  eo.kv_cache_dtype = cfg.kv_cache_dtype;
  eo.kv_tokens = int(kv_tokens);
  const int max_seqs = std::max(cfg.max_num_seqs, cfg.policy_options.kairos_decode.max_seqs);
  eo.max_batch_tokens = std::max({cfg.prefill_limits.max_batch_tokens, max_context, max_seqs, 2048});
  eo.max_logit_rows = std::max({cfg.prefill_limits.max_batch_size, max_seqs, 64});
  auto e = cpu_engine::create(model->config, model->tensors, eo);
  if (!e) return make_error("device " + dc.name + ": " + e.message());
  cpu_backend backend(std::move(e.value()));
  profile_grid pg = grid ? *grid : default_profile_grid(cfg, max_context, kv_tokens);
  if (!grid) pg.repeats = std::max(1, repeats);
  auto r = profile_backend(backend, pg, model->config.vocab_size);
  if (r) r.value().device = dc.name;
  return r;
}

std::string profile_json(const profile_result& r, const runtime_config& cfg, const std::string& type) {
  using nlohmann::json;
  json j;
  j["type"] = type;
  // The KV element type changes decode times (F16 halves attention's reads): recorded with them.
  j["source"] = {{"config", cfg.source},
                 {"device", r.device},
                 {"model", cfg.model_path.empty() ? cfg.model_shape : cfg.model_path},
                 {"kv_dtype", std::string(kv_dtype_name(cfg.kv_cache_dtype))}};
  json pre = json::array(), dec = json::array();
  for (const auto& s : r.samples.prefill) pre.push_back({{"lengths", s.lengths}, {"ms", s.seconds * 1e3}});
  for (const auto& s : r.samples.decode) dec.push_back({{"batch", s.batch}, {"context", s.total_context}, {"ms", s.seconds * 1e3}});
  j["profile"] = {{"prefill", pre}, {"decode", dec}};
  std::vector<double> pms;
  for (double s : r.table.prefill_s) pms.push_back(s * 1e3);
  j["prefill"] = {{"tokens", r.table.prefill_tokens}, {"ms", pms}};
  json rows = json::array();
  const size_t nc = r.table.decode_context.size();
  for (size_t bi = 0; bi < r.table.decode_batch.size(); ++bi) {
    std::vector<double> row;
    for (size_t ci = 0; ci < nc; ++ci) row.push_back(r.table.decode_s[bi * nc + ci] * 1e3);
    rows.push_back(row);
  }
  j["decode"] = {{"batch", r.table.decode_batch}, {"context", r.table.decode_context}, {"ms", rows}};
  // cpu: the KV transfer is a copy between pools in one process.
  j["kv_link"] = {{"name", "cpu-copy"}, {"latency_ms", cfg.cost.kv_latency_ms}};
  j["fit"] = {{"prefill_ms", {r.fit.prefill_coef[0] * 1e3, r.fit.prefill_coef[1] * 1e3, r.fit.prefill_coef[2] * 1e3}},
              {"decode_ms", {r.fit.decode_coef[0] * 1e3, r.fit.decode_coef[1] * 1e3, r.fit.decode_coef[2] * 1e3}},
              {"prefill_mape", r.fit.prefill_mape},
              {"decode_mape", r.fit.decode_mape}};
  return j.dump(1) + "\n";
}

}  // namespace kairos
