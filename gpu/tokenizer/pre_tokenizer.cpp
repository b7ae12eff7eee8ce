#include "gpu/tokenizer/pre_tokenizer.hpp"

#include <functional>
#include <nlohmann/json.hpp>

namespace kairos {
namespace {

using json = nlohmann::json;

struct segment {
  std::size_t begin;
  std::size_t end;
  bool is_match;
};

result<pre_tokenizer::split_behavior> parse_behavior(const json& spec) {
  std::string name = spec.is_string() ? spec.get<std::string>() : "";
  if (name == "Removed") return pre_tokenizer::split_behavior::removed;
  if (name == "Isolated") return pre_tokenizer::split_behavior::isolated;
  if (name == "MergedWithPrevious") return pre_tokenizer::split_behavior::merged_with_previous;
  if (name == "MergedWithNext") return pre_tokenizer::split_behavior::merged_with_next;
  if (name == "Contiguous") return pre_tokenizer::split_behavior::contiguous;
  return make_error("unknown Split behavior " + spec.dump());
}

// Folds matches into their neighbours as the behavior says. The input covers
// the piece without gaps, matches and non-matches alternating or repeating.
std::vector<segment> apply_behavior(std::vector<segment> segs, pre_tokenizer::split_behavior behavior) {
  using b = pre_tokenizer::split_behavior;
  std::vector<segment> out;
  switch (behavior) {
    case b::isolated:
      return segs;
    case b::removed:
      for (const segment& s : segs)
        if (!s.is_match) out.push_back(s);
      return out;
    case b::merged_with_previous: {
      bool previous_match = false;
      for (const segment& s : segs) {
        if (s.is_match && !previous_match && !out.empty()) {
          out.back().end = s.end;
        } else {
          out.push_back(s);
        }
        previous_match = s.is_match;
      }
      return out;
    }
    case b::merged_with_next: {
      bool previous_match = false;  // walking backwards: the match after this one
      for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
        if (it->is_match && !previous_match && !out.empty()) {
          out.back().begin = it->begin;
        } else {
          out.push_back(*it);
        }
        previous_match = it->is_match;
      }
      return {out.rbegin(), out.rend()};
    }
    case b::contiguous: {
      for (const segment& s : segs) {
        if (!out.empty() && s.is_match && out.back().is_match) {
          out.back().end = s.end;
        } else {
          out.push_back(s);
        }
      }
      return out;
    }
  }
  return segs;
}

}  // namespace

result<pre_tokenizer::step> pre_tokenizer::parse_step(const json& spec) {
  step s;
  std::string type = spec.value("type", "");
  if (type == "Split") {
    s.type = step::kind::regex_split;
    const json& pattern = spec.at("pattern");
    bool literal = pattern.contains("String");
    if (!literal && !pattern.contains("Regex")) return make_error("Split pattern needs \"Regex\" or \"String\"");
    auto re = unicode_regex::compile(pattern.at(literal ? "String" : "Regex").get<std::string>(), literal);
    if (!re) return re.err();
    s.regex = std::move(re).value();
    auto behavior = parse_behavior(spec.value("behavior", json("Isolated")));
    if (!behavior) return behavior.err();
    s.behavior = behavior.value();
    s.invert = spec.value("invert", false);
    return s;
  }
  if (type == "ByteLevel") {
    s.type = step::kind::byte_level;
    s.add_prefix_space = spec.value("add_prefix_space", false);
    s.use_regex = spec.value("use_regex", true);  // Hugging Face's default
    if (s.use_regex) {
      auto re = unicode_regex::compile(gpt2_split_pattern);
      if (!re) return re.err();
      s.regex = std::move(re).value();
    }
    return s;
  }
  return make_error("unsupported pre_tokenizer type \"" + type + "\" (supported: Split, ByteLevel, Sequence)");
}

result<pre_tokenizer> pre_tokenizer::from_json(const json& spec) {
  pre_tokenizer p;
  if (spec.is_null()) return p;
  if (!spec.is_object()) return make_error("pre_tokenizer must be an object or null");
  // Flatten nested Sequences, keeping order.
  std::function<status(const json&)> visit = [&](const json& node) -> status {
    if (node.value("type", "") == "Sequence") {
      const json& list = node.at("pretokenizers");
      if (!list.is_array()) return make_error("Sequence.pretokenizers must be an array");
      for (const json& child : list) {
        status st = visit(child);
        if (!st) return st;
      }
      return {};
    }
    auto s = parse_step(node);
    if (!s) return s.err();
    if (s->type == step::kind::byte_level) p.has_byte_level_ = true;
    p.steps_.push_back(std::move(s).value());
    return {};
  };
  // nlohmann throws on a missing key or a wrong type; keep that inside.
  try {
    status st = visit(spec);
    if (!st) return st.err();
  } catch (const std::exception& e) {
    return make_error(std::string("malformed pre_tokenizer: ") + e.what());
  }
  return p;
}

result<pre_tokenizer> pre_tokenizer::gpt2() {
  return from_json(json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}});
}

status pre_tokenizer::apply_split(const step& s, std::string_view piece, std::vector<std::string>& out) const {
  std::vector<segment> segs;
  std::size_t covered = 0;
  status st = s.regex.for_each_match(piece, [&](std::size_t begin, std::size_t end) {
    if (begin > covered) segs.push_back({covered, begin, false});
    segs.push_back({begin, end, true});
    covered = end;
  });
  if (!st) return st;
  if (covered < piece.size()) segs.push_back({covered, piece.size(), false});
  if (s.invert)
    for (segment& seg : segs) seg.is_match = !seg.is_match;
  for (const segment& seg : apply_behavior(std::move(segs), s.behavior)) {
    if (seg.end > seg.begin) out.emplace_back(piece.substr(seg.begin, seg.end - seg.begin));
  }
  return {};
}

status pre_tokenizer::split(std::string_view text, std::vector<std::string>& pieces) const {
  std::vector<std::string> current{std::string(text)};
  std::vector<std::string> next;
  for (const step& s : steps_) {
    next.clear();
    for (std::string& piece : current) {
      if (s.type == step::kind::byte_level) {
        if (s.add_prefix_space && (piece.empty() || piece.front() != ' ')) piece.insert(piece.begin(), ' ');
        if (!s.use_regex) {
          next.push_back(std::move(piece));
          continue;
        }
      }
      status st = apply_split(s, piece, next);
      if (!st) return st;
    }
    current.swap(next);
  }
  for (std::string& piece : current)
    if (!piece.empty()) pieces.push_back(std::move(piece));
  return {};
}

}  // namespace kairos
