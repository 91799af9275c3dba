// Writes a few small valid GGUF files into a directory, as a fuzzing seed corpus that
// reaches every value type, nested arrays, every tensor type and a custom alignment.
#include <cstdio>
#include <string>

#include "gguf/gguf_writer.h"

using namespace greta;
using namespace greta::gguf;

namespace {

void write_all_value_types(const std::string& path) {
  GgufWriter w;
  w.set("general.architecture", Value::string("llama"));
  w.set("u8", {ValueType::U8, uint64_t{200}});
  w.set("i8", {ValueType::I8, int64_t{-5}});
  w.set("u16", {ValueType::U16, uint64_t{60000}});
  w.set("i16", {ValueType::I16, int64_t{-300}});
  w.set("u32", Value::u32(64));
  w.set("i32", Value::i32(-7));
  w.set("u64", Value::u64(1));
  w.set("i64", {ValueType::I64, int64_t{-9}});
  w.set("f32", Value::f32(1e-5f));
  w.set("f64", {ValueType::F64, 2.5});
  w.set("bool", Value::boolean(true));
  w.set("tokens", Value::string_array({"<unk>", "<s>", "</s>", "a", "b"}));
  w.set("scores", Value::f32_array({0, -1, -2, -3, -4}));
  w.set("types", Value::i32_array({2, 3, 3, 1, 1}));
  w.set("nested", Value::array(ValueType::ARRAY, {Value::array(ValueType::U8, {Value{ValueType::U8, uint64_t{1}}})}));
  w.write_file(path);
}

void write_every_tensor_type(const std::string& path, uint64_t alignment) {
  GgufWriter w(alignment);
  w.set("general.name", Value::string("seed"));
  w.add_tensor("f32", TensorType::F32, {4, 2}, {});
  w.add_tensor("f16", TensorType::F16, {8}, {});
  w.add_tensor("bf16", TensorType::BF16, {8}, {});
  w.add_tensor("q8_0", TensorType::Q8_0, {32}, {});
  w.add_tensor("q4_0", TensorType::Q4_0, {32, 2}, {});
  w.add_tensor("q4_K", TensorType::Q4_K, {256}, {});
  w.add_tensor("q5_K", TensorType::Q5_K, {256}, {});
  w.add_tensor("q6_K", TensorType::Q6_K, {256}, {});
  w.write_file(path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 1;
  }
  const std::string dir = argv[1];
  write_all_value_types(dir + "/seed_values.gguf");
  write_every_tensor_type(dir + "/seed_tensors.gguf", 32);
  write_every_tensor_type(dir + "/seed_tensors_align64.gguf", 64);
  return 0;
}
