// The two matrix-product routes of the CPU backend.
//
// GEMV (decode): each output row is one fused dequantize-and-dot over the weight row.
// GEMM (prefill): a tile of weight rows is dequantized once into f32 scratch and reused
// for every token. Both follow the canonical reduction order of quant/quant.h, so the
// same row and token give the same bits on either route.
#include <algorithm>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "quant/quant.h"

namespace greta::cpu {
namespace {

constexpr int64_t kGemvGrain = 16;     // rows per scheduling unit
constexpr int64_t kGemmTileRows = 16;  // weight rows dequantized together
constexpr int64_t kGemmTokenBlock = 64;

}  // namespace

void CpuBackend::matmul(const Weight& w, Act x, Act out, Route route) {
  if (route == Route::Gemv)
    matmul_gemv(w, x, out);
  else
    matmul_gemm(w, x, out);
}

void CpuBackend::matmul_gemv(const Weight& w, Act x, Act out) {
  const auto* base = static_cast<const uint8_t*>(w.data);
  const int64_t rb = w.row_bytes();
  pool_.parallel_for(w.rows, kGemvGrain, [&](int64_t r0, int64_t r1, int) {
    for (int64_t t = 0; t < x.rows; ++t)
      quant::dot_rows(w.type, base + r0 * rb, rb, r1 - r0, x.row(t), w.cols, out.row(t) + r0);
  }, w.rows * w.cols * x.rows);
}

void CpuBackend::matmul_gemm(const Weight& w, Act x, Act out) {
  const auto* base = static_cast<const uint8_t*>(w.data);
  const int64_t rb = w.row_bytes();
  const int64_t k = w.cols;
  pool_.parallel_for(w.rows, kGemmTileRows, [&](int64_t r0, int64_t r1, int) {
    thread_local std::vector<float> tile;
    for (int64_t r = r0; r < r1; r += kGemmTileRows) {
      const int64_t nr = std::min(kGemmTileRows, r1 - r);
      const float* wt;
      if (w.type == TensorType::F32) {
        wt = reinterpret_cast<const float*>(base + r * rb);
      } else {
        tile.resize(static_cast<size_t>(kGemmTileRows * k));
        for (int64_t i = 0; i < nr; ++i) quant::dequantize_row(w.type, base + (r + i) * rb, tile.data() + i * k, k);
        wt = tile.data();
      }
      for (int64_t t = 0; t < x.rows; t += kGemmTokenBlock) {
        const int64_t nt = std::min(kGemmTokenBlock, x.rows - t);
        quant::gemm_f32(wt, k, nr, x.row(t), x.cols, nt, k, out.row(t) + r, out.cols);
      }
    }
  }, w.rows * w.cols * x.rows);
}

}  // namespace greta::cpu
