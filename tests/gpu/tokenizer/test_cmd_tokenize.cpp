// Runs the built `kairos tokenize` on JSON lines, including malformed ones.
// Skipped (with a message) when build/bin/kairos has not been built.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "gpu/tokenizer/synthetic_tokenizer.hpp"

namespace {

struct run_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

run_result run_kairos(const std::string& args, const std::string& input) {
  std::string dir = KAIROS_BIN_DIR;
  std::string in_path = dir + "/cmd_tokenize_test.in";
  std::string out_path = dir + "/cmd_tokenize_test.out";
  std::string err_path = dir + "/cmd_tokenize_test.err";
  std::ofstream(in_path, std::ios::binary) << input;
  std::string command =
      "'" + dir + "/kairos' tokenize " + args + " < '" + in_path + "' > '" + out_path + "' 2> '" + err_path + "'";
  int status = std::system(command.c_str());
  run_result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_all(out_path);
  r.err = read_all(err_path);
  for (const std::string& p : {in_path, out_path, err_path}) std::remove(p.c_str());
  return r;
}

bool kairos_built() { return std::filesystem::exists(std::string(KAIROS_BIN_DIR) + "/kairos"); }

const std::string qwen3 = std::string("--tokenizer ") + KAIROS_SHARED_DIR + "/tokenizers/qwen3/tokenizer.json";

}  // namespace

TEST_CASE("encode: good lines answered in order, bad lines reported by number") {
  if (!kairos_built()) {
    MESSAGE("skipped: " KAIROS_BIN_DIR "/kairos is not built");
    return;
  }
  run_result r = run_kairos(qwen3, "{\"text\": \"Hello, my dog is cute\"}\nnot json\n\n{\"text\": 7}\n{\"text\": \"\"}\n");
  CHECK(r.exit_code == 1);
  CHECK(r.out == "{\"ids\": [9707, 11, 847, 5562, 374, 18838]}\n{\"ids\": []}\n");
  CHECK(r.err.find("line 2:") != std::string::npos);
  CHECK(r.err.find("line 4:") != std::string::npos);
  CHECK(r.err.find("line 3:") == std::string::npos);  // blank lines are skipped
}

TEST_CASE("decode: ids back to text; out-of-range ids are a line error") {
  if (!kairos_built()) {
    MESSAGE("skipped: " KAIROS_BIN_DIR "/kairos is not built");
    return;
  }
  run_result r = run_kairos(qwen3 + " --decode",
                            "{\"ids\": [9707, 11, 847]}\n{\"ids\": [999999999]}\n{\"ids\": [104811, 17177]}\n");
  CHECK(r.exit_code == 1);
  CHECK(r.out == "{\"text\": \"Hello, my\"}\n{\"text\": \"中文分\"}\n");
  CHECK(r.err.find("line 2:") != std::string::npos);
}

TEST_CASE("clean input exits 0 with nothing on stderr (synthetic tokenizer file)") {
  if (!kairos_built()) {
    MESSAGE("skipped: " KAIROS_BIN_DIR "/kairos is not built");
    return;
  }
  std::string path = std::string(KAIROS_BIN_DIR) + "/cmd_tokenize_test_tokenizer.json";
  std::ofstream(path, std::ios::binary) << kairos::make_synthetic_tokenizer_json(600);
  // The built-in training text is English only, so "é" stays two byte tokens
  // (byte b is id 1 + b).
  run_result enc = run_kairos("--tokenizer " + path, "{\"text\": \"\u00e9\"}\n");
  run_result dec = run_kairos("--tokenizer=" + path + " --decode", "{\"ids\": [196, 170]}\n{\"ids\": [196]}\n");
  std::remove(path.c_str());
  CHECK(enc.exit_code == 0);
  CHECK(enc.err.empty());
  CHECK(enc.out == "{\"ids\": [196, 170]}\n");
  CHECK(dec.exit_code == 0);
  CHECK(dec.err.empty());
  CHECK(dec.out == "{\"text\": \"é\"}\n{\"text\": \"\uFFFD\"}\n");  // a lone lead byte decodes to U+FFFD
}

TEST_CASE("a missing tokenizer is an error, not a crash") {
  if (!kairos_built()) {
    MESSAGE("skipped: " KAIROS_BIN_DIR "/kairos is not built");
    return;
  }
  run_result r = run_kairos("--tokenizer /no/such/tokenizer.json", "");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("/no/such/tokenizer.json") != std::string::npos);
}
