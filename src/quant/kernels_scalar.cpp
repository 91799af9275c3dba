// Plain C++ reference kernels: the canonical reduction written out literally. They
// define what the SIMD paths must reproduce bit for bit.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "quant/kernels.h"
#include "quant/quant.h"
#include "quant/quant_formats.h"

namespace greta::quant::detail {
namespace {

constexpr int kLanes = 16;

// Accumulates w[i]*x[i] for i < n into the 16 lanes; the caller's offset into the full
// dot product is a multiple of 16, so lane j keeps receiving elements k = j (mod 16).
void accumulate(float lanes[kLanes], const float* w, const float* x, int64_t n) {
  for (int64_t k0 = 0; k0 < n; k0 += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const int64_t k = k0 + j;
      // The tail chunk is zero padded and accumulated like any other chunk.
      const float wk = k < n ? w[k] : 0.0f, xk = k < n ? x[k] : 0.0f;
      lanes[j] = std::fma(wk, xk, lanes[j]);
    }
  }
}

float reduce(float l[kLanes]) {
  for (int i = 0; i < 8; ++i) l[i] += l[i + 8];
  for (int i = 0; i < 4; ++i) l[i] += l[i + 4];
  for (int i = 0; i < 2; ++i) l[i] += l[i + 2];
  return l[0] + l[1];
}

void dequantize_block(TensorType type, const uint8_t* b, float* y) {
  switch (type) {
    case TensorType::Q8_0: {
      const float d = f16_to_f32(load_u16(b));
      const auto* qs = reinterpret_cast<const int8_t*>(b + 2);
      for (int j = 0; j < 32; ++j) y[j] = weight_q8_0(d, qs[j]);
      return;
    }
    case TensorType::Q4_0: {
      const float d = f16_to_f32(load_u16(b));
      const uint8_t* qs = b + 2;
      for (int j = 0; j < 16; ++j) {
        y[j] = weight_q4_0(d, qs[j] & 0xF);
        y[j + 16] = weight_q4_0(d, qs[j] >> 4);
      }
      return;
    }
    case TensorType::Q4_K: {
      float a[8], m[8];
      k_quant_factors(b, a, m);
      const uint8_t* qs = b + 16;
      for (int e = 0; e < kSuperBlock; ++e) y[e] = weight_k(a[e / 32], m[e / 32], k_quant_nibble(qs, e));
      return;
    }
    case TensorType::Q5_K: {
      float a[8], m[8];
      k_quant_factors(b, a, m);
      const uint8_t* qh = b + 16;
      const uint8_t* qs = b + 48;
      for (int e = 0; e < kSuperBlock; ++e) {
        const int q = k_quant_nibble(qs, e) | (((qh[e % 32] >> (e / 32)) & 1) << 4);
        y[e] = weight_k(a[e / 32], m[e / 32], q);
      }
      return;
    }
    case TensorType::Q6_K: {
      const uint8_t* ql = b;
      const uint8_t* qh = b + 128;
      const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
      const float d = f16_to_f32(load_u16(b + 208));
      for (int e = 0; e < kSuperBlock; ++e) {
        const float a = d * static_cast<float>(sc[e / 16]);
        y[e] = weight_q6_k(a, q6_k_code(ql, qh, e));
      }
      return;
    }
    default:
      throw std::logic_error("dequantize_block: not a block format");
  }
}

void dequantize_row(TensorType type, const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  switch (type) {
    case TensorType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case TensorType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load_u16(p + 2 * i));
      return;
    case TensorType::BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_u16(p + 2 * i));
      return;
    default: {
      const auto& t = type_traits(type);
      for (int64_t i = 0; i < n / t.block_size; ++i)
        dequantize_block(type, p + i * t.block_bytes, dst + i * t.block_size);
    }
  }
}

float dot_f32(const float* a, const float* b, int64_t n) {
  float lanes[kLanes] = {};
  accumulate(lanes, a, b, n);
  return reduce(lanes);
}

float dot(TensorType type, const void* row, const float* x, int64_t n) {
  if (type == TensorType::F32) return dot_f32(static_cast<const float*>(row), x, n);
  // Dequantize block by block (or in 256-element pieces for 16-bit floats); every piece
  // is a multiple of 16 long except possibly the last, so the lanes line up.
  const auto& t = type_traits(type);
  const int64_t piece = t.block_size == 1 ? 256 : t.block_size;
  const auto* p = static_cast<const uint8_t*>(row);
  float lanes[kLanes] = {};
  float w[256];
  for (int64_t k0 = 0; k0 < n; k0 += piece) {
    const int64_t len = std::min(piece, n - k0);
    dequantize_row(type, p + k0 / t.block_size * t.block_bytes, w, len);
    accumulate(lanes, w, x + k0, len);
  }
  return reduce(lanes);
}

void dot_rows(TensorType type, const void* rows, int64_t row_stride, int64_t n_rows, const float* x,
              int64_t n, float* y) {
  for (int64_t r = 0; r < n_rows; ++r) y[r] = dot(type, static_cast<const uint8_t*>(rows) + r * row_stride, x, n);
}

void gemm_f32(const float* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx, int64_t n_tokens,
              int64_t k, float* y, int64_t ldy) {
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t r = 0; r < n_rows; ++r) y[t * ldy + r] = dot_f32(w + r * ldw, x + t * ldx, k);
}

}  // namespace

const Kernels& scalar_kernels() {
  static const Kernels k{dequantize_row, dot_rows, dot_f32, gemm_f32};
  return k;
}

}  // namespace greta::quant::detail
