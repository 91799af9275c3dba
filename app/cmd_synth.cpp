// greta synth: write a random-weight GGUF model of any Llama shape and tensor-type mix.
#include <cstdio>
#include <memory>

#include "app/command.h"
#include "greta/error.h"
#include "synth/synth.h"

namespace greta::app {
namespace {

struct SynthCommandOptions {
  std::string preset, shape, type = "q4_k_m", vocab, out, name;
  std::vector<std::string> type_for;
  uint64_t seed = 1;
  bool tied = false;
  int threads = 0;
};

int run(const SynthCommandOptions& o) {
  synth::SynthOptions s;
  if (o.preset.empty() == o.shape.empty()) throw InputError("give exactly one of --preset and --shape");
  s.shape = o.preset.empty() ? synth::parse_shape(o.shape) : synth::preset(o.preset);
  s.type = synth::WeightType::parse(o.type);
  for (const auto& t : o.type_for) s.type_for.insert(synth::parse_type_override(t));
  s.seed = o.seed;
  s.tied = o.tied;
  s.vocab_path = o.vocab;
  s.name = o.name;
  s.threads = o.threads;
  const auto summary = synth::write_synth_model(s, o.out, synth::ProgressBar{});
  std::fprintf(stderr, "wrote %s: %lld tensors, %.3f B parameters, %.2f GiB of weights, %.2f GiB file, in %.1f s\n",
               o.out.c_str(), static_cast<long long>(summary.n_tensors), summary.n_params / 1e9,
               summary.weight_bytes / 1073741824.0, summary.file_bytes / 1073741824.0, summary.seconds);
  return 0;
}

}  // namespace

void register_synth(CLI::App& app) {
  auto o = std::make_shared<SynthCommandOptions>();
  auto* cmd = app.add_subcommand("synth", "write a synthetic (random-weight) Llama GGUF model");
  std::string presets;
  for (const auto& p : synth::preset_names()) presets += (presets.empty() ? "" : ", ") + p;
  cmd->add_option("--preset", o->preset, "model shape: " + presets);
  cmd->add_option("--shape", o->shape, "vocab,dim,layers,heads,kv_heads,ffn,ctx,rope_base");
  cmd->add_option("--type", o->type, "f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k or q4_k_m")->capture_default_str();
  cmd->add_option("--type-for", o->type_for, "per-role override, e.g. --type-for attn_k=q5_k (repeatable)");
  cmd->add_option("--seed", o->seed, "weight seed")->capture_default_str();
  cmd->add_flag("--tied", o->tied, "no output.weight: the embedding is reused for the logits");
  cmd->add_option("--vocab", o->vocab, "embed a real vocabulary: tokenizer.json or a tiktoken tokenizer.model");
  cmd->add_option("--name", o->name, "general.name (default: derived from shape and type)");
  cmd->add_option("--threads", o->threads, "generation threads (0 = all; never changes the bytes)")->check(CLI::Range(0, 1024));
  cmd->add_option("-o,--out", o->out, "output GGUF file")->required();
  set_runner(cmd, [o] { return run(*o); });
}

}  // namespace greta::app
