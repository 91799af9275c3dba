#include "backend/cpu/cpu_backend.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "quant/quant.h"

namespace greta::cpu {

CpuBackend::CpuBackend(int n_threads) : pool_(n_threads) {}

std::string CpuBackend::name() const {
  return std::string("cpu (") + quant::isa_name(quant::active_isa()) + ", " + std::to_string(pool_.size()) + " threads)";
}

std::string CpuBackend::numeric_contract() const {
  return "activations f32; weights dequantized exactly to f32; every dot product (matmul rows, "
         "attention scores) in the canonical 16-lane fused-multiply-add order, identical for the "
         "GEMM and GEMV routes; rmsnorm sum of squares in f64; softmax and silu in f32";
}

Weight CpuBackend::upload(TensorType type, const void* host, int64_t rows, int64_t cols) {
  return Weight{type, host, host, rows, cols};  // read in place from the mapping
}

Act CpuBackend::alloc(int64_t rows, int64_t cols) {
  const size_t bytes = ((static_cast<size_t>(rows * cols) * sizeof(float)) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  return Act{static_cast<float*>(p), rows, cols};
}

void CpuBackend::release(Act a) { std::free(a.data); }

void CpuBackend::to_host(Act src, int64_t first_row, int64_t n_rows, float* dst) {
  std::memcpy(dst, src.row(first_row), static_cast<size_t>(n_rows * src.cols) * sizeof(float));
}

void CpuBackend::from_host(const float* src, Act dst, int64_t first_row, int64_t n_rows) {
  std::memcpy(dst.row(first_row), src, static_cast<size_t>(n_rows * dst.cols) * sizeof(float));
}

void CpuBackend::embed(const Weight& table, const int32_t* tokens, int64_t n, Act out) {
  const auto* base = static_cast<const uint8_t*>(table.data);
  for (int64_t i = 0; i < n; ++i) quant::dequantize_row(table.type, base + tokens[i] * table.row_bytes(), out.row(i), table.cols);
}

void CpuBackend::rmsnorm(Act x, const Weight& w, float eps, Act out) {
  const auto* g = static_cast<const float*>(w.data);
  for (int64_t r = 0; r < x.rows; ++r) {
    const float* xr = x.row(r);
    float* o = out.row(r);
    double ss = 0;
    for (int64_t i = 0; i < x.cols; ++i) ss += double(xr[i]) * xr[i];
    const float mean = static_cast<float>(ss / static_cast<double>(x.cols));
    const float s = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < x.cols; ++i) o[i] = (xr[i] * s) * g[i];
  }
}

void CpuBackend::rope(Act x, int head_dim, int rope_dim, const float* cos_sin) {
  const int pairs = rope_dim / 2;
  const int64_t heads = x.cols / head_dim;
  for (int64_t r = 0; r < x.rows; ++r) {
    const float* cs = cos_sin + r * pairs * 2;
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x.row(r) + h * head_dim;
      for (int i = 0; i < pairs; ++i) {
        const float c = cs[2 * i], s = cs[2 * i + 1];
        const float a = v[2 * i], b = v[2 * i + 1];
        v[2 * i] = a * c - b * s;
        v[2 * i + 1] = a * s + b * c;
      }
    }
  }
}

void CpuBackend::kv_store(KvCache& cache, int layer, Act k, Act v, const int32_t* pos) {
  for (int64_t i = 0; i < k.rows; ++i) {
    std::memcpy(cache.k_f32(layer) + pos[i] * cache.kv_dim, k.row(i), static_cast<size_t>(k.cols) * sizeof(float));
    std::memcpy(cache.v_f32(layer) + pos[i] * cache.kv_dim, v.row(i), static_cast<size_t>(v.cols) * sizeof(float));
  }
}

void CpuBackend::swiglu(Act gate, Act up, Act out) {
  for (int64_t r = 0; r < gate.rows; ++r) {
    const float *g = gate.row(r), *u = up.row(r);
    float* o = out.row(r);
    for (int64_t i = 0; i < gate.cols; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }
}

void CpuBackend::add(Act a, Act b, Act out) {
  const int64_t n = a.rows * a.cols;
  for (int64_t i = 0; i < n; ++i) out.data[i] = a.data[i] + b.data[i];
}

void CpuBackend::scale(Act x, float s) {
  const int64_t n = x.rows * x.cols;
  for (int64_t i = 0; i < n; ++i) x.data[i] *= s;
}

void CpuBackend::copy(Act src, Act dst) {
  if (src.data != dst.data) std::memmove(dst.data, src.data, static_cast<size_t>(src.rows * src.cols) * sizeof(float));
}

}  // namespace greta::cpu
