// Writer -> reader round trips: every value type, nested arrays, every tensor type.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "gguf_test_util.h"

namespace greta::gguf {
namespace {

Value scalar(ValueType t, uint64_t u) { return {t, u}; }
Value signed_scalar(ValueType t, int64_t i) { return {t, i}; }

TEST(GgufRoundTrip, EveryScalarValueType) {
  GgufWriter w;
  w.set("u8", scalar(ValueType::U8, 255));
  w.set("i8", signed_scalar(ValueType::I8, -128));
  w.set("u16", scalar(ValueType::U16, 65535));
  w.set("i16", signed_scalar(ValueType::I16, -32768));
  w.set("u32", Value::u32(4000000000u));
  w.set("i32", Value::i32(-2000000000));
  w.set("u64", Value::u64(std::numeric_limits<uint64_t>::max()));
  w.set("i64", signed_scalar(ValueType::I64, std::numeric_limits<int64_t>::min()));
  w.set("f32", Value::f32(1e-5f));
  w.set("f64", Value{ValueType::F64, 3.141592653589793});
  w.set("bool", Value::boolean(true));
  w.set("string", Value::string(std::string("h\xc3\xa9llo\0x", 8)));
  w.set("empty", Value::string(""));
  const GgufFile f = GgufFile::from_bytes(w.write_bytes(), "rt.gguf");

  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  ASSERT_EQ(f.metadata().size(), 13u);
  EXPECT_EQ(f.metadata()[0].key, "u8");  // insertion order
  EXPECT_EQ(f.metadata()[12].key, "empty");
  EXPECT_EQ(f.find("u8")->type, ValueType::U8);
  EXPECT_EQ(f.get_uint("u8"), 255u);
  EXPECT_EQ(f.get_int("i8"), -128);
  EXPECT_EQ(f.get_uint("u16"), 65535u);
  EXPECT_EQ(f.get_int("i16"), -32768);
  EXPECT_EQ(f.get_uint("u32"), 4000000000u);
  EXPECT_EQ(f.get_int("i32"), -2000000000);
  EXPECT_EQ(f.get_uint("u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f.get_int("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f.get_float("f32"), static_cast<double>(1e-5f));
  EXPECT_EQ(f.get_float("f64"), 3.141592653589793);
  EXPECT_EQ(f.get_float("u32"), 4000000000.0);  // integers read as floats
  EXPECT_EQ(f.get_bool("bool"), true);
  EXPECT_EQ(f.get_string("string"), std::string("h\xc3\xa9llo\0x", 8));
  EXPECT_EQ(f.get_string("empty"), "");
  EXPECT_EQ(f.find("absent"), nullptr);
  EXPECT_EQ(f.get_uint("absent"), std::nullopt);
  EXPECT_EQ(f.get_array("absent"), nullptr);
  for (const auto& kv : f.metadata()) {  // each key is named after its type
    if (kv.key != "empty") {
      EXPECT_EQ(kv.key, value_type_name(kv.value.type));
    }
  }
}

TEST(GgufRoundTrip, TypedGettersRefuseWrongTypesNamingTheKey) {
  GgufWriter w;
  w.set("name", Value::string("x"));
  w.set("neg", Value::i32(-1));
  w.set("big", Value::u64(std::numeric_limits<uint64_t>::max()));
  const GgufFile f = GgufFile::from_bytes(w.write_bytes(), "t.gguf");
  for (auto call : {+[](const GgufFile& f) { (void)f.get_uint("name"); }, +[](const GgufFile& f) { (void)f.get_int("name"); },
                    +[](const GgufFile& f) { (void)f.get_float("name"); }, +[](const GgufFile& f) { (void)f.get_bool("name"); },
                    +[](const GgufFile& f) { (void)f.get_array("name"); }}) {
    try {
      call(f);
      ADD_FAILURE() << "expected a type error";
    } catch (const GgufError& e) {
      EXPECT_NE(std::string(e.what()).find("metadata[0] \"name\""), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("has type string"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW((void)f.get_uint("neg"), GgufError);
  EXPECT_EQ(f.get_int("neg"), -1);
  EXPECT_THROW((void)f.get_int("big"), GgufError);
  EXPECT_THROW((void)f.get_string("neg"), GgufError);
}

bool is_unsigned(ValueType t) {
  return t == ValueType::U8 || t == ValueType::U16 || t == ValueType::U32 || t == ValueType::U64;
}

// Item i of a test array: 3*i for unsigned types, -i for signed ones.
Value small_int(ValueType t, int i) {
  if (is_unsigned(t)) return scalar(t, static_cast<uint64_t>(i * 3));
  return signed_scalar(t, -i);
}

std::string tensor_name(size_t i) { return std::string("t") + std::to_string(i); }

TEST(GgufRoundTrip, ArraysOfEveryTypeAndNestedArrays) {
  GgufWriter w;
  const std::vector<ValueType> scalar_types = {ValueType::U8,  ValueType::I8,  ValueType::U16, ValueType::I16,
                                               ValueType::U32, ValueType::I32, ValueType::U64, ValueType::I64};
  for (ValueType t : scalar_types) {
    std::vector<Value> items;
    for (int i = 0; i < 20; ++i)
      items.push_back(small_int(t, i));
    w.set(std::string("arr.") + value_type_name(t), Value::array(t, items));
  }
  w.set("arr.f32", Value::f32_array({0.5f, -1.25f, 3e38f}));
  w.set("arr.f64", Value::array(ValueType::F64, {Value{ValueType::F64, 1e300}, Value{ValueType::F64, -0.0}}));
  w.set("arr.bool", Value::array(ValueType::BOOL, {Value::boolean(true), Value::boolean(false)}));
  w.set("arr.string", Value::string_array({"", "a", "\xff\xfe"}));
  w.set("arr.i32_helper", Value::i32_array({1, -2, 3}));
  w.set("arr.empty", Value::array(ValueType::STRING, {}));
  // [[[1, 2], []], [[3]]]: arrays of arrays of arrays.
  const Value nested = Value::array(
      ValueType::ARRAY,
      {Value::array(ValueType::ARRAY, {Value::array(ValueType::U32, {Value::u32(1), Value::u32(2)}),
                                       Value::array(ValueType::U32, {})}),
       Value::array(ValueType::ARRAY, {Value::array(ValueType::STRING, {Value::string("three")})})});
  w.set("arr.nested", nested);
  const GgufFile f = GgufFile::from_bytes(w.write_bytes(), "arr.gguf");

  for (ValueType t : scalar_types) {
    const Array* a = f.get_array(std::string("arr.") + value_type_name(t));
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->elem_type, t);
    ASSERT_EQ(a->items.size(), 20u);
    EXPECT_EQ(a->items[7].as_i64(), is_unsigned(t) ? 21 : -7);
  }
  EXPECT_EQ(f.get_array("arr.f32")->items[1].as_f64(), -1.25);
  EXPECT_EQ(f.get_array("arr.f32")->items[2].as_f64(), static_cast<double>(3e38f));
  EXPECT_EQ(f.get_array("arr.f64")->items[0].as_f64(), 1e300);
  EXPECT_TRUE(std::signbit(f.get_array("arr.f64")->items[1].as_f64()));
  EXPECT_EQ(std::get<bool>(f.get_array("arr.bool")->items[0].data), true);
  EXPECT_EQ(f.get_array("arr.string")->items[2].as_string(), "\xff\xfe");
  EXPECT_EQ(f.get_array("arr.i32_helper")->items[1].as_i64(), -2);
  EXPECT_TRUE(f.get_array("arr.empty")->items.empty());
  EXPECT_EQ(f.get_array("arr.empty")->elem_type, ValueType::STRING);

  const Array* n = f.get_array("arr.nested");
  ASSERT_NE(n, nullptr);
  ASSERT_EQ(n->elem_type, ValueType::ARRAY);
  ASSERT_EQ(n->items.size(), 2u);
  const Array& first = n->items[0].as_array();
  ASSERT_EQ(first.items.size(), 2u);
  EXPECT_EQ(first.items[0].as_array().items[1].as_u64(), 2u);
  EXPECT_TRUE(first.items[1].as_array().items.empty());
  EXPECT_EQ(n->items[1].as_array().items[0].as_array().items[0].as_string(), "three");
}

TEST(GgufRoundTrip, SetReplacesInPlace) {
  GgufWriter w;
  w.set("a", Value::u32(1));
  w.set("b", Value::u32(2));
  w.set("a", Value::string("one"));
  const GgufFile f = GgufFile::from_bytes(w.write_bytes(), "set.gguf");
  ASSERT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata()[0].key, "a");
  EXPECT_EQ(f.get_string("a"), "one");
}

// A byte pattern that differs per tensor and per position.
void pattern(std::span<uint8_t> d, uint8_t seed) {
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(seed * 31 + i * 7);
}

TEST(GgufRoundTrip, EveryTensorTypeWithDataAndAlignment) {
  for (uint64_t alignment : {32u, 64u, 1u, 4096u}) {
    SCOPED_TRACE(alignment);
    GgufWriter w(alignment);
    w.set("general.name", Value::string("tensors"));
    const std::vector<std::pair<TensorType, std::vector<int64_t>>> specs = {
        {TensorType::F32, {3}},        {TensorType::F16, {5, 3}},       {TensorType::BF16, {7, 1, 2}},
        {TensorType::Q8_0, {64, 3}},   {TensorType::Q4_0, {32, 1, 1, 2}}, {TensorType::Q4_K, {256, 2}},
        {TensorType::Q5_K, {512}},     {TensorType::Q6_K, {256, 3}},
    };
    for (size_t i = 0; i < specs.size(); ++i)
      w.add_tensor(tensor_name(i), specs[i].first, specs[i].second,
                   [i](std::span<uint8_t> d) { pattern(d, static_cast<uint8_t>(i)); });
    const auto bytes = w.write_bytes();
    EXPECT_EQ(bytes.size(), w.total_bytes());
    const GgufFile f = GgufFile::from_bytes(bytes, "types.gguf");
    EXPECT_EQ(f.alignment(), alignment);
    EXPECT_EQ(f.get_uint("general.alignment"), alignment == 32 ? std::nullopt : std::optional<uint64_t>(alignment));
    EXPECT_EQ(f.data_offset() % alignment, 0u);
    ASSERT_EQ(f.tensors().size(), specs.size());
    for (size_t i = 0; i < specs.size(); ++i) {
      const TensorInfo& t = f.tensors()[i];
      EXPECT_EQ(t.name, tensor_name(i));
      EXPECT_EQ(t.type, specs[i].first);
      EXPECT_EQ(t.shape, specs[i].second);
      EXPECT_EQ(t.offset % alignment, 0u);
      EXPECT_EQ(t.n_bytes, static_cast<uint64_t>(row_bytes(t.type, t.shape[0]) * t.n_rows()));
      std::vector<uint8_t> expected(t.n_bytes);
      pattern(expected, static_cast<uint8_t>(i));
      EXPECT_EQ(0, std::memcmp(f.tensor_data(t), expected.data(), t.n_bytes)) << t.name;
      EXPECT_EQ(f.find_tensor(t.name), &t);
    }
    EXPECT_EQ(f.find_tensor("nope"), nullptr);
  }
}

TEST(GgufRoundTrip, FillSeesZeroedBufferOfExactSize) {
  GgufWriter w;
  w.add_tensor("x", TensorType::Q8_0, {32, 2}, [](std::span<uint8_t> d) {
    EXPECT_EQ(d.size(), 68u);
    for (uint8_t b : d) EXPECT_EQ(b, 0);
    d[0] = 9;
  });
  w.add_tensor("y", TensorType::F32, {4}, {});  // no fill: zeros
  const GgufFile f = GgufFile::from_bytes(w.write_bytes(), "z.gguf");
  EXPECT_EQ(f.tensor_data(f.tensors()[0])[0], 9);
  EXPECT_EQ(f.tensor_data(f.tensors()[1])[0], 0);
}

TEST(GgufWriter, RefusesBadArguments) {
  EXPECT_THROW(GgufWriter(0), std::invalid_argument);
  EXPECT_THROW(GgufWriter(48), std::invalid_argument);
  GgufWriter w;
  EXPECT_THROW(w.add_tensor("q", TensorType::Q4_K, {100}, {}), std::invalid_argument);
  EXPECT_THROW(w.add_tensor("e", TensorType::F32, {}, {}), std::invalid_argument);
  EXPECT_THROW(w.add_tensor("n", TensorType::F32, {-1}, {}), std::invalid_argument);
  w.add_tensor("d", TensorType::F32, {1}, {});
  EXPECT_THROW(w.add_tensor("d", TensorType::F32, {1}, {}), std::invalid_argument);
  EXPECT_THROW(w.set("general.alignment", Value::u32(64)), std::invalid_argument);
  w.set("bad", Value::array(ValueType::U32, {Value::string("x")}));
  EXPECT_THROW((void)w.write_bytes(), std::invalid_argument);
}

class GgufWriteFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("greta_gguf_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(GgufWriteFile, WritesOpensAndReportsProgress) {
  GgufWriter w(64);
  w.set("general.architecture", Value::string("llama"));
  w.add_tensor("a", TensorType::F32, {16}, [](std::span<uint8_t> d) { pattern(d, 1); });
  w.add_tensor("b", TensorType::Q8_0, {32, 4}, [](std::span<uint8_t> d) { pattern(d, 2); });
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  const std::string path = (dir_ / "out.gguf").string();
  w.write_file(path, [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); });
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_LT(calls[0].first, calls[1].first);
  EXPECT_EQ(calls[1].first, w.total_bytes());
  EXPECT_EQ(calls[1].second, w.total_bytes());
  EXPECT_EQ(std::filesystem::file_size(path), w.total_bytes());
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);  // no temp file left

  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.file_size(), w.total_bytes());
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  std::vector<uint8_t> expected(136);
  pattern(expected, 2);
  EXPECT_EQ(0, std::memcmp(f.tensor_data(*f.find_tensor("b")), expected.data(), expected.size()));
}

TEST_F(GgufWriteFile, FailedFillLeavesNoFile) {
  GgufWriter w;
  w.add_tensor("a", TensorType::F32, {16}, [](std::span<uint8_t>) { throw std::runtime_error("boom"); });
  EXPECT_THROW(w.write_file((dir_ / "out.gguf").string()), std::runtime_error);
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

TEST_F(GgufWriteFile, UnwritablePathIsAnInputErrorNamingIt) {
  GgufWriter w;
  const std::string path = (dir_ / "missing" / "out.gguf").string();
  try {
    w.write_file(path);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST_F(GgufWriteFile, OpenRefusesMissingFilesAndDirectories) {
  EXPECT_THROW(GgufFile::open((dir_ / "nope.gguf").string()), InputError);
  EXPECT_THROW(GgufFile::open(dir_.string()), InputError);
  std::ofstream((dir_ / "empty.gguf").string()).close();
  EXPECT_THROW(GgufFile::open((dir_ / "empty.gguf").string()), GgufError);
}

}  // namespace
}  // namespace greta::gguf
