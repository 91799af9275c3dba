#include "backend/cuda/cuda_tensor_map.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

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
  const std::optional<CUtensorMap> m = encode_weight_rows(w, row_bytes, n_rows, box_bytes, box_rows);
  if (m) map = *m;
  return m.has_value();
}

const CUtensorMap* device_weight_maps(const WeightRows* rows, int n) {
  using Key = std::vector<std::tuple<const void*, int64_t, int64_t, int, int>>;
  Key key;
  for (int i = 0; i < n; ++i)
    key.emplace_back(rows[i].w, rows[i].row_bytes, rows[i].n_rows, rows[i].box_bytes, rows[i].box_rows);
  static std::mutex mu;
  static std::map<Key, const CUtensorMap*> known;
  std::lock_guard<std::mutex> lock(mu);
  const auto it = known.find(key);
  if (it != known.end()) return it->second;
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(static_cast<cudaStream_t>(launch_queue().stream), &capturing), "cudaStreamIsCapturing");
  if (capturing != cudaStreamCaptureStatusNone) return nullptr;
  std::vector<CUtensorMap> maps(static_cast<size_t>(n));
  const CUtensorMap* d = nullptr;
  bool all = n > 0;
  for (int i = 0; i < n && all; ++i)
    all = weight_rows_map(rows[i].w, rows[i].row_bytes, rows[i].n_rows, rows[i].box_bytes, rows[i].box_rows, maps[i]);
  if (all) {
    void* p = nullptr;
    const size_t bytes = maps.size() * sizeof(CUtensorMap);
    check(cudaMalloc(&p, bytes), "cudaMalloc (tensor maps)");  // 256-byte aligned
    check(cudaMemcpy(p, maps.data(), bytes, cudaMemcpyHostToDevice), "cudaMemcpy (tensor maps)");
    d = static_cast<const CUtensorMap*>(p);
  }
  known.emplace(std::move(key), d);
  return d;
}

}  // namespace greta::cuda
