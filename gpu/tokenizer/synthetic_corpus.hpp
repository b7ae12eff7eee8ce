#pragma once
// The English text the synthetic tokenizer learns its merges from. It is part
// of the source so that `kairos mkmodel` produces the same tokenizer on every
// machine; changing it changes every synthetic tokenizer.
#include <string_view>

namespace kairos {

std::string_view synthetic_training_text();

}  // namespace kairos
