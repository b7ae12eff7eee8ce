// Writing .safetensors files, streaming tensor by tensor.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "gpu/base/atomic_file_writer.hpp"
#include "gpu/model/safetensors.hpp"

namespace kairos {

namespace {

using json = nlohmann::json;

const char* safetensors_dtype_name(dtype t) {
  switch (t) {
    case dtype::f32: return "F32";
    case dtype::f16: return "F16";
    case dtype::bf16: return "BF16";
    default: return nullptr;
  }
}


}  // namespace

result<safetensors_layout> safetensors_header(const std::vector<tensor_spec>& specs) {
  safetensors_layout layout;
  // ordered_json keeps the tensors in file order, as the data lies.
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  std::set<std::string> names;
  for (const auto& s : specs) {
    if (!safetensors_dtype_name(s.type))
      return make_error("tensor " + s.name + ": safetensors cannot store dtype " + dtype_name(s.type));
    if (s.name == "__metadata__" || !names.insert(s.name).second)
      return make_error("tensor " + s.name + ": duplicate or reserved name");
  }
  for (std::size_t i = 0; i < specs.size(); ++i) layout.order.push_back(i);
  std::stable_sort(layout.order.begin(), layout.order.end(), [&](std::size_t a, std::size_t b) {
    return dtype_bytes(specs[a].type, 1) > dtype_bytes(specs[b].type, 1);
  });
  layout.offsets.assign(specs.size(), 0);
  std::size_t offset = 0;
  for (std::size_t i : layout.order) {
    layout.offsets[i] = offset;
    offset += specs[i].nbytes();
  }
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& s = specs[i];
    header[s.name] = {{"dtype", safetensors_dtype_name(s.type)},
                      {"shape", s.shape},
                      {"data_offsets", {layout.offsets[i], layout.offsets[i] + s.nbytes()}}};
  }
  layout.data_bytes = offset;
  layout.header = header.dump();
  // Padding the header keeps the data start 8-byte aligned in a mapped file.
  layout.header.append((8 - layout.header.size() % 8) % 8, ' ');
  return layout;
}

status write_safetensors_streaming(const std::string& path, const std::vector<tensor_spec>& specs,
                                   const tensor_producer& produce) {
  auto layout = safetensors_header(specs);
  if (!layout) return make_error(path + ": " + layout.message());
  auto file = atomic_file_writer::create(path);
  if (!file) return file.err();
  atomic_file_writer& out = file.value();
  auto fail = [&](const std::string& what) { return out.fail(what); };
  auto put = [&](const void* p, std::size_t n) { return out.write(p, n); };

  unsigned char len[8];
  std::uint64_t n = layout->header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));  // little-endian
  if (!put(len, 8) || !put(layout->header.data(), layout->header.size()))
    return fail(std::string("write error: ") + std::strerror(errno));

  for (std::size_t i : layout->order) {
    const std::size_t want = specs[i].nbytes();
    std::size_t written = 0;
    byte_sink sink = [&](std::span<const std::byte> bytes) -> status {
      if (written + bytes.size() > want)
        return make_error("tensor " + specs[i].name + ": producer wrote more than its " + std::to_string(want) + " bytes");
      if (!put(bytes.data(), bytes.size())) return make_error(std::string("write error: ") + std::strerror(errno));
      written += bytes.size();
      return {};
    };
    if (auto s = produce(i, sink); !s) return fail(s.message());
    if (written != want)
      return fail("tensor " + specs[i].name + ": producer wrote " + std::to_string(written) + " bytes, expected " +
                  std::to_string(want));
  }
  return out.commit();
}

status write_safetensors(const std::string& path, const std::vector<raw_tensor>& tensors) {
  std::vector<tensor_spec> specs;
  for (const auto& t : tensors) {
    specs.push_back({t.name, t.type, t.shape});
    if (specs.back().nbytes() != t.nbytes)
      return make_error(path + ": tensor " + t.name + " holds " + std::to_string(t.nbytes) + " bytes, its shape needs " +
                        std::to_string(specs.back().nbytes()));
  }
  return write_safetensors_streaming(path, specs, [&](std::size_t i, const byte_sink& sink) {
    return sink({tensors[i].data, tensors[i].nbytes});
  });
}

status write_safetensors(const std::string& path, const tensor_store& tensors) {
  std::vector<raw_tensor> list;
  for (const auto& [name, t] : tensors.all()) list.push_back(t);
  return write_safetensors(path, list);
}

}  // namespace kairos
