// `kairos mkmodel`: writes a random-weight model directory (config.json,
// model.safetensors, tokenizer.json, tokenizer_config.json) of a named shape.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gpu/model/model_config.hpp"
#include "gpu/model/random_weights.hpp"
#include "gpu/tokenizer/synthetic_tokenizer.hpp"
#include "tools/subcommand.hpp"

namespace {

// ChatML, the format of Qwen and SmolLM2, so that the random model's chat
// requests go through the same template path as a real model's. The
// synthetic tokenizer has no <|im_start|> token: the markers encode as
// plain text, which is all a random model needs.
// (tests/gpu/tokenizer/make_chat_template_vectors.py renders this template
// with Jinja2 as "mkmodel chatml".)
constexpr const char* chat_template =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

std::string tokenizer_config_json(const kairos::model_config& cfg) {
  nlohmann::json j;
  j["tokenizer_class"] = "PreTrainedTokenizerFast";
  j["bos_token"] = "<|endoftext|>";
  j["eos_token"] = "<|endoftext|>";
  j["add_bos_token"] = false;
  j["model_max_length"] = cfg.max_position;
  j["chat_template"] = chat_template;
  return j.dump(2) + "\n";
}

bool write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) std::fprintf(stderr, "kairos mkmodel: %s: write error\n", path.string().c_str());
  return static_cast<bool>(out);
}

int run_mkmodel(int argc, char** argv) {
  CLI::App app{"Write a model with random weights and a synthetic tokenizer", "kairos mkmodel"};
  std::string shape = "tiny", dtype_name, out;
  std::uint64_t seed = 0;
  bool dry_run = false;
  std::string shapes;
  for (const auto& s : kairos::named_shapes()) shapes += (shapes.empty() ? "" : ", ") + s;
  app.add_option("--shape", shape, "model shape: " + shapes)->capture_default_str();
  app.add_option("--dtype", dtype_name, "weight type on disk (default: the shape's own, e.g. bf16 for llama3-8b)")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  app.add_option("--seed", seed, "random seed (same seed, same bytes)")->capture_default_str();
  app.add_option("--out", out, "output directory")->required();
  app.add_flag("--dry-run", dry_run, "print what would be written, write nothing");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  auto cfg = kairos::named_shape(shape);
  if (!cfg) {
    std::fprintf(stderr, "kairos mkmodel: %s\n", cfg.message().c_str());
    return 2;
  }
  const kairos::dtype type = dtype_name.empty()    ? cfg->weight_dtype
                             : dtype_name == "bf16" ? kairos::dtype::bf16
                             : dtype_name == "f16"  ? kairos::dtype::f16
                                                    : kairos::dtype::f32;
  cfg->weight_dtype = type;
  auto layout = kairos::random_model_layout(*cfg, type);
  if (!layout) {
    std::fprintf(stderr, "kairos mkmodel: %s\n", layout.message().c_str());
    return 1;
  }
  std::printf("%s: %lld parameters, %s, model.safetensors %.3f GB (header %zu bytes)\n", shape.c_str(),
              static_cast<long long>(cfg->n_params()), kairos::dtype_name(type), layout->file_bytes() / 1e9,
              layout->header.size());
  if (dry_run) return 0;

  if (auto s = kairos::write_random_model(out, *cfg, type, seed); !s) {
    std::fprintf(stderr, "kairos mkmodel: %s\n", s.message().c_str());
    return 1;
  }
  const std::filesystem::path dir(out);
  if (!write_text(dir / "tokenizer.json", kairos::make_synthetic_tokenizer_json(cfg->vocab_size)) ||
      !write_text(dir / "tokenizer_config.json", tokenizer_config_json(*cfg)))
    return 1;
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

}  // namespace

KAIROS_SUBCOMMAND("mkmodel", "write a random-weight model of a named shape (tiny, smollm2-135m, llama3-8b)", run_mkmodel);
