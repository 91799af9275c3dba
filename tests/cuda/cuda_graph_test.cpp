// Decode steps replayed as CUDA graphs give the same logits, bit for bit, as the same
// steps launched kernel by kernel: across greedy decodes, across the key counts where the
// attention split (and so the graph) changes, with two sessions taking turns, and over a
// chat whose KV cache is kept between turns. Probed runs never use graphs. A step like the
// last one is launched before its record exactly where nothing it depends on changed, and
// one launched early whose record turns out different is followed by the right graph.
#include <cstring>

#include "../model/fusion_run.h"
#include "cuda_fixture.h"
#ifdef GRETA_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_step_graphs.h"
#endif

namespace greta::test {
namespace {

#ifdef GRETA_HAVE_CUDA

// A model on a CUDA backend with graphs on or off.
struct GraphModel {
  std::unique_ptr<cuda::CudaBackend> backend;
  std::unique_ptr<LlamaModel> model;
  GraphModel(const std::string& file, const PrecisionClass& precision, bool graphs, bool early = true) {
    cuda::CudaOptions o;
    if (precision.name == "exact") o = cuda::CudaOptions{false, TensorType::F32};
    o.graphs = graphs;
    o.early_launch = early;
    backend = std::make_unique<cuda::CudaBackend>(0, o);
    model = std::make_unique<LlamaModel>(gguf::GgufFile::open(shared_path("models/" + file)), *backend);
  }
  const cuda::StepGraphs& graphs() const { return *backend->step_graphs(); }
};

// Counts the elements of two runs' logits whose bits differ (NaNs included).
size_t differing(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size()) return SIZE_MAX;
  size_t n = 0;
  for (size_t s = 0; s < a.size(); ++s) {
    if (a[s].size() != b[s].size()) return SIZE_MAX;
    for (size_t i = 0; i < a[s].size(); ++i) n += std::memcmp(&a[s][i], &b[s][i], sizeof(float)) != 0;
  }
  return n;
}

class CudaGraphs : public ::testing::TestWithParam<PrecisionClass> {};

TEST_P(CudaGraphs, GreedyDecodeMatchesDirectLaunchesBitForBit) {
  GRETA_REQUIRE_CUDA();
  for (const char* file : {"stories260K.gguf", "synth-tiny-q4_k_m.gguf", "synth-tiny-mix.gguf"}) {
    GraphModel on(file, GetParam(), true), off(file, GetParam(), false);
    const auto prompt = spread_prompt(*on.model, 12);
    std::vector<int32_t> tokens;
    const auto replayed = logits_of_run(*on.model, prompt, 48, nullptr, &tokens);
    const auto direct = logits_of_run(*off.model, prompt, 48, nullptr, &tokens);
    EXPECT_EQ(differing(replayed, direct), 0u) << file;
    EXPECT_EQ(on.graphs().replays(), 48) << file;  // every decode step, not the prefill
    EXPECT_EQ(on.graphs().captures(), 1) << file;  // under 128 keys one split: one graph
    // Every step but the first after the prefill was launched before its record.
    EXPECT_EQ(on.graphs().early_launches(), 47) << file;
    EXPECT_EQ(on.graphs().early_misses(), 0) << file;
    EXPECT_EQ(off.backend->step_graphs(), nullptr);
    // Chained launches stay chained inside the graph (programmatic edges, Hopper on).
    if (on.backend->name().find("sm_90") != std::string::npos && cuda::chained_launches_enabled()) {
      EXPECT_GT(on.graphs().programmatic_edges(), 0u) << on.graphs().summary();
    }
    std::printf("%s: %s\n", file, on.graphs().summary().c_str());

    // A probe needs the host between stages: no graph, and still the same logits.
    IdleProbe idle;
    const auto probed = logits_of_run(*on.model, prompt, 48, &idle, &tokens);
    EXPECT_EQ(differing(probed, direct), 0u) << file;
    EXPECT_EQ(on.graphs().replays(), 48) << file;
  }
}

TEST_P(CudaGraphs, RecapturesWhereTheAttentionSplitChanges) {
  GRETA_REQUIRE_CUDA();
  // Positions 100..339: the f16 cache splits from 129 keys on, one segment more every 64
  // keys (3 at 129, 4 at 193, 5 at 257, 6 at 321); the f32 one at 257.
  for (const char* file : {"stories260K.gguf", "synth-tiny-q4_k_m.gguf"}) {
    GraphModel on(file, GetParam(), true), off(file, GetParam(), false);
    const auto prompt = spread_prompt(*on.model, 100);
    std::vector<int32_t> tokens;
    const auto replayed = logits_of_run(*on.model, prompt, 240, nullptr, &tokens);
    const auto direct = logits_of_run(*off.model, prompt, 240, nullptr, &tokens);
    EXPECT_EQ(differing(replayed, direct), 0u) << file;
    EXPECT_EQ(on.graphs().replays(), 240) << file;
    EXPECT_EQ(on.graphs().captures(), GetParam().name == "exact" ? 2 : 5) << on.graphs().summary();
    // Each step that needed a new graph was recorded first; every other one was early.
    EXPECT_EQ(on.graphs().early_launches(), 240 - on.graphs().captures()) << on.graphs().summary();
    EXPECT_EQ(on.graphs().early_misses(), 0) << on.graphs().summary();
    // Without early launches: the same bits.
    GraphModel late(file, GetParam(), true, false);
    EXPECT_EQ(differing(logits_of_run(*late.model, prompt, 240, nullptr, &tokens), direct), 0u) << file;
    EXPECT_EQ(late.graphs().early_launches(), 0) << file;
  }
}

// A one-token prefill right after decode steps runs through run_step one position on, on
// the same cache: launched early as the last decode step, its record (prefill route)
// differs, and the right graph runs after it; the decode step after it is launched early
// as the prefill step and corrected the same way. The logits, and the cache that the later
// steps read, are those of plain launches.
TEST_P(CudaGraphs, AnEarlyLaunchWhoseRecordDiffersIsFollowedByTheRightGraph) {
  GRETA_REQUIRE_CUDA();
  auto run = [&](bool graphs) {
    GraphModel m("synth-tiny-q4_k_m.gguf", GetParam(), graphs);
    Session s(*m.model, 64);
    std::vector<std::vector<float>> out{s.prefill(spread_prompt(*m.model, 7))};
    auto greedy = [&] {
      const auto& last = out.back();
      return static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
    };
    for (int i = 0; i < 5; ++i) out.push_back(s.decode(greedy()));
    const int32_t one[] = {greedy()};
    out.push_back(s.prefill(one));
    for (int i = 0; i < 5; ++i) out.push_back(s.decode(greedy()));
    if (graphs) {
      std::printf("%s\n", m.graphs().summary().c_str());
      EXPECT_EQ(m.graphs().captures(), 2) << m.graphs().summary();  // decode and one-row prefill
      EXPECT_EQ(m.graphs().early_launches(), 10) << m.graphs().summary();
      EXPECT_EQ(m.graphs().early_misses(), 2) << m.graphs().summary();
    }
    return out;
  };
  EXPECT_EQ(differing(run(true), run(false)), 0u);
}

// Two sessions of one model alive at once, decoding in turn: each step's graph must be
// the one of its own cache.
TEST_P(CudaGraphs, SessionsTakingTurnsKeepTheirOwnCaches) {
  GRETA_REQUIRE_CUDA();
  auto run = [&](bool graphs) {
    GraphModel m("synth-tiny-q4_k_m.gguf", GetParam(), graphs);
    Session a(*m.model, 128), b(*m.model, 128);
    std::vector<std::vector<float>> out{a.prefill(spread_prompt(*m.model, 5)), b.prefill(spread_prompt(*m.model, 9))};
    for (int i = 0; i < 40; ++i) {
      Session& s = i % 2 ? b : a;
      const auto& last = out[out.size() - 2];
      out.push_back(s.decode(static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin())));
    }
    if (graphs) {
      EXPECT_EQ(m.graphs().replays(), 40);
      EXPECT_EQ(m.graphs().early_launches(), 0);  // each step writes the other session's cache
    }
    return out;
  };
  EXPECT_EQ(differing(run(true), run(false)), 0u);
}

// A chat: the cache is kept across turns, each user turn is a prefill (a longer one
// regrows the model's buffers, so the step's graph must change with them), each reply
// greedy decode steps.
TEST_P(CudaGraphs, ChatTurnsKeepTheCache) {
  GRETA_REQUIRE_CUDA();
  auto chat = [&](bool graphs) {
    GraphModel m("stories260K.gguf", GetParam(), graphs);
    Session s(*m.model, 0);
    std::vector<std::vector<float>> out;
    for (int turn_len : {6, 30, 11}) {
      std::vector<int32_t> turn;
      for (int i = 0; i < turn_len; ++i)
        turn.push_back(static_cast<int32_t>((7 + 13 * i + turn_len) % m.model->config().n_vocab));
      out.push_back(s.prefill(turn));
      for (int i = 0; i < 16; ++i) {
        const auto& last = out.back();
        out.push_back(s.decode(static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin())));
      }
    }
    if (graphs) {
      EXPECT_EQ(m.graphs().replays(), 48);
      EXPECT_GE(m.graphs().captures(), 2) << m.graphs().summary();
      // The first reply step of a turn follows a prefill (positions jump): recorded first.
      EXPECT_EQ(m.graphs().early_launches(), 45) << m.graphs().summary();
      EXPECT_EQ(m.graphs().early_misses(), 0) << m.graphs().summary();
    }
    return out;
  };
  EXPECT_EQ(differing(chat(true), chat(false)), 0u);
}

INSTANTIATE_TEST_SUITE_P(Precisions, CudaGraphs, ::testing::Values(kExact, kFast),
                         [](const auto& info) { return info.param.name; });

#else

TEST(CudaGraphs, SkippedWithoutCuda) { GRETA_REQUIRE_CUDA(); }

#endif  // GRETA_HAVE_CUDA

}  // namespace
}  // namespace greta::test
