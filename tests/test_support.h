#pragma once
// Paths for tests: the project root and the read-only ../shared data beside it
// (GRETA_SHARED_DIR, when set, names another copy of that data); reading a whole file;
// counting a string's occurrences.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace greta::test {

inline std::string source_path(const std::string& rel) { return std::string(GRETA_SOURCE_DIR) + "/" + rel; }
inline std::string shared_path(const std::string& rel) {
  if (const char* dir = std::getenv("GRETA_SHARED_DIR"); dir && *dir) return std::string(dir) + "/" + rel;
  return std::string(GRETA_SOURCE_DIR) + "/../shared/" + rel;
}

// The whole file as bytes ("" when it cannot be read).
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// How often `needle` occurs in `text` (overlaps counted).
inline size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace greta::test
