#pragma once
// A read-only memory mapping of a whole file; released on destruction.
#include <cstdint>
#include <span>
#include <string>

namespace greta::gguf {

class MappedFile {
 public:
  // Throws greta::InputError naming the path when the file cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const uint8_t> bytes() const { return {static_cast<const uint8_t*>(addr_), size_}; }

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace greta::gguf
