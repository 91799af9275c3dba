// greta bench: prompt processing (ppN) and generation (tgN) speed, in llama-bench's table shape.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>

#include "app/command.h"
#include "app/model_options.h"
#include "gguf/gguf_file.h"
#include "model/session.h"
#include "sampling/sampler.h"
#include <functional>
#include <thread>

namespace greta::app {
namespace {

struct BenchOptions {
  ModelOptions model;
  std::vector<int64_t> pp = {512};
  std::vector<int64_t> tg = {128};
  int reps = 3;
  int64_t depth = 0;  // tokens already in the context before each test (llama-bench's -d)
};

// Deterministic token ids spread over the vocabulary (values do not change the cost).
std::vector<int32_t> bench_tokens(int64_t n, int64_t n_vocab) {
  std::vector<int32_t> t(n);
  uint64_t x = 88172645463325252ull;
  for (auto& v : t) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    v = static_cast<int32_t>(x % static_cast<uint64_t>(n_vocab));
  }
  return t;
}

double seconds(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Row {
  std::string test;
  double mean = 0, sd = 0;  // tokens per second
  double seconds = 0;       // mean time of one run
};

Row measure(const std::string& name, int reps, int64_t n, const std::function<double()>& once) {
  once();  // warm-up: page in the weights, size the buffers
  std::vector<double> rates;
  Row row{name};
  for (int r = 0; r < reps; ++r) {
    const double s = once();
    row.seconds += s / reps;
    rates.push_back(static_cast<double>(n) / s);
  }
  for (double v : rates) row.mean += v / reps;
  for (double v : rates) row.sd += (v - row.mean) * (v - row.mean);
  row.sd = reps > 1 ? std::sqrt(row.sd / (reps - 1)) : 0;
  return row;
}

std::string human_size(double bytes) {
  char b[32];
  if (bytes >= 1024.0 * 1024 * 1024) std::snprintf(b, sizeof b, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
  else std::snprintf(b, sizeof b, "%.2f MiB", bytes / (1024.0 * 1024));
  return b;
}

int run(const BenchOptions& o) {
  auto m = load_model(o.model);
  auto& model = *m.model;
  const int64_t V = model.config().n_vocab;
  int64_t max_len = 1;
  for (auto p : o.pp) max_len = std::max(max_len, p);
  for (auto t : o.tg) max_len = std::max(max_len, t);
  Session session(model, std::max(o.model.ctx, o.depth + max_len));
  // The context before each test: `depth` tokens prefilled once (untimed), kept between runs.
  if (o.depth > 0) session.prefill(bench_tokens(o.depth, V));
  const std::string at_depth = o.depth > 0 ? " @ d" + std::to_string(o.depth) : "";
  std::vector<Row> rows, ttft;
  for (int64_t p : o.pp) {
    if (p <= 0) continue;
    const auto toks = bench_tokens(p, V);
    rows.push_back(measure("pp" + std::to_string(p) + at_depth, o.reps, p, [&] {
      session.truncate(o.depth);
      return seconds([&] { session.prefill(toks); });
    }));
    // Time to first token: the prompt's prefill (logits of its last row on the host) and the
    // first token picked from them, as a user waiting on a reply sees it.
    ttft.push_back(measure("pp" + std::to_string(p) + at_depth, o.reps, 1, [&] {
      session.truncate(o.depth);
      return seconds([&] { (void)sampling::argmax(session.prefill(toks)); });
    }));
  }
  for (int64_t t : o.tg) {
    if (t <= 0) continue;
    const auto toks = bench_tokens(t, V);
    rows.push_back(measure("tg" + std::to_string(t) + at_depth, o.reps, t, [&] {
      session.truncate(o.depth);
      return seconds([&] {
        for (int64_t i = 0; i < t; ++i) (void)session.decode_view(toks[i]);
      });
    }));
  }
  uint64_t bytes = 0, params = 0;
  for (const auto& ti : model.file().tensors()) {
    bytes += ti.n_bytes;
    params += static_cast<uint64_t>(ti.n_elements());
  }
  std::string name = model.config().name.empty() ? m.display_name : model.config().name;
  if (name.size() > 30) name = name.substr(0, 27) + "...";
  char pbuf[32];
  std::snprintf(pbuf, sizeof pbuf, params >= 1000000000 ? "%.2f B" : "%.2f M", params >= 1000000000 ? params / 1e9 : params / 1e6);
  // llama-bench's columns: the backend, and threads for the CPU ("-" on a GPU).
  const bool on_cpu = model.backend().name().rfind("cpu", 0) == 0;
  const std::string backend = on_cpu ? "CPU" : "CUDA";
  const std::string threads = on_cpu ? std::to_string(o.model.threads > 0 ? o.model.threads
                                                                         : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())))
                                     : "-";
  std::printf("| %-30s | %10s | %10s | %-10s | %7s | %15s | %20s |\n", "model", "size", "params", "backend", "threads", "test", "t/s");
  std::printf("| ------------------------------ | ---------: | ---------: | ---------- | ------: | --------------: | -------------------: |\n");
  for (const auto& r : rows) {
    char ts[64];
    std::snprintf(ts, sizeof ts, "%.2f ± %.2f", r.mean, r.sd);
    std::printf("| %-30s | %10s | %10s | %-10s | %7s | %15s | %20s |\n", name.c_str(), human_size(double(bytes)).c_str(), pbuf,
                backend.c_str(), threads.c_str(), r.test.c_str(), ts);
  }
  if (!ttft.empty()) {
    std::printf("\ntime to first token (prefill of the prompt + the first token, mean of %d):\n", o.reps);
    for (const auto& r : ttft) std::printf("  %-15s %10.2f ms\n", r.test.c_str(), r.seconds * 1e3);
  }
  const int64_t device_bytes = model.backend().device_memory_in_use();
  if (device_bytes >= 0)
    std::printf("\ndevice memory in use after the tests (weights, KV cache of %lld tokens, buffers): %s\n",
                static_cast<long long>(session.n_ctx()), human_size(double(device_bytes)).c_str());
  std::printf("prefill chunk: %lld tokens\n", static_cast<long long>(model.chunk_rows()));
  const std::string steps = model.backend().step_summary();
  if (!steps.empty()) std::printf("%s\n", steps.c_str());
  return 0;
}

}  // namespace

void register_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "measure prompt processing (ppN) and generation (tgN) speed");
  add_model_options(*cmd, o->model);
  cmd->add_option("-p,--n-prompt", o->pp, "prompt lengths, e.g. -p 512 or -p 64,512")->delimiter(',')->check(CLI::Range(int64_t{0}, int64_t{1} << 20))->capture_default_str();
  cmd->add_option("-n,--n-gen", o->tg, "generation lengths")->delimiter(',')->check(CLI::Range(int64_t{0}, int64_t{1} << 20))->capture_default_str();
  cmd->add_option("-d,--depth", o->depth, "tokens already in the context before each test (e.g. -d 8192)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24))->capture_default_str();
  cmd->add_option("-r,--repetitions", o->reps, "repetitions of each test")->check(CLI::Range(1, 1000))->capture_default_str();
  set_runner(cmd, [o] { return run(*o); });
}

}  // namespace greta::app
