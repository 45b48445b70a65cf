/*
 * distance_scalar.c — the scalar reference for every kernel of simd.h, and the
 * table used on CPUs without AVX2 (or with KITE_SIMD=scalar).
 *
 * Design:
 *  1. Float kernels keep eight independent partial sums (lane j takes the
 *     elements i ≡ j mod 8) and add them pairwise at the end.  That is both
 *     faster than one running sum (no loop-carried add latency chain) and
 *     closer to the order the vector variants use, so the test tolerance
 *     between scalar and SIMD results stays small.  Elements left over after
 *     the last full group of eight are summed in order and added last.
 *  2. Binary kernels read 8-byte words with memcpy (inputs may be unaligned)
 *     and finish the tail byte by byte; results are exact.
 *  3. fp16 conversion is IEEE 754 binary16 with round-to-nearest-even,
 *     subnormals, infinities and NaN (NaN becomes the quiet NaN 0x7e00 |
 *     sign; the payload is not kept).  bfloat16 is the top half of a float,
 *     rounded to nearest-even; NaN stays NaN (quiet bit forced).
 *
 * Threading: pure functions over caller memory; no state.
 */
#include <string.h>

#include "simd_internal.h"

/* ------------------------------------------------------------ float kernels */

float simd_scalar_l2_f32(const float *a, const float *b, size_t d)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= d; i += 8) {
        for (size_t j = 0; j < 8; j++) {
            float t = a[i + j] - b[i + j];
            acc[j] += t * t;
        }
    }
    float tail = 0.0f;
    for (; i < d; i++) {
        float t = a[i] - b[i];
        tail += t * t;
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) +
           tail;
}

float simd_scalar_ip_f32(const float *a, const float *b, size_t d)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= d; i += 8) {
        for (size_t j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    }
    float tail = 0.0f;
    for (; i < d; i++)
        tail += a[i] * b[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) +
           tail;
}

static void l2_f32_batch(const float *q, const float *base, size_t n, size_t d, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = simd_scalar_l2_f32(q, base + i * d, d);
}

static void ip_f32_batch(const float *q, const float *base, size_t n, size_t d, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = simd_scalar_ip_f32(q, base + i * d, d);
}

static void l2_f32_block(const float *qs, size_t nq, const float *base, size_t n, size_t d,
                         float *out)
{
    for (size_t qi = 0; qi < nq; qi++)
        l2_f32_batch(qs + qi * d, base, n, d, out + qi * n);
}

static void ip_f32_block(const float *qs, size_t nq, const float *base, size_t n, size_t d,
                         float *out)
{
    for (size_t qi = 0; qi < nq; qi++)
        ip_f32_batch(qs + qi * d, base, n, d, out + qi * n);
}

/* ----------------------------------------------------------- binary kernels */

static uint64_t load64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

uint32_t simd_scalar_hamming(const uint8_t *a, const uint8_t *b, size_t nbytes)
{
    uint32_t c = 0;
    size_t i = 0;
    for (; i + 8 <= nbytes; i += 8)
        c += (uint32_t)__builtin_popcountll(load64(a + i) ^ load64(b + i));
    for (; i < nbytes; i++)
        c += (uint32_t)__builtin_popcount((unsigned)(a[i] ^ b[i]));
    return c;
}

void simd_scalar_and_or_popcnt(const uint8_t *a, const uint8_t *b, size_t nbytes,
                               uint32_t *n_and, uint32_t *n_or)
{
    uint32_t ca = 0, co = 0;
    size_t i = 0;
    for (; i + 8 <= nbytes; i += 8) {
        uint64_t x = load64(a + i), y = load64(b + i);
        ca += (uint32_t)__builtin_popcountll(x & y);
        co += (uint32_t)__builtin_popcountll(x | y);
    }
    for (; i < nbytes; i++) {
        ca += (uint32_t)__builtin_popcount((unsigned)(a[i] & b[i]));
        co += (uint32_t)__builtin_popcount((unsigned)(a[i] | b[i]));
    }
    *n_and = ca;
    *n_or = co;
}

/* ------------------------------------------------------ half-precision codecs */

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float simd_scalar_f16_to_f32_one(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0) {
        /* Zero or subnormal: mant * 2^-24, exact in float. */
        float f = (float)mant * 0x1p-24f;
        return u2f(f2u(f) | sign);
    }
    if (exp == 31)
        return u2f(sign | 0x7f800000u | (mant << 13));
    return u2f(sign | ((exp + 112u) << 23) | (mant << 13));
}

/*
 * Round-to-nearest-even float -> binary16.  Normal results: add half an ulp of
 * the target (0xfff, plus one when the kept mantissa is odd) and truncate; a
 * carry into the exponent rounds up correctly, up to infinity.  Results below
 * the smallest normal half (2^-14) are produced by adding a magic constant in
 * float arithmetic so the FPU's own rounding places the bits.
 */
uint16_t simd_scalar_f32_to_f16_one(float fl)
{
    const uint32_t f32_inf = 255u << 23;
    const uint32_t f16_overflow = (127u + 16u) << 23;       /* 2^16: rounds to inf */
    const uint32_t denorm_magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
    uint32_t f = f2u(fl);
    uint32_t sign = f & 0x80000000u;
    uint16_t o;
    f ^= sign;
    if (f >= f16_overflow) {
        o = f > f32_inf ? 0x7e00u : 0x7c00u;
    } else if (f < (113u << 23)) {
        float t = u2f(f) + u2f(denorm_magic);
        o = (uint16_t)(f2u(t) - denorm_magic);
    } else {
        uint32_t mant_odd = (f >> 13) & 1u;
        f += (uint32_t)(((int32_t)15 - 127) * (1 << 23)) + 0xfffu;
        f += mant_odd;
        o = (uint16_t)(f >> 13);
    }
    return (uint16_t)(o | (sign >> 16));
}

float simd_scalar_bf16_to_f32_one(uint16_t h)
{
    return u2f((uint32_t)h << 16);
}

uint16_t simd_scalar_f32_to_bf16_one(float fl)
{
    uint32_t x = f2u(fl);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

void simd_scalar_f16_to_f32(const uint16_t *in, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = simd_scalar_f16_to_f32_one(in[i]);
}

void simd_scalar_f32_to_f16(const float *in, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = simd_scalar_f32_to_f16_one(in[i]);
}

void simd_scalar_bf16_to_f32(const uint16_t *in, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = simd_scalar_bf16_to_f32_one(in[i]);
}

void simd_scalar_f32_to_bf16(const float *in, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = simd_scalar_f32_to_bf16_one(in[i]);
}

/* ------------------------------------------------------------------ select */

size_t simd_scalar_select_le(const float *v, size_t n, float thr, uint32_t *idx)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        idx[m] = (uint32_t)i;
        m += v[i] <= thr;
    }
    return m;
}

size_t simd_scalar_select_ge(const float *v, size_t n, float thr, uint32_t *idx)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        idx[m] = (uint32_t)i;
        m += v[i] >= thr;
    }
    return m;
}

const struct kite_simd_ops simd_scalar_ops = {
    .level = KITE_SIMD_SCALAR,
    .l2_f32 = simd_scalar_l2_f32,
    .ip_f32 = simd_scalar_ip_f32,
    .l2_f32_batch = l2_f32_batch,
    .ip_f32_batch = ip_f32_batch,
    .l2_f32_block = l2_f32_block,
    .ip_f32_block = ip_f32_block,
    .hamming = simd_scalar_hamming,
    .and_or_popcnt = simd_scalar_and_or_popcnt,
    .f16_to_f32 = simd_scalar_f16_to_f32,
    .f32_to_f16 = simd_scalar_f32_to_f16,
    .bf16_to_f32 = simd_scalar_bf16_to_f32,
    .f32_to_bf16 = simd_scalar_f32_to_bf16,
    .select_le = simd_scalar_select_le,
    .select_ge = simd_scalar_select_ge,
};
