/*
 * test_gemm_conv.c — the AVX-512 convolution GEMM (gemm_avx512.c) against a
 * double-precision reference, and the conv paths that use it (1x1 direct,
 * im2col, fused residual Add) against the OpenBLAS path (vop_conv_gemm = 0):
 * random shapes with m, n, k not multiples of the block sizes, n = 1..49 (the
 * dot-product tail), k past the k slice, bias / no bias, clamp, residual,
 * batch > 1, groups, single- and multi-threaded.  On a CPU without AVX-512 the
 * kernel tests print a note and check only that the conv falls back.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "gemm_conv.h"
#include "onnx_int.h"
#include "pool.h"
#include "simd.h"
#include "test.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static float frand(void)
{
    return (float)((int)rnd(2001) - 1000) / 1000.0f;
}

static bool avx512(void)
{
    if (kite_simd_init() >= KITE_SIMD_AVX512)
        return true;
    fprintf(stderr, "  no AVX-512 on this CPU (or KITE_SIMD): kernel not tested\n");
    return false;
}

/* One random GEMM through pack + kernel vs a double reference; returns max relative error. */
static double gemm_case(int64_t m, int64_t n, int64_t k, bool bias, bool res, bool clamp)
{
    size_t lda = (size_t)k + rnd(3), ldb = (size_t)n + rnd(3), ldc = (size_t)n + rnd(3);
    float *a = kite_malloc(sizeof(float) * (size_t)m * lda);
    float *b = kite_malloc(sizeof(float) * (size_t)k * ldb);
    float *c = kite_malloc(sizeof(float) * (size_t)m * ldc);
    float *r = kite_malloc(sizeof(float) * (size_t)m * ldc);
    float *bv = kite_malloc(sizeof(float) * (size_t)m);
    float *bp = kite_malloc(sizeof(float) * vgemm_packed_len(k, n));
    struct vgemm_epi e;
    double worst = 0, scale = 0;
    ASSERT(a && b && c && r && bv && bp);
    for (size_t i = 0; i < (size_t)m * lda; i++)
        a[i] = frand();
    for (size_t i = 0; i < (size_t)k * ldb; i++)
        b[i] = frand();
    for (size_t i = 0; i < (size_t)m * ldc; i++) {
        r[i] = frand() * 4;
        c[i] = 12345.0f; /* sentinel: padding columns must stay untouched */
    }
    for (int64_t i = 0; i < m; i++)
        bv[i] = frand();
    memset(&e, 0, sizeof(e));
    e.bias = bias ? bv : NULL;
    e.res = res ? r : NULL;
    e.ldr = ldc;
    e.clamp = clamp;
    e.lo = clamp ? -0.5f : -INFINITY;
    e.hi = clamp ? 1.5f : INFINITY;
    vgemm_pack_b_avx512(b, ldb, k, n, bp);
    vgemm_avx512(m, n, k, a, lda, bp, c, ldc, &e);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < (int64_t)ldc; j++) {
            double want = 0, got = c[(size_t)i * ldc + (size_t)j];
            if (j >= n) {
                ASSERT(got == 12345.0);
                continue;
            }
            for (int64_t p = 0; p < k; p++)
                want += (double)a[(size_t)i * lda + (size_t)p] * b[(size_t)p * ldb + (size_t)j];
            if (bias)
                want += bv[i];
            if (res)
                want += r[(size_t)i * ldc + (size_t)j];
            if (clamp)
                want = want < -0.5 ? -0.5 : want > 1.5 ? 1.5 : want;
            scale = fmax(scale, fabs(want));
            worst = fmax(worst, fabs(want - got));
        }
    kite_free(a);
    kite_free(b);
    kite_free(c);
    kite_free(r);
    kite_free(bv);
    kite_free(bp);
    return worst / fmax(scale, 1e-3);
}

TEST(vgemm_matches_reference_random_shapes)
{
    double worst = 0;
    if (!avx512())
        return;
    for (int it = 0; it < 300; it++) {
        int64_t m = 1 + rnd(40), n = 1 + rnd(it % 3 ? 49 : 140), k = 1 + rnd(it % 5 ? 80 : 700);
        bool bias = rnd(2), res = rnd(2), clamp = rnd(2);
        double e = gemm_case(m, n, k, bias, res, clamp);
        worst = fmax(worst, e);
        if (e > 1e-5)
            TEST_FAIL_("m=%lld n=%lld k=%lld bias %d res %d clamp %d: relative error %g, "
                       "expected <= 1e-5",
                       (long long)m, (long long)n, (long long)k, bias, res, clamp, e);
    }
    printf("    worst relative error %.3g\n", worst);
}

/* Every n from 1 to 49 (full panels, masked panels, the dot-product tail) and k slices. */
TEST(vgemm_every_narrow_width)
{
    if (!avx512())
        return;
    for (int64_t n = 1; n <= 49; n++) {
        ASSERT(gemm_case(13, n, 37, true, true, true) < 1e-5);
        ASSERT(gemm_case(25, n, VGEMM_KC + 3, false, false, false) < 1e-5);
    }
    ASSERT(gemm_case(12, 32, 2 * VGEMM_KC, true, false, true) < 1e-5);
    ASSERT(gemm_case(64, 3136 / 7, 64, true, true, true) < 1e-5);
}

/* ---------------------------------------------------------------- conv paths */

struct ccase {
    int64_t N, C, M, G, H, W, k, s, pad;
    bool bias, clamp, res;
};

static void fill(struct vt *t, int ndim, const int64_t *dims, float scale)
{
    memset(t, 0, sizeof(*t));
    ASSERT_OK(vt_make(NULL, t, VT_F32, ndim, dims));
    for (size_t i = 0; i < t->len; i++)
        ((float *)t->data)[i] = frand() * scale;
}

/* Conv (+ residual) by path `gemm` (vop_conv_gemm value); result in *Y. */
static void conv_run(const struct ccase *k, struct kite_pool *pool, int gemm, struct vt *X,
                     struct vt *W, struct vt *B, struct vt *R, struct vt *Y)
{
    struct vnode n;
    struct vctx c;
    kite_model fake;
    kite_err err;
    struct vt *in[3] = {X, W, B}, *out[1] = {Y};
    int rc;
    memset(&n, 0, sizeof(n));
    memset(&c, 0, sizeof(c));
    memset(&fake, 0, sizeof(fake));
    memset(Y, 0, sizeof(*Y));
    fake.opset = 13;
    c.m = &fake;
    c.pool = pool;
    c.err = &err;
    n.op = OP_CONV;
    n.n_in = k->bias ? 3 : 2;
    n.n_out = 1;
    n.a.group = k->G;
    n.a.n_strides = 2;
    n.a.strides[0] = n.a.strides[1] = k->s;
    n.a.n_pads = 4;
    n.a.pads[0] = n.a.pads[1] = n.a.pads[2] = n.a.pads[3] = k->pad;
    if (k->clamp) {
        n.a.has_min = n.a.has_max = true;
        n.a.fmin = 0.0f;
        n.a.fmax = k->C % 2 ? 6.0f : INFINITY;
    }
    vop_conv_gemm = gemm;
    rc = k->res ? vop_conv_fused(&c, &n, in, out, R) : vop_conv(&c, &n, in, out);
    vop_conv_gemm = 1;
    if (rc != KITE_OK)
        TEST_FAIL_("conv: %s", err.message);
    vctx_free_spares(&c);
}

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t pad)
{
    return (in + 2 * pad - k) / s + 1;
}

/* Case k by gemm_avx512.c and by OpenBLAS; returns max |diff| / max |ref|. */
static double conv_case(const struct ccase *k, struct kite_pool *pool)
{
    struct vt X, W, B, R, Y1, Y2;
    int64_t oh = out_size(k->H, k->k, k->s, k->pad), ow = out_size(k->W, k->k, k->s, k->pad);
    int64_t xd[4] = {k->N, k->C, k->H, k->W}, wd[4] = {k->M, k->C / k->G, k->k, k->k};
    int64_t bd[1] = {k->M}, rd[4] = {k->N, k->M, oh, ow};
    double maxd = 0, maxr = 0;
    fill(&X, 4, xd, 1.0f);
    fill(&W, 4, wd, 1.0f / (float)sqrt((double)(k->C / k->G * k->k * k->k)));
    fill(&B, 1, bd, 0.5f);
    fill(&R, 4, rd, 1.0f);
    conv_run(k, pool, 0, &X, &W, &B, &R, &Y1);
    conv_run(k, pool, 1, &X, &W, &B, &R, &Y2);
    ASSERT_EQ_INT(Y1.len, Y2.len);
    ASSERT_EQ_INT(Y1.len, (size_t)(k->N * k->M * oh * ow));
    for (size_t i = 0; i < Y1.len; i++) {
        double r = ((float *)Y1.data)[i], v = ((float *)Y2.data)[i];
        maxr = fmax(maxr, fabs(r));
        maxd = fmax(maxd, fabs(r - v));
    }
    vt_clear(&X);
    vt_clear(&W);
    vt_clear(&B);
    vt_clear(&R);
    vt_clear(&Y1);
    vt_clear(&Y2);
    return maxr > 0 ? maxd / maxr : maxd;
}

TEST(conv_vgemm_matches_blas_random_shapes)
{
    struct kite_pool *pool = NULL;
    double worst = 0;
    ASSERT_OK(kite_pool_new(3, &pool));
    for (int it = 0; it < 80; it++) {
        static const int64_t ks[] = {1, 1, 1, 3, 3, 5, 7};
        struct ccase k;
        double e;
        memset(&k, 0, sizeof(k));
        k.N = 1 + rnd(3);
        k.G = rnd(5) ? 1 : 2;
        k.C = k.G * (1 + rnd(40));
        k.M = k.G * (1 + rnd(70));
        k.k = ks[rnd(7)];
        k.s = 1 + rnd(2);
        k.pad = k.k == 1 ? 0 : rnd((uint32_t)k.k);
        k.H = k.k + rnd(20);
        k.W = k.k + rnd(20);
        k.bias = rnd(2);
        k.clamp = rnd(2);
        k.res = rnd(2);
        e = conv_case(&k, it % 2 ? pool : NULL);
        worst = fmax(worst, e);
        if (e > 1e-5)
            TEST_FAIL_("case %d N=%lld C=%lld M=%lld G=%lld %lldx%lld k=%lld s=%lld pad=%lld "
                       "bias %d clamp %d res %d: relative error %g, expected <= 1e-5",
                       it, (long long)k.N, (long long)k.C, (long long)k.M, (long long)k.G,
                       (long long)k.H, (long long)k.W, (long long)k.k, (long long)k.s,
                       (long long)k.pad, k.bias, k.clamp, k.res, e);
    }
    printf("    worst relative error %.3g\n", worst);
    kite_pool_free(pool);
}

/* ResNet-50-like layers: 1x1 at 56x56 / 7x7 (n = 49, k slices), strided 1x1, residual. */
TEST(conv_vgemm_matches_blas_resnet_layers)
{
    struct kite_pool *pool = NULL;
    struct ccase a = {1, 64, 256, 1, 56, 56, 1, 1, 0, true, true, true};
    struct ccase b = {2, 1024, 256, 1, 7, 7, 1, 1, 0, true, true, false};
    struct ccase c = {1, 512, 1024, 1, 14, 14, 1, 2, 0, true, false, false};
    struct ccase d = {1, 128, 96, 1, 15, 15, 3, 2, 1, true, true, true};
    ASSERT_OK(kite_pool_new(2, &pool));
    ASSERT(conv_case(&a, pool) < 1e-5);
    ASSERT(conv_case(&b, pool) < 1e-5);
    ASSERT(conv_case(&c, NULL) < 1e-5);
    ASSERT(conv_case(&d, pool) < 1e-5);
    kite_pool_free(pool);
}

/* The fused residual is really added: conv + R equals conv, then + R, then clamp. */
TEST(conv_fused_residual_equals_separate_add)
{
    struct ccase k = {2, 24, 40, 1, 9, 11, 1, 1, 0, true, false, false};
    struct vt X, W, B, R, Y1, Y2;
    int64_t xd[4] = {2, 24, 9, 11}, wd[4] = {40, 24, 1, 1}, bd[1] = {40}, rd[4] = {2, 40, 9, 11};
    fill(&X, 4, xd, 1.0f);
    fill(&W, 4, wd, 0.2f);
    fill(&B, 1, bd, 0.5f);
    fill(&R, 4, rd, 1.0f);
    for (int gemm = 0; gemm < 2; gemm++) {
        k.res = false;
        k.clamp = false;
        conv_run(&k, NULL, gemm, &X, &W, &B, &R, &Y1);
        k.res = true;
        k.clamp = true; /* Relu: fmin 0, fmax inf (C even) */
        conv_run(&k, NULL, gemm, &X, &W, &B, &R, &Y2);
        for (size_t i = 0; i < Y1.len; i++) {
            float want = ((float *)Y1.data)[i] + ((float *)R.data)[i];
            want = want < 0.0f ? 0.0f : want;
            ASSERT_NEAR(((float *)Y2.data)[i], want, 1e-6);
        }
        vt_clear(&Y1);
        vt_clear(&Y2);
    }
    vt_clear(&X);
    vt_clear(&W);
    vt_clear(&B);
    vt_clear(&R);
}

/* A residual of the wrong shape, or on a depthwise conv, is refused with nothing done. */
TEST(conv_fused_residual_refused_when_unfit)
{
    struct vt X, W, R, Y;
    struct vt *in[2] = {&X, &W}, *out[1] = {&Y};
    struct vnode n;
    struct vctx c;
    kite_model fake;
    int64_t xd[4] = {1, 8, 5, 5}, wd[4] = {8, 8, 1, 1}, dwd[4] = {8, 1, 3, 3}, rd[4] = {1, 8, 5, 4};
    int64_t rd2[4] = {1, 8, 5, 5};
    memset(&n, 0, sizeof(n));
    memset(&c, 0, sizeof(c));
    memset(&fake, 0, sizeof(fake));
    memset(&Y, 0, sizeof(Y));
    c.m = &fake;
    fill(&X, 4, xd, 1.0f);
    fill(&W, 4, wd, 1.0f);
    fill(&R, 4, rd, 1.0f);
    n.op = OP_CONV;
    n.n_in = 2;
    n.n_out = 1;
    n.a.group = 1;
    ASSERT_EQ_INT(vop_conv_fused(&c, &n, in, out, &R), KITE_EUNSUPPORTED);
    ASSERT_EQ_INT(Y.type, 0);
    vt_clear(&W);
    vt_clear(&R);
    fill(&W, 4, dwd, 1.0f);
    fill(&R, 4, rd2, 1.0f);
    n.a.group = 8;
    n.a.n_pads = 4;
    n.a.pads[0] = n.a.pads[1] = n.a.pads[2] = n.a.pads[3] = 1;
    ASSERT_EQ_INT(vop_conv_fused(&c, &n, in, out, &R), KITE_EUNSUPPORTED);
    ASSERT_EQ_INT(Y.type, 0);
    vt_clear(&X);
    vt_clear(&W);
    vt_clear(&R);
    vctx_free_spares(&c);
}

/* The comparisons above would pass vacuously if both runs took OpenBLAS. */
TEST(conv_vgemm_path_is_taken)
{
    vop_conv_gemm = 1;
    if (kite_simd_init() >= KITE_SIMD_AVX512)
        ASSERT(vop_conv_uses_vgemm());
    vop_conv_gemm = 0;
    ASSERT(!vop_conv_uses_vgemm());
    vop_conv_gemm = 1;
}

/* Winograd with a fused residual against the OpenBLAS im2col path with the same residual. */
TEST(winograd_fused_residual_matches_im2col)
{
    struct kite_pool *pool = NULL;
    struct vt X, W, B, R, Y1, Y2;
    int64_t xd[4] = {2, 32, 13, 10}, wd[4] = {48, 32, 3, 3}, bd[1] = {48}, rd[4] = {2, 48, 13, 10};
    struct vt *in[3] = {&X, &W, &B}, *o1[1] = {&Y1}, *o2[1] = {&Y2};
    struct vnode n;
    struct vctx c;
    kite_model fake;
    kite_err err;
    double maxd = 0, maxr = 0;
    ASSERT_OK(kite_pool_new(2, &pool));
    memset(&n, 0, sizeof(n));
    memset(&c, 0, sizeof(c));
    memset(&fake, 0, sizeof(fake));
    memset(&Y1, 0, sizeof(Y1));
    memset(&Y2, 0, sizeof(Y2));
    c.m = &fake;
    c.pool = pool;
    c.err = &err;
    fill(&X, 4, xd, 1.0f);
    fill(&W, 4, wd, 0.06f);
    fill(&B, 1, bd, 0.5f);
    fill(&R, 4, rd, 1.0f);
    n.op = OP_CONV;
    n.n_in = 3;
    n.n_out = 1;
    n.a.group = 1;
    n.a.n_pads = 4;
    n.a.pads[0] = n.a.pads[1] = n.a.pads[2] = n.a.pads[3] = 1;
    n.a.has_min = n.a.has_max = true;
    n.a.fmin = 0.0f;
    n.a.fmax = INFINITY;
    vop_conv_gemm = 0;
    ASSERT_OK(vop_conv_fused(&c, &n, in, o1, &R)); /* no wino_u: im2col */
    vop_conv_gemm = 1;
    n.wino_u = vwino_weights(W.data, 48, 32);
    ASSERT(n.wino_u != NULL);
    vop_conv_winograd = 2;
    ASSERT_OK(vop_conv_fused(&c, &n, in, o2, &R));
    vop_conv_winograd = 1;
    for (size_t i = 0; i < Y1.len; i++) {
        double r = ((float *)Y1.data)[i], v = ((float *)Y2.data)[i];
        maxr = fmax(maxr, fabs(r));
        maxd = fmax(maxd, fabs(r - v));
    }
    ASSERT(maxr > 0.5);
    if (maxd / maxr > 2e-5)
        TEST_FAIL_("relative error %g, expected <= 2e-5", maxd / maxr);
    kite_free(n.wino_u);
    vt_clear(&X);
    vt_clear(&W);
    vt_clear(&B);
    vt_clear(&R);
    vt_clear(&Y1);
    vt_clear(&Y2);
    vctx_free_spares(&c);
    kite_pool_free(pool);
}

/* The stride-2 im2col gather: every length, reading no float past src[2n - 2] (exact-size
 * buffers, so ASan builds catch an over-read). */
TEST(gather_stride2_every_length)
{
    if (!avx512())
        return;
    for (int64_t n = 1; n <= 70; n++) {
        float *src = kite_malloc(sizeof(float) * (size_t)(2 * n - 1));
        float *dst = kite_malloc(sizeof(float) * (size_t)n);
        ASSERT(src && dst);
        for (int64_t i = 0; i < 2 * n - 1; i++)
            src[i] = (float)i;
        vgemm_gather_s2_avx512(src, n, dst);
        for (int64_t i = 0; i < n; i++)
            ASSERT_NEAR(dst[i], (double)(2 * i), 0);
        kite_free(src);
        kite_free(dst);
    }
}
