// Synthetic files read back field by field with the independent parser: header, metadata
// types and values, tensor infos, alignment, offsets, sizes per type, padding, file size.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "independent_gguf_reader.h"
#include "quant/quant.h"
#include "synth/synth.h"

using namespace greta;
using namespace greta::synth;
using synth_test::parse_gguf;
using synth_test::ParsedGguf;

namespace {

const char* kAllTypes[] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k", "q4_k_m"};

SynthOptions tiny(const std::string& type, uint64_t seed = 1) {
  SynthOptions o;
  o.shape = preset("tiny");
  o.type = WeightType::parse(type);
  o.seed = seed;
  return o;
}

uint64_t align32(uint64_t x) { return (x + 31) / 32 * 32; }

void expect_u32(const ParsedGguf& g, const std::string& key, uint64_t value) {
  ASSERT_TRUE(g.kv.count(key)) << key;
  EXPECT_EQ(g.kv.at(key).type, 4u) << key << " should be a u32";
  EXPECT_EQ(synth_test::u(g, key), value) << key;
}

void check_layout(const ParsedGguf& g, const std::vector<uint8_t>& bytes) {
  EXPECT_EQ(g.data_offset % 32, 0u);
  for (uint64_t i = g.header_end; i < g.data_offset; ++i) ASSERT_EQ(bytes[i], 0) << "header padding at " << i;
  uint64_t expected_offset = 0;
  for (const auto& t : g.tensors) {
    EXPECT_EQ(t.offset, expected_offset) << t.name;
    EXPECT_EQ(t.offset % 32, 0u) << t.name;
    const uint64_t size = synth_test::tensor_bytes(t);
    const uint64_t end = g.data_offset + t.offset + size;
    ASSERT_LE(end, g.file_size) << t.name;
    for (uint64_t i = end; i < g.data_offset + align32(t.offset + size); ++i)
      ASSERT_EQ(bytes[i], 0) << "padding after " << t.name;
    expected_offset = align32(t.offset + size);
  }
  EXPECT_EQ(g.data_offset + expected_offset, g.file_size);
}

// Mean and standard deviation of a tensor, dequantized.
std::pair<double, double> stats(const ParsedGguf& g, const std::vector<uint8_t>& bytes, const std::string& name) {
  for (const auto& t : g.tensors) {
    if (t.name != name) continue;
    const auto type = type_from_id(t.type);
    const int64_t row = static_cast<int64_t>(t.dims[0]);
    const uint64_t rb = synth_test::tensor_bytes(t) / (t.dims.size() > 1 ? t.dims[1] : 1);
    const uint64_t rows = t.dims.size() > 1 ? t.dims[1] : 1;
    std::vector<float> v(static_cast<size_t>(row));
    double sum = 0, sq = 0;
    for (uint64_t r = 0; r < rows; ++r) {
      quant::dequantize_row(*type, bytes.data() + g.data_offset + t.offset + r * rb, v.data(), row);
      for (float x : v) {
        EXPECT_TRUE(std::isfinite(x));
        sum += x;
        sq += static_cast<double>(x) * x;
      }
    }
    const double n = static_cast<double>(rows) * static_cast<double>(row);
    const double mean = sum / n;
    return {mean, std::sqrt(sq / n - mean * mean)};
  }
  ADD_FAILURE() << "no tensor " << name;
  return {0, 0};
}

}  // namespace

TEST(SynthConformance, EveryTypeReadsBackFieldByField) {
  for (const char* type : kAllTypes) {
    SCOPED_TRACE(type);
    const SynthOptions o = tiny(type);
    const auto plan = plan_tensors(o);
    const gguf::GgufWriter w = build_writer(o);
    const std::vector<uint8_t> bytes = w.write_bytes();
    EXPECT_EQ(bytes.size(), w.total_bytes());
    const ParsedGguf g = parse_gguf(bytes);

    EXPECT_EQ(g.version, 3u);
    EXPECT_EQ(synth_test::s(g, "general.architecture"), "llama");
    EXPECT_FALSE(synth_test::s(g, "general.name").empty());
    expect_u32(g, "general.file_type", o.type.file_type());
    expect_u32(g, "llama.vocab_size", 4096);
    expect_u32(g, "llama.context_length", 2048);
    expect_u32(g, "llama.embedding_length", 256);
    expect_u32(g, "llama.block_count", 4);
    expect_u32(g, "llama.feed_forward_length", 768);
    expect_u32(g, "llama.attention.head_count", 8);
    expect_u32(g, "llama.attention.head_count_kv", 4);
    expect_u32(g, "llama.rope.dimension_count", 32);
    EXPECT_EQ(g.kv.at("llama.rope.freq_base").type, 6u);
    EXPECT_EQ(synth_test::f(g, "llama.rope.freq_base"), 10000.0);
    EXPECT_EQ(g.kv.at("llama.attention.layer_norm_rms_epsilon").type, 6u);
    EXPECT_FLOAT_EQ(static_cast<float>(synth_test::f(g, "llama.attention.layer_norm_rms_epsilon")), 1e-5f);
    EXPECT_EQ(synth_test::s(g, "tokenizer.ggml.model"), "no_vocab");
    const bool quantized = std::string(type) != "f32" && std::string(type) != "f16" && std::string(type) != "bf16";
    EXPECT_EQ(g.kv.count("general.quantization_version"), quantized ? 1u : 0u);

    ASSERT_EQ(g.tensors.size(), plan.size());
    for (size_t i = 0; i < plan.size(); ++i) {
      EXPECT_EQ(g.tensors[i].name, plan[i].name);
      EXPECT_EQ(g.tensors[i].type, static_cast<uint32_t>(plan[i].type));
      EXPECT_EQ(synth_test::tensor_bytes(g.tensors[i]), static_cast<uint64_t>(plan[i].n_bytes())) << plan[i].name;
    }
    check_layout(g, bytes);

    // Weight statistics survive every encoding: matrices zero-mean with sd ≈ 0.03, norms ≈ 1.
    for (const char* name : {"token_embd.weight", "blk.1.attn_q.weight", "blk.3.ffn_down.weight", "output.weight"}) {
      auto [mean, sd] = stats(g, bytes, name);
      EXPECT_NEAR(mean, 0.0, 0.002) << name;
      EXPECT_NEAR(sd, 0.03, 0.003) << name;
    }
    auto [norm_mean, norm_sd] = stats(g, bytes, "blk.2.ffn_norm.weight");
    EXPECT_NEAR(norm_mean, 1.0, 0.01);
    EXPECT_LT(norm_sd, 0.05);
  }
}

TEST(SynthConformance, TiedModelHasNoOutputTensor) {
  SynthOptions o = tiny("q8_0");
  o.tied = true;
  const auto bytes = build_writer(o).write_bytes();
  const ParsedGguf g = parse_gguf(bytes);
  EXPECT_EQ(g.tensors.size(), 2u + 4u * 9u);
  for (const auto& t : g.tensors) EXPECT_NE(t.name, "output.weight");
  check_layout(g, bytes);
}

TEST(SynthConformance, FileOnDiskEqualsInMemoryImage) {
  SynthOptions o = tiny("q4_k_m", 7);
  o.shape.layers = 2;
  const auto path = (std::filesystem::temp_directory_path() / ("greta_synth_test_" + std::to_string(::getpid()) + ".gguf")).string();
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  const SynthSummary s = write_synth_model(o, path, [&](uint64_t done, uint64_t total) { progress.emplace_back(done, total); });
  std::ifstream in(path, std::ios::binary);
  const std::vector<uint8_t> disk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::remove(path.c_str());
  EXPECT_EQ(disk, build_writer(o).write_bytes());
  EXPECT_EQ(s.file_bytes, disk.size());
  EXPECT_EQ(s.n_tensors, 3 + 2 * 9);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().first, progress.back().second);
  EXPECT_EQ(progress.back().second, disk.size());
  for (size_t i = 1; i < progress.size(); ++i) EXPECT_GE(progress[i].first, progress[i - 1].first);
}
