// Malformed input: truncation at every byte and one targeted corruption per check.
// Each must throw GgufError naming the field and the byte offset; none may crash.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "../test_support.h"
#include "gguf/gguf_file.h"
#include "gguf_test_util.h"

namespace greta::gguf {
namespace {

using test::expect_gguf_error;
using test::RawGguf;

constexpr uint64_t kHuge = uint64_t{1} << 62;
constexpr uint32_t kF32 = 0, kQ8_0 = 8;

TEST(GgufMalformed, SmallValidFileParses) {
  const GgufFile f = GgufFile::from_bytes(test::small_valid_file(), "small.gguf");
  EXPECT_EQ(f.tensors().size(), 2u);
  const TensorInfo& b = f.tensors()[1];
  EXPECT_EQ(f.data_offset() + b.offset + b.n_bytes, f.file_size());
}

TEST(GgufMalformed, TruncatedAtEveryByteOfASmallFile) {
  const auto bytes = test::small_valid_file();
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_THROW(GgufFile::from_bytes(std::move(cut), "cut.gguf"), GgufError) << "truncated at " << n;
  }
}

TEST(GgufMalformed, TruncatedRealModel) {
  std::ifstream in(greta::test::shared_path("models/stories260K.gguf"), std::ios::binary);
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.size(), 1185376u);
  // Every byte of the header (metadata and tensor infos), then a few cuts inside the data.
  std::vector<size_t> cuts;
  for (size_t n = 0; n <= 14176; ++n) cuts.push_back(n);
  for (size_t n = 14177; n < bytes.size(); n += 65537) cuts.push_back(n);
  cuts.push_back(bytes.size() - 1);
  for (size_t n : cuts) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_THROW(GgufFile::from_bytes(std::move(cut), "cut.gguf"), GgufError) << "truncated at " << n;
  }
}

TEST(GgufMalformed, MessageNamesFileFieldAndOffset) {
  RawGguf r;
  r.header(1, 0);
  const uint64_t offset_at = r.pos() + 8 + 19 + 4 + 8 + 4;  // name, n_dims, dims, type
  r.tensor("blk.0.attn_q.weight", {8}, kF32, 4).pad().zeros(32);
  try {
    GgufFile::from_bytes(r.bytes, "model.gguf");
    FAIL();
  } catch (const GgufError& e) {
    EXPECT_EQ(std::string(e.what()), "model.gguf: tensor[0] \"blk.0.attn_q.weight\" offset at byte " +
                                         std::to_string(offset_at) + ": offset 4 is not a multiple of the alignment 32");
    EXPECT_EQ(e.field(), "tensor[0] \"blk.0.attn_q.weight\" offset");
  }
}

TEST(GgufMalformed, BadMagic) {
  auto bytes = test::small_valid_file();
  bytes[0] = 'X';
  expect_gguf_error(bytes, "magic", 0, "not a GGUF file");
}

TEST(GgufMalformed, Versions) {
  expect_gguf_error(RawGguf().header(0, 0, 1).bytes, "version", 4, "version 1 is not supported");
  expect_gguf_error(RawGguf().header(0, 0, 99).bytes, "version", 4, "unsupported GGUF version 99");
  expect_gguf_error(RawGguf().header(0, 0, 0x03000000).bytes, "version", 4, "big-endian");
  const GgufFile v2 = GgufFile::from_bytes(RawGguf().header(0, 0, 2).bytes, "v2.gguf");
  EXPECT_EQ(v2.version(), 2u);
}

TEST(GgufMalformed, AbsurdCounts) {
  expect_gguf_error(RawGguf().header(0, kHuge).bytes, "metadata_kv_count", 16, "cannot fit");
  expect_gguf_error(RawGguf().header(kHuge, 0).bytes, "tensor_count", 8, "cannot fit");
  expect_gguf_error(RawGguf().header(~uint64_t{0}, ~uint64_t{0}).bytes, "tensor_count", 8, "cannot fit");
}

TEST(GgufMalformed, AbsurdStringLengths) {
  RawGguf key;
  key.header(0, 1).u64(kHuge).u32(8).zeros(16);
  expect_gguf_error(key.bytes, "metadata[0] key", 24, "string length 4611686018427387904 exceeds");

  RawGguf value;
  value.header(0, 1).str("general.name").u32(8);
  const uint64_t at = value.pos();
  value.u64(~uint64_t{0}).zeros(16);
  expect_gguf_error(value.bytes, "metadata[0] \"general.name\" value", at, "string length");

  RawGguf name;
  name.header(1, 0).u64(kHuge).zeros(40);
  expect_gguf_error(name.bytes, "tensor[0] name", 24, "string length");
}

TEST(GgufMalformed, AbsurdArrayLength) {
  RawGguf r;
  r.header(0, 1).str("tokenizer.ggml.scores").u32(9).u32(6);
  const uint64_t at = r.pos();
  r.u64(kHuge).zeros(64);
  expect_gguf_error(r.bytes, "metadata[0] \"tokenizer.ggml.scores\" value array length", at, "cannot fit");
}

TEST(GgufMalformed, NestedArrayDepthBomb) {
  RawGguf r;
  r.header(0, 1).str("bomb").u32(9);
  for (int i = 0; i < 10000; ++i) r.u32(9).u64(1);
  try {
    GgufFile::from_bytes(r.bytes, "bomb.gguf");
    FAIL();
  } catch (const GgufError& e) {
    EXPECT_NE(std::string(e.what()).find("nested deeper than 16"), std::string::npos) << e.what();
    EXPECT_NE(e.field().find("metadata[0] \"bomb\" value[0][0]"), std::string::npos) << e.what();
  }
}

// An array value nested `depth` levels deep: [[...[7]...]].
Value nested(int depth) {
  Value v = Value::array(ValueType::U8, {Value{ValueType::U8, uint64_t{7}}});
  for (int i = 1; i < depth; ++i) v = Value::array(ValueType::ARRAY, {v});
  return v;
}

TEST(GgufMalformed, NestingUpToTheCapIsAccepted) {
  GgufWriter ok;
  ok.set("deep", nested(16));
  EXPECT_NO_THROW(GgufFile::from_bytes(ok.write_bytes(), "deep.gguf"));
  GgufWriter bad;
  bad.set("deep", nested(17));
  EXPECT_THROW(GgufFile::from_bytes(bad.write_bytes(), "deeper.gguf"), GgufError);
}

TEST(GgufMalformed, UnknownValueTypes) {
  RawGguf r;
  r.header(0, 1).str("k");
  const uint64_t at = r.pos();
  r.u32(13).u32(0);
  expect_gguf_error(r.bytes, "metadata[0] \"k\" type", at, "unknown value type id 13");

  RawGguf a;
  a.header(0, 1).str("k").u32(9);
  const uint64_t elem_at = a.pos();
  a.u32(0xffffffff).u64(0);
  expect_gguf_error(a.bytes, "metadata[0] \"k\" value array type", elem_at, "unknown value type id 4294967295");
}

TEST(GgufMalformed, BadBool) {
  RawGguf r;
  r.header(0, 1).str("flag").u32(7);
  const uint64_t at = r.pos();
  r.u8(2);
  expect_gguf_error(r.bytes, "metadata[0] \"flag\" value", at, "bool value 2 is neither 0 nor 1");
}

TEST(GgufMalformed, DuplicateKeyAndTensorName) {
  RawGguf k;
  k.header(0, 2).kv_u32("a.b", 1);
  const uint64_t at = k.pos();
  k.kv_u32("a.b", 2);
  expect_gguf_error(k.bytes, "metadata[1] key", at, "duplicate key \"a.b\" (first defined by metadata[0])");

  RawGguf t;
  t.header(2, 0).tensor("w", {8}, kF32, 0);
  const uint64_t name_at = t.pos();
  t.tensor("w", {8}, kF32, 32).pad().zeros(64);
  expect_gguf_error(t.bytes, "tensor[1] name", name_at, "duplicate tensor name \"w\"");
}

TEST(GgufMalformed, BadAlignmentValues) {
  for (uint32_t a : {0u, 3u, 48u}) {
    RawGguf r;
    r.header(0, 1).str("general.alignment").u32(4);
    const uint64_t at = r.pos();
    r.u32(a);
    expect_gguf_error(r.bytes, "metadata[0] \"general.alignment\" value", at,
                      "alignment " + std::to_string(a) + " is not a nonzero power of two");
  }
  RawGguf neg;
  neg.header(0, 1).str("general.alignment").u32(5).put<int32_t>(-32);
  expect_gguf_error(neg.bytes, "\"general.alignment\" value", 24 + 8 + 17 + 4, "alignment -32");
  RawGguf str;
  str.header(0, 1).str("general.alignment").u32(8).str("32");
  expect_gguf_error(str.bytes, "\"general.alignment\" value", 24 + 8 + 17 + 4, "must be an unsigned integer");
}

TEST(GgufMalformed, CustomAlignmentIsUsed) {
  RawGguf r;
  r.header(1, 1).kv_u32("general.alignment", 64).tensor("w", {16}, kF32, 0).pad(64).zeros(64);
  const GgufFile f = GgufFile::from_bytes(r.bytes, "a64.gguf");
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset(), 128u);
}

// A file with one tensor info written by `tensor_info`, and enough data after it.
template <class F>
std::vector<uint8_t> one_tensor(F tensor_info, size_t data = 64) {
  RawGguf r;
  r.header(1, 0);
  tensor_info(r);
  return r.pad().zeros(data).bytes;
}

TEST(GgufMalformed, TensorTypes) {
  const uint64_t type_at = 24 + 9 + 4 + 8;
  expect_gguf_error(one_tensor([](RawGguf& r) { r.tensor("w", {32}, 77, 0); }), "tensor[0] \"w\" type", type_at,
                    "unknown tensor type id 77");
  expect_gguf_error(one_tensor([](RawGguf& r) { r.tensor("w", {32}, 3, 0); }), "tensor[0] \"w\" type", type_at,
                    "unsupported tensor type q4_1 (id 3)");
  expect_gguf_error(one_tensor([](RawGguf& r) { r.tensor("w", {32}, 10, 0); }), "tensor[0] \"w\" type", type_at,
                    "unsupported tensor type q2_K (id 10)");
}

TEST(GgufMalformed, TensorDimensions) {
  expect_gguf_error(one_tensor([](RawGguf& r) { r.tensor("w", {1, 1, 1, 1, 1, 1, 1, 1, 1}, kF32, 0); }),
                    "tensor[0] \"w\" n_dims", 33, "n_dims 9 is outside 1..4");
  expect_gguf_error(one_tensor([](RawGguf& r) { r.tensor("w", {}, kF32, 0); }), "tensor[0] \"w\" n_dims", 33,
                    "n_dims 0");
  expect_gguf_error(one_tensor([](RawGguf& r) { r.tensor("w", {uint64_t{1} << 32, uint64_t{1} << 32}, kF32, 0); }),
                    "tensor[0] \"w\" dims[1]", 45, "element count overflows int64");
  expect_gguf_error(one_tensor([](RawGguf& r) { r.tensor("w", {~uint64_t{0}}, kF32, 0); }),
                    "tensor[0] \"w\" dims[0]", 37, "does not fit in int64");
  // Fits int64 elements, but not in bytes.
  expect_gguf_error(one_tensor([](RawGguf& r) { r.tensor("w", {uint64_t{1} << 62}, kF32, 0); }),
                    "tensor[0] \"w\" dims", 37, "tensor byte size overflows");
  expect_gguf_error(one_tensor([](RawGguf& r) { r.tensor("w", {uint64_t{1} << 61}, kF32, 0); }),
                    "tensor[0] \"w\" offset", 49, "beyond the end of the file");
  expect_gguf_error(one_tensor([](RawGguf& r) { r.tensor("w", {33}, kQ8_0, 0); }), "tensor[0] \"w\" dims[0]", 37,
                    "row length 33 is not a multiple of the q8_0 block size 32");
}

TEST(GgufMalformed, ZeroSizedTensorIsAccepted) {
  const GgufFile f = GgufFile::from_bytes(one_tensor([](RawGguf& r) { r.tensor("w", {0, 5}, kF32, 0); }, 0), "z");
  EXPECT_EQ(f.tensors()[0].n_bytes, 0u);
  EXPECT_NE(f.tensor_data(f.tensors()[0]), nullptr);
}

TEST(GgufMalformed, TensorOffsets) {
  expect_gguf_error(one_tensor([](RawGguf& r) { r.tensor("w", {8}, kF32, 16); }), "tensor[0] \"w\" offset", 49,
                    "offset 16 is not a multiple of the alignment 32");
  expect_gguf_error(one_tensor([](RawGguf& r) { r.tensor("w", {8}, kF32, 64); }), "tensor[0] \"w\" offset", 49,
                    "beyond the end of the file");
  expect_gguf_error(one_tensor([](RawGguf& r) { r.tensor("w", {8}, kF32, ~uint64_t{31}); }),
                    "tensor[0] \"w\" offset", 49, "beyond the end of the file");
  // Exactly filling the file is fine.
  EXPECT_NO_THROW(GgufFile::from_bytes(one_tensor([](RawGguf& r) { r.tensor("w", {8}, kF32, 32); }), "fits"));
}

TEST(GgufMalformed, OverlappingTensors) {
  RawGguf r;
  r.header(3, 0).tensor("a", {16}, kF32, 0).tensor("b", {8}, kF32, 128);
  const uint64_t at = r.pos() + 9 + 4 + 8 + 4;
  r.tensor("c", {8}, kF32, 32).pad().zeros(256);
  expect_gguf_error(r.bytes, "tensor[2] \"c\" offset", at, "data overlaps tensor[0] \"a\"");
}

TEST(GgufMalformed, HostileNamesAreEscapedInMessages) {
  RawGguf r;
  r.header(0, 1).str(std::string("evil\n\x1b[2J", 9)).u32(42);
  try {
    GgufFile::from_bytes(r.bytes, "x.gguf");
    FAIL();
  } catch (const GgufError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find('\x1b'), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("\"evil\\n\\x1b[2J\""), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace greta::gguf
