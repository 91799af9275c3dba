// Hand-built blocks whose values follow from the published layouts.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "quant/quant.h"
#include "quant/quant_formats.h"

using namespace greta;
using namespace greta::quant;

namespace {

// Dequantize with every ISA and check each agrees with the expected values exactly.
void expect_dequant(TensorType type, const void* block, const std::vector<float>& expected) {
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (static_cast<int>(isa) > static_cast<int>(best_isa())) continue;
    set_active_isa(isa);
    std::vector<float> y(expected.size());
    dequantize_row(type, block, y.data(), static_cast<int64_t>(y.size()));
    for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], expected[i]) << isa_name(isa) << " element " << i;
  }
  set_active_isa(best_isa());
}

void put_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// Sub-block scales and mins used by the K-quant blocks, and their packing by hand:
//   bytes 0..3:  sc[j] | (sc[j+4] >> 4) << 6     bytes 4..7: m[j] | (m[j+4] >> 4) << 6
//   bytes 8..11: (sc[j+4] & 15) | (m[j+4] & 15) << 4
const int kSc[8] = {1, 2, 3, 4, 33, 17, 50, 63};
const int kMin[8] = {0, 5, 10, 63, 16, 31, 47, 8};
const uint8_t kPacked[12] = {129, 66, 195, 196, 64, 69, 138, 63, 1, 241, 242, 143};

}  // namespace

TEST(Formats, Q8_0) {
  uint8_t b[34];
  put_u16(b, 0x3800);  // 0.5
  for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
  std::vector<float> e(32);
  for (int j = 0; j < 32; ++j) e[j] = 0.5f * (j - 16);
  expect_dequant(TensorType::Q8_0, b, e);
}

TEST(Formats, Q4_0) {
  uint8_t b[18];
  put_u16(b, 0x4000);  // 2.0
  for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  std::vector<float> e(32);
  for (int j = 0; j < 16; ++j) {
    e[j] = 2.0f * (j - 8);           // low nibble of qs[j]
    e[j + 16] = 2.0f * (15 - j - 8);  // high nibble of qs[j]
  }
  expect_dequant(TensorType::Q4_0, b, e);
  EXPECT_EQ(e[0], -16.0f);
  EXPECT_EQ(e[16], 14.0f);
}

TEST(Formats, ScaleMinUnpacking) {
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    scale_min_k4(j, kPacked, sc, m);
    EXPECT_EQ(sc, kSc[j]) << j;
    EXPECT_EQ(m, kMin[j]) << j;
  }
}

TEST(Formats, Q4_K) {
  uint8_t b[144];
  put_u16(b, 0x3C00);      // d = 1
  put_u16(b + 2, 0x3800);  // dmin = 0.5
  std::memcpy(b + 4, kPacked, 12);
  for (int g = 0; g < 4; ++g)
    for (int l = 0; l < 32; ++l) b[16 + 32 * g + l] = static_cast<uint8_t>((l & 15) | (((l + g) & 15) << 4));
  // Group g of 64: elements 64g+l (l < 32) are low nibbles (l & 15), elements 64g+32+l
  // high nibbles ((l + g) & 15); sub-block j = e / 32 has value 1*sc[j]*q - 0.5*m[j].
  std::vector<float> e(256);
  for (int g = 0; g < 4; ++g)
    for (int l = 0; l < 32; ++l) {
      e[64 * g + l] = kSc[2 * g] * (l & 15) - 0.5f * kMin[2 * g];
      e[64 * g + 32 + l] = kSc[2 * g + 1] * ((l + g) & 15) - 0.5f * kMin[2 * g + 1];
    }
  EXPECT_EQ(e[33], -0.5f);   // 2*1 - 2.5
  EXPECT_EQ(e[200], 376.5f);  // 50*8 - 23.5
  EXPECT_EQ(e[255], 122.0f);  // 63*2 - 4
  expect_dequant(TensorType::Q4_K, b, e);
}

TEST(Formats, Q5_K) {
  uint8_t b[176];
  put_u16(b, 0x3400);      // d = 0.25
  put_u16(b + 2, 0x3C00);  // dmin = 1
  std::memcpy(b + 4, kPacked, 12);
  for (int l = 0; l < 32; ++l) b[16 + l] = static_cast<uint8_t>(l * 37 + 11);  // qh
  for (int i = 0; i < 128; ++i) b[48 + i] = static_cast<uint8_t>(i * 29 + 7);  // qs
  std::vector<float> e(256);
  for (int g = 0; g < 4; ++g)
    for (int l = 0; l < 32; ++l) {
      const uint8_t q = b[48 + 32 * g + l], h = b[16 + l];
      const int lo = (q & 15) + ((h >> (2 * g)) & 1) * 16;        // bit 2g of qh[l]
      const int hi = (q >> 4) + ((h >> (2 * g + 1)) & 1) * 16;    // bit 2g+1 of qh[l]
      e[64 * g + l] = 0.25f * kSc[2 * g] * lo - 1.0f * kMin[2 * g];
      e[64 * g + 32 + l] = 0.25f * kSc[2 * g + 1] * hi - 1.0f * kMin[2 * g + 1];
    }
  // Element 40: qs[8] = 239 -> high nibble 14; qh[8] = 51 -> bit 1 set -> q = 30;
  // sub-block 1: 0.25*2*30 - 5 = 10.
  EXPECT_EQ(e[40], 10.0f);
  expect_dequant(TensorType::Q5_K, b, e);
}

TEST(Formats, Q6_K) {
  uint8_t b[210];
  for (int i = 0; i < 128; ++i) b[i] = static_cast<uint8_t>(i * 7 + 3);         // ql
  for (int i = 0; i < 64; ++i) b[128 + i] = static_cast<uint8_t>(i * 13 + 5);   // qh
  for (int i = 0; i < 16; ++i) b[192 + i] = static_cast<uint8_t>(static_cast<int8_t>(i - 8));
  put_u16(b + 208, 0x3400);  // d = 0.25
  // ggml's order: per 128-element half (ql += 64, qh += 32, scales += 8), for l < 32:
  //   y[l]    = ql[l] low  | qh[l] bits 0-1, scale is+0
  //   y[l+32] = ql[l+32] low  | bits 2-3, scale is+2
  //   y[l+64] = ql[l] high | bits 4-5, scale is+4
  //   y[l+96] = ql[l+32] high | bits 6-7, scale is+6      (is = l / 16)
  std::vector<float> e(256);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = b + 64 * half;
    const uint8_t* qh = b + 128 + 32 * half;
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192) + 8 * half;
    float* y = e.data() + 128 * half;
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = (ql[l] & 15) | ((qh[l] & 3) << 4);
      const int q2 = (ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4);
      const int q3 = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
      const int q4 = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
      y[l] = (0.25f * sc[is]) * (q1 - 32);
      y[l + 32] = (0.25f * sc[is + 2]) * (q2 - 32);
      y[l + 64] = (0.25f * sc[is + 4]) * (q3 - 32);
      y[l + 96] = (0.25f * sc[is + 6]) * (q4 - 32);
    }
  }
  EXPECT_EQ(e[0], 26.0f);    // q = 3 | 1<<4 = 19, scale -8: -2 * -13
  EXPECT_EQ(e[100], 8.5f);   // ql[36] = 255 high nibble 15, qh[4] bits 6-7 = 0, scale -2
  EXPECT_EQ(e[150], 7.25f);  // ql[86] low 13, qh[54] bits 0-1 = 3 -> 61, scale 1
  expect_dequant(TensorType::Q6_K, b, e);
}

TEST(Formats, Dense16) {
  const uint16_t h[3] = {0x3C00, 0xC100, 0x0001};
  expect_dequant(TensorType::F16, h, {1.0f, -2.5f, 0x1p-24f});
  const uint16_t bf[3] = {0x3F80, 0xC020, 0x4049};
  expect_dequant(TensorType::BF16, bf, {1.0f, -2.5f, 3.140625f});
}
