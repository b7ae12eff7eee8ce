#pragma once
// The model a runtime config names: a file or directory (model.path),
// random F32 weights of a named shape (model.shape, model.seed), or, for
// cuda devices, random weights generated on the GPU (model.random_shape:
// only the config lives on the host; cuda_backend makes the weights).
#include "actors/runtime_config.hpp"
#include "gpu/base/result.hpp"
#include "gpu/model/model_loader.hpp"

namespace kairos {

result<loaded_model> load_configured_model(const runtime_config& cfg);
// model.random_shape's config (BF16 weights, as the GPU generates them).
result<model_config> random_shape_config(const runtime_config& cfg);

}  // namespace kairos
