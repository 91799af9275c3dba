#pragma once
// Error types shared by every module.
//
// InputError is anything wrong with what the user gave us (a file, a flag, a prompt):
// the command prints its message once and exits with code 2. Anything else escaping to
// main() is a bug in greta.
#include <stdexcept>
#include <string>

namespace greta {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace greta
