#pragma once
// A read-only memory map of a whole file. Weights are used in place from it
// where their dtype allows, so loading a model costs no copy.
#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "gpu/base/result.hpp"

namespace kairos {

class mapped_file {
 public:
  static result<std::shared_ptr<mapped_file>> open(const std::string& path);
  ~mapped_file();
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;

  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  mapped_file() = default;
  std::string path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace kairos
