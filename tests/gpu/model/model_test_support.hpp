#pragma once
// Shared helpers of the gpu/model tests: a self-deleting temporary directory,
// whole-file byte I/O, and small model lookups.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include "gpu/model/dtype.hpp"
#include "gpu/model/model_config.hpp"
#include "gpu/model/tensor_store.hpp"

namespace kairos::test {

// A fresh directory under the system temp dir (named PREFIX_XXXXXX), removed
// with everything in it on destruction.
struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(const std::string& prefix = "kairos_test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "_XXXXXX")).string();
    path = ::mkdtemp(tmpl.data());
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A named model shape (llama3-8b, ...); fails the test if unknown.
inline model_config shape(const std::string& name) {
  auto c = named_shape(name);
  REQUIRE(c.ok());
  return *c;
}

// A tensor's values as floats, whatever its stored type.
inline std::vector<float> to_f32(const raw_tensor& t) {
  std::vector<float> v(static_cast<std::size_t>(t.numel()));
  convert_to_f32(t.type, t.data, v.data(), t.numel());
  return v;
}

}  // namespace kairos::test
