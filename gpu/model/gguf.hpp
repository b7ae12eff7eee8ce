#pragma once
// The GGUF v3 container (llama.cpp): typed key/value metadata, tensor infos,
// then aligned tensor data. This layer knows nothing about models; see
// gguf_model.hpp for the llama/qwen2 mapping onto Hugging Face names.
//
// Layout (little-endian):
//   "GGUF" u32 version u64 n_tensors u64 n_kv
//   n_kv x { string key, u32 value_type, value }
//   n_tensors x { string name, u32 n_dims, u64 dims[n_dims] (innermost first), u32 ggml_type, u64 offset }
//   padding to `general.alignment` (default 32), then the data; each offset is
//   relative to the data start and a multiple of the alignment.
// A string is u64 length + bytes; an array is u32 element type, u64 count, elements.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "gpu/base/mapped_file.hpp"
#include "gpu/base/result.hpp"
#include "gpu/model/dtype.hpp"

namespace kairos {

inline constexpr std::uint32_t gguf_magic = 0x46554747u;  // "GGUF" read as a little-endian u32
inline constexpr std::uint32_t gguf_version = 3;
inline constexpr std::uint32_t gguf_default_alignment = 32;

enum class gguf_type : std::uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6,
  boolean = 7, string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};
const char* gguf_type_name(gguf_type t);

// One metadata value. Which members mean something depends on `type`.
struct gguf_value {
  gguf_type type = gguf_type::u32;
  std::uint64_t u = 0;                    // u8, u16, u32, u64, boolean
  std::int64_t i = 0;                     // i8, i16, i32, i64
  double f = 0.0;                         // f32, f64
  std::string str;                        // string
  gguf_type elem_type = gguf_type::u8;    // array
  std::vector<gguf_value> items;          // array

  static gguf_value of_u32(std::uint32_t v);
  static gguf_value of_u64(std::uint64_t v);
  static gguf_value of_i32(std::int32_t v);
  static gguf_value of_f32(float v);
  static gguf_value of_bool(bool v);
  static gguf_value of_string(std::string v);
  static gguf_value of_array(gguf_type elem, std::vector<gguf_value> items);
  static gguf_value of_strings(const std::vector<std::string>& v);

  // Any integer type (and bool); nullopt otherwise.
  std::optional<std::int64_t> as_int() const;
  // f32/f64 or any integer type; nullopt otherwise.
  std::optional<double> as_float() const;
};

// ggml tensor types. Only F32, F16, Q8_0 and BF16 are read; the rest are
// named so an error can say what a file holds.
namespace ggml_type {
inline constexpr std::uint32_t f32 = 0;
inline constexpr std::uint32_t f16 = 1;
inline constexpr std::uint32_t q4_0 = 2;
inline constexpr std::uint32_t q8_0 = 8;
inline constexpr std::uint32_t q4_k = 12;
inline constexpr std::uint32_t bf16 = 30;
}  // namespace ggml_type
std::string ggml_type_name(std::uint32_t t);
std::optional<dtype> dtype_from_ggml(std::uint32_t t);
std::uint32_t ggml_from_dtype(dtype t);

struct gguf_tensor_info {
  std::string name;
  std::uint32_t ggml_type = 0;
  dtype type = dtype::f32;
  std::vector<std::uint64_t> dims;  // innermost first: a [n_out, n_in] matrix is {n_in, n_out}
  std::uint64_t offset = 0;         // relative to the data start
  const std::byte* data = nullptr;  // into the map
  std::size_t nbytes = 0;
};

struct gguf_file {
  std::string path;
  std::uint32_t version = 0;
  std::uint32_t alignment = gguf_default_alignment;
  std::map<std::string, gguf_value> metadata;
  std::vector<gguf_tensor_info> tensors;  // in file order
  std::shared_ptr<mapped_file> map;       // owns what tensors[i].data points into

  const gguf_value* find(const std::string& key) const;
  const gguf_tensor_info* find_tensor(const std::string& name) const;
};

// True when the file starts with the GGUF magic.
bool is_gguf_file(const std::string& path);

// Maps and parses a GGUF v2/v3 file, checking every length, offset and tensor
// type against the file. Errors name the file and, where one is at fault, the
// metadata key or tensor.
result<gguf_file> read_gguf(const std::string& path);

// A tensor to write: its bytes either in `data` or made on demand by `produce`
// (so a converter holds one tensor at a time). The writer does not interpret
// `ggml_type`, so tests can write types the reader refuses.
struct gguf_tensor_out {
  std::string name;
  std::uint32_t ggml_type = ggml_type::f32;
  std::vector<std::uint64_t> dims;  // innermost first
  std::size_t nbytes = 0;
  std::span<const std::byte> data;
  std::function<result<std::vector<std::byte>>()> produce;
};

struct gguf_write_header {
  std::uint32_t version = gguf_version;
  std::uint32_t alignment = gguf_default_alignment;  // also write general.alignment when it is not 32
};

// Writes a GGUF file: metadata in the given order, then tensors laid out in
// order, each padded to the alignment. Written to path + ".tmp", then renamed.
status write_gguf(const std::string& path, const std::vector<std::pair<std::string, gguf_value>>& metadata,
                  const std::vector<gguf_tensor_out>& tensors, const gguf_write_header& header = {});

}  // namespace kairos
