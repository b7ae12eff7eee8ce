#pragma once
// The Unicode Character Database facts that NFC needs, generated into
// unicode_nfc_tables.cpp by gen_unicode_nfc_tables.py. Each table is sorted by
// its first field so lookups can binary-search it.
#include <cstddef>
#include <cstdint>

namespace kairos::unicode_tables {

// Code points first..last all have canonical combining class `ccc` (non-zero).
struct ccc_range {
  char32_t first;
  char32_t last;
  std::uint8_t ccc;
};

// `code_point` canonically decomposes to `first` `second` (second == 0: a
// singleton decomposition). Hangul syllables are not listed.
struct canonical_decomposition {
  char32_t code_point;
  char32_t first;
  char32_t second;
};

// `first` + `second` compose to `composite` under NFC (sorted by first, then
// second). Hangul syllables are not listed.
struct primary_composite {
  char32_t first;
  char32_t second;
  char32_t composite;
};

extern const ccc_range ccc_ranges[];
extern const std::size_t ccc_range_count;
extern const canonical_decomposition canonical_decompositions[];
extern const std::size_t canonical_decomposition_count;
extern const primary_composite primary_composites[];
extern const std::size_t primary_composite_count;

}  // namespace kairos::unicode_tables
