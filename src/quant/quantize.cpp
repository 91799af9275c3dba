// Round-to-nearest quantizers with per-block scales (and mins) fitted to each block's range. They write
// synthetic models; any valid encoding is acceptable, but they use each format's full
// code range, so the round trip error stays within one quantization step.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "quant/quant.h"
#include "quant/quant_formats.h"

namespace greta::quant {
namespace {

int round_clamp(float v, int lo, int hi) {
  return std::clamp(static_cast<int>(std::lround(v)), lo, hi);
}

void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

void quantize_q8_0(const float* x, uint8_t* b) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const uint16_t dh = f32_to_f16(amax / 127.0f);
  const float d = f16_to_f32(dh);
  store_u16(b, dh);
  auto* qs = reinterpret_cast<int8_t*>(b + 2);
  for (int j = 0; j < 32; ++j) qs[j] = static_cast<int8_t>(d == 0 ? 0 : round_clamp(x[j] / d, -128, 127));
}

void quantize_q4_0(const float* x, uint8_t* b) {
  // The value of largest magnitude maps to code 0 (-8 * d), using the asymmetric range.
  float vmax = 0;
  for (int j = 0; j < 32; ++j)
    if (std::fabs(x[j]) > std::fabs(vmax)) vmax = x[j];
  const uint16_t dh = f32_to_f16(vmax / -8.0f);
  const float d = f16_to_f32(dh);
  store_u16(b, dh);
  uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    const int lo = d == 0 ? 8 : round_clamp(x[j] / d + 8, 0, 15);
    const int hi = d == 0 ? 8 : round_clamp(x[j + 16] / d + 8, 0, 15);
    qs[j] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

// Scale and min for one 32-element sub-block with codes 0..qmax, w = scale*q - min:
// the sub-block's value range (its minimum clamped to at most zero, as ggml does).
void fit_scale_min(const float* x, int qmax, float& scale, float& min) {
  const float lo = std::min(*std::min_element(x, x + 32), 0.0f);
  const float hi = *std::max_element(x, x + 32);
  scale = (hi - lo) / static_cast<float>(qmax);
  min = -lo;
}

// Shared by Q4_K and Q5_K: fills d, dmin, scales[12] and returns the 256 codes.
void quantize_k_scales(const float* x, int qmax, uint8_t* b, int codes[256]) {
  float scale[8], min[8];
  for (int j = 0; j < 8; ++j) fit_scale_min(x + 32 * j, qmax, scale[j], min[j]);
  const float max_scale = *std::max_element(scale, scale + 8);
  const float max_min = *std::max_element(min, min + 8);
  const uint16_t dh = f32_to_f16(max_scale / 63.0f), mh = f32_to_f16(max_min / 63.0f);
  const float d = f16_to_f32(dh), dmin = f16_to_f32(mh);
  int sc[8], m[8];
  for (int j = 0; j < 8; ++j) {
    // Scales round up, so the stored range still covers the sub-block; mins round to nearest.
    sc[j] = d == 0 ? 0 : std::clamp(static_cast<int>(std::ceil(scale[j] / d)), 0, 63);
    m[j] = dmin == 0 ? 0 : round_clamp(min[j] / dmin, 0, 63);
  }
  store_u16(b, dh);
  store_u16(b + 2, mh);
  uint8_t* s = b + 4;
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
  // Codes against the scales as stored, so rounding of the scales is compensated.
  float a[8], bm[8];
  k_quant_factors(b, a, bm);
  for (int e = 0; e < 256; ++e) {
    const int j = e / 32;
    codes[e] = a[j] == 0 ? 0 : round_clamp((x[e] + bm[j]) / a[j], 0, qmax);
  }
}

void quantize_q4_k(const float* x, uint8_t* b) {
  int q[256];
  quantize_k_scales(x, 15, b, q);
  uint8_t* qs = b + 16;
  for (int g = 0; g < 4; ++g)
    for (int l = 0; l < 32; ++l) qs[32 * g + l] = static_cast<uint8_t>(q[64 * g + l] | (q[64 * g + 32 + l] << 4));
}

void quantize_q5_k(const float* x, uint8_t* b) {
  int q[256];
  quantize_k_scales(x, 31, b, q);
  uint8_t* qh = b + 16;
  uint8_t* qs = b + 48;
  std::memset(qh, 0, 32);
  for (int g = 0; g < 4; ++g)
    for (int l = 0; l < 32; ++l)
      qs[32 * g + l] = static_cast<uint8_t>((q[64 * g + l] & 0xF) | ((q[64 * g + 32 + l] & 0xF) << 4));
  for (int e = 0; e < 256; ++e) qh[e % 32] |= static_cast<uint8_t>((q[e] >> 4) << (e / 32));
}

void quantize_q6_k(const float* x, uint8_t* b) {
  // Per 16 elements: the value of largest magnitude maps to code 0 (-32 * scale).
  float scale[16];
  for (int i = 0; i < 16; ++i) {
    float vmax = 0;
    for (int j = 0; j < 16; ++j)
      if (std::fabs(x[16 * i + j]) > std::fabs(vmax)) vmax = x[16 * i + j];
    scale[i] = vmax / -32.0f;
  }
  float amax = 0;
  for (float s : scale) amax = std::max(amax, std::fabs(s));
  const uint16_t dh = f32_to_f16(amax / 127.0f);
  const float d = f16_to_f32(dh);
  auto* sc = reinterpret_cast<int8_t*>(b + 192);
  // Magnitudes round up, so 32 * |d * sc| still covers the 16-block's largest value.
  for (int i = 0; i < 16; ++i) {
    const float r = d == 0 ? 0.0f : std::ceil(std::fabs(scale[i]) / d);
    sc[i] = static_cast<int8_t>(std::copysign(std::min(r, 127.0f), scale[i]));
  }
  store_u16(b + 208, dh);
  uint8_t* ql = b;
  uint8_t* qh = b + 128;
  std::memset(ql, 0, 128);
  std::memset(qh, 0, 64);
  for (int e = 0; e < 256; ++e) {
    const float a = d * static_cast<float>(sc[e / 16]);
    const int q = a == 0 ? 32 : round_clamp(x[e] / a + 32, 0, 63);
    const int half = e / 128, within = e % 128, quarter = within / 32, l = within % 32;
    uint8_t& lo = ql[64 * half + l + 32 * (quarter & 1)];
    lo |= static_cast<uint8_t>((q & 0xF) << (quarter < 2 ? 0 : 4));
    qh[32 * half + l] |= static_cast<uint8_t>((q >> 4) << (2 * quarter));
  }
}

}  // namespace

void quantize_row(TensorType type, const float* src, void* dst, int64_t n) {
  const auto& t = type_traits(type);
  if (n % t.block_size != 0) throw std::invalid_argument("quantize_row: length is not a multiple of the block size");
  auto* out = static_cast<uint8_t*>(dst);
  switch (type) {
    case TensorType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case TensorType::F16:
      for (int64_t i = 0; i < n; ++i) store_u16(out + 2 * i, f32_to_f16(src[i]));
      return;
    case TensorType::BF16:
      for (int64_t i = 0; i < n; ++i) store_u16(out + 2 * i, f32_to_bf16(src[i]));
      return;
    default: break;
  }
  void (*block_fn)(const float*, uint8_t*) = nullptr;
  switch (type) {
    case TensorType::Q8_0: block_fn = quantize_q8_0; break;
    case TensorType::Q4_0: block_fn = quantize_q4_0; break;
    case TensorType::Q4_K: block_fn = quantize_q4_k; break;
    case TensorType::Q5_K: block_fn = quantize_q5_k; break;
    case TensorType::Q6_K: block_fn = quantize_q6_k; break;
    default: throw std::logic_error("quantize_row: unsupported tensor type");
  }
  for (int64_t i = 0; i < n / t.block_size; ++i) block_fn(src + i * t.block_size, out + i * t.block_bytes);
}

}  // namespace greta::quant
