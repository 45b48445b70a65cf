/*
 * ops_conv.c — the heavy operators: Conv, MaxPool/AveragePool, global pools,
 * Gemm, MatMul, BatchNormalization.
 *
 * Design (numbers in docs/VISION.md):
 *   1. Conv is im2col + cblas_sgemm on column tiles: the output plane of each
 *      (image, group) is cut into blocks of JB output pixels, each block's
 *      K x JB column matrix (K = C/group * kh * kw) is built in a per-worker
 *      buffer sized to stay in L2, and sgemm writes the block's M/group x JB
 *      output directly.  (image, group, block) triples are the parallel work
 *      items (split further by output channels when there are fewer items
 *      than 2 x workers), so batch 1 parallelises as well as batch 32, and the scratch
 *      memory is workers x K x JB floats instead of a whole column matrix.
 *      1x1 / stride 1 / no pad convolutions skip im2col (B is the input).
 *   2. Depthwise convolutions (group == C == M) use a direct kernel: im2col
 *      would turn them into M=1 GEMMs, which OpenBLAS runs far below peak.
 *      The 3x3 case has an AVX2+FMA kernel (dwconv_avx2.c, bias and clamp fused)
 *      chosen at run time from kite_simd_init(); the portable one stays as the
 *      fallback and the reference.
 *   3. OpenBLAS is set to one thread once; all parallelism is ours (vpar), so
 *      the two thread pools never oversubscribe the cores.
 *   4. 3x3 stride-1 group-1 convolutions with >= 16 output tiles run Winograd
 *      F(4x4,3x3) instead (winograd.c; rule and numbers in docs/VISION.md).
 *   5. On CPUs with AVX-512 the GEMM of point 1 (im2col and 1x1; and Winograd's
 *      products where winograd.c's rule says) is our own (gemm_avx512.c: weights
 *      read in place instead of repacked per call, bias/residual/clamp in the
 *      register epilogue, column blocks sized for it in conv_blocks); OpenBLAS
 *      stays for other CPUs and as the reference (vop_conv_gemm = 0,
 *      KITE_CONV_GEMM=blas).
 *   6. vop_conv_fused adds a residual tensor before the clamp (graph_exec.c
 *      folds Conv -> Add into one node); every non-depthwise path supports it.
 *   Rejected: FFT, NHWC internal layout (ONNX is NCHW; transposes would eat
 *   the gain for our small nets).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "alloc.h"
#include "err.h"
#include "gemm_conv.h"
#include "onnx_int.h"
#include "simd.h"

int vop_conv_force_gemm = 0;
int vop_conv_gemm = -1; /* -1 = not yet read from KITE_CONV_GEMM */

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static pthread_once_t isa_once = PTHREAD_ONCE_INIT;
static bool have_avx2;   /* set once by isa_init: the CPU (and KITE_SIMD) allow AVX2+FMA */
static bool have_avx512; /* ... and AVX-512 (gemm_avx512.c) */

static void isa_init(void)
{
    const char *e = getenv("KITE_CONV_GEMM");
    int level = kite_simd_init();
    have_avx2 = level >= KITE_SIMD_AVX2;
    have_avx512 = level >= KITE_SIMD_AVX512;
    if (vop_conv_gemm < 0)
        vop_conv_gemm = e && !strcmp(e, "blas") ? 0 : 1;
}

bool vop_conv_uses_vgemm(void)
{
    pthread_once(&isa_once, isa_init);
    return have_avx512 && vop_conv_gemm != 0;
}

static void blas_init(void)
{
    openblas_set_num_threads(1);
}

static void blas_single_threaded(void)
{
    pthread_once(&blas_once, blas_init);
}

/* ---------------------------------------------------------------- geometry */

struct geom {
    int ns;                         /* spatial dims (1..3) */
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3];
};

/* Output size and padding of one axis, shared by Conv and the pools. */
static int axis_geom(const struct vattr *a, int ax, int ns, int64_t in, int64_t k, int ceil_mode,
                     struct geom *g, kite_err *err)
{
    int64_t s = a->n_strides ? a->strides[ax] : 1, d = a->n_dilations ? a->dilations[ax] : 1;
    int64_t ke, pb = 0, pe = 0, out;
    if (s <= 0 || d <= 0 || k <= 0)
        return kite_err_set(err, KITE_EINVAL, "non-positive kernel, stride or dilation");
    if (s > INT32_MAX || d > INT32_MAX || k > INT32_MAX) /* keeps (k - 1) * d + in from overflowing */
        return kite_err_set(err, KITE_EINVAL, "kernel %lld, stride %lld or dilation %lld too large",
                            (long long)k, (long long)s, (long long)d);
    ke = (k - 1) * d + 1;
    if (a->auto_pad == AUTOPAD_SAME_UPPER || a->auto_pad == AUTOPAD_SAME_LOWER) {
        int64_t total;
        out = (in + s - 1) / s;
        total = (out - 1) * s + ke - in;
        if (total < 0)
            total = 0;
        pb = a->auto_pad == AUTOPAD_SAME_UPPER ? total / 2 : total - total / 2;
        pe = total - pb;
    } else if (a->auto_pad == AUTOPAD_VALID) {
        out = in >= ke ? (in - ke) / s + 1 : 0;
    } else {
        if (a->n_pads) {
            pb = a->pads[ax];
            pe = a->pads[ax + ns];
        }
        if (pb < 0 || pe < 0)
            return kite_err_set(err, KITE_EINVAL, "negative pads");
        /* Pads wider than the input plus the kernel only add outputs that see nothing but
         * padding; refusing them bounds the output to ~3x the input (a fuzzed MaxPool with
         * pads of 1.5e8 asked for a 5 GB tensor). */
        if (pb > in + ke || pe > in + ke)
            return kite_err_set(err, KITE_EINVAL,
                                "pads %lld+%lld exceed the input %lld plus the kernel extent %lld",
                                (long long)pb, (long long)pe, (long long)in, (long long)ke);
        if (in + pb + pe < ke)
            out = 0;
        else if (ceil_mode) {
            out = (in + pb + pe - ke + s - 1) / s + 1;
            if ((out - 1) * s >= in + pb)
                out--;
        } else {
            out = (in + pb + pe - ke) / s + 1;
        }
    }
    if (out <= 0)
        return kite_err_set(err, KITE_EINVAL,
                            "kernel %lld (dilated %lld) does not fit input %lld with pads %lld+%lld",
                            (long long)k, (long long)ke, (long long)in, (long long)pb,
                            (long long)pe);
    g->in[ax] = in;
    g->k[ax] = k;
    g->s[ax] = s;
    g->d[ax] = d;
    g->pb[ax] = pb;
    g->pe[ax] = pe;
    g->out[ax] = out;
    return KITE_OK;
}

static int check_attr_counts(const struct vattr *a, int ns, kite_err *err)
{
    if ((a->n_strides && a->n_strides != ns) || (a->n_dilations && a->n_dilations != ns) ||
        (a->n_pads && a->n_pads != 2 * ns) || (a->n_kernel && a->n_kernel != ns))
        return kite_err_set(err, KITE_EINVAL,
                            "strides/dilations/pads/kernel_shape do not match %d spatial dims",
                            ns);
    return KITE_OK;
}

/* ---------------------------------------------------------------- Conv */

struct conv_job {
    const float *x, *w, *b;
    float *y;
    int64_t N, C, H, W, M, G, Cg, Mg, kh, kw, oh, ow, sh, sw, dh, dw, ph, pw;
    size_t K, HWo, JB, nblk;
    int64_t MC; /* output channels per work item (Mg unless split for parallelism) */
    size_t nmc; /* chunks of MC channels per (image, group, block) */
    bool direct_1x1, clamp; /* clamp: fused Relu/Clip, y = min(max(y, lo), hi) */
    bool vgemm;             /* gemm_avx512.c instead of cblas_sgemm */
    float lo, hi;
    const float *res; /* fused residual Add: same shape as y, added before the clamp */
    size_t packed_off; /* vgemm: offset of the packed-B area in each worker's scratch */
    float **col;    /* per worker: scratch data */
    struct vt *scr; /* per worker: the scratch tensors owning col[] */
};

/*
 * Column tile for output pixels [j0, j0 + jb): row r = (c, ky, kx) of the
 * K x jb matrix.  Output pixels are walked one output row (fixed oy) at a time:
 * the valid ox range for this kx is computed once, so the copy has no
 * per-element bounds test (memcpy when stride is 1).
 */
static void im2col_tile(const struct conv_job *j, const float *x, size_t j0, size_t jb,
                        float *col)
{
    for (size_t r = 0; r < j->K; r++) {
        int64_t c = (int64_t)(r / (size_t)(j->kh * j->kw));
        int64_t ky = (int64_t)(r / (size_t)j->kw) % j->kh, kx = (int64_t)(r % (size_t)j->kw);
        const float *xc = x + (size_t)c * (size_t)(j->H * j->W);
        int64_t off = kx * j->dw - j->pw; /* ix = ox * sw + off */
        int64_t lo = off >= 0 ? 0 : (-off + j->sw - 1) / j->sw;
        int64_t hi = j->W - off <= 0 ? 0 : (j->W - off + j->sw - 1) / j->sw;
        float *dst = col + r * jb;
        size_t q = 0, p = j0;
        hi = hi > j->ow ? j->ow : hi;
        while (q < jb) {
            int64_t oy = (int64_t)(p / (size_t)j->ow), ox0 = (int64_t)(p % (size_t)j->ow);
            int64_t ox1 = ox0 + (int64_t)(jb - q) < j->ow ? ox0 + (int64_t)(jb - q) : j->ow;
            int64_t iy = oy * j->sh - j->ph + ky * j->dh;
            if (iy < 0 || iy >= j->H) {
                memset(dst + q, 0, (size_t)(ox1 - ox0) * sizeof(float));
            } else {
                const float *xr = xc + iy * j->W; /* pixel ox is xr[ox * sw + off] */
                int64_t a = ox0 > lo ? ox0 : lo, b = ox1 < hi ? ox1 : hi;
                for (int64_t ox = ox0; ox < (a < ox1 ? a : ox1); ox++)
                    dst[q + (size_t)(ox - ox0)] = 0.0f;
                if (b > a) {
                    if (j->sw == 1)
                        memcpy(dst + q + (size_t)(a - ox0), xr + a + off,
                               (size_t)(b - a) * sizeof(float));
                    else if (j->sw == 2 && j->vgemm)
                        vgemm_gather_s2_avx512(xr + a * 2 + off, b - a,
                                               dst + q + (size_t)(a - ox0));
                    else
                        for (int64_t ox = a; ox < b; ox++)
                            dst[q + (size_t)(ox - ox0)] = xr[ox * j->sw + off];
                }
                for (int64_t ox = (b > ox0 ? b : ox0); ox < ox1; ox++)
                    dst[q + (size_t)(ox - ox0)] = 0.0f;
            }
            q += (size_t)(ox1 - ox0);
            p += (size_t)(ox1 - ox0);
        }
    }
}

/* One work item on gemm_avx512.c: pack the block's B (input rows or im2col
 * columns), then one GEMM with bias, residual and clamp in its epilogue. */
static void conv_item_vgemm(const struct conv_job *j, int worker, const float *x, const float *a,
                            int64_t bias_row, size_t j0, size_t jb, int64_t mb, float *y)
{
    float *bp = j->col[worker] + j->packed_off;
    struct vgemm_epi e;
    size_t yoff = (size_t)(y - j->y);
    memset(&e, 0, sizeof(e));
    e.bias = j->b ? j->b + bias_row : NULL;
    e.res = j->res ? j->res + yoff : NULL;
    e.ldr = j->HWo;
    e.clamp = j->clamp;
    e.lo = j->lo;
    e.hi = j->hi;
    if (j->direct_1x1) {
        vgemm_pack_b_avx512(x + j0, j->HWo, (int64_t)j->K, (int64_t)jb, bp);
    } else {
        im2col_tile(j, x, j0, jb, j->col[worker]);
        vgemm_pack_b_avx512(j->col[worker], jb, (int64_t)j->K, (int64_t)jb, bp);
    }
    vgemm_avx512(mb, (int64_t)jb, (int64_t)j->K, a, j->K, bp, y, j->HWo, &e);
}

static void conv_items(size_t begin, size_t end, int worker, void *ud)
{
    struct conv_job *j = ud;
    for (size_t it = begin; it < end; it++) {
        size_t mc = it % j->nmc, blk = (it / j->nmc) % j->nblk, ng = it / j->nmc / j->nblk;
        int64_t n = (int64_t)ng / j->G, g = (int64_t)ng % j->G;
        int64_t m0 = (int64_t)mc * j->MC, mb = j->Mg - m0 < j->MC ? j->Mg - m0 : j->MC;
        size_t j0 = blk * j->JB, jb = j->HWo - j0 < j->JB ? j->HWo - j0 : j->JB;
        const float *x = j->x + (size_t)(n * j->C + g * j->Cg) * (size_t)(j->H * j->W);
        const float *a = j->w + (size_t)(g * j->Mg + m0) * j->K;
        float *y = j->y + (size_t)(n * j->M + g * j->Mg + m0) * j->HWo + j0;
        const float *res = j->res ? j->res + (size_t)(y - j->y) : NULL;
        if (j->vgemm) {
            conv_item_vgemm(j, worker, x, a, g * j->Mg + m0, j0, jb, mb, y);
            continue;
        }
        if (j->direct_1x1) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)mb, (int)jb, (int)j->K,
                        1.0f, a, (int)j->K, x + j0, (int)j->HWo, 0.0f, y, (int)j->HWo);
        } else {
            float *col = j->col[worker];
            im2col_tile(j, x, j0, jb, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)mb, (int)jb, (int)j->K,
                        1.0f, a, (int)j->K, col, (int)jb, 0.0f, y, (int)j->HWo);
        }
        if (j->b || j->clamp || res)
            for (int64_t m = 0; m < mb; m++) {
                float bv = j->b ? j->b[g * j->Mg + m0 + m] : 0.0f, lo = j->lo, hi = j->hi;
                float *row = y + (size_t)m * j->HWo;
                const float *rr = res ? res + (size_t)m * j->HWo : NULL;
                if (rr)
                    for (size_t q = 0; q < jb; q++) {
                        float v = row[q] + bv + rr[q];
                        row[q] = v < lo ? lo : v > hi ? hi : v;
                    }
                else
                    for (size_t q = 0; q < jb; q++) {
                        float v = row[q] + bv;
                        row[q] = v < lo ? lo : v > hi ? hi : v;
                    }
            }
    }
}

/*
 * Depthwise: the input plane is first copied into a zero-bordered per-worker
 * scratch plane so the tap loops have no bounds checks, and the innermost loop
 * runs along an output row (contiguous for stride 1, so it vectorises).
 */
/* Fused activation on one output plane (no-op without a fused Relu/Clip). */
static void clamp_plane(const struct conv_job *j, float *y)
{
    if (!j->clamp)
        return;
    for (size_t i = 0; i < j->HWo; i++)
        y[i] = y[i] < j->lo ? j->lo : y[i] > j->hi ? j->hi : y[i];
}

/* 3x3, dilation 1: all nine taps summed in registers, one store per output. */
static void dw3x3_plane(const float *xp, int64_t wp, const float *w, float bias, int64_t oh,
                        int64_t ow, int64_t sh, int64_t sw, float *restrict y)
{
    for (int64_t oy = 0; oy < oh; oy++) {
        const float *r0 = xp + oy * sh * wp, *r1 = r0 + wp, *r2 = r1 + wp;
        float *restrict yr = y + oy * ow;
        if (sw == 1) {
            for (int64_t ox = 0; ox < ow; ox++)
                yr[ox] = bias + w[0] * r0[ox] + w[1] * r0[ox + 1] + w[2] * r0[ox + 2] +
                         w[3] * r1[ox] + w[4] * r1[ox + 1] + w[5] * r1[ox + 2] +
                         w[6] * r2[ox] + w[7] * r2[ox + 1] + w[8] * r2[ox + 2];
        } else {
            for (int64_t ox = 0; ox < ow; ox++) {
                int64_t b = ox * sw;
                yr[ox] = bias + w[0] * r0[b] + w[1] * r0[b + 1] + w[2] * r0[b + 2] +
                         w[3] * r1[b] + w[4] * r1[b + 1] + w[5] * r1[b + 2] + w[6] * r2[b] +
                         w[7] * r2[b + 1] + w[8] * r2[b + 2];
            }
        }
    }
}

static void depthwise_items(size_t begin, size_t end, int worker, void *ud)
{
    struct conv_job *j = ud;
    int64_t hp = (j->oh - 1) * j->sh + (j->kh - 1) * j->dh + 1;
    int64_t wp = (j->ow - 1) * j->sw + (j->kw - 1) * j->dw + 1;
    int64_t rows = j->H < hp - j->ph ? j->H : hp - j->ph, cols = j->W < wp - j->pw ? j->W : wp - j->pw;
    float *xp = j->col[worker];
    for (size_t it = begin; it < end; it++) {
        int64_t c = (int64_t)(it % (size_t)j->C);
        const float *x = j->x + it * (size_t)(j->H * j->W);
        const float *w = j->w + (size_t)c * (size_t)(j->kh * j->kw);
        float *y = j->y + it * j->HWo, bias = j->b ? j->b[c] : 0.0f;
        memset(xp, 0, (size_t)(hp * wp) * sizeof(float));
        for (int64_t r = 0; r < rows; r++)
            if (cols > 0)
                memcpy(xp + (r + j->ph) * wp + j->pw, x + r * j->W, (size_t)cols * sizeof(float));
        if (j->kh == 3 && j->kw == 3 && j->dh == 1 && j->dw == 1 && have_avx2 &&
            j->ow >= 8) {
            vdw3x3_avx2(xp, wp, w, bias, j->oh, j->ow, j->sh, j->sw, j->clamp, j->lo, j->hi, y);
            continue;
        }
        if (j->kh == 3 && j->kw == 3 && j->dh == 1 && j->dw == 1) {
            dw3x3_plane(xp, wp, w, bias, j->oh, j->ow, j->sh, j->sw, y);
            clamp_plane(j, y);
            continue;
        }
        for (int64_t oy = 0; oy < j->oh; oy++) {
            float *restrict yr = y + oy * j->ow;
            for (int64_t ox = 0; ox < j->ow; ox++)
                yr[ox] = bias;
            for (int64_t ky = 0; ky < j->kh; ky++) {
                const float *xr = xp + (oy * j->sh + ky * j->dh) * wp;
                for (int64_t kx = 0; kx < j->kw; kx++) {
                    float wv = w[ky * j->kw + kx];
                    const float *restrict xs = xr + kx * j->dw;
                    if (j->sw == 1)
                        for (int64_t ox = 0; ox < j->ow; ox++)
                            yr[ox] += wv * xs[ox];
                    else
                        for (int64_t ox = 0; ox < j->ow; ox++)
                            yr[ox] += wv * xs[ox * j->sw];
                }
            }
        }
        clamp_plane(j, y);
    }
}

/* Validate Conv inputs/attributes and fill the job's geometry; dims = output dims. */
static int conv_setup(struct vctx *c, const struct vnode *n, struct vt **in, struct conv_job *j,
                      int64_t *dims)
{
    const struct vt *X = n->n_in > 0 ? in[0] : NULL, *Wt = n->n_in > 1 ? in[1] : NULL;
    const struct vt *B = n->n_in > 2 ? in[2] : NULL;
    struct geom g;
    int ns, rc;
    memset(&g, 0, sizeof(g));
    if (!X || !Wt || X->type != VT_F32 || Wt->type != VT_F32)
        return kite_err_set(c->err, KITE_EINVAL, "Conv needs float X and W");
    if ((X->ndim != 3 && X->ndim != 4) || Wt->ndim != X->ndim)
        return kite_err_set(c->err, KITE_EUNSUPPORTED,
                            "Conv supports 1-D and 2-D inputs (rank 3/4), got rank %d", X->ndim);
    ns = X->ndim - 2;
    if ((rc = check_attr_counts(&n->a, ns, c->err)) != KITE_OK)
        return rc;
    j->N = X->dims[0];
    j->C = X->dims[1];
    j->H = ns == 2 ? X->dims[2] : 1;
    j->W = X->dims[ns + 1];
    j->M = Wt->dims[0];
    j->G = n->a.group;
    j->kh = ns == 2 ? Wt->dims[2] : 1;
    j->kw = Wt->dims[ns + 1];
    if (j->G <= 0 || j->C % j->G || j->M % j->G || Wt->dims[1] != j->C / j->G)
        return kite_err_set(c->err, KITE_EINVAL,
                            "Conv: %lld input channels, %lld filters of depth %lld, group %lld do "
                            "not agree",
                            (long long)j->C, (long long)j->M, (long long)Wt->dims[1],
                            (long long)j->G);
    for (int i = 0; i < n->a.n_kernel; i++)
        if (n->a.kernel[i] != Wt->dims[2 + i])
            return kite_err_set(c->err, KITE_EINVAL, "Conv: kernel_shape disagrees with W");
    if (B && (B->type != VT_F32 || B->ndim != 1 || B->dims[0] != j->M))
        return kite_err_set(c->err, KITE_EINVAL, "Conv: bias must be [%lld]", (long long)j->M);
    if (ns == 2 && ((rc = axis_geom(&n->a, 0, 2, j->H, j->kh, 0, &g, c->err)) != KITE_OK ||
                    (rc = axis_geom(&n->a, 1, 2, j->W, j->kw, 0, &g, c->err)) != KITE_OK))
        return rc;
    if (ns == 1) {
        if ((rc = axis_geom(&n->a, 0, 1, j->W, j->kw, 0, &g, c->err)) != KITE_OK)
            return rc;
        g.out[1] = g.out[0], g.s[1] = g.s[0], g.d[1] = g.d[0], g.pb[1] = g.pb[0];
        g.out[0] = g.s[0] = g.d[0] = 1, g.pb[0] = 0;
    }
    j->oh = g.out[0], j->sh = g.s[0], j->dh = g.d[0], j->ph = g.pb[0];
    j->ow = g.out[1], j->sw = g.s[1], j->dw = g.d[1], j->pw = g.pb[1];
    j->Cg = j->C / j->G;
    j->Mg = j->M / j->G;
    j->K = (size_t)(j->Cg * j->kh * j->kw);
    j->HWo = (size_t)(j->oh * j->ow);
    if (j->K > INT32_MAX / 64 || j->HWo > INT32_MAX || j->Mg > INT32_MAX)
        return kite_err_set(c->err, KITE_ELIMIT, "Conv too large for 32-bit BLAS indices");
    j->b = B ? B->data : NULL;
    j->clamp = n->a.has_min || n->a.has_max;
    j->lo = j->clamp ? n->a.fmin : -INFINITY;
    j->hi = j->clamp ? n->a.fmax : INFINITY;
    dims[0] = j->N;
    dims[1] = j->M;
    dims[2] = ns == 2 ? j->oh : j->ow;
    dims[3] = j->ow;
    return KITE_OK;
}

/*
 * One scratch buffer of `floats` per worker (im2col tile or padded depthwise
 * plane), taken from the run's spare buffers when one fits (they persist
 * across runs in the model's cache), so a conv does not mmap and page-fault
 * fresh scratch each time.
 */
static int alloc_scratch(struct vctx *c, struct conv_job *j, int workers, size_t floats)
{
    int64_t d = (int64_t)floats;
    j->scr = kite_calloc((size_t)workers, sizeof(struct vt));
    j->col = kite_calloc((size_t)workers, sizeof(float *));
    if (!j->col || !j->scr)
        return kite_err_set(c->err, KITE_ENOMEM, "Conv: out of memory");
    for (int w = 0; w < workers; w++) {
        int rc = vt_make(c, &j->scr[w], VT_F32, 1, &d);
        if (rc != KITE_OK)
            return rc;
        j->col[w] = j->scr[w].data;
    }
    return KITE_OK;
}

static void free_scratch(struct vctx *c, struct conv_job *j, int workers)
{
    if (j->scr)
        for (int w = 0; w < workers; w++)
            vt_release(c, &j->scr[w]);
    kite_free(j->scr);
    kite_free(j->col);
}

/*
 * Column blocks and output-channel chunks of an im2col/1x1 conv (j->JB, nblk,
 * MC, nmc).  OpenBLAS: the K x JB column tile AND the Mg x JB output block
 * together stay within ~256 KiB (L2), so the epilogue (bias, clamp) and
 * OpenBLAS's C update run on cached data.  (Sizing by K alone let a 1x1
 * 144->24 conv at 56x56 write a 1.5 MB block: epilogue + sgemm_beta were 18% of
 * a MobileNetV2 run in perf.)  Multiple of 16 for the sgemm kernel's tiles; at
 * least 256, since each sgemm call repacks the weights: for the deep ResNet-50
 * layers (K = 1024-4608) a 64 floor cost ~3% of the run.
 * gemm_avx512.c: one k slice (VGEMM_KC rows) of the packed K x JB block of B is
 * what the kernel re-reads from L2 for every 12 rows of A, so the slice is sized
 * to ~256 KiB: JB = 256 columns from K = 256 up.  (Sizing by the whole K gave
 * the 3x3 stride-2 layers 32-column blocks, and each block streamed all of A
 * from L3 again: layer2.0.conv2 ran at 72 GFLOP/s.)  Blocks are equal (multiple
 * of 16), never a sliver of 4 columns next to full ones.
 */
static void conv_blocks(struct conv_job *j, int workers)
{
    if (j->vgemm) {
        size_t kc = j->K < VGEMM_KC ? j->K : VGEMM_KC;
        j->JB = (size_t)(65536 / kc) / 32 * 32;
        /* several column blocks per worker when the plane is wide enough;
         * narrower planes split output channels below instead */
        if (workers > 1 && (size_t)(j->N * j->G) < 2 * (size_t)workers) {
            size_t want = (2 * (size_t)workers + (size_t)(j->N * j->G) - 1) /
                          (size_t)(j->N * j->G);
            size_t per = (j->HWo + want - 1) / want;
            if (per >= 128 && per < j->JB)
                j->JB = per;
        }
        /* equal blocks, so no block is a sliver of a few columns */
        j->nblk = (j->HWo + j->JB - 1) / j->JB;
        j->JB = ((j->HWo + j->nblk - 1) / j->nblk + 15) / 16 * 16;
    } else {
        j->JB = (size_t)(65536 / (j->K + (size_t)j->Mg));
        j->JB = j->JB < 256 ? 256 : j->JB / 16 * 16;
    }
    j->JB = j->JB > j->HWo ? j->HWo : j->JB;
    j->nblk = (j->HWo + j->JB - 1) / j->JB;
    /* Few (image, group, block) items (late 7x7 layers at batch 1: one item)
     * would leave workers idle: then split the output channels too, in chunks
     * of >= 32 rows (im2col is repeated per chunk, which is cheap next to the
     * GEMM at these sizes). */
    j->MC = j->Mg;
    j->nmc = 1;
    if (workers > 1 && (size_t)(j->N * j->G) * j->nblk < 2 * (size_t)workers && j->Mg >= 64) {
        size_t want = (2 * (size_t)workers + (size_t)(j->N * j->G) * j->nblk - 1) /
                      ((size_t)(j->N * j->G) * j->nblk);
        j->MC = (j->Mg + (int64_t)want - 1) / (int64_t)want;
        j->MC = j->MC < 32 ? 32 : (j->MC + 15) / 16 * 16;
        j->nmc = (size_t)((j->Mg + j->MC - 1) / j->MC);
    }
}

int vop_conv_fused(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out,
                   const struct vt *res)
{
    struct conv_job j;
    int64_t dims[4];
    int rc, workers = vpar_workers(c);
    memset(&j, 0, sizeof(j));
    if ((rc = conv_setup(c, n, in, &j, dims)) != KITE_OK)
        return rc;
    if (res) {
        bool same = res->type == VT_F32 && res->ndim == in[0]->ndim && res->data;
        for (int d = 0; same && d < res->ndim; d++)
            same = res->dims[d] == dims[d];
        if (!same || (j.G == j.C && j.M == j.C))
            return KITE_EUNSUPPORTED; /* nothing done: the caller runs Conv and Add apart */
    }
    if ((rc = vt_make(c, out[0], VT_F32, in[0]->ndim, dims)) != KITE_OK || !out[0]->data)
        return rc;
    j.x = in[0]->data;
    j.w = in[1]->data;
    j.y = out[0]->data;
    j.res = res ? res->data : NULL;
    pthread_once(&isa_once, isa_init);
    if (j.G == j.C && j.M == j.C && !vop_conv_force_gemm) {
        size_t plane = (size_t)(((j.oh - 1) * j.sh + (j.kh - 1) * j.dh + 1) *
                                ((j.ow - 1) * j.sw + (j.kw - 1) * j.dw + 1));
        /* +16: the AVX2 stride-2 kernel loads whole vectors past the last row */
        if ((rc = alloc_scratch(c, &j, workers, plane + 16)) == KITE_OK)
            vpar(c, (size_t)(j.N * j.C), 1, depthwise_items, &j);
        goto out_free;
    }
    blas_single_threaded();
    if (n->wino_u && j.G == 1 && j.kh == 3 && j.kw == 3 && j.sh == 1 && j.sw == 1 &&
        j.dh == 1 && j.dw == 1 && !vop_conv_force_gemm && vwino_use(j.C, j.M, j.oh, j.ow)) {
        struct vwino_args wa = {j.x, n->wino_u, j.b, j.y, j.N, j.C, j.H, j.W, j.M,
                                j.ph, j.pw, j.oh, j.ow, j.clamp, j.lo, j.hi, j.res};
        rc = vwino_conv(c, &wa);
        goto out_free;
    }
    j.direct_1x1 = j.kh == 1 && j.kw == 1 && j.sh == 1 && j.sw == 1 && j.ph == 0 && j.pw == 0 &&
                   j.oh == j.H && j.ow == j.W;
    j.vgemm = have_avx512 && vop_conv_gemm != 0;
    conv_blocks(&j, workers);
    if (j.vgemm) {
        size_t colf = j.direct_1x1 ? 0 : j.K * j.JB;
        j.packed_off = (colf + 15) / 16 * 16;
        rc = alloc_scratch(c, &j, workers, j.packed_off + vgemm_packed_len((int64_t)j.K,
                                                                            (int64_t)j.JB));
    } else if (!j.direct_1x1) {
        rc = alloc_scratch(c, &j, workers, j.K * j.JB);
    }
    if (rc == KITE_OK)
        vpar(c, (size_t)(j.N * j.G) * j.nblk * j.nmc, 1, conv_items, &j);
out_free:
    free_scratch(c, &j, workers);
    return rc;
}

int vop_conv(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    return vop_conv_fused(c, n, in, out, NULL);
}

/* ---------------------------------------------------------------- pools */

struct pool_job {
    const float *x;
    float *y;
    struct geom g;
    bool is_max, include_pad;
};

static void pool_items(size_t begin, size_t end, int worker, void *ud)
{
    const struct pool_job *p = ud;
    const struct geom *g = &p->g;
    size_t in_plane = (size_t)(g->in[0] * g->in[1] * g->in[2]);
    size_t out_plane = (size_t)(g->out[0] * g->out[1] * g->out[2]);
    (void)worker;
    for (size_t it = begin; it < end; it++) {
        const float *x = p->x + it * in_plane;
        float *y = p->y + it * out_plane;
        for (int64_t o0 = 0; o0 < g->out[0]; o0++)
            for (int64_t o1 = 0; o1 < g->out[1]; o1++)
                for (int64_t o2 = 0; o2 < g->out[2]; o2++) {
                    float acc = p->is_max ? -INFINITY : 0.0f;
                    int64_t cnt = 0, padcnt = 0;
                    for (int64_t k0 = 0; k0 < g->k[0]; k0++) {
                        int64_t i0 = o0 * g->s[0] - g->pb[0] + k0 * g->d[0];
                        for (int64_t k1 = 0; k1 < g->k[1]; k1++) {
                            int64_t i1 = o1 * g->s[1] - g->pb[1] + k1 * g->d[1];
                            for (int64_t k2 = 0; k2 < g->k[2]; k2++) {
                                int64_t i2 = o2 * g->s[2] - g->pb[2] + k2 * g->d[2];
                                bool inside = i0 >= 0 && i0 < g->in[0] && i1 >= 0 &&
                                              i1 < g->in[1] && i2 >= 0 && i2 < g->in[2];
                                if (i0 >= -g->pb[0] && i0 < g->in[0] + g->pe[0] &&
                                    i1 >= -g->pb[1] && i1 < g->in[1] + g->pe[1] &&
                                    i2 >= -g->pb[2] && i2 < g->in[2] + g->pe[2])
                                    padcnt++;
                                if (!inside)
                                    continue;
                                float v = x[(i0 * g->in[1] + i1) * g->in[2] + i2];
                                if (p->is_max)
                                    acc = v > acc ? v : acc;
                                else
                                    acc += v;
                                cnt++;
                            }
                        }
                    }
                    if (!p->is_max) {
                        int64_t div = p->include_pad ? padcnt : cnt;
                        acc = div ? acc / (float)div : 0.0f;
                    }
                    y[(o0 * g->out[1] + o1) * g->out[2] + o2] = acc;
                }
    }
}

/*
 * MaxPool over 2-D planes without dilation (ResNet's 3x3/2 stem pool): the
 * valid tap range is clipped once per output pixel instead of testing every
 * tap, and padding is never counted.  Same result as pool_items, NaN included
 * (a NaN is never picked by `v > acc`).
 */
static void maxpool2d_items(size_t begin, size_t end, int worker, void *ud)
{
    const struct pool_job *p = ud;
    const struct geom *g = &p->g;
    int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2];
    (void)worker;
    for (size_t it = begin; it < end; it++) {
        const float *x = p->x + it * (size_t)(H * W);
        float *y = p->y + it * (size_t)(OH * OW);
        for (int64_t oy = 0; oy < OH; oy++) {
            int64_t iy = oy * g->s[1] - g->pb[1];
            int64_t ky0 = iy < 0 ? -iy : 0, ky1 = H - iy < g->k[1] ? H - iy : g->k[1];
            for (int64_t ox = 0; ox < OW; ox++) {
                int64_t ix = ox * g->s[2] - g->pb[2];
                int64_t kx0 = ix < 0 ? -ix : 0, kx1 = W - ix < g->k[2] ? W - ix : g->k[2];
                float acc = -INFINITY;
                for (int64_t ky = ky0; ky < ky1; ky++) {
                    const float *row = x + (iy + ky) * W + ix;
                    for (int64_t kx = kx0; kx < kx1; kx++)
                        acc = row[kx] > acc ? row[kx] : acc;
                }
                y[oy * OW + ox] = acc;
            }
        }
    }
}

int vop_pool(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    const struct vt *X = n->n_in > 0 ? in[0] : NULL;
    struct pool_job p;
    int64_t dims[5];
    int ns, rc;
    memset(&p, 0, sizeof(p));
    if (!X || X->type != VT_F32 || X->ndim < 3 || X->ndim > 5)
        return kite_err_set(c->err, KITE_EUNSUPPORTED, "pooling needs a float tensor of rank 3-5");
    if (n->n_out > 1 && n->out[1] >= 0)
        return kite_err_set(c->err, KITE_EUNSUPPORTED, "MaxPool Indices output is not supported");
    ns = X->ndim - 2;
    if (n->a.n_kernel != ns)
        return kite_err_set(c->err, KITE_EINVAL, "pooling needs kernel_shape with %d values", ns);
    if ((rc = check_attr_counts(&n->a, ns, c->err)) != KITE_OK)
        return rc;
    for (int ax = 0; ax < 3; ax++) { /* unused leading axes are 1 x 1 */
        p.g.in[ax] = p.g.k[ax] = p.g.s[ax] = p.g.d[ax] = p.g.out[ax] = 1;
    }
    for (int ax = 0; ax < ns; ax++) {
        struct geom tmp;
        int dst = 3 - ns + ax;
        memset(&tmp, 0, sizeof(tmp));
        rc = axis_geom(&n->a, ax, ns, X->dims[2 + ax], n->a.kernel[ax], n->a.ceil_mode, &tmp,
                       c->err);
        if (rc != KITE_OK)
            return rc;
        p.g.in[dst] = tmp.in[ax];
        p.g.k[dst] = tmp.k[ax];
        p.g.s[dst] = tmp.s[ax];
        p.g.d[dst] = tmp.d[ax];
        p.g.pb[dst] = tmp.pb[ax];
        p.g.pe[dst] = tmp.pe[ax];
        p.g.out[dst] = tmp.out[ax];
        dims[2 + ax] = tmp.out[ax];
    }
    dims[0] = X->dims[0];
    dims[1] = X->dims[1];
    if ((rc = vt_make(c, out[0], VT_F32, X->ndim, dims)) != KITE_OK || !out[0]->data)
        return rc;
    p.x = X->data;
    p.y = out[0]->data;
    p.is_max = n->op == OP_MAXPOOL;
    p.include_pad = n->a.count_include_pad != 0;
    if (p.is_max && p.g.in[0] == 1 && p.g.k[0] == 1 && p.g.out[0] == 1 && p.g.pb[0] == 0 &&
        p.g.d[1] == 1 && p.g.d[2] == 1)
        vpar(c, (size_t)(X->dims[0] * X->dims[1]), 1, maxpool2d_items, &p);
    else
        vpar(c, (size_t)(X->dims[0] * X->dims[1]), 1, pool_items, &p);
    return KITE_OK;
}

struct gpool_job {
    const float *x;
    float *y;
    size_t plane;
    bool is_max;
};

static void gpool_items(size_t begin, size_t end, int worker, void *ud)
{
    const struct gpool_job *p = ud;
    (void)worker;
    for (size_t it = begin; it < end; it++) {
        const float *x = p->x + it * p->plane;
        double acc = p->is_max ? -INFINITY : 0.0;
        for (size_t i = 0; i < p->plane; i++)
            acc = p->is_max ? (x[i] > acc ? x[i] : acc) : acc + x[i];
        p->y[it] = (float)(p->is_max ? acc : acc / (double)p->plane);
    }
}

int vop_global_pool(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    const struct vt *X = n->n_in > 0 ? in[0] : NULL;
    struct gpool_job p;
    int64_t dims[VT_MAX_DIMS];
    int rc;
    if (!X || X->type != VT_F32 || X->ndim < 3)
        return kite_err_set(c->err, KITE_EINVAL, "global pooling needs a float tensor of rank >= 3");
    for (int i = 0; i < X->ndim; i++)
        dims[i] = i < 2 ? X->dims[i] : 1;
    if ((rc = vt_make(c, out[0], VT_F32, X->ndim, dims)) != KITE_OK || !out[0]->data)
        return rc;
    p.x = X->data;
    p.y = out[0]->data;
    p.plane = vt_count(X->ndim - 2, X->dims + 2);
    p.is_max = n->op == OP_GMP;
    if (p.plane == 0)
        return kite_err_set(c->err, KITE_EINVAL, "global pooling over an empty plane");
    vpar(c, (size_t)(X->dims[0] * X->dims[1]), 16, gpool_items, &p);
    return KITE_OK;
}

/* ---------------------------------------------------------------- Gemm / MatMul */

struct gemm_job {
    const float *a, *b;
    float *y;
    int M, N, K, ta, tb;
    float alpha, beta;
    int chunk;
};

static void gemm_cols(size_t begin, size_t end, int worker, void *ud)
{
    const struct gemm_job *g = ud;
    (void)worker;
    for (size_t blk = begin; blk < end; blk++) {
        int n0 = (int)blk * g->chunk, nb = g->N - n0 < g->chunk ? g->N - n0 : g->chunk;
        const float *b = g->tb ? g->b + (size_t)n0 * g->K : g->b + n0;
        cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans,
                    g->tb ? CblasTrans : CblasNoTrans, g->M, nb, g->K, g->alpha, g->a,
                    g->ta ? g->M : g->K, b, g->tb ? g->K : g->N, g->beta, g->y + n0, g->N);
    }
}

int vop_gemm(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    const struct vt *A = n->n_in > 0 ? in[0] : NULL, *B = n->n_in > 1 ? in[1] : NULL;
    const struct vt *C = n->n_in > 2 ? in[2] : NULL;
    struct gemm_job g;
    int64_t M, K, N, Kb, dims[2];
    int rc, workers;
    if (!A || !B || A->type != VT_F32 || B->type != VT_F32 || A->ndim != 2 || B->ndim != 2)
        return kite_err_set(c->err, KITE_EINVAL, "Gemm needs 2-D float A and B");
    M = n->a.trans_a ? A->dims[1] : A->dims[0];
    K = n->a.trans_a ? A->dims[0] : A->dims[1];
    Kb = n->a.trans_b ? B->dims[1] : B->dims[0];
    N = n->a.trans_b ? B->dims[0] : B->dims[1];
    if (K != Kb)
        return kite_err_set(c->err, KITE_EINVAL, "Gemm: A is %lldx%lld, B is %lldx%lld",
                            (long long)M, (long long)K, (long long)Kb, (long long)N);
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
        return kite_err_set(c->err, KITE_ELIMIT, "Gemm too large");
    if (C && (C->type != VT_F32 || C->ndim > 2 ||
              (C->ndim >= 1 && C->dims[C->ndim - 1] != N && C->dims[C->ndim - 1] != 1) ||
              (C->ndim == 2 && C->dims[0] != M && C->dims[0] != 1)))
        return kite_err_set(c->err, KITE_EINVAL, "Gemm: C does not broadcast to %lldx%lld",
                            (long long)M, (long long)N);
    dims[0] = M;
    dims[1] = N;
    if ((rc = vt_make(c, out[0], VT_F32, 2, dims)) != KITE_OK || !out[0]->data)
        return rc;
    blas_single_threaded();
    g.a = A->data;
    g.b = B->data;
    g.y = out[0]->data;
    g.M = (int)M;
    g.N = (int)N;
    g.K = (int)K;
    g.ta = n->a.trans_a;
    g.tb = n->a.trans_b;
    g.alpha = n->a.alpha;
    g.beta = C ? n->a.beta : 0.0f;
    if (C) {
        const float *cd = C->data;
        for (int64_t i = 0; i < M; i++)
            for (int64_t k = 0; k < N; k++) {
                int64_t ci = C->ndim == 0 ? 0
                             : C->ndim == 1 ? (C->dims[0] == 1 ? 0 : k)
                                            : (C->dims[0] == 1 ? 0 : i) * C->dims[1] +
                                                  (C->dims[1] == 1 ? 0 : k);
                g.y[i * N + k] = cd[ci];
            }
    }
    workers = vpar_workers(c);
    g.chunk = (int)((N + workers - 1) / workers);
    if (g.chunk < 64)
        g.chunk = 64;
    if (M * N * K < 1 << 18 || workers == 1)
        g.chunk = (int)N;
    if (g.chunk == 0)
        return KITE_OK;
    vpar(c, (size_t)((N + g.chunk - 1) / g.chunk), 1, gemm_cols, &g);
    return KITE_OK;
}

int vop_matmul(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    const struct vt *A = n->n_in > 0 ? in[0] : NULL, *B = n->n_in > 1 ? in[1] : NULL;
    int64_t ad[VT_MAX_DIMS], bd[VT_MAX_DIMS], od[VT_MAX_DIMS + 1], M, K, N;
    int ar, br, nb, odn = 0, rc;
    size_t batches;
    if (!A || !B || A->type != VT_F32 || B->type != VT_F32 || A->ndim < 1 || B->ndim < 1)
        return kite_err_set(c->err, KITE_EINVAL, "MatMul needs float inputs of rank >= 1");
    /* numpy semantics: promote 1-D operands, broadcast the batch dims */
    ar = A->ndim == 1 ? 2 : A->ndim;
    br = B->ndim == 1 ? 2 : B->ndim;
    if (A->ndim == 1) {
        ad[0] = 1;
        ad[1] = A->dims[0];
    } else
        memcpy(ad, A->dims, sizeof(int64_t) * (size_t)ar);
    if (B->ndim == 1) {
        bd[0] = B->dims[0];
        bd[1] = 1;
    } else
        memcpy(bd, B->dims, sizeof(int64_t) * (size_t)br);
    M = ad[ar - 2];
    K = ad[ar - 1];
    N = bd[br - 1];
    if (bd[br - 2] != K)
        return kite_err_set(c->err, KITE_EINVAL, "MatMul: inner dims %lld and %lld differ",
                            (long long)K, (long long)bd[br - 2]);
    nb = (ar > br ? ar : br) - 2;
    for (int i = 0; i < nb; i++) {
        int ia = i - (nb - (ar - 2)), ib = i - (nb - (br - 2));
        int64_t da = ia >= 0 ? ad[ia] : 1, db = ib >= 0 ? bd[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return kite_err_set(c->err, KITE_EINVAL, "MatMul: batch dims do not broadcast");
        od[odn++] = da > db ? da : db;
    }
    if (A->ndim != 1)
        od[odn++] = M;
    if (B->ndim != 1)
        od[odn++] = N;
    if ((rc = vt_make(c, out[0], VT_F32, odn, od)) != KITE_OK || !out[0]->data)
        return rc;
    blas_single_threaded();
    batches = vt_count(nb, od);
    for (size_t bi = 0; bi < batches; bi++) {
        size_t rem = bi, oa = 0, ob = 0, sa = 1, sb = 1;
        for (int i = nb - 1; i >= 0; i--) {
            int ia = i - (nb - (ar - 2)), ib = i - (nb - (br - 2));
            size_t idx = rem % (size_t)od[i];
            rem /= (size_t)od[i];
            if (ia >= 0) {
                oa += (ad[ia] == 1 ? 0 : idx) * sa;
                sa *= (size_t)ad[ia];
            }
            if (ib >= 0) {
                ob += (bd[ib] == 1 ? 0 : idx) * sb;
                sb *= (size_t)bd[ib];
            }
        }
        if (M && N && K)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f,
                        (const float *)A->data + oa * (size_t)(M * K), (int)K,
                        (const float *)B->data + ob * (size_t)(K * N), (int)N, 0.0f,
                        (float *)out[0]->data + bi * (size_t)(M * N), (int)N);
        else
            memset((float *)out[0]->data + bi * (size_t)(M * N), 0,
                   (size_t)(M * N) * sizeof(float));
    }
    return KITE_OK;
}

/* ---------------------------------------------------------------- BatchNormalization */

struct bn_job {
    const float *x, *scale, *bias, *mean, *var;
    float *y, eps;
    size_t C, plane;
};

static void bn_items(size_t begin, size_t end, int worker, void *ud)
{
    const struct bn_job *b = ud;
    (void)worker;
    for (size_t it = begin; it < end; it++) {
        size_t ch = it % b->C;
        float s = b->scale[ch] / sqrtf(b->var[ch] + b->eps);
        float o = b->bias[ch] - b->mean[ch] * s;
        const float *x = b->x + it * b->plane;
        float *y = b->y + it * b->plane;
        for (size_t i = 0; i < b->plane; i++)
            y[i] = x[i] * s + o;
    }
}

int vop_bn(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    struct bn_job b;
    int rc;
    if (n->n_in < 5 || !in[0] || in[0]->type != VT_F32 || in[0]->ndim < 2)
        return kite_err_set(c->err, KITE_EINVAL, "BatchNormalization needs X, scale, B, mean, var");
    for (int i = 1; i < 5; i++)
        if (!in[i] || in[i]->type != VT_F32 || in[i]->ndim != 1 ||
            in[i]->dims[0] != in[0]->dims[1])
            return kite_err_set(c->err, KITE_EINVAL,
                                "BatchNormalization: input %d must be [%lld]", i,
                                (long long)in[0]->dims[1]);
    for (int i = 1; i < n->n_out; i++)
        if (n->out[i] >= 0)
            return kite_err_set(c->err, KITE_EUNSUPPORTED,
                                "BatchNormalization training outputs are not supported");
    if ((rc = vt_make(c, out[0], VT_F32, in[0]->ndim, in[0]->dims)) != KITE_OK || !out[0]->data)
        return rc;
    b.x = in[0]->data;
    b.scale = in[1]->data;
    b.bias = in[2]->data;
    b.mean = in[3]->data;
    b.var = in[4]->data;
    b.y = out[0]->data;
    b.eps = n->a.epsilon;
    b.C = (size_t)in[0]->dims[1];
    b.plane = vt_count(in[0]->ndim - 2, in[0]->dims + 2);
    vpar(c, (size_t)(in[0]->dims[0] * in[0]->dims[1]), 4, bn_items, &b);
    return KITE_OK;
}
