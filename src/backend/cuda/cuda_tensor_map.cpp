#include "backend/cuda/cuda_tensor_map.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/cuda_step_record.h"

namespace greta::cuda {
namespace {

bool ring_maps_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("GRETA_CUDA_RING_MAPS");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}

std::optional<CUtensorMap> encode_weight_rows(const void* w, int64_t row_bytes, int64_t n_rows, int box_bytes,
                                              int box_rows) {
  const auto encode = tensor_map_encoder();
  if (!encode || reinterpret_cast<uintptr_t>(w) % 16 != 0 || row_bytes <= 0 || row_bytes % 16 != 0 ||
      n_rows < 1 || n_rows > INT32_MAX || box_bytes % 16 != 0 || box_bytes < 16 || box_bytes / 8 > 256 ||
      box_rows < 1 || box_rows > 256)
    return std::nullopt;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(row_bytes / 8), static_cast<cuuint64_t>(n_rows)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(row_bytes)};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(box_bytes / 8), static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t elem[2] = {1, 1};
  CUtensorMap map;
  if (encode(&map, CU_TENSOR_MAP_DATA_TYPE_UINT64, 2, const_cast<void*>(w), dims, strides, box, elem,
             CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
             CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
    return std::nullopt;
  return map;
}

}  // namespace

bool weight_rows_map(const void* w, int64_t row_bytes, int64_t n_rows, int box_bytes, int box_rows, CUtensorMap& map) {
  if (!ring_maps_enabled()) return false;
  using Key = std::tuple<const void*, int64_t, int64_t, int, int>;
  static std::mutex mu;
  static std::map<Key, std::optional<CUtensorMap>> maps;
  const Key key{w, row_bytes, n_rows, box_bytes, box_rows};
  std::lock_guard<std::mutex> lock(mu);
  auto it = maps.find(key);
  if (it == maps.end()) it = maps.emplace(key, encode_weight_rows(w, row_bytes, n_rows, box_bytes, box_rows)).first;
  if (!it->second) return false;
  map = *it->second;
  return true;
}

const void* device_copy_of(const void* p, size_t bytes) {
  static std::mutex mu;
  static std::map<std::string, void*> copies;
  std::string key(static_cast<const char*>(p), bytes);
  std::lock_guard<std::mutex> lock(mu);
  auto it = copies.find(key);
  if (it != copies.end()) return it->second;
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(static_cast<cudaStream_t>(launch_queue().stream), &capturing), "cudaStreamIsCapturing");
  if (capturing != cudaStreamCaptureStatusNone) return nullptr;
  void* d = nullptr;
  check(cudaMalloc(&d, bytes), "cudaMalloc (tensor maps)");  // 256-byte aligned
  check(cudaMemcpy(d, p, bytes, cudaMemcpyHostToDevice), "cudaMemcpy (tensor maps)");
  copies.emplace(std::move(key), d);
  return d;
}

}  // namespace greta::cuda
