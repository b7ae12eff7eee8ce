// safetensors: write -> read round trips (single, sharded), and every kind of
// bad file giving an error that names the file and the tensor.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gpu/model/safetensors.hpp"

#include "model_test_support.hpp"

using namespace kairos;
using namespace kairos::test;
namespace fs = std::filesystem;

namespace {

// A safetensors file from a header text and `data_bytes` bytes of data.
std::string raw_file(const std::string& header, std::size_t data_bytes, std::uint64_t claimed_len = 0) {
  std::uint64_t n = claimed_len ? claimed_len : header.size();
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
  return s + header + std::string(data_bytes, '\x01');
}

// Owned tensor data plus a raw_tensor pointing at it.
struct owned_tensor {
  std::vector<std::byte> bytes;
  raw_tensor t;
};

owned_tensor make_tensor(const std::string& name, dtype type, std::vector<std::int64_t> shape, float scale) {
  owned_tensor o;
  o.t.name = name;
  o.t.type = type;
  o.t.shape = std::move(shape);
  const std::int64_t n = o.t.numel();
  o.bytes.resize(dtype_bytes(type, n));
  for (std::int64_t i = 0; i < n; ++i) {
    float v = scale * static_cast<float>(i % 97 - 48);
    if (type == dtype::f32) {
      std::memcpy(o.bytes.data() + 4 * i, &v, 4);
    } else {
      std::uint16_t h = type == dtype::f16 ? f32_to_f16(v) : f32_to_bf16(v);
      std::memcpy(o.bytes.data() + 2 * i, &h, 2);
    }
  }
  o.t.data = o.bytes.data();
  o.t.nbytes = o.bytes.size();
  return o;
}

std::string error_of(const std::string& path) {
  tensor_store store;
  auto s = read_safetensors(path, store);
  CHECK(store.all().empty());  // a failed read adds nothing
  return s.ok() ? std::string("<no error>") : s.message();
}

}  // namespace

TEST_CASE("safetensors round trip: F32, F16, BF16 byte-identical, zero copy") {
  temp_dir dir("kairos_st");
  std::vector<owned_tensor> src;
  src.push_back(make_tensor("a.f32", dtype::f32, {3, 5}, 0.25f));
  src.push_back(make_tensor("b.f16", dtype::f16, {7}, 0.5f));
  src.push_back(make_tensor("c.bf16", dtype::bf16, {2, 3, 4}, 1.5f));
  src.push_back(make_tensor("d.scalar", dtype::f32, {}, 2.0f));
  std::vector<raw_tensor> list;
  for (auto& o : src) list.push_back(o.t);
  const std::string path = dir.file("model.safetensors");
  REQUIRE(write_safetensors(path, list).ok());
  CHECK_FALSE(fs::exists(path + ".tmp"));

  tensor_store store;
  auto s = read_safetensors(path, store);
  REQUIRE_MESSAGE(s.ok(), s.message());
  REQUIRE(store.all().size() == 4);
  const std::string file = read_bytes(path);
  for (auto& o : src) {
    CAPTURE(o.t.name);
    const raw_tensor* t = store.find(o.t.name);
    REQUIRE(t != nullptr);
    CHECK(t->type == o.t.type);
    CHECK(t->shape == o.t.shape);
    CHECK(t->file == path);
    REQUIRE(t->nbytes == o.bytes.size());
    CHECK(std::memcmp(t->data, o.bytes.data(), t->nbytes) == 0);
  }
  // Zero copy: the tensors lie in one mapped block, at the offsets the writer laid out.
  std::vector<tensor_spec> specs;
  for (auto& o : src) specs.push_back({o.t.name, o.t.type, o.t.shape});
  auto layout = safetensors_header(specs);
  REQUIRE(layout.ok());
  CHECK(fs::file_size(path) == layout->file_bytes());
  const std::byte* base = store.find("a.f32")->data;
  for (std::size_t i = 0; i < src.size(); ++i)
    CHECK(store.find(src[i].t.name)->data - base == static_cast<std::ptrdiff_t>(layout->offsets[i]));
  // F32 tensors first, so the 4-byte scalar after 14-byte F16 data still starts aligned.
  CHECK(layout->order == std::vector<std::size_t>{0, 3, 1, 2});
  CHECK(layout->offsets[3] == 60);
  // The header is 8-byte padded, so data starts aligned in the map.
  std::uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  CHECK(n % 8 == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(store.find("a.f32")->data) % 4 == 0);
  // Values survive: F32 exactly, and a BF16 value decodes to what was written.
  float v;
  std::memcpy(&v, store.find("a.f32")->data + 4 * 10, 4);
  CHECK(v == 0.25f * (10 - 48));
  std::uint16_t h;
  std::memcpy(&h, store.find("c.bf16")->data + 2 * 5, 2);
  CHECK(bf16_to_f32(h) == 1.5f * (5 - 48));
}

TEST_CASE("safetensors: the store keeps the map alive after the file is gone") {
  temp_dir dir("kairos_st");
  auto o = make_tensor("w", dtype::f32, {4, 4}, 1.0f);
  const std::string path = dir.file("m.safetensors");
  REQUIRE(write_safetensors(path, std::vector<raw_tensor>{o.t}).ok());
  tensor_store store;
  REQUIRE(read_safetensors(path, store).ok());
  fs::remove(path);
  CHECK(std::memcmp(store.find("w")->data, o.bytes.data(), o.bytes.size()) == 0);
}

TEST_CASE("safetensors streaming writer matches the laid-out header and checks producer sizes") {
  temp_dir dir("kairos_st");
  std::vector<tensor_spec> specs = {{"x", dtype::bf16, {3, 4}}, {"y", dtype::f32, {5}}};
  auto layout = safetensors_header(specs);
  REQUIRE(layout.ok());
  CHECK(layout->header.size() % 8 == 0);
  CHECK(layout->offsets == std::vector<std::size_t>{20, 0});  // F32 "y" first
  CHECK(layout->data_bytes == 24 + 20);
  const std::string path = dir.file("s.safetensors");
  auto ok = write_safetensors_streaming(path, specs, [&](std::size_t i, const byte_sink& sink) -> status {
    std::vector<std::byte> b(specs[i].nbytes(), std::byte{static_cast<unsigned char>(i + 1)});
    // in two pieces, to exercise appending
    if (auto s = sink({b.data(), 3}); !s) return s;
    return sink({b.data() + 3, b.size() - 3});
  });
  REQUIRE_MESSAGE(ok.ok(), ok.message());
  CHECK(fs::file_size(path) == layout->file_bytes());
  tensor_store store;
  REQUIRE(read_safetensors(path, store).ok());
  CHECK(static_cast<int>(store.find("y")->data[19]) == 2);
  CHECK(static_cast<int>(store.find("x")->data[23]) == 1);

  auto short_write = write_safetensors_streaming(dir.file("short.safetensors"), specs,
                                                 [&](std::size_t, const byte_sink& sink) -> status {
                                                   std::vector<std::byte> b(4);
                                                   return sink(b);
                                                 });
  REQUIRE_FALSE(short_write.ok());
  CHECK(contains(short_write.message(), "tensor y: producer wrote 4 bytes, expected 20"));
  CHECK_FALSE(fs::exists(dir.file("short.safetensors")));
  CHECK_FALSE(fs::exists(dir.file("short.safetensors.tmp")));

  auto q8 = safetensors_header({{"q", dtype::q8_0, {32}}});
  REQUIRE_FALSE(q8.ok());
  CHECK(contains(q8.message(), "tensor q"));
  CHECK_FALSE(safetensors_header({{"a", dtype::f32, {1}}, {"a", dtype::f32, {1}}}).ok());
}

TEST_CASE("safetensors sharded checkpoint through model.safetensors.index.json") {
  temp_dir dir("kairos_st");
  auto a = make_tensor("model.a", dtype::f32, {4}, 1.0f);
  auto b = make_tensor("model.b", dtype::bf16, {2, 2}, 2.0f);
  auto c = make_tensor("model.c", dtype::f16, {3}, 3.0f);
  REQUIRE(write_safetensors(dir.file("model-00001-of-00002.safetensors"), std::vector<raw_tensor>{a.t, b.t}).ok());
  REQUIRE(write_safetensors(dir.file("model-00002-of-00002.safetensors"), std::vector<raw_tensor>{c.t}).ok());
  write_bytes(dir.file("model.safetensors.index.json"), R"({"metadata": {"total_size": 30}, "weight_map": {
    "model.a": "model-00001-of-00002.safetensors",
    "model.b": "model-00001-of-00002.safetensors",
    "model.c": "model-00002-of-00002.safetensors"}})");
  tensor_store store;
  auto s = read_safetensors_index(dir.file("model.safetensors.index.json"), store);
  REQUIRE_MESSAGE(s.ok(), s.message());
  REQUIRE(store.all().size() == 3);
  CHECK(store.find("model.c")->file == dir.file("model-00002-of-00002.safetensors"));
  CHECK(std::memcmp(store.find("model.c")->data, c.bytes.data(), c.bytes.size()) == 0);
  CHECK(std::memcmp(store.find("model.b")->data, b.bytes.data(), b.bytes.size()) == 0);

  // A tensor mapped to the wrong shard, and a missing shard.
  write_bytes(dir.file("bad.index.json"), R"({"weight_map": {"model.c": "model-00001-of-00002.safetensors"}})");
  tensor_store s2;
  auto wrong = read_safetensors_index(dir.file("bad.index.json"), s2);
  REQUIRE_FALSE(wrong.ok());
  CHECK(contains(wrong.message(), "bad.index.json"));
  CHECK(contains(wrong.message(), "model.c"));
  CHECK(s2.all().empty());
  write_bytes(dir.file("gone.index.json"), R"({"weight_map": {"model.z": "model-00009.safetensors"}})");
  auto gone = read_safetensors_index(dir.file("gone.index.json"), s2);
  REQUIRE_FALSE(gone.ok());
  CHECK(contains(gone.message(), "model-00009.safetensors"));
  write_bytes(dir.file("nomap.index.json"), R"({"metadata": {}})");
  auto nomap = read_safetensors_index(dir.file("nomap.index.json"), s2);
  REQUIRE_FALSE(nomap.ok());
  CHECK(contains(nomap.message(), "weight_map"));
}

TEST_CASE("safetensors: bad files give errors naming the file and the tensor") {
  temp_dir dir("kairos_st");
  auto o = make_tensor("model.w", dtype::f32, {4, 8}, 1.0f);
  const std::string good = dir.file("good.safetensors");
  REQUIRE(write_safetensors(good, std::vector<raw_tensor>{o.t}).ok());
  const std::string bytes = read_bytes(good);

  SUBCASE("truncated file: the data runs past the end") {
    const std::string p = dir.file("trunc.safetensors");
    write_bytes(p, bytes.substr(0, bytes.size() - 5));
    std::string e = error_of(p);
    CHECK(contains(e, p));
    CHECK(contains(e, "tensor model.w"));
    CHECK(contains(e, "data_offsets"));
  }
  SUBCASE("shorter than the length prefix") {
    const std::string p = dir.file("tiny.safetensors");
    write_bytes(p, "abc");
    std::string e = error_of(p);
    CHECK(contains(e, p));
    CHECK(contains(e, "truncated"));
  }
  SUBCASE("header length beyond the file") {
    const std::string p = dir.file("len.safetensors");
    write_bytes(p, raw_file("{}", 0, 1000));
    std::string e = error_of(p);
    CHECK(contains(e, p));
    CHECK(contains(e, "header length 1000"));
  }
  SUBCASE("absurd header length") {
    const std::string p = dir.file("huge.safetensors");
    std::string f = raw_file("{}", 0, 1ull << 60);
    write_bytes(p, f);
    CHECK(contains(error_of(p), "header length"));
  }
  SUBCASE("corrupt JSON header") {
    const std::string p = dir.file("json.safetensors");
    write_bytes(p, raw_file(R"({"model.w": {"dtype": "F32", "shape": [4, 8], )", 128));
    std::string e = error_of(p);
    CHECK(contains(e, p));
    CHECK(contains(e, "corrupt JSON header"));
  }
  SUBCASE("data_offsets out of range") {
    const std::string p = dir.file("range.safetensors");
    write_bytes(p, raw_file(R"({"model.w": {"dtype": "F32", "shape": [4, 8], "data_offsets": [64, 192]}})", 128));
    std::string e = error_of(p);
    CHECK(contains(e, p));
    CHECK(contains(e, "tensor model.w"));
    CHECK(contains(e, "beyond the end of the data"));
  }
  SUBCASE("data_offsets that disagree with the shape") {
    const std::string p = dir.file("size.safetensors");
    write_bytes(p, raw_file(R"({"model.w": {"dtype": "F32", "shape": [4, 8], "data_offsets": [0, 100]}})", 128));
    std::string e = error_of(p);
    CHECK(contains(e, "tensor model.w"));
    CHECK(contains(e, "takes 128"));
  }
  SUBCASE("begin after end, negative dims, missing fields") {
    const std::string p = dir.file("misc.safetensors");
    write_bytes(p, raw_file(R"({"model.w": {"dtype": "F32", "shape": [4, 8], "data_offsets": [128, 0]}})", 128));
    CHECK(contains(error_of(p), "begin after end"));
    write_bytes(p, raw_file(R"({"model.w": {"dtype": "F32", "shape": [-4, 8], "data_offsets": [0, 128]}})", 128));
    CHECK(contains(error_of(p), "tensor model.w has a shape"));
    write_bytes(p, raw_file(R"({"model.w": {"shape": [4, 8], "data_offsets": [0, 128]}})", 128));
    CHECK(contains(error_of(p), "tensor model.w has no dtype"));
    write_bytes(p, raw_file(R"({"model.w": {"dtype": "F32", "shape": [4, 8]}})", 128));
    CHECK(contains(error_of(p), "tensor model.w has no valid data_offsets"));
    write_bytes(p, raw_file(R"([1, 2, 3])", 0));
    CHECK(contains(error_of(p), "not an object"));
  }
  SUBCASE("unsupported dtypes") {
    const std::string p = dir.file("dtype.safetensors");
    write_bytes(p, raw_file(R"({"__metadata__": {"format": "pt"}, "model.ids": {"dtype": "I64", "shape": [4], "data_offsets": [0, 32]}})", 32));
    std::string e = error_of(p);
    CHECK(contains(e, p));
    CHECK(contains(e, "tensor model.ids has unsupported dtype I64"));
    write_bytes(p, raw_file(R"({"model.fp8": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}})", 4));
    CHECK(contains(error_of(p), "tensor model.fp8 has unsupported dtype F8_E4M3"));
  }
  SUBCASE("missing file") {
    std::string e = error_of(dir.file("nope.safetensors"));
    CHECK(contains(e, "nope.safetensors"));
  }
}

TEST_CASE("safetensors: unaligned data offsets are copied to aligned memory") {
  temp_dir dir("kairos_st");
  // The data starts 4-byte aligned; the tensor begins 2 bytes in, so it is not.
  std::string header = R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [2, 10]}})";
  while ((8 + header.size()) % 4 != 0) header += ' ';
  std::string f = raw_file(header, 0);
  std::string data(2, '\0');
  float vals[2] = {1.5f, -2.25f};
  data.append(reinterpret_cast<const char*>(vals), 8);
  f += data;
  const std::string p = dir.file("unaligned.safetensors");
  write_bytes(p, f);
  tensor_store store;
  auto s = read_safetensors(p, store);
  REQUIRE_MESSAGE(s.ok(), s.message());
  const raw_tensor* t = store.find("t");
  REQUIRE(t != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(t->data) % 4 == 0);
  float got[2];
  std::memcpy(got, t->data, 8);
  CHECK(got[0] == 1.5f);
  CHECK(got[1] == -2.25f);
}
