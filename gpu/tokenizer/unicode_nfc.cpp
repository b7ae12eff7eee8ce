#include "gpu/tokenizer/unicode_nfc.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "gpu/tokenizer/unicode_nfc_tables.hpp"
#include "gpu/tokenizer/utf8.hpp"

namespace kairos {
namespace {

namespace tables = unicode_tables;

// Hangul syllable arithmetic (Unicode chapter 3.12).
constexpr char32_t s_base = 0xAC00, l_base = 0x1100, v_base = 0x1161, t_base = 0x11A7;
constexpr char32_t l_count = 19, v_count = 21, t_count = 28;
constexpr char32_t n_count = v_count * t_count, s_count = l_count * n_count;

std::uint8_t combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const tables::ccc_range* end = tables::ccc_ranges + tables::ccc_range_count;
  auto it = std::upper_bound(tables::ccc_ranges, end, cp,
                             [](char32_t c, const tables::ccc_range& r) { return c < r.first; });
  if (it == tables::ccc_ranges) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

const tables::canonical_decomposition* find_decomposition(char32_t cp) {
  const tables::canonical_decomposition* begin = tables::canonical_decompositions;
  const tables::canonical_decomposition* end = begin + tables::canonical_decomposition_count;
  auto it = std::lower_bound(begin, end, cp,
                             [](const tables::canonical_decomposition& d, char32_t c) { return d.code_point < c; });
  return it != end && it->code_point == cp ? it : nullptr;
}

// Code points that can be the second half of a primary composite: their
// presence means the text may compose, so the fast path cannot be taken.
const std::vector<char32_t>& composition_seconds() {
  static const std::vector<char32_t> seconds = [] {
    std::vector<char32_t> v;
    for (std::size_t i = 0; i < tables::primary_composite_count; ++i) v.push_back(tables::primary_composites[i].second);
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
  }();
  return seconds;
}

bool is_hangul_vowel_or_trailing_jamo(char32_t cp) {
  return (cp >= v_base && cp < v_base + v_count) || (cp > t_base && cp < t_base + t_count);
}

// True when NFC might change text containing `cp`.
bool may_change(char32_t cp) {
  if (cp < 0x300) return false;                         // Latin-1 and friends are stable alone
  if (cp >= 0x4E00 && cp <= 0x9FFF) return false;       // CJK unified ideographs
  if (cp >= s_base && cp < s_base + s_count) return false;  // Hangul syllables
  if (combining_class(cp) != 0) return true;
  if (is_hangul_vowel_or_trailing_jamo(cp)) return true;
  if (find_decomposition(cp)) return true;
  const auto& seconds = composition_seconds();
  return std::binary_search(seconds.begin(), seconds.end(), cp);
}

void decompose(char32_t cp, std::vector<char32_t>& out) {
  if (cp >= s_base && cp < s_base + s_count) {
    char32_t s = cp - s_base;
    out.push_back(l_base + s / n_count);
    out.push_back(v_base + (s % n_count) / t_count);
    if (s % t_count != 0) out.push_back(t_base + s % t_count);
    return;
  }
  const tables::canonical_decomposition* d = find_decomposition(cp);
  if (!d) {
    out.push_back(cp);
    return;
  }
  decompose(d->first, out);
  if (d->second) decompose(d->second, out);
}

// The primary composite of `first` + `second`, or 0 when there is none.
char32_t compose(char32_t first, char32_t second) {
  if (first >= l_base && first < l_base + l_count && second >= v_base && second < v_base + v_count) {
    return s_base + ((first - l_base) * v_count + (second - v_base)) * t_count;
  }
  if (first >= s_base && first < s_base + s_count && (first - s_base) % t_count == 0 && second > t_base &&
      second < t_base + t_count) {
    return first + (second - t_base);
  }
  const tables::primary_composite* begin = tables::primary_composites;
  const tables::primary_composite* end = begin + tables::primary_composite_count;
  auto it = std::lower_bound(begin, end, std::pair{first, second}, [](const tables::primary_composite& p, auto key) {
    return p.first < key.first || (p.first == key.first && p.second < key.second);
  });
  return it != end && it->first == first && it->second == second ? it->composite : 0;
}

}  // namespace

std::string to_nfc(std::string_view text) {
  bool needs_work = false;
  for (std::size_t pos = 0; pos < text.size() && !needs_work;) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    needs_work = may_change(utf8::decode_at(text, pos));
  }
  if (!needs_work) return std::string(text);

  std::vector<char32_t> cps;
  cps.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) decompose(utf8::decode_at(text, pos), cps);

  // Canonical ordering: stable-sort each run of non-starters by class.
  std::vector<std::uint8_t> classes(cps.size());
  for (std::size_t i = 0; i < cps.size(); ++i) classes[i] = combining_class(cps[i]);
  for (std::size_t i = 0; i < cps.size();) {
    if (classes[i] == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < cps.size() && classes[j] != 0) ++j;
    std::vector<std::pair<std::uint8_t, char32_t>> run;
    for (std::size_t k = i; k < j; ++k) run.emplace_back(classes[k], cps[k]);
    std::stable_sort(run.begin(), run.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t k = i; k < j; ++k) {
      classes[k] = run[k - i].first;
      cps[k] = run[k - i].second;
    }
    i = j;
  }

  // Canonical composition: a character joins the last starter unless a
  // character in between has class 0 or a class >= its own (it is blocked).
  std::size_t out_len = 0;
  std::size_t starter = 0;
  bool have_starter = false;
  int last_class = -1;  // class of the last character kept; -1: none yet
  for (std::size_t i = 0; i < cps.size(); ++i) {
    char32_t c = cps[i];
    int c_class = classes[i];
    if (have_starter) {
      bool adjacent = last_class == 0 && starter == out_len - 1;
      bool unblocked = adjacent || (last_class > 0 && last_class < c_class);
      if (unblocked) {
        if (char32_t composite = compose(cps[starter], c)) {
          cps[starter] = composite;
          continue;
        }
      }
    }
    if (c_class == 0) {
      starter = out_len;
      have_starter = true;
    }
    last_class = c_class;
    cps[out_len++] = c;
  }
  cps.resize(out_len);

  std::string out;
  out.reserve(text.size());
  for (char32_t c : cps) utf8::append(out, c);
  return out;
}

}  // namespace kairos
