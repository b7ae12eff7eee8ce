// `kairos tokenize`: encodes or decodes JSON lines with a tokenizer.json.
//   encode: {"text": "..."}   ->  {"ids": [...]}
//   decode: {"ids": [...]}    ->  {"text": "..."}
// A bad line is reported on stderr with its number and skipped, so one typo
// does not lose a long batch; the exit code is 1 if any line failed.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gpu/tokenizer/bpe_tokenizer.hpp"
#include "gpu/tokenizer/utf8.hpp"
#include "tools/subcommand.hpp"

namespace {

using json = nlohmann::json;

void print_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: kairos tokenize --tokenizer FILE [--decode]\n\n"
               "Reads JSON lines on stdin and writes one JSON line per input line on stdout.\n"
               "  default:   {\"text\": \"...\"}  ->  {\"ids\": [...]}   (no BOS is added; added tokens\n"
               "             such as <|im_start|> in the text are matched)\n"
               "  --decode:  {\"ids\": [...]}    ->  {\"text\": \"...\"}  (bytes that are not valid UTF-8\n"
               "             become U+FFFD)\n\n"
               "options:\n"
               "  --tokenizer FILE  a Hugging Face tokenizer.json (or a directory holding one)\n"
               "  --decode          decode ids instead of encoding text\n\n"
               "Blank lines are skipped. A malformed line is reported on stderr with its line\n"
               "number and processing continues; the exit code is then 1.\n");
}

// Parses `line` as a JSON object; on failure sets `why`.
bool parse_object(const std::string& line, json& out, std::string& why) {
  try {
    out = json::parse(line);
  } catch (const json::exception& e) {
    why = std::string("invalid JSON: ") + e.what();
    return false;
  }
  if (!out.is_object()) {
    why = "expected a JSON object, got " + std::string(out.type_name());
    return false;
  }
  return true;
}

bool encode_line(const kairos::bpe_tokenizer& tok, const json& in, std::string& out, std::string& why) {
  auto text = in.find("text");
  if (text == in.end() || !text->is_string()) {
    why = "expected {\"text\": \"...\"} with a string \"text\"";
    return false;
  }
  std::vector<std::int32_t> ids = tok.encode(text->get_ref<const std::string&>());
  out = "{\"ids\": [";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(ids[i]);
  }
  out += "]}";
  return true;
}

bool decode_line(const kairos::bpe_tokenizer& tok, const json& in, std::string& out, std::string& why) {
  auto ids_json = in.find("ids");
  if (ids_json == in.end() || !ids_json->is_array()) {
    why = "expected {\"ids\": [...]} with an array \"ids\"";
    return false;
  }
  std::vector<std::int32_t> ids;
  for (std::size_t i = 0; i < ids_json->size(); ++i) {
    const json& v = (*ids_json)[i];
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() >= tok.vocab_size()) {
      why = "ids[" + std::to_string(i) + "] = " + v.dump() + " is not a token id in [0, " +
            std::to_string(tok.vocab_size()) + ")";
      return false;
    }
    ids.push_back(static_cast<std::int32_t>(v.get<std::int64_t>()));
  }
  std::string text = kairos::utf8::replace_invalid(tok.decode(ids));
  out = "{\"text\": " + json(text).dump() + "}";
  return true;
}

int run_tokenize(int argc, char** argv) {
  std::string tokenizer_path;
  bool decode = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      print_usage(stdout);
      return 0;
    } else if (arg == "--decode") {
      decode = true;
    } else if (arg == "--tokenizer" && i + 1 < argc) {
      tokenizer_path = argv[++i];
    } else if (arg.rfind("--tokenizer=", 0) == 0) {
      tokenizer_path = arg.substr(std::strlen("--tokenizer="));
    } else {
      std::fprintf(stderr, "kairos tokenize: unexpected argument '%s'\n\n", arg.c_str());
      print_usage(stderr);
      return 2;
    }
  }
  if (tokenizer_path.empty()) {
    std::fprintf(stderr, "kairos tokenize: --tokenizer FILE is required\n\n");
    print_usage(stderr);
    return 2;
  }
  auto tok = kairos::bpe_tokenizer::load(tokenizer_path);
  if (!tok) {
    std::fprintf(stderr, "kairos tokenize: %s\n", tok.message().c_str());
    return 1;
  }

  int failed = 0;
  std::string line, out, why;
  for (long line_no = 1; std::getline(std::cin, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json in;
    bool ok = parse_object(line, in, why) &&
              (decode ? decode_line(tok.value(), in, out, why) : encode_line(tok.value(), in, out, why));
    if (!ok) {
      ++failed;
      std::fprintf(stderr, "kairos tokenize: line %ld: %s\n", line_no, why.c_str());
      continue;
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);  // answer each line at once when driven interactively
  }
  if (failed) std::fprintf(stderr, "kairos tokenize: %d line(s) failed\n", failed);
  return failed ? 1 : 0;
}

}  // namespace

KAIROS_SUBCOMMAND("tokenize", "encode {\"text\"} / decode {\"ids\"} JSON lines with a tokenizer.json", run_tokenize);
