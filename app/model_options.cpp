#include "app/model_options.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include "backend/cpu/cpu_backend.h"
#include "gguf/gguf_file.h"
#include "synth/builtin_model.h"

namespace greta::app {

void add_model_options(CLI::App& cmd, ModelOptions& o) {
  cmd.add_option("-m,--model", o.model_path, "GGUF model file (default: the built-in synthetic model)");
  cmd.add_option("-t,--threads", o.threads, "CPU threads (default: all)")->check(CLI::Range(1, 1024));
  cmd.add_option("-c,--ctx", o.ctx, "context size in tokens (default: the model's)")->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  cmd.add_option("--backend", o.backend, "compute backend")->check(CLI::IsMember({"cpu", "cuda"}));
}

LoadedModel load_model(const ModelOptions& o) {
  if (o.backend == "cuda")
    throw InputError("this greta was built without the CUDA backend; use --backend cpu");
  const auto t0 = std::chrono::steady_clock::now();
  LoadedModel m;
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  m.backend = std::make_unique<cpu::CpuBackend>(threads);
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
  if (o.ctx > 0 && o.ctx > m.model->config().n_ctx_train)
    std::fprintf(stderr, "greta: warning: -c %lld is beyond the model's training context of %lld tokens\n",
                 static_cast<long long>(o.ctx), static_cast<long long>(m.model->config().n_ctx_train));
  m.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return m;
}

}  // namespace greta::app
