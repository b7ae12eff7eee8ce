// `kairos mkmodel`: writes a random-weight model directory (config.json,
// model.safetensors, tokenizer.json, tokenizer_config.json) of a named shape.
// With --device cuda it writes nothing: it generates the weights on the GPU
// (what `model: {random_shape: S}` does for cuda devices), runs one forward
// as a smoke check and reports time and memory.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gpu/model/model_config.hpp"
#include "gpu/model/random_weights.hpp"
#include "gpu/tokenizer/synthetic_tokenizer.hpp"
#include "tools/subcommand.hpp"

#ifdef KAIROS_HAVE_CUDA
#include <cuda_runtime.h>

#include "gpu/cuda/cuda_engine.hpp"
#endif

namespace {

#ifdef KAIROS_HAVE_CUDA
// Builds the engine on GPU `gpu`, prefills one short prompt and draws one
// greedy token on the device; prints build time, forward time and memory.
int mkmodel_on_gpu(const std::string& shape, std::uint64_t seed, int gpu, int max_seq_len) {
  int n = 0;
  if (cudaError_t e = cudaGetDeviceCount(&n); e != cudaSuccess || n == 0) {
    std::fprintf(stderr, "kairos mkmodel: --device cuda: no usable CUDA GPU (%s)\n",
                 e != cudaSuccess ? cudaGetErrorString(e) : "no devices");
    return 1;
  }
  if (gpu < 0 || gpu >= n) {
    std::fprintf(stderr, "kairos mkmodel: --gpu %d: this machine has %d GPU(s)\n", gpu, n);
    return 1;
  }
  cudaSetDevice(gpu);
  std::size_t free0 = 0, total = 0;
  cudaMemGetInfo(&free0, &total);
  kairos::cuda::cuda_engine_options eo;
  eo.device = gpu;
  eo.max_seq_len = max_seq_len;
  eo.kv_tokens = max_seq_len;
  eo.max_batch_tokens = 512;
  eo.max_logit_rows = 8;
  const auto t0 = std::chrono::steady_clock::now();
  auto e = kairos::cuda::make_random_cuda_engine(shape, seed, eo);
  if (!e) {
    std::fprintf(stderr, "kairos mkmodel: %s\n", e.message().c_str());
    return 1;
  }
  const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto& eng = *e.value();
  std::size_t free1 = 0;
  cudaMemGetInfo(&free1, &total);
  std::vector<std::int32_t> prompt(128);
  for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = std::int32_t((i * 7919 + 1) % std::size_t(eng.config().vocab_size));
  const kairos::batch_sequence b{1, std::span<const std::int32_t>(prompt), true};
  const auto t1 = std::chrono::steady_clock::now();
  auto res = eng.forward(std::span<const kairos::batch_sequence>(&b, 1));
  const double fwd_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  if (res.status != kairos::forward_status::ok) {
    std::fprintf(stderr, "kairos mkmodel: smoke forward failed: %s\n", res.message.c_str());
    return 1;
  }
  double sum_sq = 0;
  bool finite = true;
  for (float x : res.logits_rows) {
    finite = finite && std::isfinite(x);
    sum_sq += double(x) * x;
  }
  const kairos::cuda::kernels::sample_row greedy{};
  auto tok = eng.sample(std::span<const kairos::cuda::kernels::sample_row>(&greedy, 1));
  if (!finite || !tok) {
    std::fprintf(stderr, "kairos mkmodel: smoke forward: %s\n", !finite ? "non-finite logits" : tok.message().c_str());
    return 1;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, gpu);
  std::printf("%s on GPU %d (%s): %lld parameters, random BF16 weights generated on the device in %.2f s "
              "(nothing written to disk)\n",
              shape.c_str(), gpu, prop.name, static_cast<long long>(eng.config().n_params()), build_s);
  std::printf("memory: weights %.2f GB, engine total %.2f GB (KV for %d tokens), %.2f of %.2f GB free after\n",
              eng.weight_bytes() / 1e9, double(free0 - free1) / 1e9, max_seq_len, free1 / 1e9, total / 1e9);
  std::printf("smoke forward: %zu-token prompt in %.1f ms (first call, includes warm-up), logits rms %.3g, "
              "greedy token %d\n",
              prompt.size(), fwd_s * 1e3, std::sqrt(sum_sq / double(std::max<std::size_t>(1, res.logits_rows.size()))),
              (*tok)[0]);
  return 0;
}
#endif

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
  CLI::App app{"Write a model with random weights and a synthetic tokenizer (--device cpu), or build one on the "
               "GPU with no files at all (--device cuda: the weights never touch a file)",
               "kairos mkmodel"};
  std::string shape = "tiny", dtype_name, out, device = "cpu";
  std::uint64_t seed = 0;
  bool dry_run = false;
  int gpu = 0, max_seq_len = 4096;
  std::string shapes;
  for (const auto& s : kairos::named_shapes()) shapes += (shapes.empty() ? "" : ", ") + s;
  app.add_option("--shape", shape, "model shape: " + shapes)->capture_default_str();
  app.add_option("--dtype", dtype_name, "weight type on disk (default: the shape's own, e.g. bf16 for llama3-8b)")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  app.add_option("--seed", seed, "random seed (same seed, same bytes)")->capture_default_str();
  app.add_option("--out", out, "output directory (required with --device cpu)");
  app.add_flag("--dry-run", dry_run, "print what would be written, write nothing");
  app.add_option("--device", device,
                 "cpu: write the model files; cuda: generate the weights directly on the GPU (they never touch a "
                 "file: the files are not written), run one forward as a smoke check, report time and memory")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  app.add_option("--gpu", gpu, "with --device cuda: the GPU index")->capture_default_str();
  app.add_option("--max-seq-len", max_seq_len, "with --device cuda: KV and RoPE length of the smoke engine")
      ->capture_default_str();
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
  if (device == "cuda") {
#ifdef KAIROS_HAVE_CUDA
    return mkmodel_on_gpu(shape, seed, gpu, max_seq_len);
#else
    std::fprintf(stderr, "kairos mkmodel: --device cuda: this kairos was built without CUDA\n");
    return 1;
#endif
  }
  if (out.empty()) {
    std::fprintf(stderr, "kairos mkmodel: --out is required (or --device cuda)\n");
    return 2;
  }
  // --dtype is one of f32, f16, bf16 (checked by CLI11).
  const kairos::dtype type = dtype_name.empty() ? cfg->weight_dtype : kairos::parse_dtype(dtype_name).value();
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

KAIROS_SUBCOMMAND("mkmodel",
                  "write a random-weight model of a named shape (tiny, smollm2-135m, llama3-8b); "
                  "--device cuda: weights made on the GPU, no files",
                  run_mkmodel);
