// Tokenizer throughput: encode (and decode) MB/s for the SentencePiece and byte-level BPE
// tokenizers on the long audit prompt and on a larger text.
//
//   tokenizer_bench [SHARED_DIR]     (default ../shared, run from the project root)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

using namespace greta::tokenizer;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Best of `reps` runs of encode(text), in seconds.
double time_encode(const Tokenizer& tok, const std::string& text, int reps, size_t* n_tokens) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto start = std::chrono::steady_clock::now();
    const std::vector<TokenId> ids = tok.encode(text, false, true);
    best = std::min(best, seconds_since(start));
    *n_tokens = ids.size();
  }
  return best;
}

double time_decode(const Tokenizer& tok, const std::vector<TokenId>& ids, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto start = std::chrono::steady_clock::now();
    const std::string text = tok.decode(ids, {.render_special = true});
    best = std::min(best, seconds_since(start));
    if (text.empty()) std::printf("?");
  }
  return best;
}

void report(const char* name, const Tokenizer& tok, const char* text_name, const std::string& text, int reps) {
  // First call on a fresh tokenizer (empty word cache), then the best warm run.
  const Tokenizer fresh(tok.vocab());
  size_t n_tokens = 0;
  const double cold = time_encode(fresh, text, 1, &n_tokens);
  const double warm = time_encode(tok, text, reps, &n_tokens);
  const double dec = time_decode(tok, tok.encode(text, false, true), reps);
  const double mb = static_cast<double>(text.size()) / 1e6;
  std::printf("| %-10s | %-16s | %9zu | %7zu | %9.3f | %8.1f | %9.3f | %8.1f | %8.1f |\n", name, text_name, text.size(),
              n_tokens, cold * 1e3, mb / cold, warm * 1e3, mb / warm, mb / dec);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string shared = argc > 1 ? argv[1] : "../shared";
  const std::string p6 = read_file(shared + "/prompts/p6_long.txt");
  // A larger, less repetitive text: every vector string, prompt and story text we have.
  std::string large;
  for (const char* f : {"/tokenizers/vectors/ggml-vocab-llama-spm.gguf.inp", "/prompts/p6_long.txt",
                        "/reference/stories260K/llama2c_greedy_200.txt", "/prompts/p4_sys.txt"}) {
    large += read_file(shared + f);
  }
  std::string big;
  while (big.size() < (4u << 20)) big += large;  // 4 MiB

  auto t0 = std::chrono::steady_clock::now();
  const Tokenizer spm(Vocab::from_gguf(greta::gguf::GgufFile::open(shared + "/tokenizers/vectors/ggml-vocab-llama-spm.gguf")));
  const double spm_load = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  const Tokenizer bpe(vocab_from_hf_tokenizer(shared + "/tokenizers/llama3/tokenizer.json",
                                              shared + "/tokenizers/llama3/tokenizer_config.json"));
  const double bpe_load = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  const Vocab tiktoken = vocab_from_tiktoken(shared + "/tokenizers/llama3/tokenizer.model");
  const double tiktoken_load = seconds_since(t0);

  std::printf("load: llama-spm GGUF %.1f ms, llama3 tokenizer.json %.1f ms, llama3 tiktoken (merge recovery) %.1f ms (%zu merges)\n\n",
              spm_load * 1e3, bpe_load * 1e3, tiktoken_load * 1e3, tiktoken.merges.size());
  std::printf("| tokenizer  | text             |     bytes |  tokens | cold (ms) | cold MB/s | warm (ms) | warm MB/s | dec MB/s |\n");
  std::printf("|------------|------------------|-----------|---------|-----------|-----------|-----------|-----------|----------|\n");
  report("SPM", spm, "p6_long.txt", p6, 50);
  report("BPE llama3", bpe, "p6_long.txt", p6, 50);
  report("SPM", spm, "mixed 4 MiB", big, 3);
  report("BPE llama3", bpe, "mixed 4 MiB", big, 3);
  return 0;
}
