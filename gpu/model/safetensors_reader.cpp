// Reading .safetensors files (single and sharded) into a tensor_store, zero copy.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>

#include "gpu/model/safetensors.hpp"

namespace kairos {

namespace {

using json = nlohmann::json;

std::optional<dtype> dtype_from_safetensors(const std::string& s) {
  if (s == "F32") return dtype::f32;
  if (s == "F16") return dtype::f16;
  if (s == "BF16") return dtype::bf16;
  return std::nullopt;
}

bool is_nonneg_int(const json& v) { return v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0); }

// Largest element count we believe in: keeps numel * 4 far from overflowing.
constexpr std::uint64_t max_numel = std::uint64_t{1} << 48;

// Parses one header entry into `t` (data not yet set). `data_size` is the
// number of bytes after the header.
status parse_entry(const std::string& path, const std::string& name, const json& e, std::uint64_t data_size,
                   raw_tensor& t, std::uint64_t& begin) {
  auto bad = [&](const std::string& what) { return make_error(path + ": tensor " + name + " " + what); };
  if (!e.is_object()) return bad("has a header entry that is not an object");
  auto d = e.find("dtype");
  if (d == e.end() || !d->is_string()) return bad("has no dtype");
  auto type = dtype_from_safetensors(d->get<std::string>());
  if (!type) return bad("has unsupported dtype " + d->get<std::string>() + " (supported: F32, F16, BF16)");
  auto s = e.find("shape");
  if (s == e.end() || !s->is_array()) return bad("has no shape");
  std::uint64_t numel = 1;
  t.shape.clear();
  for (const auto& dim : *s) {
    if (!is_nonneg_int(dim)) return bad("has a shape that is not a list of non-negative integers: " + s->dump());
    auto v = dim.get<std::uint64_t>();
    if (v > max_numel || (v > 0 && numel > max_numel / v)) return bad("has an absurd shape " + s->dump());
    numel *= v;
    t.shape.push_back(static_cast<std::int64_t>(v));
  }
  auto o = e.find("data_offsets");
  if (o == e.end() || !o->is_array() || o->size() != 2 || !is_nonneg_int((*o)[0]) || !is_nonneg_int((*o)[1]))
    return bad("has no valid data_offsets [begin, end]");
  begin = (*o)[0].get<std::uint64_t>();
  std::uint64_t end = (*o)[1].get<std::uint64_t>();
  if (begin > end) return bad("has data_offsets " + o->dump() + " with begin after end");
  if (end > data_size)
    return bad("has data_offsets " + o->dump() + " beyond the end of the data (" + std::to_string(data_size) +
               " bytes; file truncated?)");
  std::uint64_t want = dtype_bytes(*type, static_cast<std::int64_t>(numel));
  if (end - begin != want)
    return bad("has data_offsets " + o->dump() + " spanning " + std::to_string(end - begin) + " bytes, but " +
               d->get<std::string>() + " " + s->dump() + " takes " + std::to_string(want));
  t.name = name;
  t.type = *type;
  t.nbytes = static_cast<std::size_t>(want);
  t.file = path;
  return {};
}

result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return make_error(path + ": read error");
  return ss.str();
}

}  // namespace

status read_safetensors(const std::string& path, tensor_store& out) {
  auto opened = mapped_file::open(path);
  if (!opened) return opened.err();
  std::shared_ptr<mapped_file> file = *opened;
  const std::size_t size = file->size();
  if (size < 8)
    return make_error(path + ": truncated: " + std::to_string(size) +
                      " bytes, shorter than the 8-byte header length of a safetensors file");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<std::uint8_t>(file->data()[i]);  // little-endian
  if (n > size - 8)
    return make_error(path + ": header length " + std::to_string(n) + " runs past the end of the file (" +
                      std::to_string(size) + " bytes; truncated or not a safetensors file)");
  if (n > safetensors_max_header_bytes)
    return make_error(path + ": header length " + std::to_string(n) + " exceeds the " +
                      std::to_string(safetensors_max_header_bytes) + "-byte limit");
  if (n < 2) return make_error(path + ": header length " + std::to_string(n) + " is too small for a JSON object");

  json header;
  try {
    std::string_view text(reinterpret_cast<const char*>(file->data()) + 8, static_cast<std::size_t>(n));
    header = json::parse(text);
  } catch (const std::exception& e) {
    return make_error(path + ": corrupt JSON header: " + e.what());
  }
  if (!header.is_object()) return make_error(path + ": JSON header is not an object");

  const std::byte* data = file->data() + 8 + n;
  const std::uint64_t data_size = size - 8 - n;
  std::vector<raw_tensor> tensors;
  std::vector<std::shared_ptr<const void>> copies;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    raw_tensor t;
    std::uint64_t begin = 0;
    if (auto s = parse_entry(path, it.key(), it.value(), data_size, t, begin); !s) return s;
    t.data = data + begin;
    // Offsets need not be aligned to the element size; the engine reads
    // elements through typed pointers, so misaligned tensors get an aligned copy.
    const std::size_t align = t.type == dtype::f32 ? 4 : 2;
    if (reinterpret_cast<std::uintptr_t>(t.data) % align != 0 && t.nbytes > 0) {
      auto copy = std::shared_ptr<float[]>(new float[(t.nbytes + 3) / 4]);
      std::memcpy(copy.get(), t.data, t.nbytes);
      t.data = reinterpret_cast<const std::byte*>(copy.get());
      copies.push_back(copy);
    }
    tensors.push_back(std::move(t));
  }
  for (auto& t : tensors) out.add(std::move(t));
  out.keep_alive(file);
  for (auto& c : copies) out.keep_alive(std::move(c));
  return {};
}

status read_safetensors_index(const std::string& index_path, tensor_store& out) {
  auto text = read_text_file(index_path);
  if (!text) return text.err();
  json index;
  try {
    index = json::parse(*text);
  } catch (const std::exception& e) {
    return make_error(index_path + ": invalid JSON: " + e.what());
  }
  auto wm = index.is_object() ? index.find("weight_map") : index.end();
  if (!index.is_object() || wm == index.end() || !wm->is_object())
    return make_error(index_path + ": field 'weight_map' is missing or not an object");

  const std::filesystem::path dir = std::filesystem::path(index_path).parent_path();
  std::vector<std::string> shards;  // in first-mention order
  std::set<std::string> seen;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it.value().is_string())
      return make_error(index_path + ": weight_map entry for tensor " + it.key() + " is not a file name");
    if (seen.insert(it.value().get<std::string>()).second) shards.push_back(it.value().get<std::string>());
  }
  tensor_store staged;
  for (const auto& shard : shards)
    if (auto s = read_safetensors((dir / shard).string(), staged); !s) return s;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    const raw_tensor* t = staged.find(it.key());
    const std::string shard_path = (dir / it.value().get<std::string>()).string();
    if (!t || t->file != shard_path)
      return make_error(index_path + ": tensor " + it.key() + " is mapped to " + it.value().get<std::string>() +
                        ", which does not contain it");
  }
  out.merge(std::move(staged));
  return {};
}

}  // namespace kairos
