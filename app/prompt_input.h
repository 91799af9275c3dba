#pragma once
// The prompt options (-p TEXT | -f FILE | --ids 1,2,3) and turning them into token ids.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "app/model_options.h"

namespace greta::app {

struct PromptOptions {
  std::string text;
  std::string file;
  std::string ids;
  bool special = false;  // parse <|special|> tokens written in the text
  bool no_bos = false;
};

void add_prompt_options(CLI::App& cmd, PromptOptions& o);

// At most one source is given (the options exclude each other); none or -p "" is the empty
// text, which gives just BOS. Text needs a vocabulary. InputError otherwise.
std::vector<int32_t> prompt_tokens(const PromptOptions& o, const LoadedModel& m);

// "1,2,3" → ids; InputError on anything else.
std::vector<int32_t> parse_ids(const std::string& text);

// The whole content of a file; InputError if it cannot be read.
std::string read_text_file(const std::string& path);

}  // namespace greta::app
