// Run-time choice of the kernel table, by what the CPU supports.
#include <atomic>
#include <stdexcept>
#include <string>

#include "quant/kernels.h"
#include "quant/quant.h"

namespace greta::quant {
namespace {

Isa detect_isa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
    return Isa::Avx2;
  return Isa::Scalar;
}

const detail::Kernels& table_for(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return detail::avx512_kernels();
    case Isa::Avx2: return detail::avx2_kernels();
    default: return detail::scalar_kernels();
  }
}

// Function-local statics, so that kernels work even when called during static init.
std::atomic<Isa>& active_slot() {
  static std::atomic<Isa> slot{best_isa()};
  return slot;
}
std::atomic<const detail::Kernels*>& kernels_slot() {
  static std::atomic<const detail::Kernels*> slot{&table_for(best_isa())};
  return slot;
}

const detail::Kernels& kernels() { return *kernels_slot().load(std::memory_order_relaxed); }

void check_multiple(TensorType type, int64_t n, const char* what) {
  if (n % type_traits(type).block_size != 0)
    throw std::invalid_argument(std::string(what) + ": length is not a multiple of the block size");
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

Isa best_isa() {
  static const Isa isa = detect_isa();
  return isa;
}

Isa active_isa() { return active_slot().load(std::memory_order_relaxed); }

void set_active_isa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(best_isa())) isa = best_isa();
  active_slot().store(isa, std::memory_order_relaxed);
  kernels_slot().store(&table_for(isa), std::memory_order_relaxed);
}

void dequantize_row(TensorType type, const void* src, float* dst, int64_t n) {
  check_multiple(type, n, "dequantize_row");
  kernels().dequantize_row(type, src, dst, n);
}

float dot(TensorType type, const void* row, const float* x, int64_t n) {
  check_multiple(type, n, "dot");
  float y;
  kernels().dot_rows(type, row, 0, 1, x, n, &y);
  return y;
}

float dot_f32(const float* a, const float* b, int64_t n) { return kernels().dot_f32(a, b, n); }

void dot_rows(TensorType type, const void* rows, int64_t row_stride, int64_t n_rows, const float* x, int64_t n,
              float* y) {
  check_multiple(type, n, "dot_rows");
  kernels().dot_rows(type, rows, row_stride, n_rows, x, n, y);
}

void gemm_f32(const float* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx, int64_t n_tokens,
              int64_t k, float* y, int64_t ldy) {
  kernels().gemm_f32(w, ldw, n_rows, x, ldx, n_tokens, k, y, ldy);
}

}  // namespace greta::quant
