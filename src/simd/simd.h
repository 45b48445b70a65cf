/*
 * simd.h — distance kernels with run-time ISA dispatch (STYLE.md §9).
 *
 * kite_simd_init() probes the CPU once (or honours KITE_SIMD=scalar|avx2|avx512)
 * and fills the table that kite_simd() returns; hot loops call through it.
 * Every kernel has a scalar reference in distance_scalar.c; the *_avx2.c and
 * *_avx512.c variants are tested against it.  Kernels accept unaligned input.
 *
 * Values are the natural ones of SEMANTICS.md §c: l2 = squared L2, ip = raw
 * inner product; binary kernels take the vector length in bytes.
 */
#ifndef KITE_SIMD_H
#define KITE_SIMD_H

#include <stddef.h>
#include <stdint.h>

enum kite_simd_level { KITE_SIMD_SCALAR = 0, KITE_SIMD_AVX2 = 1, KITE_SIMD_AVX512 = 2 };

struct kite_simd_ops {
    int level;
    float (*l2_f32)(const float *a, const float *b, size_t d);
    float (*ip_f32)(const float *a, const float *b, size_t d);
    /* One query against n contiguous base vectors (row stride d): out[i]. */
    void (*l2_f32_batch)(const float *q, const float *base, size_t n, size_t d, float *out);
    void (*ip_f32_batch)(const float *q, const float *base, size_t n, size_t d, float *out);
    /* Blocked many-queries × many-base kernel: out[qi * n + i] (row-major nq × n). */
    void (*l2_f32_block)(const float *qs, size_t nq, const float *base, size_t n, size_t d,
                         float *out);
    void (*ip_f32_block)(const float *qs, size_t nq, const float *base, size_t n, size_t d,
                         float *out);
    uint32_t (*hamming)(const uint8_t *a, const uint8_t *b, size_t nbytes);
    /* popcount(a & b) and popcount(a | b) in one pass (Jaccard/Tanimoto). */
    void (*and_or_popcnt)(const uint8_t *a, const uint8_t *b, size_t nbytes, uint32_t *n_and,
                          uint32_t *n_or);
    /* Half-precision conversions (IEEE fp16 and bfloat16) to and from float. */
    void (*f16_to_f32)(const uint16_t *in, float *out, size_t n);
    void (*f32_to_f16)(const float *in, uint16_t *out, size_t n);
    void (*bf16_to_f32)(const uint16_t *in, float *out, size_t n);
    void (*f32_to_bf16)(const float *in, uint16_t *out, size_t n);
    /*
     * Added by the flat-search work: the positions i < n (ascending) with
     * v[i] <= thr (select_le) or v[i] >= thr (select_ge), written to idx (room
     * for n); returns how many.  NaN is never selected.  Used to skip, in
     * bulk, the distances that cannot enter a full top-k heap.
     */
    size_t (*select_le)(const float *v, size_t n, float thr, uint32_t *idx);
    size_t (*select_ge)(const float *v, size_t n, float thr, uint32_t *idx);
};

/* Probe once (thread-safe, idempotent); returns the chosen level. */
int kite_simd_init(void);
/* The dispatch table; calls kite_simd_init() on first use. */
const struct kite_simd_ops *kite_simd(void);
/* The table of a given level (NULL if the CPU lacks it); for tests and benchmarks. */
const struct kite_simd_ops *kite_simd_ops_for(int level);
const char *kite_simd_level_name(int level);

#endif
