#include "actors/runtime_config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace kairos {

const char* to_string(backend_kind b) {
  switch (b) {
    case backend_kind::cpu: return "cpu";
    case backend_kind::sim: return "sim";
    case backend_kind::cuda: return "cuda";
  }
  return "?";
}

runtime_config::runtime_config() {
  slo[size_t(sched::request_class::standard)] = {0.5, 0.05};
  slo[size_t(sched::request_class::interactive)] = {0.25, 0.03};
  slo[size_t(sched::request_class::relaxed)] = {2.0, 0.1};
  prefill_limits.max_batch_tokens = 2048;
  prefill_limits.max_batch_size = 64;
  policy_options.kairos_decode.sit_out = true;  // as `kairos sim` runs it
}

bool runtime_config::all_sim() const {
  for (auto* g : {&prefill, &decode})
    for (auto& d : g->devices)
      if (d.backend != backend_kind::sim) return false;
  return true;
}
bool runtime_config::any_cpu() const {
  for (auto* g : {&prefill, &decode})
    for (auto& d : g->devices)
      if (d.backend == backend_kind::cpu) return true;
  return false;
}
bool runtime_config::any_cuda() const {
  for (auto* g : {&prefill, &decode})
    for (auto& d : g->devices)
      if (d.backend == backend_kind::cuda) return true;
  return false;
}

namespace {

struct parse_error {
  std::string message;
};

template <class T>
void get(const YAML::Node& n, const char* key, T& out) {
  if (n && n[key]) out = n[key].as<T>();
}

backend_kind parse_backend(const std::string& s, const std::string& where) {
  if (s == "cpu") return backend_kind::cpu;
  if (s == "sim") return backend_kind::sim;
  if (s == "cuda") return backend_kind::cuda;
  throw parse_error{where + ".backend: unknown backend '" + s + "' (expected cpu, sim or cuda)"};
}

// devices: a count (named BACKEND:N in order) or a list of names "cpu:0".
void parse_group(const YAML::Node& n, const std::string& where, group_config& g, int& next_index) {
  if (!n) throw parse_error{"missing '" + where + "'"};
  std::string backend = "cpu";
  get(n, "backend", backend);
  const backend_kind bk = parse_backend(backend, where);
  // fail_at_batch: N (every device of the group) or {NAME: N, ...}.
  int32_t fail_at = 0;
  std::vector<std::pair<std::string, int32_t>> fail_at_named;
  if (const auto& f = n["fail_at_batch"]; f && f.IsMap()) {
    for (const auto& kv : f) fail_at_named.emplace_back(kv.first.as<std::string>(), kv.second.as<int32_t>());
  } else {
    get(n, "fail_at_batch", fail_at);
  }
  // slowdown: X (every device of the group) or {NAME: X, ...}.
  double slowdown = 1.0;
  std::vector<std::pair<std::string, double>> slowdown_named;
  if (const auto& f = n["slowdown"]; f && f.IsMap()) {
    for (const auto& kv : f) slowdown_named.emplace_back(kv.first.as<std::string>(), kv.second.as<double>());
  } else {
    get(n, "slowdown", slowdown);
  }
  // gpu: N (every device of the group) or {NAME: N, ...} (cuda only).
  int32_t gpu = 0;
  std::vector<std::pair<std::string, int32_t>> gpu_named;
  if (const auto& f = n["gpu"]; f && f.IsMap()) {
    for (const auto& kv : f) gpu_named.emplace_back(kv.first.as<std::string>(), kv.second.as<int32_t>());
  } else {
    get(n, "gpu", gpu);
  }
  const bool gpu_given = static_cast<bool>(n["gpu"]);
  const auto& d = n["devices"];
  if (!d) throw parse_error{where + ".devices: missing"};
  if (d.IsScalar()) {
    const int count = d.as<int>();
    if (count <= 0) throw parse_error{where + ".devices: must be >= 1, got " + std::to_string(count)};
    for (int i = 0; i < count; ++i)
      g.devices.push_back({std::string(to_string(bk)) + ":" + std::to_string(next_index++), bk, fail_at});
  } else if (d.IsSequence()) {
    for (const auto& x : d) {
      const auto name = x.as<std::string>();
      const auto colon = name.find(':');
      if (colon == std::string::npos)
        throw parse_error{where + ".devices: '" + name + "' is not BACKEND:N"};
      g.devices.push_back({name, parse_backend(name.substr(0, colon), where), fail_at});
      ++next_index;
    }
  } else {
    throw parse_error{where + ".devices: expected a count or a list of names"};
  }
  for (auto& dc : g.devices) dc.slowdown = slowdown;
  for (auto& dc : g.devices) {
    if (gpu_given && dc.backend != backend_kind::cuda)
      throw parse_error{where + ".gpu applies to cuda devices only (" + dc.name + " is not one)"};
    dc.gpu = gpu;
  }
  for (const auto& [name, x] : gpu_named) {
    auto it = std::find_if(g.devices.begin(), g.devices.end(), [&](const device_config& dc) { return dc.name == name; });
    if (it == g.devices.end()) throw parse_error{where + ".gpu: no device named '" + name + "' in the group"};
    it->gpu = x;
  }
  for (const auto& [name, x] : slowdown_named) {
    auto it = std::find_if(g.devices.begin(), g.devices.end(), [&](const device_config& dc) { return dc.name == name; });
    if (it == g.devices.end()) throw parse_error{where + ".slowdown: no device named '" + name + "' in the group"};
    it->slowdown = x;
  }
  for (const auto& [name, at] : fail_at_named) {
    auto it = std::find_if(g.devices.begin(), g.devices.end(), [&](const device_config& x) { return x.name == name; });
    if (it == g.devices.end()) throw parse_error{where + ".fail_at_batch: no device named '" + name + "' in the group"};
    it->fail_at_batch = at;
  }
}

void parse_into(const YAML::Node& root, runtime_config& c) {
  if (!root.IsMap()) throw parse_error{"expected a mapping at the top level"};
  if (auto m = root["model"]) {
    get(m, "path", c.model_path);
    get(m, "shape", c.model_shape);
    get(m, "random_shape", c.model_random_shape);
    get(m, "seed", c.model_seed);
    get(m, "max_context", c.max_context);
    get(m, "threads_per_device", c.threads_per_device);
  }
  const auto& groups = root["groups"];
  if (!groups) throw parse_error{"missing 'groups' (prefill and decode)"};
  int next = 0;
  parse_group(groups["prefill"], "groups.prefill", c.prefill, next);
  parse_group(groups["decode"], "groups.decode", c.decode, next);
  get(root, "policies", c.policies);
  if (auto p = root["policy_options"]) {
    get(p, "spf_aging_s", c.policy_options.spf_aging_s);
    get(p, "starvation_s", c.policy_options.kairos_prefill.starvation_s);
    get(p, "starving_share", c.policy_options.kairos_prefill.starving_share);
    get(p, "sit_out", c.policy_options.kairos_decode.sit_out);
    get(p, "admit_margin", c.policy_options.kairos_decode.admit_margin);
  }
  if (auto m = root["cost_model"]) {
    get(m, "type", c.cost.type);
    get(m, "preset", c.cost.preset);
    get(m, "file", c.cost.file);
    if (m["prefill_ms"]) {
      auto v = m["prefill_ms"].as<std::vector<double>>();
      if (v.size() != 3) throw parse_error{"cost_model.prefill_ms: expected [A, B, C]"};
      std::copy(v.begin(), v.end(), c.cost.prefill_ms.begin());
    }
    if (m["decode_ms"]) {
      auto v = m["decode_ms"].as<std::vector<double>>();
      if (v.size() != 3) throw parse_error{"cost_model.decode_ms: expected [A, B, C]"};
      std::copy(v.begin(), v.end(), c.cost.decode_ms.begin());
    }
    get(m, "kv_latency_ms", c.cost.kv_latency_ms);
    get(m, "kv_ms_per_token", c.cost.kv_ms_per_token);
    get(m, "correction_alpha", c.cost.correction_alpha);
  }
  if (auto l = root["limits"]) {
    get(l, "prefill_max_batch_tokens", c.prefill_limits.max_batch_tokens);
    get(l, "prefill_max_batch_size", c.prefill_limits.max_batch_size);
    get(l, "chunk_tokens", c.prefill_limits.chunk_tokens);
    get(l, "max_num_seqs", c.max_num_seqs);
    get(l, "kv_watermark", c.kv_watermark);
  }
  if (auto k = root["kv"]) {
    get(k, "block_size", c.block_size);
    get(k, "capacity_tokens", c.kv_capacity_tokens);
    std::string dt(kv_dtype_name(c.kv_cache_dtype));
    get(k, "dtype", dt);
    auto t = parse_kv_dtype(dt);
    if (!t) throw parse_error{"kv.dtype: unknown KV cache dtype '" + dt + "' (expected f32 or f16)"};
    c.kv_cache_dtype = *t;
  }
  if (auto a = root["admission"]) {
    get(a, "max_queued", c.admission.max_queued);
    get(a, "max_in_flight", c.admission.max_in_flight);
    get(a, "max_tokens", c.admission.max_tokens_limit);
    get(a, "default_max_tokens", c.admission.default_max_tokens);
  }
  if (auto s = root["slo_classes"]) {
    for (auto cls : {sched::request_class::standard, sched::request_class::interactive, sched::request_class::relaxed}) {
      auto n = s[sched::to_string(cls)];
      if (!n) continue;
      double ttft_ms = c.slo[size_t(cls)].ttft_s * 1e3, tpot_ms = c.slo[size_t(cls)].tpot_s * 1e3;
      get(n, "ttft_ms", ttft_ms);
      get(n, "tpot_ms", tpot_ms);
      c.slo[size_t(cls)] = {ttft_ms / 1e3, tpot_ms / 1e3};
    }
  }
  if (auto s = root["server"]) get(s, "port", c.port);
  if (auto t = root["trace"]) {
    if (!t.IsMap()) throw parse_error{"trace: expected a mapping {out: FILE, buffer_events: N}"};
    get(t, "out", c.trace.out);
    get(t, "buffer_events", c.trace.buffer_events);
  }
}

}  // namespace

status validate(const runtime_config& c) {
  auto bad = [&](const std::string& m) { return make_error(c.source + ": " + m); };
  if (c.prefill.devices.empty()) return bad("groups.prefill: no devices");
  if (c.decode.devices.empty()) return bad("groups.decode: no devices");
  if (c.block_size <= 0) return bad("kv.block_size must be > 0");
  if (c.kv_capacity_tokens < 0) return bad("kv.capacity_tokens must be >= 0");
  if (c.admission.max_queued <= 0) return bad("admission.max_queued must be > 0");
  if (c.admission.max_in_flight <= 0) return bad("admission.max_in_flight must be > 0");
  if (c.admission.max_tokens_limit <= 0) return bad("admission.max_tokens must be > 0");
  if (c.prefill_limits.max_batch_tokens <= 0) return bad("limits.prefill_max_batch_tokens must be > 0");
  if (!(c.policy_options.kairos_prefill.starving_share >= 0 && c.policy_options.kairos_prefill.starving_share <= 1))
    return bad("policy_options.starving_share must be in [0, 1] (0: the starving go first)");
  if (!(c.cost.correction_alpha >= 0.0 && c.cost.correction_alpha <= 1.0))
    return bad("cost_model.correction_alpha must be in [0, 1] (0 turns the online correction off)");
  for (auto [g, where] : {std::pair{&c.prefill, "groups.prefill"}, std::pair{&c.decode, "groups.decode"}})
    for (const auto& d : g->devices) {
      if (d.fail_at_batch < 0) return bad(std::string(where) + ".fail_at_batch must be >= 0 (0: never)");
      if (!(d.slowdown > 0.0)) return bad(std::string(where) + ".slowdown of " + d.name + " must be > 0 (1: as modelled)");
      if (d.slowdown != 1.0 && d.backend != backend_kind::sim)
        return bad(std::string(where) + ".slowdown applies to sim devices only (" + d.name + " is not one)");
    }
  if (c.any_cuda() && c.any_cpu())
    return bad("groups: cuda and cpu devices cannot hand KV to each other; use one of them for both groups");
  for (auto* g : {&c.prefill, &c.decode})
    for (const auto& d : g->devices)
      if (d.gpu < 0) return bad("gpu of " + d.name + " must be >= 0");
  if (!c.model_random_shape.empty()) {
    if (!c.model_path.empty()) return bad("model: give path or random_shape, not both");
    if (c.any_cpu() || !c.any_cuda())
      return bad("model.random_shape generates the weights on the GPU: it needs cuda devices only (use model.shape for "
                 "random weights on the host)");
  }
  if (c.trace.buffer_events <= 0 || c.trace.buffer_events > (int64_t(1) << 26))
    return bad("trace.buffer_events must be in 1.." + std::to_string(int64_t(1) << 26) + ", got " +
               std::to_string(c.trace.buffer_events));
  if (c.cost.type != "preset" && c.cost.type != "file" && c.cost.type != "fitted")
    return bad("cost_model.type: unknown '" + c.cost.type + "' (expected preset, file or fitted)");
  std::string err;
  if (!sched::make_policy_set(c.policies, c.policy_options, err).ok()) return bad("policies: " + err);
  return {};
}

result<runtime_config> parse_runtime_config(const std::string& yaml_text, const std::string& source) {
  runtime_config c;
  c.source = source;
  try {
    parse_into(YAML::Load(yaml_text), c);
  } catch (const parse_error& e) {
    return make_error(source + ": " + e.message);
  } catch (const YAML::Exception& e) {
    return make_error(source + ": " + e.what());
  }
  if (auto s = validate(c); !s) return s.err();
  return c;
}

result<runtime_config> load_runtime_config(const std::string& path) {
  std::ifstream f(path);
  if (!f) return make_error("cannot open config file " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_runtime_config(ss.str(), path);
}

}  // namespace kairos
