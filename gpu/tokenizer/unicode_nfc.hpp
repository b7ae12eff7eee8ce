#pragma once
// Unicode Normalization Form C, as Hugging Face's "NFC" normalizer applies it
// (Qwen2/Qwen3 tokenizers use it).
//
// This is the full algorithm of UAX #15: canonical decomposition (with Hangul
// done arithmetically), canonical ordering by combining class, and canonical
// composition with blocking. The data comes from Python's unicodedata through
// gen_unicode_nfc_tables.py (the Unicode version is named in the generated
// file); text that uses characters assigned after that version passes through
// those characters unchanged. Text made only of characters that can never
// change under NFC (all ASCII, most CJK, already-composed Latin without
// following marks) is returned as is without allocation of working buffers.
#include <string>
#include <string_view>

namespace kairos {

// `text` must be valid UTF-8 (callers split invalid bytes off first).
std::string to_nfc(std::string_view text);

}  // namespace kairos
