#pragma once
// A small deterministic byte-level BPE tokenizer.json for random-weight models
// made by `kairos mkmodel`, so they come with a real, loadable tokenizer.
#include <string>

namespace kairos {

// Token id 0 is "<|endoftext|>", a special token used as BOS and EOS.
inline constexpr int synthetic_tokenizer_eos_id = 0;

// Returns the text of a Hugging Face tokenizer.json with exactly vocab_size
// ids (vocab_size >= 512 recommended): id 0 is "<|endoftext|>", ids 1..256
// the byte tokens (byte b is id 1 + b), then tokens learned by BPE training on
// a built-in English text (synthetic_corpus.cpp) with the GPT-2 pre-tokenizer
// regex, then special "<|reserved_N|>" fillers once the text has no pair left
// that occurs twice. The same vocab_size always gives the same text. Returns
// an empty string when vocab_size < 257 (no room for the byte tokens).
std::string make_synthetic_tokenizer_json(int vocab_size);

}  // namespace kairos
