// The SIMD kernels, written once against a 16-lane vector abstraction and compiled once
// per instruction set: kernels_avx2.cpp and kernels_avx512.cpp define the vector types
// and operations below, open their target region, then include this file inside an
// anonymous namespace. Lane j of a 16-lane accumulator is lane j of the canonical
// reduction, so every kernel here reproduces the scalar reference bit for bit.
//
// Required from the including file:
//   F (16 floats), I (16 int32)
//   F zero(); F load(const float*); F load_n(const float*, int n)  (zero padded)
//   F fma(a, b, c) = a*b + c; F fmsub(a, b, c) = a*b - c; F mul(a, b); F bcast(float)
//   I u8(const uint8_t*) (16 bytes, zero-extended); I s8(const int8_t*)
//   I and_(I, int); I sub(I, int); srl<S>(I); F cvt(I)
//   void store(float*, F); void store_n(float*, F, int n); float reduce(F)
//   F f16(const uint16_t*), f16_n(const uint16_t*, int), bf16(...), bf16_n(...)
//   float half_to_float(uint16_t) (the hardware conversion; same bits as f16_to_f32)
//   void q5_k_codes(const uint8_t* block, uint8_t* codes), q6_k_codes(block, int8_t*)
//   constexpr int kGemmRows, kGemmTokens, kQuantRows, kDenseRows
//   constexpr bool kHasLut; where true: F iota_from(s) (s, s+1, .., s+15),
//   F lut16(F table, I idx) (lookup by the low 4 bits of each index) and
//   F lut32(F lo, F hi, I idx) (low 5 bits). A table holds the weight of every code,
//   computed by the format's expression, so a lookup gives the same bits.
// This header is deliberately not self-contained and has no include guard.

template <int N, class Fn>
inline void for_chunks(Fn&& fn) {
  [&]<int... C>(std::integer_sequence<int, C...>) {
    (fn(std::integral_constant<int, C>{}), ...);
  }(std::make_integer_sequence<int, N>{});
}

// ---- byte-level code assembly: codes are unpacked many bytes per operation into a
// per-block buffer and widened to 16 lanes from memory. On AVX-512 cores every vector
// uop competes for the same two ports, so bit fiddling on 32 or 64 bytes at once instead
// of on 16 dwords per vector is what pays.

inline __m256i bytes32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline __m256i byte_mask(int m) { return _mm256_set1_epi8(static_cast<char>(m)); }
// Low or high nibble of each byte (shifts are per 16 bits; the mask drops what crossed).
template <bool kHigh>
inline __m256i nibbles(__m256i v) {
  if constexpr (kHigh) v = _mm256_srli_epi16(v, 4);
  return _mm256_and_si256(v, byte_mask(0x0F));
}
// ---- block formats: prepare() reads a block's scales once, chunk<C>() yields the
// weights of elements [32C, 32C+32) of the block as two vectors, by the expressions of
// quant_formats.h.

// f16 scale to f32 on the scalar integer units (ports that the vector work does not
// need); zero, subnormal, Inf and NaN take the exact hardware path.
inline float scale_to_float(uint16_t h) {
  const uint32_t e = h & 0x7C00u;
  if (e == 0 || e == 0x7C00u) [[unlikely]]
    return half_to_float(h);
  return std::bit_cast<float>((static_cast<uint32_t>(h & 0x8000u) << 16) |
                              ((static_cast<uint32_t>(h & 0x7FFFu) << 13) + 0x38000000u));
}

// d * bytes[j] for j < 8 (the K-quant sub-block factors), with 256-bit vectors, which
// both the AVX2 and the AVX-512 targets have.
inline void scale8(const uint8_t* bytes, float d, float* out) {
  const __m256i q = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes)));
  _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(q)));
}

inline void k_quant_prepare(const uint8_t* b, float a[8], float m[8]) {
  uint8_t sc8[8], m8[8];
  k_quant_scale_bytes(b + 4, sc8, m8);
  scale8(sc8, scale_to_float(load_u16(b)), a);
  scale8(m8, scale_to_float(load_u16(b + 2)), m);
}

struct FmtQ8_0 {
  static constexpr int kBlock = 32, kBytes = 34, kChunks = 1;
  struct Prep {
    float d;
  };
  static void prepare(const uint8_t* b, Prep& p) { p.d = scale_to_float(load_u16(b)); }
  template <int C>
  static void chunk(const uint8_t* b, const Prep& p, F& w0, F& w1) {
    const auto* qs = reinterpret_cast<const int8_t*>(b + 2);
    const F d = bcast(p.d);
    w0 = mul(d, cvt(s8(qs)));
    w1 = mul(d, cvt(s8(qs + 16)));
  }
};

struct FmtQ4_0 {
  static constexpr int kBlock = 32, kBytes = 18, kChunks = 1;
  struct Prep {
    float d;
  };
  static void prepare(const uint8_t* b, Prep& p) { p.d = scale_to_float(load_u16(b)); }
  template <int C>
  static void chunk(const uint8_t* b, const Prep& p, F& w0, F& w1) {
    const I v = u8(b + 2);
    const F d = bcast(p.d);
    if constexpr (kHasLut) {
      const F table = mul(d, iota_from(-8));
      w0 = lut16(table, v);
      w1 = lut16(table, srl<4>(v));
    } else {
      w0 = mul(d, cvt(sub(and_(v, 0xF), 8)));
      w1 = mul(d, cvt(sub(srl<4>(v), 8)));
    }
  }
};

struct FmtQ4_K {
  static constexpr int kBlock = 256, kBytes = 144, kChunks = 8;
  struct Prep {
    float a[8], b[8];
    alignas(32) uint8_t codes[256];  // 4-bit codes in element order (arithmetic path only)
  };
  static void prepare(const uint8_t* b, Prep& p) {
    k_quant_prepare(b, p.a, p.b);
    if constexpr (!kHasLut) {
      for (int g = 0; g < 4; ++g) {
        const __m256i v = bytes32(b + 16 + 32 * g);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p.codes + 64 * g), nibbles<false>(v));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p.codes + 64 * g + 32), nibbles<true>(v));
      }
    }
  }
  template <int C>
  static void chunk(const uint8_t* b, const Prep& p, F& w0, F& w1) {
    const F a = bcast(p.a[C]), m = bcast(p.b[C]);
    if constexpr (kHasLut) {
      // Bytes are zero-extended and the lookup reads only the low 4 bits of the index,
      // so the low nibbles need no mask and the high ones only a shift.
      const uint8_t* qs = b + 16 + 32 * (C / 2);
      constexpr int kShift = (C % 2) * 4;
      const F table = fmsub(a, iota_from(0), m);
      w0 = lut16(table, srl<kShift>(u8(qs)));
      w1 = lut16(table, srl<kShift>(u8(qs + 16)));
    } else {
      w0 = fmsub(a, cvt(u8(p.codes + 32 * C)), m);
      w1 = fmsub(a, cvt(u8(p.codes + 32 * C + 16)), m);
    }
  }
};

// Q5_K and Q6_K assemble the codes of the whole block in prepare() (q5_k_codes and
// q6_k_codes, one per target, as wide as the target allows) and widen them per chunk.
struct FmtQ5_K {
  static constexpr int kBlock = 256, kBytes = 176, kChunks = 8;
  struct Prep {
    float a[8], b[8];
    alignas(64) uint8_t codes[256];  // 5-bit codes in element order
  };
  static void prepare(const uint8_t* b, Prep& p) {
    k_quant_prepare(b, p.a, p.b);
    q5_k_codes(b, p.codes);
  }
  template <int C>
  static void chunk(const uint8_t*, const Prep& p, F& w0, F& w1) {
    const uint8_t* q = p.codes + 32 * C;
    const F a = bcast(p.a[C]), m = bcast(p.b[C]);
    if constexpr (kHasLut) {
      const F lo = fmsub(a, iota_from(0), m), hi = fmsub(a, iota_from(16), m);
      w0 = lut32(lo, hi, u8(q));
      w1 = lut32(lo, hi, u8(q + 16));
    } else {
      w0 = fmsub(a, cvt(u8(q)), m);
      w1 = fmsub(a, cvt(u8(q + 16)), m);
    }
  }
};

struct FmtQ6_K {
  static constexpr int kBlock = 256, kBytes = 210, kChunks = 8;
  struct Prep {
    float a[16];
    alignas(64) int8_t codes[256];  // q - 32 in element order
  };
  static void prepare(const uint8_t* b, Prep& p) {
    store(p.a, mul(bcast(scale_to_float(load_u16(b + 208))), cvt(s8(reinterpret_cast<const int8_t*>(b + 192)))));
    q6_k_codes(b, p.codes);
  }
  template <int C>
  static void chunk(const uint8_t*, const Prep& p, F& w0, F& w1) {
    const int8_t* q = p.codes + 32 * C;
    w0 = mul(bcast(p.a[2 * C]), cvt(s8(q)));
    w1 = mul(bcast(p.a[2 * C + 1]), cvt(s8(q + 16)));
  }
};

// ---- dense rows (f32, f16, bf16): 16 weights at element k, full or zero-padded.

struct DenseF32 {
  static F at(const uint8_t* row, int64_t k) { return load(reinterpret_cast<const float*>(row) + k); }
  static F at_n(const uint8_t* row, int64_t k, int n) { return load_n(reinterpret_cast<const float*>(row) + k, n); }
};
struct DenseF16 {
  static F at(const uint8_t* row, int64_t k) { return f16(reinterpret_cast<const uint16_t*>(row) + k); }
  static F at_n(const uint8_t* row, int64_t k, int n) { return f16_n(reinterpret_cast<const uint16_t*>(row) + k, n); }
};
struct DenseBF16 {
  static F at(const uint8_t* row, int64_t k) { return bf16(reinterpret_cast<const uint16_t*>(row) + k); }
  static F at_n(const uint8_t* row, int64_t k, int n) { return bf16_n(reinterpret_cast<const uint16_t*>(row) + k, n); }
};

// Software prefetch of the next group of rows. Decode streams each weight byte from DRAM
// exactly once, and a group's R rows are R interleaved streams that the hardware
// prefetcher picks up late (rows are only a few KB long); fetching the next group's bytes
// while this group computes keeps enough misses in flight. `next` is where that group
// starts (null for the last group of a call, whose successor may belong to another
// thread); each block step covers the next R * kBytes bytes of it, so the whole group is
// requested once, one group ahead.
template <class Fmt, int R>
inline void prefetch_step(const uint8_t* next, int64_t ib) {
  if (next == nullptr) return;
  const uint8_t* p = next + ib * R * Fmt::kBytes;
  for (int i = 0; i < R * Fmt::kBytes; i += 64) _mm_prefetch(reinterpret_cast<const char*>(p + i), _MM_HINT_T0);
}

// R rows of a block format against x: one accumulator per row, so R independent FMA
// chains share every load of x, and weights never leave registers.
template <class Fmt, int R>
void quant_rows(const uint8_t* rows, int64_t stride, const float* x, int64_t n, float* y,
                const uint8_t* next = nullptr) {
  F acc[R];
  for (int r = 0; r < R; ++r) acc[r] = zero();
  const int64_t nb = n / Fmt::kBlock;
  for (int64_t ib = 0; ib < nb; ++ib) {
    prefetch_step<Fmt, R>(next, ib);
    const uint8_t* blk[R];
    typename Fmt::Prep prep[R];
    for (int r = 0; r < R; ++r) {
      blk[r] = rows + r * stride + ib * Fmt::kBytes;
      Fmt::prepare(blk[r], prep[r]);
    }
    // Make the compiler read the per-chunk factors back from memory: a broadcast from
    // memory costs only a load, while extracting lanes from registers costs shuffles on
    // the port the lookups need.
    asm("" : "+m"(prep));
    const float* xb = x + ib * Fmt::kBlock;
    for_chunks<Fmt::kChunks>([&](auto c) {
      constexpr int C = decltype(c)::value;
      const F x0 = load(xb + 32 * C), x1 = load(xb + 32 * C + 16);
      for (int r = 0; r < R; ++r) {
        F w0, w1;
        Fmt::template chunk<C>(blk[r], prep[r], w0, w1);
        acc[r] = fma(w0, x0, acc[r]);
        acc[r] = fma(w1, x1, acc[r]);
      }
    });
  }
  for (int r = 0; r < R; ++r) y[r] = reduce(acc[r]);
}

template <class Dense, int R>
void dense_rows(const uint8_t* rows, int64_t stride, const float* x, int64_t n, float* y) {
  F acc[R];
  for (int r = 0; r < R; ++r) acc[r] = zero();
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    const F xv = load(x + k);
    for (int r = 0; r < R; ++r) acc[r] = fma(Dense::at(rows + r * stride, k), xv, acc[r]);
  }
  if (k < n) {
    const int tail = static_cast<int>(n - k);
    const F xv = load_n(x + k, tail);
    for (int r = 0; r < R; ++r) acc[r] = fma(Dense::at_n(rows + r * stride, k, tail), xv, acc[r]);
  }
  for (int r = 0; r < R; ++r) y[r] = reduce(acc[r]);
}

// Q4_K with lookup tables, 64 elements (one qs group of 32 bytes) per step: each 16-byte
// half of the group is widened once and serves both its low nibbles (elements
// [64g, 64g+32), sub-block 2g) and its high nibbles (elements [64g+32, 64g+64), sub-block
// 2g+1), where chunk-at-a-time code widens every byte twice. Each lane still receives its
// elements in increasing k, so the canonical order is unchanged.
template <int R>
void q4_k_rows_lut(const uint8_t* rows, int64_t stride, const float* x, int64_t n, float* y,
                   const uint8_t* next) {
  F acc[R];
  for (int r = 0; r < R; ++r) acc[r] = zero();
  const F iota = iota_from(0);
  const int64_t nb = n / FmtQ4_K::kBlock;
  for (int64_t ib = 0; ib < nb; ++ib) {
    prefetch_step<FmtQ4_K, R>(next, ib);
    const uint8_t* blk[R];
    float fa[R][8], fm[R][8];
    for (int r = 0; r < R; ++r) {
      blk[r] = rows + r * stride + ib * FmtQ4_K::kBytes;
      k_quant_prepare(blk[r], fa[r], fm[r]);
    }
    asm("" : "+m"(fa), "+m"(fm));  // broadcast from memory, as in quant_rows
    const float* xb = x + ib * FmtQ4_K::kBlock;
    for_chunks<4>([&](auto c) {
      constexpr int G = decltype(c)::value;
      const F x0 = load(xb + 64 * G), x1 = load(xb + 64 * G + 16);
      const F x2 = load(xb + 64 * G + 32), x3 = load(xb + 64 * G + 48);
      for (int r = 0; r < R; ++r) {
        const uint8_t* qs = blk[r] + 16 + 32 * G;
        const I v0 = u8(qs), v1 = u8(qs + 16);
        const F lo = fmsub(bcast(fa[r][2 * G]), iota, bcast(fm[r][2 * G]));
        const F hi = fmsub(bcast(fa[r][2 * G + 1]), iota, bcast(fm[r][2 * G + 1]));
        acc[r] = fma(lut16(lo, v0), x0, acc[r]);
        acc[r] = fma(lut16(lo, v1), x1, acc[r]);
        acc[r] = fma(lut16(hi, srl<4>(v0)), x2, acc[r]);
        acc[r] = fma(lut16(hi, srl<4>(v1)), x3, acc[r]);
      }
    });
  }
  for (int r = 0; r < R; ++r) y[r] = reduce(acc[r]);
}

// Whole groups of R rows, then the remainder one row at a time.
template <int R, class Group, class Single>
void rows_in_groups(int64_t n_rows, int64_t stride, const uint8_t* rows, float* y, Group group, Single single) {
  int64_t r = 0;
  for (; r + R <= n_rows; r += R) group(rows + r * stride, y + r);
  for (; r < n_rows; ++r) single(rows + r * stride, y + r);
}

template <class Fmt>
void quant_rows_all(const uint8_t* rows, int64_t stride, int64_t n_rows, const float* x, int64_t n, float* y) {
  constexpr int R = kQuantRows;
  // Prefetch only a next group that lies inside this call's rows (offsets, so that no
  // pointer is formed past the end of the matrix).
  auto next_of = [&](const uint8_t* p) -> const uint8_t* {
    return (p - rows) + 2 * R * stride <= n_rows * stride ? p + R * stride : nullptr;
  };
  rows_in_groups<R>(
      n_rows, stride, rows, y,
      [&](const uint8_t* p, float* out) {
        if constexpr (kHasLut && std::is_same_v<Fmt, FmtQ4_K>)
          q4_k_rows_lut<R>(p, stride, x, n, out, next_of(p));
        else
          quant_rows<Fmt, R>(p, stride, x, n, out, next_of(p));
      },
      [&](const uint8_t* p, float* out) { quant_rows<Fmt, 1>(p, stride, x, n, out); });
}

template <class Dense>
void dense_rows_all(const uint8_t* rows, int64_t stride, int64_t n_rows, const float* x, int64_t n, float* y) {
  rows_in_groups<kDenseRows>(
      n_rows, stride, rows, y, [&](const uint8_t* p, float* out) { dense_rows<Dense, kDenseRows>(p, stride, x, n, out); },
      [&](const uint8_t* p, float* out) { dense_rows<Dense, 1>(p, stride, x, n, out); });
}

void simd_dot_rows(TensorType type, const void* rows_v, int64_t stride, int64_t n_rows, const float* x, int64_t n,
                   float* y) {
  const auto* rows = static_cast<const uint8_t*>(rows_v);
  switch (type) {
    case TensorType::F32: return dense_rows_all<DenseF32>(rows, stride, n_rows, x, n, y);
    case TensorType::F16: return dense_rows_all<DenseF16>(rows, stride, n_rows, x, n, y);
    case TensorType::BF16: return dense_rows_all<DenseBF16>(rows, stride, n_rows, x, n, y);
    case TensorType::Q8_0: return quant_rows_all<FmtQ8_0>(rows, stride, n_rows, x, n, y);
    case TensorType::Q4_0: return quant_rows_all<FmtQ4_0>(rows, stride, n_rows, x, n, y);
    case TensorType::Q4_K: return quant_rows_all<FmtQ4_K>(rows, stride, n_rows, x, n, y);
    case TensorType::Q5_K: return quant_rows_all<FmtQ5_K>(rows, stride, n_rows, x, n, y);
    case TensorType::Q6_K: return quant_rows_all<FmtQ6_K>(rows, stride, n_rows, x, n, y);
  }
  throw std::logic_error("dot_rows: unsupported tensor type");
}

float simd_dot_f32(const float* a, const float* b, int64_t n) {
  float y;
  dense_rows<DenseF32, 1>(reinterpret_cast<const uint8_t*>(a), 0, b, n, &y);
  return y;
}

// ---- dequantization into f32 scratch (the prefill route's weight tiles).

template <class Fmt>
void dequantize_blocks(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t ib = 0; ib < n / Fmt::kBlock; ++ib) {
    const uint8_t* blk = src + ib * Fmt::kBytes;
    float* out = dst + ib * Fmt::kBlock;
    typename Fmt::Prep prep;
    Fmt::prepare(blk, prep);
    asm("" : "+m"(prep));  // broadcast the factors from memory, as in quant_rows
    for_chunks<Fmt::kChunks>([&](auto c) {
      constexpr int C = decltype(c)::value;
      F w0, w1;
      Fmt::template chunk<C>(blk, prep, w0, w1);
      store(out + 32 * C, w0);
      store(out + 32 * C + 16, w1);
    });
  }
}

template <class Dense>
void dequantize_dense(const uint8_t* src, float* dst, int64_t n) {
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) store(dst + k, Dense::at(src, k));
  if (k < n) store_n(dst + k, Dense::at_n(src, k, static_cast<int>(n - k)), static_cast<int>(n - k));
}

void simd_dequantize_row(TensorType type, const void* src_v, float* dst, int64_t n) {
  const auto* src = static_cast<const uint8_t*>(src_v);
  switch (type) {
    case TensorType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return;
    case TensorType::F16: return dequantize_dense<DenseF16>(src, dst, n);
    case TensorType::BF16: return dequantize_dense<DenseBF16>(src, dst, n);
    case TensorType::Q8_0: return dequantize_blocks<FmtQ8_0>(src, dst, n);
    case TensorType::Q4_0: return dequantize_blocks<FmtQ4_0>(src, dst, n);
    case TensorType::Q4_K: return dequantize_blocks<FmtQ4_K>(src, dst, n);
    case TensorType::Q5_K: return dequantize_blocks<FmtQ5_K>(src, dst, n);
    case TensorType::Q6_K: return dequantize_blocks<FmtQ6_K>(src, dst, n);
  }
  throw std::logic_error("dequantize_row: unsupported tensor type");
}

// ---- gemm_f32: an R x T register tile of 16-lane accumulators, one per (row, token),
// each fed in canonical order, so Y equals dot_f32 of that row and token bit for bit.
// Long rows are cut into k-blocks that keep a tile's weights in L1 while the tokens
// sweep past; between blocks each accumulator's 16 lanes wait in memory, unchanged, so
// the order of operations per lane is exactly that of one pass.

constexpr int64_t kGemmKBlock = 512;  // 4 rows x 2 KB of weights per tile

struct TileState {
  float* acc;      // 16 floats per (row, token) of the whole call, or null for one pass
  int64_t ld;      // floats between consecutive rows' states
  bool resume;     // load the lanes saved by the previous k-block
  bool finish;     // reduce into Y (else save the lanes)
};

template <int R, int T>
void gemm_tile(const float* w, int64_t ldw, const float* x, int64_t ldx, int64_t k, float* y, int64_t ldy,
               const TileState& st) {
  F acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = st.resume ? load(st.acc + r * st.ld + 16 * t) : zero();
  int64_t k0 = 0;
  for (; k0 + 16 <= k; k0 += 16) {
    F wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load(w + r * ldw + k0);
    for (int t = 0; t < T; ++t) {
      const F xv = load(x + t * ldx + k0);
      for (int r = 0; r < R; ++r) acc[r][t] = fma(wv[r], xv, acc[r][t]);
    }
  }
  if (k0 < k) {
    const int tail = static_cast<int>(k - k0);
    F wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load_n(w + r * ldw + k0, tail);
    for (int t = 0; t < T; ++t) {
      const F xv = load_n(x + t * ldx + k0, tail);
      for (int r = 0; r < R; ++r) acc[r][t] = fma(wv[r], xv, acc[r][t]);
    }
  }
  if (st.finish) {
    for (int t = 0; t < T; ++t)
      for (int r = 0; r < R; ++r) y[t * ldy + r] = reduce(acc[r][t]);
  } else {
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) store(st.acc + r * st.ld + 16 * t, acc[r][t]);
  }
}

template <int R>
void gemm_rows(const float* w, int64_t ldw, const float* x, int64_t ldx, int64_t n_tokens, int64_t k, float* y,
               int64_t ldy, TileState st) {
  int64_t t = 0;
  for (; t + kGemmTokens <= n_tokens; t += kGemmTokens) {
    gemm_tile<R, kGemmTokens>(w, ldw, x + t * ldx, ldx, k, y + t * ldy, ldy, st);
    st.acc += st.acc ? 16 * kGemmTokens : 0;
  }
  // The remaining tokens as one narrower tile (more independent chains than one by one).
  const int64_t rest = n_tokens - t;
  if (rest == 0) return;
  [&]<int... Ts>(std::integer_sequence<int, Ts...>) {
    ((rest == Ts + 1 ? gemm_tile<R, Ts + 1>(w, ldw, x + t * ldx, ldx, k, y + t * ldy, ldy, st) : void()), ...);
  }(std::make_integer_sequence<int, kGemmTokens - 1>{});
}

// One k-range [k0, k0 + kl) over every tile of the call.
void gemm_pass(const float* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx, int64_t n_tokens,
               int64_t k0, int64_t kl, float* y, int64_t ldy, TileState st) {
  const int64_t row_ld = st.ld;
  auto state_at = [&](int64_t r) { return st.acc ? st.acc + r * row_ld : nullptr; };
  int64_t r = 0;
  for (; r + kGemmRows <= n_rows; r += kGemmRows)
    gemm_rows<kGemmRows>(w + r * ldw + k0, ldw, x + k0, ldx, n_tokens, kl, y + r, ldy,
                         {state_at(r), row_ld, st.resume, st.finish});
  for (; r < n_rows; ++r)
    gemm_rows<1>(w + r * ldw + k0, ldw, x + k0, ldx, n_tokens, kl, y + r, ldy, {state_at(r), row_ld, st.resume, st.finish});
}

void simd_gemm_f32(const float* w, int64_t ldw, int64_t n_rows, const float* x, int64_t ldx, int64_t n_tokens,
                   int64_t k, float* y, int64_t ldy) {
  if (k <= kGemmKBlock) return gemm_pass(w, ldw, n_rows, x, ldx, n_tokens, 0, k, y, ldy, {nullptr, 0, false, true});
  // Lane state of every (row, token): 64 bytes each. operator new/delete are plain
  // library functions (no template is instantiated for this target).
  const int64_t row_ld = 16 * n_tokens;
  const size_t bytes = static_cast<size_t>(n_rows * row_ld) * sizeof(float);
  auto* state = static_cast<float*>(::operator new(bytes, std::align_val_t{64}));
  for (int64_t k0 = 0; k0 < k; k0 += kGemmKBlock) {
    const int64_t kl = k - k0 < kGemmKBlock ? k - k0 : kGemmKBlock;
    gemm_pass(w, ldw, n_rows, x, ldx, n_tokens, k0, kl, y, ldy, {state, row_ld, k0 > 0, k0 + kl == k});
  }
  ::operator delete(state, std::align_val_t{64});
}
