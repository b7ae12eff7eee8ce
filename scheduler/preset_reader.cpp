#include "scheduler/preset_reader.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "scheduler/roofline_cost_model.hpp"
#include "scheduler/table_cost_model.hpp"

#ifndef KAIROS_PRESET_DIR
#define KAIROS_PRESET_DIR "configs/presets"
#endif

namespace kairos::sched {

namespace {

using nlohmann::json;

template <class T>
void get(const json& j, const char* key, T& out) {
  if (j.contains(key) && !j[key].is_null()) out = j[key].get<T>();
}

void read_setup(const json& j, preset& p) {
  get(j, "name", p.name);
  if (j.contains("model")) {
    const auto& m = j["model"];
    get(m, "name", p.model.name);
    get(m, "layers", p.model.layers);
    get(m, "hidden", p.model.hidden);
    get(m, "heads", p.model.heads);
    get(m, "kv_heads", p.model.kv_heads);
    get(m, "head_dim", p.model.head_dim);
    get(m, "ffn", p.model.ffn);
    get(m, "vocab", p.model.vocab);
    get(m, "bytes_per_param", p.model.bytes_per_param);
  }
  if (j.contains("hardware")) {
    const auto& h = j["hardware"];
    get(h, "name", p.hardware.name);
    if (h.contains("matmul_tflops")) p.hardware.matmul_flops = h["matmul_tflops"].get<double>() * 1e12;
    if (h.contains("memory_tbps")) p.hardware.memory_bytes_per_s = h["memory_tbps"].get<double>() * 1e12;
    if (h.contains("hbm_gib")) p.hardware.hbm_bytes = h["hbm_gib"].get<double>() * double(1ull << 30);
    get(h, "memory_utilization", p.hardware.memory_utilization);
    if (h.contains("prefill_overhead_ms")) p.hardware.prefill_overhead_s = h["prefill_overhead_ms"].get<double>() / 1e3;
    if (h.contains("decode_overhead_ms")) p.hardware.decode_overhead_s = h["decode_overhead_ms"].get<double>() / 1e3;
  }
  if (j.contains("kv_link")) {
    const auto& l = j["kv_link"];
    get(l, "name", p.link.name);
    if (l.contains("bandwidth_gbps")) p.link.bytes_per_s = l["bandwidth_gbps"].get<double>() * 1e9;
    if (l.contains("latency_ms")) p.link.latency_s = l["latency_ms"].get<double>() / 1e3;
  }
  if (j.contains("limits")) {
    const auto& l = j["limits"];
    get(l, "block_size", p.limits.block_size);
    get(l, "max_num_seqs", p.limits.max_num_seqs);
    get(l, "prefill_max_batch_tokens", p.limits.prefill_max_batch_tokens);
    get(l, "prefill_max_batch_size", p.limits.prefill_max_batch_size);
    get(l, "max_model_len", p.limits.max_model_len);
  }
}

std::vector<double> doubles(const json& j) { return j.get<std::vector<double>>(); }

}  // namespace

std::string default_preset_dir() { return KAIROS_PRESET_DIR; }

loaded_cost_model parse_cost_model(const std::string& text, const std::string& source) {
  loaded_cost_model r;
  r.source = source;
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    r.error = source + ": not a JSON object";
    return r;
  }
  read_setup(j, r.setup);
  r.kind = j.value("type", std::string("roofline"));
  const double kv_s_per_token = r.setup.model.kv_bytes_per_token() / r.setup.link.bytes_per_s;
  if (r.kind == "roofline") {
    r.model = std::make_unique<roofline_cost_model>(r.setup.model, r.setup.hardware, r.setup.link);
  } else if (r.kind == "fitted") {
    if (!j.contains("profile")) {
      r.error = source + ": fitted model needs a \"profile\"";
      return r;
    }
    profile_samples prof;
    const auto& p = j["profile"];
    if (p.contains("prefill"))
      for (const auto& s : p["prefill"])
        prof.prefill.push_back({s["lengths"].get<std::vector<int32_t>>(), s["ms"].get<double>() / 1e3});
    if (p.contains("decode"))
      for (const auto& s : p["decode"])
        prof.decode.push_back({s["batch"].get<int32_t>(), s["context"].get<int64_t>(), s["ms"].get<double>() / 1e3});
    fit_report fit = fit_distserve(prof);
    if (!fit.ok) {
      r.error = source + ": cannot fit (need >= 3 prefill and >= 3 decode samples, not collinear)";
      return r;
    }
    r.fit = fit;
    r.model = std::make_unique<fitted_cost_model>(fit, r.setup.link.latency_s, kv_s_per_token);
  } else if (r.kind == "table") {
    cost_table t;
    if (!j.contains("prefill") || !j.contains("decode")) {
      r.error = source + ": table model needs \"prefill\" and \"decode\"";
      return r;
    }
    t.prefill_tokens = doubles(j["prefill"]["tokens"]);
    for (double ms : doubles(j["prefill"]["ms"])) t.prefill_s.push_back(ms / 1e3);
    t.decode_batch = doubles(j["decode"]["batch"]);
    t.decode_context = doubles(j["decode"]["context"]);
    for (const auto& row : j["decode"]["ms"])
      for (double ms : doubles(row)) t.decode_s.push_back(ms / 1e3);
    t.kv_latency_s = r.setup.link.latency_s;
    t.kv_s_per_token = kv_s_per_token;
    auto m = std::make_unique<table_cost_model>(std::move(t));
    if (!m->valid()) {
      r.error = source + ": table axes must ascend with >= 2 points and match the values";
      return r;
    }
    r.model = std::move(m);
  } else {
    r.error = source + ": unknown cost model type '" + r.kind + "'";
  }
  return r;
}

loaded_cost_model load_cost_model_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) {
    loaded_cost_model r;
    r.error = "cannot open " + path;
    return r;
  }
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_cost_model(ss.str(), path);
}

loaded_cost_model load_preset(const std::string& name, const std::string& dir) {
  auto r = load_cost_model_file(dir + "/" + name + ".json");
  if (r.model || name != "llama3-8b-h100") return r;
  // The shipped preset's numbers are also the compiled-in defaults.
  loaded_cost_model d;
  d.kind = "roofline";
  d.source = "built-in";
  d.model = std::make_unique<roofline_cost_model>(d.setup.model, d.setup.hardware, d.setup.link);
  return d;
}

}  // namespace kairos::sched
