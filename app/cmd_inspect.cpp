// greta inspect: metadata, tensor table and totals of a GGUF file.
#include <cstdio>
#include <memory>

#include "app/command.h"
#include "gguf/gguf_file.h"

namespace greta::app {

void register_inspect(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("inspect", "print a GGUF file's metadata, tensors and totals");
  cmd->add_option("model", *path, "GGUF file")->required();
  set_runner(cmd, [path] {
    const auto file = gguf::GgufFile::open(*path);
    std::fputs(gguf::describe(file).c_str(), stdout);
    return 0;
  });
}

}  // namespace greta::app
