#pragma once
// Running the `greta` binary from tests and capturing what it says.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "../test_support.h"

namespace greta::test {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// A path in the test temp directory that no other test process uses (ctest runs tests
// in parallel, each in its own process).
inline std::string unique_temp(const std::string& name) {
  return ::testing::TempDir() + "/greta_" + std::to_string(::getpid()) + "_" + name;
}

// Runs `greta ARGS` from the project root (so ../shared resolves) with stdin from /dev/null.
inline CommandResult run_greta(const std::string& args, const std::string& tag = "cmd") {
  const std::string out = unique_temp(tag + ".out"), err = unique_temp(tag + ".err");
  const std::string cmd = "cd '" + std::string(GRETA_SOURCE_DIR) + "' && '" + GRETA_BINARY + "' " + args + " </dev/null >'" + out +
                          "' 2>'" + err + "'";
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

}  // namespace greta::test
