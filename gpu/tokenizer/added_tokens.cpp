#include "gpu/tokenizer/added_tokens.hpp"

#include <algorithm>

namespace kairos {
namespace {

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

bool is_word_byte(char c) {
  auto b = static_cast<unsigned char>(c);
  return b >= 0x80 || (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b == '_';
}

}  // namespace

added_token_matcher::added_token_matcher(const std::vector<added_token>& tokens) {
  for (const added_token& t : tokens)
    if (!t.content.empty()) tokens_.push_back(t);  // an empty token would match everywhere
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    std::string_view content = tokens_[i].content;
    auto& groups = by_first_byte_[static_cast<unsigned char>(content[0])];
    auto group = std::find_if(groups.begin(), groups.end(), [&](const length_group& g) { return g.length == content.size(); });
    if (group == groups.end()) {
      groups.push_back({content.size(), {}});
      group = groups.end() - 1;
    }
    group->by_content.emplace(content, static_cast<int>(i));  // a duplicate keeps its first entry
  }
  for (auto& groups : by_first_byte_)
    std::sort(groups.begin(), groups.end(), [](const length_group& a, const length_group& b) { return a.length > b.length; });
}

int added_token_matcher::match_at(std::string_view text, std::size_t pos) const {
  for (const length_group& group : by_first_byte_[static_cast<unsigned char>(text[pos])]) {
    if (pos + group.length > text.size()) continue;
    auto it = group.by_content.find(text.substr(pos, group.length));
    if (it == group.by_content.end()) continue;
    const added_token& t = tokens_[it->second];
    if (t.single_word) {
      std::size_t end = pos + t.content.size();
      bool word_before = pos > 0 && is_word_byte(text[pos - 1]);
      bool word_after = end < text.size() && is_word_byte(text[end]);
      if (word_before || word_after) continue;
    }
    return it->second;
  }
  return -1;
}

std::vector<added_token_matcher::part> added_token_matcher::split(std::string_view text) const {
  std::vector<part> parts;
  if (tokens_.empty()) {
    parts.push_back({text, -1});
    return parts;
  }
  std::size_t plain_begin = 0;  // start of the plain text not yet emitted
  std::size_t pos = 0;
  while (pos < text.size()) {
    int index = match_at(text, pos);
    if (index < 0) {
      ++pos;
      continue;
    }
    const added_token& t = tokens_[index];
    std::size_t plain_end = pos;
    if (t.lstrip)
      while (plain_end > plain_begin && is_ascii_space(text[plain_end - 1])) --plain_end;
    if (plain_end > plain_begin) parts.push_back({text.substr(plain_begin, plain_end - plain_begin), -1});
    parts.push_back({text.substr(plain_end, pos + t.content.size() - plain_end), t.id});
    pos += t.content.size();
    if (t.rstrip)
      while (pos < text.size() && is_ascii_space(text[pos])) ++pos;
    plain_begin = pos;
  }
  if (plain_begin < text.size() || parts.empty()) parts.push_back({text.substr(plain_begin), -1});
  return parts;
}

}  // namespace kairos
