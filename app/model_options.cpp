#include "app/model_options.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include "backend/backend_factory.h"
#include "gguf/gguf_file.h"
#include "synth/builtin_model.h"

namespace greta::app {

void add_model_options(CLI::App& cmd, ModelOptions& o) {
  cmd.add_option("-m,--model", o.model_path, "GGUF model file (default: the built-in synthetic model)");
  cmd.add_option("-t,--threads", o.threads, "CPU threads (default: all)")->check(CLI::Range(1, 1024));
  cmd.add_option("-c,--ctx", o.ctx, "context size in tokens (default: the model's)")->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  o.backend = "auto";  // cuda when this build has it and a device is present, else cpu
  cmd.add_option("--backend", o.backend, "compute backend: cpu, cuda, or auto (cuda when a device is present)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  cmd.add_option("--precision", o.precision,
                 "CUDA arithmetic: fast (default: f16 tensor-core prefill, f16 KV cache) or exact (f32 throughout, "
                 "the tightest audit budgets); the CPU backend is always exact")
      ->check(CLI::IsMember({"fast", "exact"}));
  cmd.add_option("--chunk", o.chunk,
                 "prefill chunk: prompts are processed this many tokens at a time, which bounds activation memory "
                 "(default: 512 on the CPU, 2048 on CUDA with --precision fast)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
}

LoadedModel load_model(const ModelOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  LoadedModel m;
  m.backend = make_backend(o.backend, o.threads, o.precision);
  gguf::GgufFile file = [&] {
    if (!o.model_path.empty()) return gguf::GgufFile::open(o.model_path);
    m.builtin = true;
    return gguf::GgufFile::from_bytes(synth::builtin_model_bytes(), "<built-in model>");
  }();
  if (m.builtin)
    std::fprintf(stderr, "greta: no -m given: using the built-in synthetic model (random weights, byte-level vocabulary); "
                         "its text is noise\n");
  auto vocab = tokenizer::Vocab::from_gguf(file);
  if (vocab.model != "no_vocab") m.tokenizer.emplace(std::move(vocab));
  m.display_name = m.builtin ? "greta-builtin" : o.model_path;
  m.model = std::make_unique<LlamaModel>(std::move(file), *m.backend);
  if (o.chunk > 0) m.model->set_chunk_rows(o.chunk);
  if (o.ctx > 0 && o.ctx > m.model->config().n_ctx_train)
    std::fprintf(stderr, "greta: warning: -c %lld is beyond the model's training context of %lld tokens\n",
                 static_cast<long long>(o.ctx), static_cast<long long>(m.model->config().n_ctx_train));
  m.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return m;
}

}  // namespace greta::app
