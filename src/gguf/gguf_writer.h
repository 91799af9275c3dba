#pragma once
// Writing GGUF version 3 files: metadata, tensor infos, aligned tensor data.
//
// Tensors are added with a callback that fills their bytes, so a multi-gigabyte file is
// streamed to disk one tensor at a time.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "greta/tensor_type.h"
#include "gguf/gguf_value.h"

namespace greta::gguf {

class GgufWriter {
 public:
  using Fill = std::function<void(std::span<uint8_t> dst)>;
  // Called after each tensor is written: (bytes written so far, total bytes).
  using Progress = std::function<void(uint64_t done, uint64_t total)>;

  explicit GgufWriter(uint64_t alignment = 32);

  void set(std::string key, Value value);  // replaces an existing key
  // shape in ggml order (shape[0] contiguous); shape[0] must be a multiple of the block size.
  void add_tensor(std::string name, TensorType type, std::vector<int64_t> shape, Fill fill);

  uint64_t total_bytes() const;  // size of the complete file
  void write_file(const std::string& path, const Progress& progress = {}) const;
  std::vector<uint8_t> write_bytes() const;

 private:
  struct PendingTensor {
    std::string name;
    TensorType type;
    std::vector<int64_t> shape;
    uint64_t n_bytes;
    Fill fill;
  };
  uint64_t alignment_;
  std::vector<std::pair<std::string, Value>> kv_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace greta::gguf
