/*
 * simd_internal.h — private to src/simd and its unit tests: the per-ISA kernel
 * tables that dispatch.c chooses from, and the scalar helpers the wider
 * variants reuse for their tails.
 *
 * Invariants:
 *  1. Every table is a complete, read-only `struct kite_simd_ops`; no entry is
 *     NULL, so callers never test for a missing kernel.
 *  2. A table may only be called on a CPU that has its ISA; dispatch.c is the
 *     one place that checks (STYLE.md §9: no per-call feature checks).
 *  3. The *_avx512 tables come in two flavours: with VPOPCNTDQ (binary kernels
 *     use vpopcntq) and without (binary kernels use the AVX2 popcount path).
 */
#ifndef KITE_SIMD_INTERNAL_H
#define KITE_SIMD_INTERNAL_H

#include "simd.h"

extern const struct kite_simd_ops simd_scalar_ops;
extern const struct kite_simd_ops simd_avx2_ops;
extern const struct kite_simd_ops simd_avx512_ops;          /* needs AVX512VPOPCNTDQ */
extern const struct kite_simd_ops simd_avx512_nopopcnt_ops; /* F/BW/DQ/VL only */

/* Scalar reference kernels (distance_scalar.c), reused by other tables. */
float simd_scalar_l2_f32(const float *a, const float *b, size_t d);
float simd_scalar_ip_f32(const float *a, const float *b, size_t d);
uint32_t simd_scalar_hamming(const uint8_t *a, const uint8_t *b, size_t nbytes);
void simd_scalar_and_or_popcnt(const uint8_t *a, const uint8_t *b, size_t nbytes,
                               uint32_t *n_and, uint32_t *n_or);
float simd_scalar_f16_to_f32_one(uint16_t h);
uint16_t simd_scalar_f32_to_f16_one(float f);
float simd_scalar_bf16_to_f32_one(uint16_t h);
uint16_t simd_scalar_f32_to_bf16_one(float f);
void simd_scalar_f16_to_f32(const uint16_t *in, float *out, size_t n);
void simd_scalar_f32_to_f16(const float *in, uint16_t *out, size_t n);
void simd_scalar_bf16_to_f32(const uint16_t *in, float *out, size_t n);
void simd_scalar_f32_to_bf16(const float *in, uint16_t *out, size_t n);
size_t simd_scalar_select_le(const float *v, size_t n, float thr, uint32_t *idx);
size_t simd_scalar_select_ge(const float *v, size_t n, float thr, uint32_t *idx);

/* AVX2 binary kernels (distance_avx2.c), reused by the no-VPOPCNTDQ AVX-512 table. */
uint32_t simd_avx2_hamming(const uint8_t *a, const uint8_t *b, size_t nbytes);
void simd_avx2_and_or_popcnt(const uint8_t *a, const uint8_t *b, size_t nbytes, uint32_t *n_and,
                             uint32_t *n_or);

#endif
