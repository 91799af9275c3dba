// `greta chat` and `greta run --chat` on a synthetic model that carries the Llama 3 vocabulary
// and chat template.
#include <gtest/gtest.h>

#include "cli_support.h"

namespace greta::test {
namespace {

class Chat : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = unique_temp("chat-tiny-llama3.gguf");
    const auto r = run_greta("synth --preset tiny --type q8_0 --vocab ../shared/tokenizers/llama3/tokenizer.json -o " + model_, "synth");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() { std::remove(model_.c_str()); }
  static std::string model_;
};
std::string Chat::model_;

TEST_F(Chat, TwoTurnsThenEndOfInput) {
  const std::string input = unique_temp("chat_input.txt");
  {
    std::FILE* f = std::fopen(input.c_str(), "w");
    std::fputs("Hello there\nWhat is your name?\n", f);
    std::fclose(f);
  }
  const std::string cmd = "cd '" + std::string(GRETA_SOURCE_DIR) + "' && '" + GRETA_BINARY + "' chat -m " + model_ +
                          " --system 'Be brief' -n 6 --seed 1 <" + input + " >" + input + ".out 2>" + input + ".err";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_file(input + ".err");
  const auto out = read_file(input + ".out");
  size_t prompts = 0;
  for (size_t p = out.find("> "); p != std::string::npos; p = out.find("> ", p + 1)) ++prompts;
  EXPECT_EQ(prompts, 3u) << out;  // two turns answered, then the prompt that met end of input
  EXPECT_NE(read_file(input + ".err").find("llama3 template"), std::string::npos);
}

TEST_F(Chat, RunChatWrapsOneTurn) {
  const auto r = run_greta("run -m " + model_ + " --chat --system 'Be brief' -p Hi -n 4 --seed 2", "runchat");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // <|begin_of_text|> + system header/body/eot + user header/body/eot + assistant header = 18 tokens.
  EXPECT_NE(r.err.find("prompt: 18 tokens"), std::string::npos) << r.err;
}

TEST_F(Chat, UnknownTemplateNameIsRefused) {
  const auto r = run_greta("run -m " + model_ + " --chat --chat-template vicuna -p Hi -n 1", "badtmpl");
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace greta::test
