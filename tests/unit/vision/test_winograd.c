/*
 * test_winograd.c — the Winograd F(4x4,3x3) conv path (winograd.c) against
 * the im2col + sgemm path on random shapes: odd sizes, asymmetric padding,
 * bias / no bias, fused Relu/Clip, several channel counts, batch 1-2,
 * single- and multi-threaded; plus the selection rule and the knobs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "onnx_int.h"
#include "pool.h"
#include "test.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void fill(struct vt *t, int ndim, const int64_t *dims, float scale)
{
    memset(t, 0, sizeof(*t));
    ASSERT_OK(vt_make(NULL, t, VT_F32, ndim, dims));
    for (size_t i = 0; i < t->len; i++)
        ((float *)t->data)[i] = (float)((int)rnd(2001) - 1000) / 1000.0f * scale;
}

struct wcase {
    int64_t N, C, M, H, W, pads[4];
    bool bias, clamp;
};

static void init_ctx(struct vctx *c, kite_model *fake, kite_err *err, struct kite_pool *pool)
{
    memset(c, 0, sizeof(*c));
    memset(fake, 0, sizeof(*fake));
    fake->opset = 13;
    c->m = fake;
    c->pool = pool;
    c->err = err;
}

/* Run case k both ways; returns max |wino - im2col| / max |im2col|. */
static double run_case(const struct wcase *k, struct kite_pool *pool, bool corrupt_u)
{
    struct vnode n;
    struct vctx c;
    kite_model fake;
    kite_err err;
    struct vt X, W, B, Y1, Y2;
    struct vt *in[3] = {&X, &W, &B}, *o1[1] = {&Y1}, *o2[1] = {&Y2};
    int64_t xd[4] = {k->N, k->C, k->H, k->W}, wd[4] = {k->M, k->C, 3, 3}, bd[1] = {k->M};
    double maxd = 0, maxr = 0;
    memset(&n, 0, sizeof(n));
    memset(&Y1, 0, sizeof(Y1));
    memset(&Y2, 0, sizeof(Y2));
    fill(&X, 4, xd, 1.0f);
    fill(&W, 4, wd, 1.0f / (float)sqrt((double)(k->C * 9)));
    fill(&B, 1, bd, 0.5f);
    n.op = OP_CONV;
    n.n_in = k->bias ? 3 : 2;
    n.n_out = 1;
    n.a.group = 1;
    n.a.n_pads = 4;
    memcpy(n.a.pads, k->pads, sizeof(k->pads));
    if (k->clamp) {
        n.a.has_min = n.a.has_max = true;
        n.a.fmin = 0.0f;
        n.a.fmax = k->C % 2 ? 6.0f : INFINITY;
    }
    init_ctx(&c, &fake, &err, pool);
    vop_conv_force_gemm = 1;
    if (vop_conv(&c, &n, in, o1) != KITE_OK)
        TEST_FAIL_("im2col conv: %s", err.message);
    n.wino_u = vwino_weights(W.data, k->M, k->C);
    ASSERT(n.wino_u != NULL);
    if (corrupt_u)
        n.wino_u[7] += 1.0f;
    vop_conv_force_gemm = 0;
    vop_conv_winograd = 2;
    if (vop_conv(&c, &n, in, o2) != KITE_OK)
        TEST_FAIL_("winograd conv: %s", err.message);
    vop_conv_winograd = 1;
    ASSERT_EQ_INT(Y1.len, Y2.len);
    for (int d = 0; d < 4; d++)
        ASSERT_EQ_INT(Y1.dims[d], Y2.dims[d]);
    for (size_t i = 0; i < Y1.len; i++) {
        double r = ((float *)Y1.data)[i], v = ((float *)Y2.data)[i];
        maxr = fabs(r) > maxr ? fabs(r) : maxr;
        maxd = fabs(r - v) > maxd ? fabs(r - v) : maxd;
    }
    kite_free(n.wino_u);
    vt_clear(&X);
    vt_clear(&W);
    vt_clear(&B);
    vt_clear(&Y1);
    vt_clear(&Y2);
    vctx_free_spares(&c);
    return maxr > 0 ? maxd / maxr : maxd;
}

TEST(winograd_matches_im2col_random_shapes)
{
    struct kite_pool *pool = NULL;
    double worst = 0;
    ASSERT_OK(kite_pool_new(3, &pool));
    for (int it = 0; it < 60; it++) {
        static const int64_t chans[] = {16, 17, 24, 32, 48, 64, 96};
        struct wcase k;
        double e;
        memset(&k, 0, sizeof(k));
        k.N = 1 + rnd(2);
        k.C = chans[rnd(7)];
        k.M = chans[rnd(7)];
        k.H = 3 + rnd(30);
        k.W = 3 + rnd(30);
        for (int i = 0; i < 4; i++)
            k.pads[i] = rnd(3);
        k.bias = rnd(2);
        k.clamp = rnd(2);
        e = run_case(&k, it % 2 ? pool : NULL, false);
        if (e > worst)
            worst = e;
        if (e > 2e-5)
            TEST_FAIL_("case %d N=%lld C=%lld M=%lld %lldx%lld pads %lld,%lld,%lld,%lld: "
                       "relative error %g, expected <= 2e-5",
                       it, (long long)k.N, (long long)k.C, (long long)k.M, (long long)k.H,
                       (long long)k.W, (long long)k.pads[0], (long long)k.pads[1],
                       (long long)k.pads[2], (long long)k.pads[3], e);
    }
    printf("    worst relative error %.3g\n", worst);
    kite_pool_free(pool);
}

/* Wide layers like VGG's / ResNet's: several tile blocks and channel chunks. */
TEST(winograd_matches_im2col_wide_layers)
{
    struct kite_pool *pool = NULL;
    struct wcase a = {1, 256, 128, 30, 29, {1, 1, 1, 1}, true, true};
    struct wcase b = {2, 64, 192, 57, 56, {1, 1, 1, 1}, true, false};
    struct wcase d = {1, 512, 512, 7, 7, {1, 1, 1, 1}, false, true};
    ASSERT_OK(kite_pool_new(2, &pool));
    ASSERT(run_case(&a, pool, false) < 2e-5);
    ASSERT(run_case(&b, pool, false) < 2e-5);
    ASSERT(run_case(&d, pool, false) < 2e-5);
    kite_pool_free(pool);
}

/* The comparison above would pass vacuously if Winograd were never taken:
 * corrupting one coefficient of U must change the result. */
TEST(winograd_path_is_taken)
{
    struct wcase k = {1, 16, 16, 12, 12, {1, 1, 1, 1}, true, false};
    ASSERT(run_case(&k, NULL, true) > 1e-3);
}

TEST(winograd_rule_and_knobs)
{
    ASSERT(vwino_use(64, 64, 56, 56));
    ASSERT(!vwino_use(8, 64, 56, 56)); /* too few channels */
    vop_conv_winograd = 0;
    ASSERT(!vwino_use(64, 64, 56, 56));
    vop_conv_winograd = 2;
    ASSERT(vwino_use(64, 64, 2, 2));
    vop_conv_winograd = 1;
    ASSERT_EQ_INT(vwino_tile_block(64, 64, 5, 1), 5);
    ASSERT(vwino_tile_block(512, 512, 100, 100) % 100 == 0);
    ASSERT(vwino_tile_block(512, 512, 4, 100) >= 32);
}
