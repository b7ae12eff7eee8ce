// `kairos generate`: one prompt through the CPU engine, streamed to stdout,
// then TTFT and tokens/s.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "gpu/engine/batch_generator.hpp"
#include "gpu/engine/cpu_engine.hpp"
#include "gpu/model/model_loader.hpp"
#include "gpu/tokenizer/bpe_tokenizer.hpp"
#include "gpu/tokenizer/stream_decoder.hpp"
#include "tools/subcommand.hpp"

namespace {

int run_generate(int argc, char** argv) {
  CLI::App app{"Generate a completion on the CPU engine"};
  std::string model_path, prompt, tokenizer_path;
  int max_tokens = 64, threads = 2, seed = 0, top_k = 0;
  float temperature = 0.f, top_p = 1.f;
  bool ignore_eos = false;
  app.add_option("--model", model_path, "Hugging Face model directory or GGUF file")->required();
  app.add_option("--prompt", prompt, "prompt text")->required();
  app.add_option("--tokenizer", tokenizer_path, "tokenizer.json (default: the one beside the model)");
  app.add_option("--max-tokens", max_tokens, "tokens to generate at most")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--temperature", temperature, "0 = greedy")->capture_default_str()->check(CLI::Range(0.f, 100.f));
  app.add_option("--top-k", top_k, "0 = off")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--top-p", top_p, "1 = off")->capture_default_str()->check(CLI::Range(0.f, 1.f));
  app.add_option("--seed", seed, "sampling seed")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_flag("--ignore-eos", ignore_eos, "keep going past EOS");
  CLI11_PARSE(app, argc, argv);

  auto model = kairos::load_model(model_path);
  if (!model) {
    std::fprintf(stderr, "kairos generate: %s\n", model.message().c_str());
    return 1;
  }
  if (tokenizer_path.empty()) tokenizer_path = model->tokenizer_path;
  if (tokenizer_path.empty()) {
    std::fprintf(stderr, "kairos generate: no tokenizer.json beside %s; pass --tokenizer FILE\n", model_path.c_str());
    return 1;
  }
  auto tok = kairos::bpe_tokenizer::load(tokenizer_path);
  if (!tok) {
    std::fprintf(stderr, "kairos generate: %s\n", tok.message().c_str());
    return 1;
  }
  kairos::generation_request req;
  req.prompt = tok->encode(prompt);
  if (req.prompt.empty()) {
    std::fprintf(stderr, "kairos generate: the prompt encodes to no tokens\n");
    return 1;
  }
  req.sampling = {temperature, top_k, top_p, static_cast<std::uint64_t>(seed)};
  req.stop.max_tokens = max_tokens;
  req.stop.eos_ids = model->config.eos_token_ids;
  req.stop.ignore_eos = ignore_eos;

  kairos::engine_options opts;
  opts.n_threads = threads;
  opts.kv_tokens = std::min<int>(model->config.max_position, static_cast<int>(req.prompt.size()) + max_tokens + 16);
  opts.max_batch_tokens = 512;
  opts.max_logit_rows = 1;
  auto eng = kairos::cpu_engine::create(model->config, model->tensors, opts);
  if (!eng) {
    std::fprintf(stderr, "kairos generate: %s\n", eng.message().c_str());
    return 1;
  }
  model->tensors = {};

  std::printf("%s", prompt.c_str());
  std::fflush(stdout);
  kairos::stream_decoder stream(*tok);
  kairos::batch_generator gen(**eng);
  auto out = gen.run({&req, 1}, [&](int, std::int32_t id) {
    std::string piece = stream.push(id);
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  });
  std::string rest = stream.flush();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::printf("\n");
  const auto& o = out[0];
  if (!o.error.empty()) {
    std::fprintf(stderr, "kairos generate: %s\n", o.error.c_str());
    return 1;
  }
  const int n = static_cast<int>(o.tokens.size());
  const double decode_s = o.total_s - o.ttft_s;
  std::fprintf(stderr, "\n--\nprompt %zu tokens, generated %d (stop: %s)\n", req.prompt.size(), n,
               kairos::stop_reason_name(o.reason));
  std::fprintf(stderr, "TTFT %.1f ms, decode %.1f tokens/s, overall %.1f tokens/s\n", o.ttft_s * 1e3,
               n > 1 ? (n - 1) / decode_s : 0.0, n / o.total_s);
  return 0;
}

}  // namespace

KAIROS_SUBCOMMAND("generate", "generate a completion on the CPU engine, then print TTFT and tokens/s", run_generate);
