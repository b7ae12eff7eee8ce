#pragma once
// The model a runtime config names: a file or directory (model.path), or
// random F32 weights of a named shape (model.shape, model.seed).
#include "actors/runtime_config.hpp"
#include "gpu/base/result.hpp"
#include "gpu/model/model_loader.hpp"

namespace kairos {

result<loaded_model> load_configured_model(const runtime_config& cfg);

}  // namespace kairos
