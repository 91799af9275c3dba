#pragma once
// Block formats and the arithmetic on them: dequantization, dot products with f32
// activations, matrix tiles, and quantization (for writers).
//
// Numeric contract (both routes, every ISA):
//   * Activations stay f32. Weights are dequantized to f32 with one fixed expression
//     per format (see quant_formats.h); dequantize_row() and the fused dot() produce the
//     same weight values bit for bit.
//   * Every dot product of length K uses the *canonical reduction*: 16 f32 lanes,
//     lane j accumulates elements k ≡ j (mod 16) in increasing k with fused multiply-add
//     (a zero-padded tail chunk is accumulated like any other), then the lanes are summed
//     by the fixed tree  l[i] += l[i+8]; l[i] += l[i+4]; l[i] += l[i+2]; l[0] + l[1].
//   * The scalar reference, the AVX2 path (two 8-lane registers) and the AVX-512 path all
//     implement exactly that order, so their results are bit-identical; so are the
//     matrix-vector route (dot) and the matrix-matrix route (gemm_f32 over dequantized
//     tiles). Only a deliberately different order (none today) would break this.
#include <cstdint>

#include "greta/tensor_type.h"

namespace greta::quant {

enum class Isa { Scalar, Avx2, Avx512 };
const char* isa_name(Isa isa);
Isa best_isa();             // what this CPU supports (AVX-512 needs F+BW+VL)
Isa active_isa();           // what the functions below use; defaults to best_isa()
void set_active_isa(Isa);   // tests and benchmarks; clamped to best_isa()

// Dequantize n elements (n a multiple of the block size) of one row.
void dequantize_row(TensorType type, const void* src, float* dst, int64_t n);

// Canonical-order dot product of a row of `type` with f32 activations x[0..n).
float dot(TensorType type, const void* row, const float* x, int64_t n);

// Canonical-order dot product of two f32 vectors.
float dot_f32(const float* a, const float* b, int64_t n);

// Several rows against one activation vector: y[r] = dot(type, rows + r*row_stride, x, n)
// for r in [0, n_rows); same results as calling dot() per row, faster (independent chains).
void dot_rows(TensorType type, const void* rows, int64_t row_stride, int64_t n_rows,
              const float* x, int64_t n, float* y);

// Matrix tile in canonical order: Y[t*ldy + r] = dot_f32(W + r*ldw, X + t*ldx, k)
// for r < n_rows, t < n_tokens. W is f32 (dequantized weights), rows contiguous in k.
void gemm_f32(const float* w, int64_t ldw, int64_t n_rows,
              const float* x, int64_t ldx, int64_t n_tokens,
              int64_t k, float* y, int64_t ldy);

// Quantize n f32 values (n a multiple of the block size) into one row of `type`.
// Round-to-nearest with per-block scales; used to write models, not on the hot path.
void quantize_row(TensorType type, const float* src, void* dst, int64_t n);

// f16 / bf16 conversions (exact widening; rounding-to-nearest-even narrowing).
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
// Round to nearest even straight from double (one rounding, subnormals, overflow to
// infinity; NaN gives 0x7FFF, the GPU's canonical NaN).
uint16_t f64_to_f16(double v);

// The f16 weights of a reduced-precision GPU route, bit for bit (rn: one rounding of the
// exact value to f16; d, dmin, sc, m, q as stored):
//   F32, BF16: rn(w)   F16: w   Q8_0: rn(d·q)   Q4_0: rn(d·(q−8))
//   Q4_K, Q5_K: rn(q·rn(d·sc) − rn(dmin·m))   (one fused multiply-add in f16)
//   Q6_K: rn((q−32)·rn(d·sc))
void dequantize_row_f16(TensorType type, const void* row, uint16_t* out, int64_t n);

// T per weight, the part of the f16 weight's error that the roundings of its scale terms
// add: Q4_K, Q5_K: q·|d·sc| + |dmin·m|; Q6_K: |q−32|·|d·sc| = |w|; 0 for the formats
// rounded once. With u = 2^-11 and η = 2^-25, while nothing overflows,
//   |w16 − w| ≤ u·|w| + (1 + u)·u·T  (+ η for F32 and BF16)
// where w is the exact weight (docs/audit.md derives it).
void weight_rounding_terms(TensorType type, const void* row, double* t, int64_t n);

}  // namespace greta::quant
