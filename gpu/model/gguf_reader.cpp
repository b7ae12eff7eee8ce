// Parsing a GGUF file from a memory map, with every length checked against the file.
#include <cstdio>
#include <cstring>
#include <set>

#include "gpu/model/gguf.hpp"

namespace kairos {

namespace {

// Arrays may nest; real files nest at most once.
constexpr int max_array_depth = 8;
constexpr std::uint32_t max_dims = 4;  // GGML_MAX_DIMS

// A bounds-checked little-endian reader over the mapped bytes.
class cursor {
 public:
  cursor(const std::byte* data, std::size_t size) : data_(data), size_(size) {}
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return size_ - pos_; }

  template <class T>
  bool read(T& out) {
    if (left() < sizeof(T)) return false;
    std::memcpy(&out, data_ + pos_, sizeof(T));  // the host is little-endian (x86-64, aarch64)
    pos_ += sizeof(T);
    return true;
  }
  bool read_string(std::string& out) {
    std::uint64_t n = 0;
    if (!read(n) || n > left()) return false;
    out.assign(reinterpret_cast<const char*>(data_ + pos_), static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return true;
  }

 private:
  const std::byte* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// Smallest encoding of one element of `t` (a string is at least its u64 length).
std::size_t min_size(gguf_type t) {
  switch (t) {
    case gguf_type::u8:
    case gguf_type::i8:
    case gguf_type::boolean: return 1;
    case gguf_type::u16:
    case gguf_type::i16: return 2;
    case gguf_type::u32:
    case gguf_type::i32:
    case gguf_type::f32: return 4;
    case gguf_type::array: return 12;
    default: return 8;
  }
}

// Reads a value of type t; returns an error text or "".
std::string read_value(cursor& c, gguf_type t, gguf_value& v, int depth) {
  v.type = t;
  auto scalar = [&](auto tag, auto store) -> std::string {
    decltype(tag) x{};
    if (!c.read(x)) return "truncated";
    store(x);
    return "";
  };
  switch (t) {
    case gguf_type::u8: return scalar(std::uint8_t{}, [&](auto x) { v.u = x; });
    case gguf_type::u16: return scalar(std::uint16_t{}, [&](auto x) { v.u = x; });
    case gguf_type::u32: return scalar(std::uint32_t{}, [&](auto x) { v.u = x; });
    case gguf_type::u64: return scalar(std::uint64_t{}, [&](auto x) { v.u = x; });
    case gguf_type::i8: return scalar(std::int8_t{}, [&](auto x) { v.i = x; });
    case gguf_type::i16: return scalar(std::int16_t{}, [&](auto x) { v.i = x; });
    case gguf_type::i32: return scalar(std::int32_t{}, [&](auto x) { v.i = x; });
    case gguf_type::i64: return scalar(std::int64_t{}, [&](auto x) { v.i = x; });
    case gguf_type::f32: return scalar(float{}, [&](auto x) { v.f = x; });
    case gguf_type::f64: return scalar(double{}, [&](auto x) { v.f = x; });
    case gguf_type::boolean: {
      std::uint8_t b = 0;
      if (!c.read(b)) return "truncated";
      if (b > 1) return "bool value " + std::to_string(b) + " is neither 0 nor 1";
      v.u = b;
      return "";
    }
    case gguf_type::string:
      return c.read_string(v.str) ? "" : "truncated string";
    case gguf_type::array: {
      if (depth >= max_array_depth) return "arrays nested too deep";
      std::uint32_t et = 0;
      std::uint64_t n = 0;
      if (!c.read(et) || !c.read(n)) return "truncated array header";
      if (et > static_cast<std::uint32_t>(gguf_type::f64)) return "array of unknown value type " + std::to_string(et);
      v.elem_type = static_cast<gguf_type>(et);
      if (n > c.left() / min_size(v.elem_type))
        return "array of " + std::to_string(n) + " elements runs past the end of the file";
      v.items.resize(static_cast<std::size_t>(n));
      for (auto& item : v.items)
        if (auto e = read_value(c, v.elem_type, item, depth + 1); !e.empty()) return e;
      return "";
    }
  }
  return "unknown value type " + std::to_string(static_cast<std::uint32_t>(t));
}

}  // namespace

const gguf_value* gguf_file::find(const std::string& key) const {
  auto it = metadata.find(key);
  return it == metadata.end() ? nullptr : &it->second;
}

const gguf_tensor_info* gguf_file::find_tensor(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

bool is_gguf_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  unsigned char m[4] = {};
  bool ok = std::fread(m, 1, 4, f) == 4 && std::memcmp(m, "GGUF", 4) == 0;
  std::fclose(f);
  return ok;
}

result<gguf_file> read_gguf(const std::string& path) {
  auto opened = mapped_file::open(path);
  if (!opened) return opened.err();
  gguf_file g;
  g.path = path;
  g.map = *opened;
  cursor c(g.map->data(), g.map->size());
  auto bad = [&](const std::string& what) { return make_error(path + ": " + what); };

  std::uint32_t magic = 0;
  if (!c.read(magic)) return bad("truncated: too short for a GGUF header");
  if (magic != gguf_magic) return bad("bad magic: not a GGUF file");
  if (!c.read(g.version)) return bad("truncated GGUF header");
  if (g.version != 2 && g.version != 3)
    return bad("unsupported GGUF version " + std::to_string(g.version) + " (supported: 2, 3)");
  std::uint64_t n_tensors = 0, n_kv = 0;
  if (!c.read(n_tensors) || !c.read(n_kv)) return bad("truncated GGUF header");
  // Each entry takes at least 12 (kv) or 24 (tensor info) bytes: reject counts the file cannot hold.
  if (n_kv > c.left() / 12) return bad("metadata count " + std::to_string(n_kv) + " is larger than the file can hold (truncated?)");
  if (n_tensors > c.left() / 24) return bad("tensor count " + std::to_string(n_tensors) + " is larger than the file can hold (truncated?)");

  for (std::uint64_t k = 0; k < n_kv; ++k) {
    std::string key;
    if (!c.read_string(key)) return bad("truncated while reading metadata key #" + std::to_string(k));
    std::uint32_t t = 0;
    if (!c.read(t)) return bad("metadata " + key + ": truncated");
    if (t > static_cast<std::uint32_t>(gguf_type::f64))
      return bad("metadata " + key + ": unknown value type " + std::to_string(t));
    gguf_value v;
    if (auto e = read_value(c, static_cast<gguf_type>(t), v, 0); !e.empty()) return bad("metadata " + key + ": " + e);
    if (g.metadata.count(key)) return bad("metadata " + key + ": duplicate key");
    g.metadata.emplace(std::move(key), std::move(v));
  }
  if (const gguf_value* a = g.find("general.alignment")) {
    auto v = a->as_int();
    if (a->type != gguf_type::u32 || !v || *v == 0 || (*v & (*v - 1)) != 0)
      return bad("metadata general.alignment must be a UINT32 power of two");
    g.alignment = static_cast<std::uint32_t>(*v);
  }

  std::set<std::string> names;
  for (std::uint64_t k = 0; k < n_tensors; ++k) {
    gguf_tensor_info t;
    if (!c.read_string(t.name)) return bad("truncated while reading tensor info #" + std::to_string(k));
    auto tbad = [&](const std::string& what) { return bad("tensor " + t.name + " " + what); };
    std::uint32_t nd = 0;
    if (!c.read(nd)) return tbad("info is truncated");
    if (nd == 0 || nd > max_dims) return tbad("has " + std::to_string(nd) + " dimensions (1 to 4 allowed)");
    std::uint64_t numel = 1;
    for (std::uint32_t d = 0; d < nd; ++d) {
      std::uint64_t dim = 0;
      if (!c.read(dim)) return tbad("info is truncated");
      if (dim == 0 || dim > (std::uint64_t{1} << 40) || numel > (std::uint64_t{1} << 48) / dim)
        return tbad("has an absurd dimension " + std::to_string(dim));
      numel *= dim;
      t.dims.push_back(dim);
    }
    if (!c.read(t.ggml_type) || !c.read(t.offset)) return tbad("info is truncated");
    auto type = dtype_from_ggml(t.ggml_type);
    if (!type)
      return tbad("has type " + ggml_type_name(t.ggml_type) + " (" + std::to_string(t.ggml_type) +
                  "), unsupported (supported: F32, F16, BF16, Q8_0)");
    t.type = *type;
    if (t.type == dtype::q8_0 && t.dims[0] % q8_0_block != 0)
      return tbad("is Q8_0 with a row of " + std::to_string(t.dims[0]) + " values, not a multiple of 32");
    t.nbytes = dtype_bytes(t.type, static_cast<std::int64_t>(numel));
    if (t.offset % g.alignment != 0)
      return tbad("has offset " + std::to_string(t.offset) + ", not a multiple of the alignment " +
                  std::to_string(g.alignment));
    if (!names.insert(t.name).second) return tbad("appears twice");
    g.tensors.push_back(std::move(t));
  }

  const std::size_t data_start = (c.pos() + g.alignment - 1) / g.alignment * g.alignment;
  const std::size_t size = g.map->size();
  for (auto& t : g.tensors) {
    if (data_start > size || t.offset > size - data_start || t.nbytes > size - data_start - t.offset)
      return bad("tensor " + t.name + " data [" + std::to_string(t.offset) + ", " + std::to_string(t.offset + t.nbytes) +
                 ") runs past the end of the file (" + std::to_string(size) + " bytes; truncated?)");
    t.data = g.map->data() + data_start + t.offset;
  }
  return g;
}

}  // namespace kairos
