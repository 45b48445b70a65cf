/*
 * vision_bench.c — measurements behind the choices in docs/VISION.md.
 *
 *   vision_bench conv                 depthwise: direct vs im2col+sgemm;
 *                                     3x3 conv: our pool + 1-thread BLAS vs
 *                                     OpenBLAS's own threads
 *   vision_bench model M.onnx [batch] [threads]   whole-network latency
 *   vision_bench decode IMAGE [reps]  decode + fit 224 time
 *
 * Build: see tools/kite_vision_tool.c (same include/link line, -O2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "alloc.h"
#include "onnx_int.h"
#include "pool.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void rand_fill(struct vt *t, int ndim, const int64_t *d)
{
    memset(t, 0, sizeof(*t));
    if (vt_make(NULL, t, VT_F32, ndim, d) != KITE_OK)
        exit(1);
    for (size_t i = 0; i < t->len; i++)
        ((float *)t->data)[i] = (float)(rand() % 1000) / 1000.0f - 0.5f;
}

static double time_conv(struct kite_pool *pool, int64_t C, int64_t M, int64_t G, int64_t HW,
                        int64_t k, int64_t s, int reps)
{
    kite_model fake;
    kite_err err;
    struct vt X, W, Y;
    struct vt *in[2] = {&X, &W}, *out[1] = {&Y};
    struct vnode n;
    struct vctx c;
    int64_t xd[4] = {1, C, HW, HW}, wd[4] = {M, C / G, k, k};
    double best = 1e30;
    memset(&fake, 0, sizeof(fake));
    memset(&n, 0, sizeof(n));
    memset(&Y, 0, sizeof(Y));
    memset(&c, 0, sizeof(c));
    c.m = &fake;
    c.pool = pool;
    c.shape_only = false;
    c.err = &err;
    rand_fill(&X, 4, xd);
    rand_fill(&W, 4, wd);
    n.op = OP_CONV;
    n.n_in = 2;
    n.n_out = 1;
    n.a.group = G;
    n.a.n_strides = 2;
    n.a.strides[0] = n.a.strides[1] = s;
    n.a.n_pads = 4;
    n.a.pads[0] = n.a.pads[1] = n.a.pads[2] = n.a.pads[3] = k / 2;
    for (int r = 0; r < reps; r++) {
        double t0 = now_ms();
        if (vop_conv(&c, &n, in, out) != KITE_OK) {
            fprintf(stderr, "conv failed: %s\n", err.message);
            exit(1);
        }
        t0 = now_ms() - t0;
        best = t0 < best ? t0 : best;
        vt_clear(&Y);
    }
    vt_clear(&X);
    vt_clear(&W);
    return best;
}

static int bench_conv(void)
{
    struct kite_pool *pool = NULL;
    static const int64_t dw[][3] = {{144, 56, 1}, {192, 28, 1}, {384, 14, 1}, {960, 7, 1},
                                    {96, 112, 2}};
    int threads;
    if (kite_pool_new(0, &pool) != KITE_OK)
        return 1;
    threads = kite_pool_size(pool);
    printf("threads: %d\n", threads);
    printf("depthwise 3x3 (C, HW, stride): direct ms | im2col+sgemm ms\n");
    for (size_t i = 0; i < sizeof(dw) / sizeof(dw[0]); i++) {
        double a, b;
        vop_conv_force_gemm = 0;
        a = time_conv(pool, dw[i][0], dw[i][0], dw[i][0], dw[i][1], 3, dw[i][2], 10);
        vop_conv_force_gemm = 1;
        b = time_conv(pool, dw[i][0], dw[i][0], dw[i][0], dw[i][1], 3, dw[i][2], 10);
        vop_conv_force_gemm = 0;
        printf("  %4lld %4lld %lld: %8.3f | %8.3f\n", (long long)dw[i][0], (long long)dw[i][1],
               (long long)dw[i][2], a, b);
    }
    printf("3x3 conv 64->64 @56 and 1x1 conv 256->64 @56:\n");
    {
        double a = time_conv(pool, 64, 64, 1, 56, 3, 1, 10);
        double a1 = time_conv(pool, 256, 64, 1, 56, 1, 1, 10);
        double b, b1;
        openblas_set_num_threads(threads); /* OpenBLAS threads, no pool */
        b = time_conv(NULL, 64, 64, 1, 56, 3, 1, 10);
        b1 = time_conv(NULL, 256, 64, 1, 56, 1, 1, 10);
        openblas_set_num_threads(1);
        printf("  our pool + 1-thread BLAS: %.3f ms, %.3f ms\n", a, a1);
        printf("  OpenBLAS %d threads, no pool: %.3f ms, %.3f ms\n", threads, b, b1);
    }
    kite_pool_free(pool);
    return 0;
}

static int bench_model(const char *path, int batch, int threads)
{
    struct kite_pool *pool = NULL;
    kite_model *m = NULL;
    kite_err err;
    int ndim;
    int64_t dims[8];
    kite_tensor in, out;
    size_t n = 1;
    double t0, best = 1e30;
    if (kite_pool_new(threads, &pool) != KITE_OK)
        return 1;
    t0 = now_ms();
    if (kite_model_load(path, pool, &m, &err) != KITE_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    printf("load %.1f ms\n", now_ms() - t0);
    kite_model_input_info(m, 0, NULL, &ndim, dims);
    dims[0] = batch;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)dims[i];
    memset(&in, 0, sizeof(in));
    in.ndim = ndim;
    memcpy(in.dims, dims, sizeof(dims));
    in.data = calloc(n, sizeof(float));
    for (int r = 0; r < 5; r++) {
        t0 = now_ms();
        if (kite_model_run(m, &in, 1, &out, 1, &err) != KITE_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        t0 = now_ms() - t0;
        best = t0 < best ? t0 : best;
        kite_free(out.data);
    }
    printf("batch %d, %d threads: best %.1f ms per batch, %.1f images/s\n", batch,
           kite_pool_size(pool), best, batch * 1000.0 / best);
    free(in.data);
    kite_model_free(m);
    kite_pool_free(pool);
    return 0;
}

static int bench_decode(const char *path, int reps)
{
    kite_preprocess pp;
    double t0 = now_ms();
    kite_preprocess_init(&pp);
    for (int r = 0; r < reps; r++) {
        kite_image *img = NULL, *fit = NULL;
        kite_err err;
        if (kite_image_load(path, NULL, &img, &err) != KITE_OK ||
            kite_image_fit(img, &pp, &fit, &err) != KITE_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        kite_image_free(fit);
        kite_image_free(img);
    }
    printf("decode+fit: %.2f ms per image\n", (now_ms() - t0) / reps);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "conv"))
        return bench_conv();
    if (argc >= 3 && !strcmp(argv[1], "model"))
        return bench_model(argv[2], argc > 3 ? atoi(argv[3]) : 1, argc > 4 ? atoi(argv[4]) : 0);
    if (argc >= 3 && !strcmp(argv[1], "decode"))
        return bench_decode(argv[2], argc > 3 ? atoi(argv[3]) : 20);
    fprintf(stderr, "usage: vision_bench conv | model M.onnx [batch] [threads] | decode IMG\n");
    return 2;
}
