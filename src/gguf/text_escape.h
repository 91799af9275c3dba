#pragma once
// Printable, quoted renderings of untrusted strings (keys, tensor names, metadata values).
#include <cstddef>
#include <string>
#include <string_view>

namespace greta::gguf {

// "text" with quotes, backslashes and control bytes escaped; longer than max_len bytes is
// cut and marked with "...".
std::string quote(std::string_view s, size_t max_len = 64);

}  // namespace greta::gguf
