#include "gpu/model/tensor_store.hpp"

namespace kairos {

std::int64_t raw_tensor::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

const raw_tensor* tensor_store::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

}  // namespace kairos
