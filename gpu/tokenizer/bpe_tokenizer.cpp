#include "gpu/tokenizer/bpe_tokenizer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "gpu/tokenizer/bpe_model.hpp"
#include "gpu/tokenizer/byte_level.hpp"
#include "gpu/tokenizer/pre_tokenizer.hpp"
#include "gpu/tokenizer/unicode_nfc.hpp"
#include "gpu/tokenizer/utf8.hpp"

namespace kairos {

using json = nlohmann::json;

struct bpe_tokenizer::impl {
  bpe_model model;
  pre_tokenizer pre;
  bool nfc = false;
  added_token_matcher matcher;
  std::vector<added_token> added;
  std::unordered_map<std::string, std::int32_t> added_by_content;
  std::vector<std::string> id_to_token;  // vocab string or added content; "" for unused ids
  std::vector<std::string> id_to_bytes;
  std::vector<bool> id_is_special;

  // Pieces repeat a lot in real text ("Ġthe", ","), so their encodings are
  // memoised. The cache is emptied when full rather than evicting precisely:
  // simple, and refilling it is cheap.
  static constexpr std::size_t cache_capacity = 1 << 15;
  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<std::int32_t>> cache;
};

namespace {

result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot open " + path + ": " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return make_error("cannot read " + path);
  return buffer.str();
}

// "NFC", or a Sequence made only of NFC, or nothing.
result<bool> parse_normalizer(const json& spec) {
  if (spec.is_null()) return false;
  std::string type = spec.value("type", "");
  if (type == "NFC") return true;
  if (type == "Sequence") {
    bool nfc = false;
    for (const json& child : spec.at("normalizers")) {
      auto r = parse_normalizer(child);
      if (!r) return r.err();
      nfc = nfc || r.value();
    }
    return nfc;
  }
  return make_error("unsupported normalizer \"" + type + "\" (supported: NFC, Sequence of NFC, null)");
}

status check_decoder(const json& spec) {
  if (spec.is_null()) return {};
  std::string type = spec.value("type", "");
  if (type == "ByteLevel") return {};
  if (type == "Sequence") {
    for (const json& child : spec.at("decoders")) {
      status st = check_decoder(child);
      if (!st) return st;
    }
    return {};
  }
  return make_error("unsupported decoder \"" + type + "\" (only ByteLevel decoding is supported)");
}

result<std::pair<std::string, std::string>> parse_merge(const json& entry, std::size_t index) {
  if (entry.is_string()) {
    const std::string& line = entry.get_ref<const std::string&>();
    std::size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 >= line.size() ||
        line.find(' ', space + 1) != std::string::npos) {
      return make_error("merge " + std::to_string(index) + " \"" + line + "\" is not two tokens separated by a space");
    }
    return std::pair{line.substr(0, space), line.substr(space + 1)};
  }
  if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
    return std::pair{entry[0].get<std::string>(), entry[1].get<std::string>()};
  }
  return make_error("merge " + std::to_string(index) + " is neither \"a b\" nor [\"a\", \"b\"]: " + entry.dump());
}

// The content of a tokenizer_config.json special-token entry: a string or an
// object with "content".
std::optional<std::string> special_token_content(const json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

result<bpe_tokenizer> bpe_tokenizer::from_document(const json& doc, const std::string& source) {
  auto fail = [&](const std::string& what) -> error { return make_error(source + ": " + what); };
  // nlohmann throws on type mismatches deep inside; no exception may leave
  // this library, so any that escapes the explicit checks becomes an error.
  try {
    if (!doc.is_object()) return fail("not a tokenizer.json: the top level is not a JSON object");
    if (!doc.contains("model") || !doc["model"].is_object()) return fail("missing \"model\" object");
    const json& model = doc["model"];
    std::string type = model.value("type", "BPE");
    if (type != "BPE") return fail("model.type is \"" + type + "\"; only \"BPE\" is supported");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty())
        return fail(std::string("model.") + key + " is set; it is not supported");
    }
    if (model.value("byte_fallback", false)) return fail("model.byte_fallback is not supported (not byte-level BPE)");
    if (!model.contains("vocab") || !model["vocab"].is_object()) return fail("model.vocab is missing or not an object");
    if (!model.contains("merges") || !model["merges"].is_array()) return fail("model.merges is missing or not an array");

    auto state = std::make_shared<impl>();
    std::int32_t max_id = -1;
    bpe_model::vocab_map vocab;
    vocab.reserve(model["vocab"].size());
    for (const auto& [token, id_json] : model["vocab"].items()) {
      if (!id_json.is_number_integer() || id_json.get<std::int64_t>() < 0 || id_json.get<std::int64_t>() > INT32_MAX)
        return fail("model.vocab[\"" + token + "\"] is not a non-negative integer id");
      auto id = static_cast<std::int32_t>(id_json.get<std::int64_t>());
      vocab.emplace(token, id);
      max_id = std::max(max_id, id);
    }

    std::vector<std::pair<std::string, std::string>> merges;
    merges.reserve(model["merges"].size());
    for (std::size_t i = 0; i < model["merges"].size(); ++i) {
      auto m = parse_merge(model["merges"][i], i);
      if (!m) return fail("model.merges: " + m.message());
      merges.push_back(std::move(m).value());
    }

    if (doc.contains("added_tokens") && !doc["added_tokens"].is_null()) {
      if (!doc["added_tokens"].is_array()) return fail("added_tokens is not an array");
      for (const json& t : doc["added_tokens"]) {
        if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || t["id"].get<std::int64_t>() < 0 ||
            !t.contains("content") || !t["content"].is_string())
          return fail("added_tokens entry needs an integer \"id\" >= 0 and a string \"content\": " + t.dump());
        added_token a;
        a.id = static_cast<std::int32_t>(t["id"].get<std::int64_t>());
        a.content = t["content"].get<std::string>();
        a.special = t.value("special", false);
        a.lstrip = t.value("lstrip", false);
        a.rstrip = t.value("rstrip", false);
        a.single_word = t.value("single_word", false);
        a.normalized = t.value("normalized", false);
        max_id = std::max(max_id, a.id);
        state->added.push_back(std::move(a));
      }
    }

    auto nfc = parse_normalizer(doc.contains("normalizer") ? doc["normalizer"] : json());
    if (!nfc) return fail(nfc.message());
    state->nfc = nfc.value();
    auto pre = pre_tokenizer::from_json(doc.contains("pre_tokenizer") ? doc["pre_tokenizer"] : json());
    if (!pre) return fail(pre.message());
    if (!pre->has_byte_level()) return fail("pre_tokenizer has no ByteLevel step; only byte-level BPE is supported");
    state->pre = std::move(pre).value();
    status decoder = check_decoder(doc.contains("decoder") ? doc["decoder"] : json());
    if (!decoder) return fail(decoder.message());

    // Tables by id, before the vocab moves into the model.
    std::size_t n = static_cast<std::size_t>(max_id) + 1;
    state->id_to_token.resize(n);
    state->id_to_bytes.resize(n);
    state->id_is_special.assign(n, false);
    for (const auto& [token, id] : vocab) {
      state->id_to_token[id] = token;
      // Hugging Face falls back to the token's own bytes when a character is
      // outside the byte-level alphabet.
      state->id_to_bytes[id] = byte_level::decode(token).value_or(token);
    }
    for (const added_token& a : state->added) {
      state->id_to_token[a.id] = a.content;
      state->id_to_bytes[a.id] = a.content;
      state->id_is_special[a.id] = a.special;
      state->added_by_content[a.content] = a.id;
    }
    state->matcher = added_token_matcher(state->added);

    auto built = bpe_model::build(std::move(vocab), merges, model.value("ignore_merges", false));
    if (!built) return fail(built.message());
    state->model = std::move(built).value();

    bpe_tokenizer tok(std::move(state));
    for (const char* name : {"<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>"}) {
      if (auto id = tok.impl_->added_by_content.find(name); id != tok.impl_->added_by_content.end()) {
        tok.eos_id_ = id->second;
        break;
      }
    }
    for (const char* name : {"<|begin_of_text|>", "<s>", "<bos>"}) {
      if (auto id = tok.impl_->added_by_content.find(name); id != tok.impl_->added_by_content.end()) {
        tok.bos_id_ = id->second;
        break;
      }
    }
    if (!tok.bos_id_ && tok.eos_id_ && tok.token_text(*tok.eos_id_) == "<|endoftext|>") tok.bos_id_ = tok.eos_id_;
    return tok;
  } catch (const std::exception& e) {
    return fail(std::string("malformed tokenizer.json: ") + e.what());
  }
}

result<bpe_tokenizer> bpe_tokenizer::from_json_text(const std::string& text, const std::string& source) {
  json doc;
  try {
    doc = json::parse(text);  // its exception says where the JSON breaks
  } catch (const std::exception& e) {
    return make_error(source + ": invalid JSON: " + e.what());
  }
  return from_document(doc, source);
}

result<bpe_tokenizer> bpe_tokenizer::load(const std::string& path) {
  std::string file = path;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) file = (std::filesystem::path(path) / "tokenizer.json").string();
  auto text = read_file(file);
  if (!text) return text.err();
  auto tok = from_json_text(text.value(), file);
  if (!tok) return tok;

  // Optional neighbour: Hugging Face keeps the BOS/EOS names there.
  auto config_path = std::filesystem::path(file).parent_path() / "tokenizer_config.json";
  if (std::filesystem::exists(config_path, ec)) {
    auto config_text = read_file(config_path.string());
    if (!config_text) return config_text.err();
    json config = json::parse(config_text.value(), nullptr, false);
    if (config.is_discarded() || !config.is_object())
      return make_error(config_path.string() + ": invalid JSON (expected an object)");
    if (auto eos = special_token_content(config, "eos_token")) tok->set_eos_id(tok->token_id(*eos));
    if (config.contains("bos_token")) {
      auto bos = special_token_content(config, "bos_token");
      tok->set_bos_id(bos ? tok->token_id(*bos) : std::nullopt);  // null: the model has no BOS
    }
  }
  return tok;
}

result<bpe_tokenizer> bpe_tokenizer::load_gpt2_files(const std::string& encoder_json, const std::string& vocab_bpe) {
  auto encoder_text = read_file(encoder_json);
  if (!encoder_text) return encoder_text.err();
  json encoder = json::parse(encoder_text.value(), nullptr, false);
  if (encoder.is_discarded() || !encoder.is_object())
    return make_error(encoder_json + ": invalid JSON (expected an object of token -> id)");
  auto merges_text = read_file(vocab_bpe);
  if (!merges_text) return merges_text.err();

  json merges = json::array();
  std::istringstream lines(merges_text.value());
  std::string line;
  for (int line_no = 1; std::getline(lines, line); ++line_no) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    std::size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 >= line.size() ||
        line.find(' ', space + 1) != std::string::npos)
      return make_error(vocab_bpe + ":" + std::to_string(line_no) + ": expected two tokens separated by a space");
    merges.push_back(line);
  }

  json doc = {
      {"model", {{"type", "BPE"}, {"vocab", std::move(encoder)}, {"merges", std::move(merges)}}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"added_tokens", json::array()},
  };
  const json& vocab = doc["model"]["vocab"];
  if (vocab.contains("<|endoftext|>") && vocab["<|endoftext|>"].is_number_integer()) {
    doc["added_tokens"].push_back({{"id", vocab["<|endoftext|>"]}, {"content", "<|endoftext|>"}, {"special", true}});
  }
  return from_document(doc, encoder_json + " + " + vocab_bpe);
}

std::vector<std::int32_t> bpe_tokenizer::encode(std::string_view text) const {
  std::vector<std::int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  for (const added_token_matcher::part& part : impl_->matcher.split(text)) {
    if (part.id >= 0) {
      ids.push_back(part.id);
    } else {
      encode_plain(part.text, ids);
    }
  }
  return ids;
}

void bpe_tokenizer::encode_plain(std::string_view text, std::vector<std::int32_t>& ids) const {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t run_begin = pos;
    while (pos < text.size()) {
      if (static_cast<unsigned char>(text[pos]) < 0x80) {
        ++pos;
      } else if (std::size_t n = utf8::sequence_length(text, pos)) {
        pos += n;
      } else {
        break;
      }
    }
    if (pos > run_begin) encode_valid_utf8(text.substr(run_begin, pos - run_begin), ids);
    // Invalid bytes: one piece each, so they come back as the same bytes.
    while (pos < text.size() && static_cast<unsigned char>(text[pos]) >= 0x80 && utf8::sequence_length(text, pos) == 0) {
      impl_->model.encode_piece(text.substr(pos, 1), ids);
      ++pos;
    }
  }
}

void bpe_tokenizer::encode_valid_utf8(std::string_view text, std::vector<std::int32_t>& ids) const {
  std::string normalized;
  if (impl_->nfc) {
    normalized = to_nfc(text);
    text = normalized;
  }
  std::vector<std::string> pieces;
  if (!impl_->pre.split(text, pieces)) {
    // Only a PCRE2 resource limit gets here; one piece still round-trips.
    pieces.assign(1, std::string(text));
  }
  std::vector<std::int32_t> piece_ids;
  for (const std::string& piece : pieces) {
    if (piece.size() == 1) {  // a byte token: cheaper than the cache
      impl_->model.encode_piece(piece, ids);
      continue;
    }
    {
      std::lock_guard lock(impl_->cache_mutex);
      auto it = impl_->cache.find(piece);
      if (it != impl_->cache.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        continue;
      }
    }
    piece_ids.clear();
    impl_->model.encode_piece(piece, piece_ids);
    ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
    std::lock_guard lock(impl_->cache_mutex);
    if (impl_->cache.size() >= impl::cache_capacity) impl_->cache.clear();
    impl_->cache.emplace(piece, piece_ids);
  }
}

std::string bpe_tokenizer::decode(std::span<const std::int32_t> ids, bool skip_special) const {
  std::string out;
  for (std::int32_t id : ids) {
    if (skip_special && is_special(id)) continue;
    out += token_bytes(id);
  }
  return out;
}

int bpe_tokenizer::vocab_size() const { return static_cast<int>(impl_->id_to_token.size()); }

std::optional<std::int32_t> bpe_tokenizer::token_id(std::string_view token) const {
  std::string key(token);
  if (auto it = impl_->added_by_content.find(key); it != impl_->added_by_content.end()) return it->second;
  if (auto it = impl_->model.vocab().find(key); it != impl_->model.vocab().end()) return it->second;
  return std::nullopt;
}

std::string bpe_tokenizer::token_text(std::int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return impl_->id_to_token[id];
}

std::string_view bpe_tokenizer::token_bytes(std::int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return impl_->id_to_bytes[id];
}

bool bpe_tokenizer::is_special(std::int32_t id) const {
  return id >= 0 && id < vocab_size() && impl_->id_is_special[id];
}

const std::vector<added_token>& bpe_tokenizer::added_tokens() const { return impl_->added; }

}  // namespace kairos
