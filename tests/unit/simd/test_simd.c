/*
 * test_simd.c — every kernel variant this CPU supports against the scalar
 * reference (distance_scalar.c).
 *
 * Tolerances:
 *  - float distances: |simd - scalar| <= 1e-5 * S + 1e-30, where S is the sum
 *    of |terms| (sum |a_i b_i| for IP, sum (a_i - b_i)^2 for L2): a relative
 *    1e-5 of the magnitude being summed, the scale of float reassociation
 *    error at these dimensions;
 *  - binary kernels and fp16 / bf16 conversions: exact (NaN: both NaN).
 * Dimensions 1..257 and base pointers offset by 0..3 floats (0..7 bytes for
 * binary), so no input is vector-aligned and every tail length occurs.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "simd.h"
#include "simd_internal.h"
#include "test.h"

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static float rnd_real(void)
{
    return (float)((double)(rnd() >> 11) / 9007199254740992.0 * 4.0 - 2.0);
}

/* The tables to test: every level the CPU has, plus both AVX-512 flavours. */
static size_t tables(const struct kite_simd_ops **out)
{
    size_t n = 0;
    out[n++] = &simd_scalar_ops;
    if (kite_simd_ops_for(KITE_SIMD_AVX2))
        out[n++] = &simd_avx2_ops;
    if (kite_simd_ops_for(KITE_SIMD_AVX512)) {
        out[n++] = &simd_avx512_nopopcnt_ops;
        if (kite_simd_ops_for(KITE_SIMD_AVX512) == &simd_avx512_ops)
            out[n++] = &simd_avx512_ops;
    }
    return n;
}

static double mag_l2(const float *a, const float *b, size_t d)
{
    double s = 0;
    for (size_t i = 0; i < d; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s;
}

static double mag_ip(const float *a, const float *b, size_t d)
{
    double s = 0;
    for (size_t i = 0; i < d; i++)
        s += fabs((double)a[i] * b[i]);
    return s;
}

#define CHECK_CLOSE(got, ref, mag, what, lvl, d, off)                                             \
    do {                                                                                          \
        double g_ = (got), r_ = (ref), tol_ = 1e-5 * (mag) + 1e-30;                               \
        if (!(fabs(g_ - r_) <= tol_))                                                             \
            TEST_FAIL_("%s level %d dim %zu offset %zu: %.9g vs scalar %.9g (tol %g)", what, lvl, \
                       (size_t)(d), (size_t)(off), g_, r_, tol_);                                 \
    } while (0)

TEST(dispatch_levels_and_env)
{
    const struct kite_simd_ops *s = kite_simd_ops_for(KITE_SIMD_SCALAR);
    ASSERT(s == &simd_scalar_ops);
    ASSERT(kite_simd_ops_for(99) == NULL);
    ASSERT_STR_EQ(kite_simd_level_name(KITE_SIMD_AVX2), "avx2");
    int lvl = kite_simd_init();
    ASSERT(kite_simd() == kite_simd_ops_for(lvl));
    ASSERT_EQ_INT(kite_simd()->level, lvl);
    /* the best level is chosen when KITE_SIMD is unset */
    if (!getenv("KITE_SIMD")) {
        int best = kite_simd_ops_for(KITE_SIMD_AVX512) ? KITE_SIMD_AVX512
                   : kite_simd_ops_for(KITE_SIMD_AVX2) ? KITE_SIMD_AVX2
                                                       : KITE_SIMD_SCALAR;
        ASSERT_EQ_INT(lvl, best);
    }
}

TEST(dispatch_env_forces_scalar)
{
    setenv("KITE_SIMD", "scalar", 1);
    ASSERT_EQ_INT(kite_simd_init(), KITE_SIMD_SCALAR);
    ASSERT(kite_simd() == &simd_scalar_ops);
}

TEST(dispatch_env_unknown_falls_back)
{
    setenv("KITE_SIMD", "sse9", 1);
    int lvl = kite_simd_init();
    ASSERT(kite_simd_ops_for(lvl) != NULL);
    ASSERT(lvl >= KITE_SIMD_SCALAR);
}

TEST(dispatch_env_avx2)
{
    setenv("KITE_SIMD", "avx2", 1);
    int lvl = kite_simd_init();
    if (kite_simd_ops_for(KITE_SIMD_AVX2))
        ASSERT_EQ_INT(lvl, KITE_SIMD_AVX2);
    else
        ASSERT_EQ_INT(lvl, KITE_SIMD_SCALAR);
}

TEST(float_pair_kernels_all_dims_offsets)
{
    const struct kite_simd_ops *t[4];
    size_t nt = tables(t);
    float *a = malloc(300 * sizeof(float)), *b = malloc(300 * sizeof(float));
    for (size_t i = 0; i < 300; i++) {
        a[i] = rnd_real();
        b[i] = rnd_real();
    }
    for (size_t d = 1; d <= 257; d++) {
        for (size_t off = 0; off < 4; off++) {
            const float *x = a + off, *y = b + 3 - off;
            float rl2 = simd_scalar_l2_f32(x, y, d), rip = simd_scalar_ip_f32(x, y, d);
            double ml2 = mag_l2(x, y, d), mip = mag_ip(x, y, d);
            /* the reference itself against double */
            CHECK_CLOSE(rl2, ml2, ml2, "scalar l2 vs double", 0, d, off);
            for (size_t ti = 1; ti < nt; ti++) {
                CHECK_CLOSE(t[ti]->l2_f32(x, y, d), rl2, ml2, "l2_f32", t[ti]->level, d, off);
                CHECK_CLOSE(t[ti]->ip_f32(x, y, d), rip, mip, "ip_f32", t[ti]->level, d, off);
            }
            /* self-distance is exactly 0 at every level */
            for (size_t ti = 0; ti < nt; ti++) {
                float z = t[ti]->l2_f32(x, x, d);
                ASSERT_NEAR(z, 0, 0);
            }
        }
    }
    free(a);
    free(b);
}

TEST(float_batch_and_block_kernels)
{
    const struct kite_simd_ops *t[4];
    size_t nt = tables(t);
    size_t maxd = 257, maxq = 15, maxn = 70;
    float *qs = malloc((maxq * maxd + 4) * sizeof(float));
    float *xs = malloc((maxn * maxd + 4) * sizeof(float));
    float *out = malloc(maxq * maxn * sizeof(float)), *row = malloc(maxn * sizeof(float));
    for (size_t i = 0; i < maxq * maxd + 4; i++)
        qs[i] = rnd_real();
    for (size_t i = 0; i < maxn * maxd + 4; i++)
        xs[i] = rnd_real();
    for (size_t d = 1; d <= maxd; d++) {
        size_t off = d % 4;
        size_t nq = 1 + d % maxq, n = 1 + (d * 29) % maxn;
        const float *q = qs + off, *x = xs + (3 - off);
        for (size_t ti = 0; ti < nt; ti++) {
            const struct kite_simd_ops *o = t[ti];
            for (int l2 = 0; l2 < 2; l2++) {
                (l2 ? o->l2_f32_block : o->ip_f32_block)(q, nq, x, n, d, out);
                for (size_t qi = 0; qi < nq; qi++) {
                    (l2 ? o->l2_f32_batch : o->ip_f32_batch)(q + qi * d, x, n, d, row);
                    for (size_t r = 0; r < n; r++) {
                        const float *qq = q + qi * d, *xx = x + r * d;
                        float ref = l2 ? simd_scalar_l2_f32(qq, xx, d)
                                       : simd_scalar_ip_f32(qq, xx, d);
                        double mag = l2 ? mag_l2(qq, xx, d) : mag_ip(qq, xx, d);
                        CHECK_CLOSE(out[qi * n + r], ref, mag, l2 ? "l2_block" : "ip_block",
                                    o->level, d, off);
                        CHECK_CLOSE(row[r], ref, mag, l2 ? "l2_batch" : "ip_batch", o->level,
                                    d, off);
                    }
                }
            }
        }
    }
    free(qs);
    free(xs);
    free(out);
    free(row);
}

/* Equal rows give bit-identical values wherever they sit in a block. */
TEST(block_kernels_position_independent)
{
    const struct kite_simd_ops *t[4];
    size_t nt = tables(t);
    size_t dims[] = {1, 5, 16, 33, 100, 257, 300};
    for (size_t di = 0; di < 7; di++) {
        /* 7 and 13 queries: the packed (GEMM) path with remainder tiles; 5: the tile path */
        size_t d = dims[di], n = 45, nq = di % 3 == 0 ? 5 : (di % 3 == 1 ? 7 : 13);
        float *x = malloc(n * d * sizeof(float)), *q = malloc(nq * d * sizeof(float));
        float *out = malloc(nq * n * sizeof(float));
        for (size_t i = 0; i < d; i++)
            x[i] = rnd_real();
        for (size_t r = 1; r < n; r++)
            memcpy(x + r * d, x, d * sizeof(float));
        for (size_t i = 0; i < nq * d; i++)
            q[i] = rnd_real();
        memcpy(q + (nq - 1) * d, q, d * sizeof(float)); /* last query (remainder tile) = first */
        for (size_t ti = 0; ti < nt; ti++) {
            for (int l2 = 0; l2 < 2; l2++) {
                (l2 ? t[ti]->l2_f32_block : t[ti]->ip_f32_block)(q, nq, x, n, d, out);
                for (size_t qi = 0; qi < nq; qi++)
                    for (size_t r = 1; r < n; r++)
                        ASSERT(out[qi * n + r] == out[qi * n]);
                for (size_t r = 0; r < n; r++)
                    ASSERT(out[(nq - 1) * n + r] == out[r]);
            }
        }
        free(x);
        free(q);
        free(out);
    }
}

TEST(binary_kernels_exact)
{
    const struct kite_simd_ops *t[4];
    size_t nt = tables(t);
    uint8_t *a = malloc(400), *b = malloc(400);
    for (size_t nbytes = 0; nbytes <= 300; nbytes++) {
        for (size_t i = 0; i < 400; i++) {
            a[i] = (uint8_t)rnd();
            b[i] = (uint8_t)rnd();
        }
        for (size_t off = 0; off < 8; off++) {
            const uint8_t *x = a + off, *y = b + 7 - off;
            uint32_t h = 0, na = 0, no = 0;
            for (size_t i = 0; i < nbytes; i++) {
                h += (uint32_t)__builtin_popcount(x[i] ^ y[i]);
                na += (uint32_t)__builtin_popcount(x[i] & y[i]);
                no += (uint32_t)__builtin_popcount(x[i] | y[i]);
            }
            for (size_t ti = 0; ti < nt; ti++) {
                uint32_t ga, go;
                ASSERT_EQ_INT(t[ti]->hamming(x, y, nbytes), h);
                t[ti]->and_or_popcnt(x, y, nbytes, &ga, &go);
                ASSERT_EQ_INT(ga, na);
                ASSERT_EQ_INT(go, no);
            }
        }
    }
    free(a);
    free(b);
}

static bool same_f32(float a, float b)
{
    if (a != a || b != b)
        return a != a && b != b;
    uint32_t ua, ub;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    return ua == ub;
}

static bool is_nan_h(uint16_t h)
{
    return (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
}

TEST(f16_known_values)
{
    struct {
        float f;
        uint16_t h;
    } kv[] = {
        {1.0f, 0x3c00},           {-2.0f, 0xc000},          {65504.0f, 0x7bff},
        {65520.0f, 0x7c00},       {65519.0f, 0x7bff},       {0x1p-24f, 0x0001},
        {0x1p-25f, 0x0000},       {0x1.8p-25f, 0x0001},     {0x1p-14f, 0x0400},
        {-0.0f, 0x8000},          {1.0f + 0x1p-11f, 0x3c00}, {1.0f + 0x3p-11f, 0x3c02},
        {INFINITY, 0x7c00},       {-INFINITY, 0xfc00},      {1e10f, 0x7c00},
        {0x1.ff8p-15f, 0x03ff},   {0x1.ffcp-15f, 0x0400},   {0.1f, 0x2e66},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        ASSERT_EQ_INT(simd_scalar_f32_to_f16_one(kv[i].f), kv[i].h);
        if (kv[i].f == kv[i].f && fabsf(kv[i].f) < 65504 && fabsf(kv[i].f) >= 0x1p-14f)
            ASSERT(fabsf(simd_scalar_f16_to_f32_one(kv[i].h) - kv[i].f) <= fabsf(kv[i].f) * 1e-3f);
    }
    ASSERT(is_nan_h(simd_scalar_f32_to_f16_one(NAN)));
    /* every non-NaN half survives f16 -> f32 -> f16 */
    for (uint32_t h = 0; h < 65536; h++) {
        if (is_nan_h((uint16_t)h))
            continue;
        ASSERT_EQ_INT(simd_scalar_f32_to_f16_one(simd_scalar_f16_to_f32_one((uint16_t)h)), h);
    }
}

TEST(bf16_known_values)
{
    struct {
        uint32_t f;
        uint16_t h;
    } kv[] = {
        {0x3f800000, 0x3f80}, {0x3f808000, 0x3f80}, {0x3f818000, 0x3f82}, {0x3f808001, 0x3f81},
        {0x7f800000, 0x7f80}, {0xff800000, 0xff80}, {0x7f7fffff, 0x7f80}, {0x7f800001, 0x7fc0},
        {0x80000000, 0x8000}, {0x00000001, 0x0000},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        float f;
        memcpy(&f, &kv[i].f, 4);
        ASSERT_EQ_INT(simd_scalar_f32_to_bf16_one(f), kv[i].h);
    }
    ASSERT(same_f32(simd_scalar_bf16_to_f32_one(0x3f80), 1.0f));
}

TEST(half_conversions_all_levels)
{
    const struct kite_simd_ops *t[4];
    size_t nt = tables(t);
    /* every 16-bit pattern, converted at odd offsets and lengths */
    uint16_t *h = malloc(65536 * 2 + 16);
    float *f = malloc(65536 * 4 + 16), *ref = malloc(65536 * 4);
    for (uint32_t i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    for (int kind = 0; kind < 2; kind++) {
        for (uint32_t i = 0; i < 65536; i++)
            ref[i] = kind ? simd_scalar_bf16_to_f32_one((uint16_t)i)
                          : simd_scalar_f16_to_f32_one((uint16_t)i);
        for (size_t ti = 0; ti < nt; ti++) {
            (kind ? t[ti]->bf16_to_f32 : t[ti]->f16_to_f32)(h, f, 65536);
            for (uint32_t i = 0; i < 65536; i++)
                if (!same_f32(f[i], ref[i]))
                    TEST_FAIL_("level %d kind %d: 0x%04x -> %.9g, scalar %.9g", t[ti]->level,
                               kind, i, f[i], ref[i]);
            for (size_t len = 0; len < 40; len++) {
                (kind ? t[ti]->bf16_to_f32 : t[ti]->f16_to_f32)(h + 1000 + len % 5, f + 3, len);
                for (size_t i = 0; i < len; i++)
                    ASSERT(same_f32(f[3 + i], ref[1000 + len % 5 + i]));
            }
        }
    }
    /* float -> half: a stride over all float bit patterns plus neighbourhoods of
     * every half rounding boundary */
    size_t nf = 0, cap = 1u << 21;
    float *src = malloc(cap * sizeof(float));
    for (uint64_t u = 0; u < (UINT64_C(1) << 32) && nf < cap / 2; u += 4099) {
        uint32_t v = (uint32_t)u;
        memcpy(&src[nf++], &v, 4);
    }
    for (uint32_t hv = 0; hv < 65536 && nf + 8 < cap; hv += 3) {
        float base = simd_scalar_f16_to_f32_one((uint16_t)hv);
        uint32_t ub;
        memcpy(&ub, &base, 4);
        for (int dlt = -2; dlt <= 2; dlt++) {
            uint32_t v = ub + (uint32_t)dlt + 0x1000u; /* near the half-ulp midpoint */
            memcpy(&src[nf++], &v, 4);
        }
    }
    uint16_t *o16 = malloc(nf * 2 + 16), *r16 = malloc(nf * 2);
    for (int kind = 0; kind < 2; kind++) {
        for (size_t i = 0; i < nf; i++)
            r16[i] = kind ? simd_scalar_f32_to_bf16_one(src[i]) : simd_scalar_f32_to_f16_one(src[i]);
        for (size_t ti = 0; ti < nt; ti++) {
            (kind ? t[ti]->f32_to_bf16 : t[ti]->f32_to_f16)(src, o16, nf);
            for (size_t i = 0; i < nf; i++) {
                bool nan = kind ? ((r16[i] & 0x7f80) == 0x7f80 && (r16[i] & 0x7f)) : is_nan_h(r16[i]);
                bool gnan = kind ? ((o16[i] & 0x7f80) == 0x7f80 && (o16[i] & 0x7f)) : is_nan_h(o16[i]);
                if (nan ? !gnan : o16[i] != r16[i])
                    TEST_FAIL_("level %d kind %d: %a -> 0x%04x, scalar 0x%04x", t[ti]->level, kind,
                               (double)src[i], o16[i], r16[i]);
            }
            for (size_t len = 0; len < 40; len++) {
                o16[1 + len] = 0xabcd;
                (kind ? t[ti]->f32_to_bf16 : t[ti]->f32_to_f16)(src + 7, o16 + 1, len);
                for (size_t i = 0; i < len; i++)
                    if (!is_nan_h(r16[7 + i]) && kind == 0)
                        ASSERT_EQ_INT(o16[1 + i], r16[7 + i]);
                ASSERT_EQ_INT(o16[1 + len], 0xabcd); /* no write past the end */
            }
        }
    }
    free(o16);
    free(r16);
    free(src);
    free(h);
    free(f);
    free(ref);
}

TEST(select_kernels_exact)
{
    const struct kite_simd_ops *t[4];
    size_t nt = tables(t);
    float v[300];
    uint32_t idx[300], want[300];
    for (size_t n = 0; n <= 300; n += (n < 40 ? 1 : 13)) {
        for (size_t i = 0; i < n; i++)
            v[i] = (rnd() % 11 == 0) ? NAN : (float)(rnd() % 21) - 10.0f;
        float thrs[] = {-INFINITY, -3.0f, 0.0f, 4.0f, INFINITY};
        for (int ti_ = 0; ti_ < 5; ti_++) {
            for (int ge = 0; ge < 2; ge++) {
                size_t nw = 0;
                for (size_t i = 0; i < n; i++)
                    if (ge ? v[i] >= thrs[ti_] : v[i] <= thrs[ti_])
                        want[nw++] = (uint32_t)i;
                for (size_t k = 0; k < nt; k++) {
                    size_t m = (ge ? t[k]->select_ge : t[k]->select_le)(v, n, thrs[ti_], idx);
                    ASSERT_EQ_INT(m, nw);
                    for (size_t i = 0; i < m; i++)
                        ASSERT_EQ_INT(idx[i], want[i]);
                }
            }
        }
    }
}
