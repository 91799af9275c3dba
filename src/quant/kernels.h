#pragma once
// One table of kernel entry points per instruction set; dispatch.cpp picks one at run
// time. Every table implements the canonical reduction of quant.h bit for bit.
#include <cstdint>

#include "greta/tensor_type.h"

namespace greta::quant::detail {

struct Kernels {
  void (*dequantize_row)(TensorType type, const void* src, float* dst, int64_t n);
  void (*dot_rows)(TensorType type, const void* rows, int64_t row_stride, int64_t n_rows,
                   const float* x, int64_t n, float* y);
  float (*dot_f32)(const float* a, const float* b, int64_t n);
  void (*gemm_f32)(const float* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx,
                   int64_t n_tokens, int64_t k, float* y, int64_t ldy);
};

const Kernels& scalar_kernels();
const Kernels& avx2_kernels();    // only call when the CPU has AVX2, FMA and F16C
const Kernels& avx512_kernels();  // only call when the CPU has AVX-512 F, BW and VL

}  // namespace greta::quant::detail
