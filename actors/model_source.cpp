#include "actors/model_source.hpp"

#include "gpu/model/random_weights.hpp"

namespace kairos {

result<loaded_model> load_configured_model(const runtime_config& cfg) {
  if (!cfg.model_path.empty()) {
    auto m = load_model(cfg.model_path);
    if (!m) return make_error("model " + cfg.model_path + ": " + m.message());
    return std::move(m.value());
  }
  auto shape = named_shape(cfg.model_shape);
  if (!shape) return make_error(cfg.source + ": model.shape: " + shape.message());
  auto m = make_random_model(shape.value(), dtype::f32, cfg.model_seed);
  if (!m) return make_error("random model " + cfg.model_shape + ": " + m.message());
  return std::move(m.value());
}

result<model_config> random_shape_config(const runtime_config& cfg) {
  auto shape = named_shape(cfg.model_random_shape);
  if (!shape) return make_error(cfg.source + ": model.random_shape: " + shape.message());
  shape->weight_dtype = dtype::bf16;
  return shape.value();
}

}  // namespace kairos
