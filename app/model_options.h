#pragma once
// Options every model-running command shares, and loading a model with them.
#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

#include "model/backend.h"
#include "model/llama_model.h"
#include "tokenizer/tokenizer.h"

namespace greta::app {

struct ModelOptions {
  std::string model_path;  // empty: the built-in synthetic model
  int threads = 0;         // 0: all hardware threads
  int64_t ctx = 0;         // 0: the model's training context
  std::string backend = "auto";  // cuda when built with it and a GPU is present
  std::string precision;         // "" (backend default), fast or exact
  int64_t chunk = 0;             // prefill chunk in tokens (0: the backend's preferred size)
};

void add_model_options(CLI::App& cmd, ModelOptions& o);

struct LoadedModel {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<LlamaModel> model;
  std::optional<tokenizer::Tokenizer> tokenizer;  // empty for "no_vocab" models
  double load_seconds = 0;
  bool builtin = false;
  std::string display_name;
};

// Loads the model (announcing the built-in one on stderr); InputError on any problem.
LoadedModel load_model(const ModelOptions& o);

}  // namespace greta::app
