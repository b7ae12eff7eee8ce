// GGUF metadata values and the names of GGUF and ggml types.
#include "gpu/model/gguf.hpp"

namespace kairos {

const char* gguf_type_name(gguf_type t) {
  switch (t) {
    case gguf_type::u8: return "UINT8";
    case gguf_type::i8: return "INT8";
    case gguf_type::u16: return "UINT16";
    case gguf_type::i16: return "INT16";
    case gguf_type::u32: return "UINT32";
    case gguf_type::i32: return "INT32";
    case gguf_type::f32: return "FLOAT32";
    case gguf_type::boolean: return "BOOL";
    case gguf_type::string: return "STRING";
    case gguf_type::array: return "ARRAY";
    case gguf_type::u64: return "UINT64";
    case gguf_type::i64: return "INT64";
    case gguf_type::f64: return "FLOAT64";
  }
  return "?";
}

gguf_value gguf_value::of_u32(std::uint32_t v) {
  gguf_value x;
  x.type = gguf_type::u32;
  x.u = v;
  return x;
}

gguf_value gguf_value::of_u64(std::uint64_t v) {
  gguf_value x;
  x.type = gguf_type::u64;
  x.u = v;
  return x;
}

gguf_value gguf_value::of_i32(std::int32_t v) {
  gguf_value x;
  x.type = gguf_type::i32;
  x.i = v;
  return x;
}

gguf_value gguf_value::of_f32(float v) {
  gguf_value x;
  x.type = gguf_type::f32;
  x.f = v;
  return x;
}

gguf_value gguf_value::of_bool(bool v) {
  gguf_value x;
  x.type = gguf_type::boolean;
  x.u = v ? 1 : 0;
  return x;
}

gguf_value gguf_value::of_string(std::string v) {
  gguf_value x;
  x.type = gguf_type::string;
  x.str = std::move(v);
  return x;
}

gguf_value gguf_value::of_array(gguf_type elem, std::vector<gguf_value> items) {
  gguf_value x;
  x.type = gguf_type::array;
  x.elem_type = elem;
  x.items = std::move(items);
  return x;
}

gguf_value gguf_value::of_strings(const std::vector<std::string>& v) {
  std::vector<gguf_value> items;
  items.reserve(v.size());
  for (const auto& s : v) items.push_back(of_string(s));
  return of_array(gguf_type::string, std::move(items));
}

std::optional<std::int64_t> gguf_value::as_int() const {
  switch (type) {
    case gguf_type::u8:
    case gguf_type::u16:
    case gguf_type::u32:
    case gguf_type::boolean: return static_cast<std::int64_t>(u);
    case gguf_type::u64:
      if (u > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
      return static_cast<std::int64_t>(u);
    case gguf_type::i8:
    case gguf_type::i16:
    case gguf_type::i32:
    case gguf_type::i64: return i;
    default: return std::nullopt;
  }
}

std::optional<double> gguf_value::as_float() const {
  if (type == gguf_type::f32 || type == gguf_type::f64) return f;
  if (auto v = as_int()) return static_cast<double>(*v);
  return std::nullopt;
}

std::string ggml_type_name(std::uint32_t t) {
  // Index = ggml type id; "" where ggml retired the id.
  static const char* const names[] = {
      "F32",     "F16",    "Q4_0",  "Q4_1",   "",        "",      "Q5_0", "Q5_1", "Q8_0",  "Q8_1",
      "Q2_K",    "Q3_K",   "Q4_K",  "Q5_K",   "Q6_K",    "Q8_K",  "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
      "IQ4_NL",  "IQ3_S",  "IQ2_S", "IQ4_XS", "I8",      "I16",   "I32",  "I64",  "F64",   "IQ1_M",
      "BF16",    "",       "",      "",       "TQ1_0",   "TQ2_0", "",     "",     "",      "MXFP4",
  };
  if (t < sizeof(names) / sizeof(names[0]) && names[t][0] != '\0') return names[t];
  return "type " + std::to_string(t);
}

std::optional<dtype> dtype_from_ggml(std::uint32_t t) {
  switch (t) {
    case ggml_type::f32: return dtype::f32;
    case ggml_type::f16: return dtype::f16;
    case ggml_type::q8_0: return dtype::q8_0;
    case ggml_type::bf16: return dtype::bf16;
    default: return std::nullopt;
  }
}

std::uint32_t ggml_from_dtype(dtype t) {
  switch (t) {
    case dtype::f32: return ggml_type::f32;
    case dtype::f16: return ggml_type::f16;
    case dtype::q8_0: return ggml_type::q8_0;
    case dtype::bf16: return ggml_type::bf16;
  }
  return ggml_type::f32;
}

}  // namespace kairos
