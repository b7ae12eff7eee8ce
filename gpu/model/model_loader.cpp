#include "gpu/model/model_loader.hpp"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "gpu/model/gguf.hpp"
#include "gpu/model/gguf_model.hpp"
#include "gpu/model/safetensors.hpp"

namespace kairos {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_str(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return make_error(path + ": read error");
  return ss.str();
}

// Tensors the engine has no place for; ignoring them would silently compute
// a different model.
bool is_unsupported_extra(const std::string& name, const model_config& cfg) {
  if (name.rfind("model.layers.", 0) != 0) return false;
  if (ends_with(name, "self_attn.o_proj.bias") || (name.find(".mlp.") != std::string::npos && ends_with(name, ".bias")))
    return true;
  return !cfg.qkv_bias && (ends_with(name, "q_proj.bias") || ends_with(name, "k_proj.bias") ||
                           ends_with(name, "v_proj.bias"));
}

// The files the tensors came from, for errors about tensors that are absent.
std::string store_source(const tensor_store& tensors) {
  std::set<std::string> files;
  for (const auto& [name, t] : tensors.all())
    if (!t.file.empty()) files.insert(t.file);
  if (files.empty()) return "model";
  std::string s;
  for (const auto& f : files) {
    if (!s.empty()) s += ", ";
    if (s.size() > 200) return s + "...";
    s += f;
  }
  return s;
}

// The shape's dtype as stored: what layer 0's q_proj actually is.
void take_stored_dtype(loaded_model& m) {
  if (const raw_tensor* q = m.tensors.find("model.layers.0.self_attn.q_proj.weight")) m.config.weight_dtype = q->type;
}

std::string tokenizer_beside(const fs::path& dir) {
  fs::path p = dir / "tokenizer.json";
  std::error_code ec;
  return fs::is_regular_file(p, ec) ? p.string() : std::string();
}

}  // namespace

status check_tensors(const model_config& cfg, const tensor_store& tensors, const std::string& source) {
  if (auto s = cfg.validate(); !s) return make_error(source + ": " + s.message());
  for (const auto& spec : expected_tensors(cfg)) {
    const raw_tensor* t = tensors.find(spec.name);
    if (!t) return make_error(source + ": missing tensor " + spec.name + " (expected shape " + shape_str(spec.shape) + ")");
    const std::string& file = t->file.empty() ? source : t->file;
    if (t->shape != spec.shape)
      return make_error(file + ": tensor " + spec.name + " has shape " + shape_str(t->shape) + ", expected " +
                        shape_str(spec.shape));
    if (t->type == dtype::q8_0 && t->shape.back() % q8_0_block != 0)
      return make_error(file + ": tensor " + spec.name + " is Q8_0 with rows of " + std::to_string(t->shape.back()) +
                        " values, not a multiple of 32");
    if (t->nbytes != dtype_bytes(t->type, t->numel()) || (t->nbytes > 0 && !t->data))
      return make_error(file + ": tensor " + spec.name + " holds " + std::to_string(t->nbytes) + " bytes, " +
                        dtype_name(t->type) + " " + shape_str(t->shape) + " needs " +
                        std::to_string(dtype_bytes(t->type, t->numel())));
  }
  for (const auto& [name, t] : tensors.all())
    if (is_unsupported_extra(name, cfg))
      return make_error((t.file.empty() ? source : t.file) + ": tensor " + name +
                        " is not supported (the engine has biases only on q/k/v, and only when the config says so)");
  return {};
}

status check_tensors(const model_config& cfg, const tensor_store& tensors) {
  return check_tensors(cfg, tensors, store_source(tensors));
}

result<loaded_model> load_hf_directory(const std::string& dir) {
  const fs::path d(dir);
  const std::string config_path = (d / "config.json").string();
  auto text = read_text(config_path);
  if (!text) return make_error(config_path + ": cannot open (a Hugging Face model directory needs config.json)");
  auto cfg = parse_hf_config(*text, config_path);
  if (!cfg) return cfg.err();

  loaded_model m;
  m.config = std::move(cfg).value();
  std::error_code ec;
  const fs::path index = d / "model.safetensors.index.json", single = d / "model.safetensors";
  std::string source;
  if (fs::is_regular_file(index, ec)) {
    source = index.string();
    if (auto s = read_safetensors_index(source, m.tensors); !s) return s.err();
  } else if (fs::is_regular_file(single, ec)) {
    source = single.string();
    if (auto s = read_safetensors(source, m.tensors); !s) return s.err();
  } else {
    return make_error(dir + ": no model.safetensors or model.safetensors.index.json");
  }
  if (auto s = check_tensors(m.config, m.tensors, source); !s) return s.err();
  take_stored_dtype(m);
  m.tokenizer_path = tokenizer_beside(d);
  return m;
}

result<loaded_model> load_gguf(const std::string& file) {
  auto g = read_gguf(file);
  if (!g) return g.err();
  auto cfg = gguf_model_config(*g);
  if (!cfg) return cfg.err();
  loaded_model m;
  m.config = std::move(cfg).value();
  if (auto s = gguf_model_tensors(*g, m.config, m.tensors); !s) return s.err();
  if (auto s = check_tensors(m.config, m.tensors, file); !s) return s.err();
  take_stored_dtype(m);
  m.tokenizer_path = tokenizer_beside(fs::path(file).parent_path());
  return m;
}

result<loaded_model> load_model(const std::string& path) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return make_error(path + ": no such file or directory");
  if (fs::is_directory(st)) return load_hf_directory(path);
  if (ends_with(path, ".gguf") || is_gguf_file(path)) return load_gguf(path);
  if (ends_with(path, ".safetensors"))
    return make_error(path + ": give the directory holding it (with config.json), not the .safetensors file");
  return make_error(path + ": neither a model directory nor a GGUF file");
}

}  // namespace kairos
