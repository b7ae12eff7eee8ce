// Writing a GGUF file, one tensor in memory at a time.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "gpu/base/atomic_file_writer.hpp"
#include "gpu/model/gguf.hpp"

namespace kairos {

namespace {


// Serialises metadata into a byte buffer (small: a few MB for a big vocabulary).
class encoder {
 public:
  std::vector<unsigned char> bytes;

  template <class T>
  void put(T v) {
    auto* p = reinterpret_cast<const unsigned char*>(&v);
    bytes.insert(bytes.end(), p, p + sizeof(T));  // the host is little-endian
  }
  void put_string(const std::string& s) {
    put<std::uint64_t>(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  void put_value(const gguf_value& v) {
    switch (v.type) {
      case gguf_type::u8: put(static_cast<std::uint8_t>(v.u)); break;
      case gguf_type::u16: put(static_cast<std::uint16_t>(v.u)); break;
      case gguf_type::u32: put(static_cast<std::uint32_t>(v.u)); break;
      case gguf_type::u64: put(static_cast<std::uint64_t>(v.u)); break;
      case gguf_type::i8: put(static_cast<std::int8_t>(v.i)); break;
      case gguf_type::i16: put(static_cast<std::int16_t>(v.i)); break;
      case gguf_type::i32: put(static_cast<std::int32_t>(v.i)); break;
      case gguf_type::i64: put(static_cast<std::int64_t>(v.i)); break;
      case gguf_type::f32: put(static_cast<float>(v.f)); break;
      case gguf_type::f64: put(v.f); break;
      case gguf_type::boolean: put(static_cast<std::uint8_t>(v.u ? 1 : 0)); break;
      case gguf_type::string: put_string(v.str); break;
      case gguf_type::array:
        put(static_cast<std::uint32_t>(v.elem_type));
        put<std::uint64_t>(v.items.size());
        for (const auto& item : v.items) put_value(item);
        break;
    }
  }
};

}  // namespace

status write_gguf(const std::string& path, const std::vector<std::pair<std::string, gguf_value>>& metadata,
                  const std::vector<gguf_tensor_out>& tensors, const gguf_write_header& header) {
  std::uint64_t alignment = header.alignment;
  bool has_alignment_key = false;
  for (const auto& [key, v] : metadata) {
    if (key != "general.alignment") continue;
    has_alignment_key = true;
    if (auto a = v.as_int(); a && *a > 0) alignment = static_cast<std::uint64_t>(*a);
  }
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) return make_error(path + ": alignment must be a power of two");
  const bool add_alignment_key = !has_alignment_key && alignment != gguf_default_alignment;

  encoder e;
  e.put(gguf_magic);
  e.put(header.version);
  e.put<std::uint64_t>(tensors.size());
  e.put<std::uint64_t>(metadata.size() + (add_alignment_key ? 1 : 0));
  if (add_alignment_key) {
    e.put_string("general.alignment");
    e.put(static_cast<std::uint32_t>(gguf_type::u32));
    e.put(static_cast<std::uint32_t>(alignment));
  }
  for (const auto& [key, v] : metadata) {
    e.put_string(key);
    e.put(static_cast<std::uint32_t>(v.type));
    e.put_value(v);
  }
  auto align_up = [&](std::uint64_t x) { return (x + alignment - 1) / alignment * alignment; };
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    e.put_string(t.name);
    e.put(static_cast<std::uint32_t>(t.dims.size()));
    for (auto d : t.dims) e.put<std::uint64_t>(d);
    e.put(t.ggml_type);
    e.put(offset);
    offset = align_up(offset + t.nbytes);
  }
  e.bytes.resize(align_up(e.bytes.size()), 0);

  auto file = atomic_file_writer::create(path);
  if (!file) return file.err();
  atomic_file_writer& out = file.value();
  auto fail = [&](const std::string& what) { return out.fail(what); };
  auto put = [&](const void* p, std::size_t n) { return out.write(p, n); };
  if (!put(e.bytes.data(), e.bytes.size())) return fail(std::string("write error: ") + std::strerror(errno));

  static const unsigned char zeros[256] = {};
  for (const auto& t : tensors) {
    std::vector<std::byte> made;
    std::span<const std::byte> bytes = t.data;
    if (t.produce) {
      auto r = t.produce();
      if (!r) return fail("tensor " + t.name + ": " + r.message());
      made = std::move(r).value();
      bytes = made;
    }
    if (bytes.size() != t.nbytes)
      return fail("tensor " + t.name + " has " + std::to_string(bytes.size()) + " bytes, declared " +
                  std::to_string(t.nbytes));
    if (!put(bytes.data(), bytes.size())) return fail(std::string("write error: ") + std::strerror(errno));
    for (std::size_t pad = align_up(t.nbytes) - t.nbytes; pad > 0;) {
      std::size_t n = pad < sizeof(zeros) ? pad : sizeof(zeros);
      if (!put(zeros, n)) return fail(std::string("write error: ") + std::strerror(errno));
      pad -= n;
    }
  }
  return out.commit();
}

}  // namespace kairos
