/*
 * vision_bench.c — measurements behind the choices in docs/VISION.md.
 *
 *   vision_bench conv                 depthwise: direct vs im2col+sgemm;
 *                                     3x3 conv: our pool + 1-thread BLAS vs
 *                                     OpenBLAS's own threads
 *   vision_bench model M.onnx [batch] [threads] [reps] [in.f32] [out.f32]
 *                                     whole-network latency: best and median of
 *                                     reps runs (default 5) after one warm-up;
 *                                     input from in.f32 (raw little-endian
 *                                     float32, batch x input dims) or zeros,
 *                                     first output written to out.f32
 *                                     (bench/vision_vs_torch.py drives this)
 *                                     KITE_PROFILE=1: per-layer time split
 *                                     (KITE_PROFILE=all: every node's time)
 *   vision_bench wino C M H W [reps]  one 3x3 conv: im2col vs Winograd
 *                                     (single thread, best CPU time)
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

static void print_profile(const kite_model *m, int reps);

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
    vctx_free_spares(&c); /* conv scratch is recycled through the context's spares */
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int read_f32(const char *path, float *dst, size_t n)
{
    FILE *f = fopen(path, "rb");
    size_t got;
    if (!f) {
        fprintf(stderr, "cannot open input %s\n", path);
        return 1;
    }
    got = fread(dst, sizeof(float), n, f);
    fclose(f);
    if (got != n) {
        fprintf(stderr, "input %s: expected %zu floats, read %zu\n", path, n, got);
        return 1;
    }
    return 0;
}

static int write_f32(const char *path, const kite_tensor *t)
{
    FILE *f = fopen(path, "wb");
    size_t n = 1;
    int bad;
    if (!f) {
        fprintf(stderr, "cannot create output %s\n", path);
        return 1;
    }
    for (int i = 0; i < t->ndim; i++)
        n *= (size_t)t->dims[i];
    bad = fwrite(t->data, sizeof(float), n, f) != n;
    bad |= fclose(f) != 0;
    if (bad)
        fprintf(stderr, "cannot write output %s\n", path);
    return bad;
}

static int bench_model(const char *path, int batch, int threads, int reps, const char *in_path,
                       const char *out_path)
{
    struct kite_pool *pool = NULL;
    kite_model *m = NULL;
    kite_err err;
    int ndim, rc = 1;
    int64_t dims[8];
    kite_tensor in, out;
    size_t n = 1;
    double t0, *times = NULL;
    memset(&in, 0, sizeof(in));
    memset(&out, 0, sizeof(out));
    if (reps < 1)
        reps = 1;
    if (kite_pool_new(threads, &pool) != KITE_OK)
        return 1;
    t0 = now_ms();
    if (kite_model_load(path, pool, &m, &err) != KITE_OK) {
        fprintf(stderr, "%s\n", err.message);
        goto out_free;
    }
    printf("load %.1f ms\n", now_ms() - t0);
    kite_model_input_info(m, 0, NULL, &ndim, dims);
    dims[0] = batch;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)dims[i];
    in.ndim = ndim;
    memcpy(in.dims, dims, sizeof(dims));
    in.data = calloc(n, sizeof(float));
    times = calloc((size_t)reps, sizeof(double));
    if (!in.data || !times || (in_path && read_f32(in_path, in.data, n)))
        goto out_free;
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up (page faults, spares) */
        if (r == 0 && getenv("KITE_PROFILE") && !vmodel_prof_ms)
            vmodel_prof_ms = calloc((size_t)m->n_nodes, sizeof(double));
        t0 = now_ms();
        if (kite_model_run(m, &in, 1, &out, 1, &err) != KITE_OK) {
            fprintf(stderr, "%s\n", err.message);
            goto out_free;
        }
        t0 = now_ms() - t0;
        if (r >= 0)
            times[r] = t0;
        if (r == reps - 1 && out_path && write_f32(out_path, &out)) {
            kite_free(out.data);
            goto out_free;
        }
        kite_free(out.data);
    }
    qsort(times, (size_t)reps, sizeof(double), cmp_double);
    printf("batch %d, %d threads: best %.2f ms, median %.2f ms per batch, %.2f images/s "
           "(best), %.2f images/s (median)\n",
           batch, kite_pool_size(pool), times[0], times[reps / 2], batch * 1000.0 / times[0],
           batch * 1000.0 / times[reps / 2]);
    if (vmodel_prof_ms)
        print_profile(m, reps);
    rc = 0;
out_free:
    free(vmodel_prof_ms);
    vmodel_prof_ms = NULL;
    free(times);
    free(in.data);
    kite_model_free(m);
    kite_pool_free(pool);
    return rc;
}

/* Class of a node for the per-layer split: conv kernels by shape and path. */
static const char *node_class(const kite_model *m, const struct vnode *n)
{
    const struct vt *W;
    if (n->op != OP_CONV)
        return vop_name(n->op);
    W = n->in[1] >= 0 ? &m->consts[n->in[1]] : NULL;
    if (!W || W->ndim != 4)
        return "Conv other";
    if (n->a.group > 1)
        return "Conv grouped/depthwise";
    if (W->dims[2] == 1 && W->dims[3] == 1)
        return "Conv 1x1";
    if (W->dims[2] == 3 && W->dims[3] == 3)
        return n->wino_u && vop_conv_winograd ? "Conv 3x3 (Winograd-capable)" : "Conv 3x3";
    return "Conv other kxk";
}

/* KITE_PROFILE=1: per-class and top-10 per-node time, averaged over reps. */
static void print_profile(const kite_model *m, int reps)
{
    const char *cls[32];
    double sum[32], total = 0;
    int ncls = 0, top[10], ntop = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const char *k = node_class(m, &m->nodes[i]);
        int c = 0;
        while (c < ncls && strcmp(cls[c], k))
            c++;
        if (c == ncls && ncls < 32) {
            cls[ncls] = k;
            sum[ncls++] = 0;
        }
        if (c < ncls)
            sum[c] += vmodel_prof_ms[i] / reps;
        total += vmodel_prof_ms[i] / reps;
    }
    printf("profile: %.2f ms per run in nodes\n", total);
    for (int c = 0; c < ncls; c++)
        printf("  %-30s %8.2f ms %5.1f%%\n", cls[c], sum[c], 100 * sum[c] / total);
    for (int i = 0; i < m->n_nodes; i++) { /* insertion into the top-10 list */
        int p = ntop < 10 ? ntop++ : 10;
        if (p == 10 && vmodel_prof_ms[i] <= vmodel_prof_ms[top[9]])
            continue;
        if (p == 10)
            p = 9;
        while (p > 0 && vmodel_prof_ms[top[p - 1]] < vmodel_prof_ms[i]) {
            top[p] = top[p - 1];
            p--;
        }
        top[p] = i;
    }
    if (getenv("KITE_PROFILE") && !strcmp(getenv("KITE_PROFILE"), "all"))
        for (int i = 0; i < m->n_nodes; i++)
            printf("  node %3d: %-44s %-26s %8.3f ms\n", i, m->nodes[i].name,
                   node_class(m, &m->nodes[i]), vmodel_prof_ms[i] / reps);
    for (int t = 0; t < ntop; t++) {
        const struct vnode *n = &m->nodes[top[t]];
        const struct vt *W = n->op == OP_CONV && n->in[1] >= 0 ? &m->consts[n->in[1]] : NULL;
        printf("  top %2d: %-28s %-26s %8.2f ms", t + 1, n->name, node_class(m, n),
               vmodel_prof_ms[top[t]] / reps);
        if (W && W->ndim == 4)
            printf("  W %lldx%lldx%lldx%lld", (long long)W->dims[0], (long long)W->dims[1],
                   (long long)W->dims[2], (long long)W->dims[3]);
        printf("\n");
    }
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * vision_bench wino C M H W [reps]: one 3x3 pad-1 Conv (bias, Relu) by
 * im2col+sgemm and by Winograd, single thread, best CPU time of reps each
 * (process CPU time: little affected by other load on the machine).
 */
static int bench_wino(int64_t C, int64_t M, int64_t H, int64_t W, int reps)
{
    struct vnode n;
    struct vctx c;
    kite_model fake;
    kite_err err;
    struct vt X, Wt, B, Y;
    struct vt *in[3] = {&X, &Wt, &B}, *out[1] = {&Y};
    int64_t xd[4] = {1, C, H, W}, wd[4] = {M, C, 3, 3}, bd[1] = {M};
    double best[2] = {1e30, 1e30};
    memset(&n, 0, sizeof(n));
    memset(&c, 0, sizeof(c));
    memset(&fake, 0, sizeof(fake));
    memset(&Y, 0, sizeof(Y));
    rand_fill(&X, 4, xd);
    rand_fill(&Wt, 4, wd);
    rand_fill(&B, 1, bd);
    c.m = &fake;
    c.err = &err;
    n.op = OP_CONV;
    n.n_in = 3;
    n.n_out = 1;
    n.a.group = 1;
    n.a.n_pads = 4;
    n.a.pads[0] = n.a.pads[1] = n.a.pads[2] = n.a.pads[3] = 1;
    n.a.has_min = n.a.has_max = true;
    n.a.fmin = 0;
    n.a.fmax = 1e30f;
    n.wino_u = vwino_weights(Wt.data, M, C);
    for (int path = 0; path < 2; path++)
        for (int r = -1; r < reps; r++) {
            double t0;
            vop_conv_force_gemm = path == 0;
            vop_conv_winograd = path == 1 ? 2 : 0;
            t0 = cpu_ms();
            if (vop_conv(&c, &n, in, out) != KITE_OK) {
                fprintf(stderr, "%s\n", err.message);
                return 1;
            }
            t0 = cpu_ms() - t0;
            if (r >= 0 && t0 < best[path])
                best[path] = t0;
            vt_release(&c, &Y);
        }
    printf("conv3x3 C=%lld M=%lld %lldx%lld: im2col %.3f ms, winograd %.3f ms, ratio %.2f\n",
           (long long)C, (long long)M, (long long)H, (long long)W, best[0], best[1],
           best[0] / best[1]);
    kite_free(n.wino_u);
    vctx_free_spares(&c);
    vt_clear(&X);
    vt_clear(&Wt);
    vt_clear(&B);
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
        return bench_model(argv[2], argc > 3 ? atoi(argv[3]) : 1, argc > 4 ? atoi(argv[4]) : 0,
                           argc > 5 ? atoi(argv[5]) : 5, argc > 6 ? argv[6] : NULL,
                           argc > 7 ? argv[7] : NULL);
    if (argc >= 6 && !strcmp(argv[1], "wino"))
        return bench_wino(atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), atoll(argv[5]),
                          argc > 6 ? atoi(argv[6]) : 5);
    if (argc >= 3 && !strcmp(argv[1], "decode"))
        return bench_decode(argv[2], argc > 3 ? atoi(argv[3]) : 20);
    fprintf(stderr, "usage: vision_bench conv | model M.onnx [batch] [threads] [reps] [in.f32] "
                    "[out.f32] | wino C M H W [reps] | decode IMG\n");
    return 2;
}
