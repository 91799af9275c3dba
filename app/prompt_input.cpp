#include "app/prompt_input.h"

#include <charconv>
#include <fstream>
#include <sstream>

namespace greta::app {

void add_prompt_options(CLI::App& cmd, PromptOptions& o) {
  auto* p = cmd.add_option("-p,--prompt", o.text, "prompt text (\"\" = start from BOS)");
  auto* f = cmd.add_option("-f,--file", o.file, "read the prompt text from a file");
  auto* i = cmd.add_option("--ids", o.ids, "prompt as comma-separated token ids");
  p->excludes(f)->excludes(i);
  f->excludes(i);
  cmd.add_flag("--special", o.special, "parse special tokens (<|eot_id|>, <s>, ...) written in the text");
  cmd.add_flag("--no-bos", o.no_bos, "do not add the BOS token");
}

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    int32_t v = 0;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || ptr != item.data() + item.size() || v < 0)
      throw InputError("--ids: '" + item + "' is not a token id (expected e.g. --ids 1,403,407)");
    ids.push_back(v);
    start = end + 1;
  }
  return ids;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<int32_t> prompt_tokens(const PromptOptions& o, const LoadedModel& m) {
  if (!o.ids.empty()) return parse_ids(o.ids);
  const std::string text = o.file.empty() ? o.text : read_text_file(o.file);
  if (!m.tokenizer)
    throw InputError("this model has no vocabulary (tokenizer.ggml.model = no_vocab): give the prompt with --ids");
  auto ids = m.tokenizer->encode(text, !o.no_bos, o.special);
  if (ids.empty()) throw InputError("the prompt is empty and the model adds no BOS token: nothing to start from");
  return ids;
}

}  // namespace greta::app
