// greta tokenize: text → token ids with the model's own tokenizer.
#include <cstdio>
#include <memory>

#include "app/command.h"
#include "app/prompt_input.h"
#include "gguf/gguf_file.h"
#include "synth/builtin_model.h"

namespace greta::app {
namespace {

struct TokenizeOptions {
  std::string model_path;
  std::string text, file;
  bool special = false, no_bos = false, ids = false, pieces = false;
};

int run(const TokenizeOptions& o) {
  // Only the vocabulary is needed: the weights are never touched.
  const auto file = o.model_path.empty() ? gguf::GgufFile::from_bytes(synth::builtin_model_bytes(), "<built-in model>")
                                         : gguf::GgufFile::open(o.model_path);
  auto vocab = tokenizer::Vocab::from_gguf(file);
  if (vocab.model == "no_vocab") throw InputError(file.path() + ": this model has no vocabulary (tokenizer.ggml.model = no_vocab)");
  const tokenizer::Tokenizer tok(std::move(vocab));
  const std::string text = o.file.empty() ? o.text : read_text_file(o.file);
  const auto ids = tok.encode(text, !o.no_bos, o.special);
  if (o.ids) {
    std::printf("[");
    for (size_t i = 0; i < ids.size(); ++i) std::printf("%s%d", i ? ", " : "", ids[i]);
    std::printf("]\n");
    return 0;
  }
  for (auto id : ids) {
    const std::string& piece = tok.vocab().tokens[id];
    if (o.pieces) std::printf("%s\n", piece.c_str());
    else std::printf("%6d -> '%s'\n", id, tok.token_to_piece(id, true).c_str());
  }
  std::fprintf(stderr, "%zu tokens\n", ids.size());
  return 0;
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand("tokenize", "turn text into token ids with the model's tokenizer");
  cmd->add_option("-m,--model", o->model_path, "GGUF model or vocabulary file (default: the built-in model)");
  auto* p = cmd->add_option("-p,--prompt", o->text, "text to tokenize");
  auto* f = cmd->add_option("-f,--file", o->file, "read the text from a file");
  p->excludes(f);
  cmd->add_flag("--special", o->special, "parse special tokens written in the text");
  cmd->add_flag("--no-bos", o->no_bos, "do not add BOS");
  auto* ids = cmd->add_flag("--ids", o->ids, "print only the ids, as one JSON array");
  auto* pieces = cmd->add_flag("--pieces", o->pieces, "print the vocabulary piece of each token, one per line");
  ids->excludes(pieces);
  set_runner(cmd, [o] { return run(*o); });
}

}  // namespace greta::app
