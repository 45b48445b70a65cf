/*
 * winograd.c — Winograd F(4x4, 3x3) convolution for 3x3 / stride 1 /
 * dilation 1 / group 1 Conv nodes (Lavin & Gray, "Fast Algorithms for
 * Convolutional Neural Networks", 2015; interpolation points 0, +-1, +-2, inf).
 *
 *   Y = A^T [ (G g G^T) (.) (B^T d B) ] A     for each 6x6 input tile d giving
 *                                            a 4x4 output tile
 *
 * Each output 4x4 tile costs 36 multiplies per (input, output) channel pair
 * instead of 144, and the 36 element-wise products over channels are 36
 * independent GEMMs: M[xi] (Mo x T) = U[xi] (Mo x C) * V[xi] (C x T).
 *
 * Design:
 *   1. U = G g G^T is computed once at model load (vwino_weights, called by
 *      onnx_load.c's pass_winograd) and stored as 36 row-major M x C matrices.
 *   2. Per call, the output tiles of each image are cut into blocks of TB
 *      tiles (sized so the block's transformed input and products stay near
 *      L2); each (image, block, output-channel chunk) is one work item of vpar:
 *      input transform of the block into per-worker scratch V, 36 sgemm calls
 *      into per-worker scratch P, then the output transform with bias and the
 *      fused Relu/Clip, writing only the valid part of border tiles.
 *   3. Accuracy: F(4,3) in fp32 loses about one decimal digit against direct
 *      convolution (tests/unit/vision/test_winograd.c bounds the error
 *      against the im2col path; whole-network outputs still agree with PyTorch
 *      within 1e-4 relative).
 *
 * Threading: vwino_conv is reentrant; all mutable state is the caller's
 * output tensor and per-worker scratch.  The transformed weights are
 * immutable after load.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "alloc.h"
#include "err.h"
#include "gemm_conv.h"
#include "onnx_int.h"

/* G (6x3) for F(4,3). */
static const float G6[6][3] = {
    {1.0f / 4, 0.0f, 0.0f},
    {-1.0f / 6, -1.0f / 6, -1.0f / 6},
    {-1.0f / 6, 1.0f / 6, -1.0f / 6},
    {1.0f / 24, 1.0f / 12, 1.0f / 6},
    {1.0f / 24, -1.0f / 12, 1.0f / 6},
    {0.0f, 0.0f, 1.0f},
};

float *vwino_weights(const float *w, int64_t M, int64_t C)
{
    size_t mc = (size_t)(M * C);
    float *u = kite_malloc(36 * mc * sizeof(float));
    if (!u)
        return NULL;
    for (size_t p = 0; p < mc; p++) {
        const float *g = w + p * 9;
        float t[6][3]; /* G g */
        for (int i = 0; i < 6; i++)
            for (int k = 0; k < 3; k++)
                t[i][k] = G6[i][0] * g[k] + G6[i][1] * g[3 + k] + G6[i][2] * g[6 + k];
        for (int i = 0; i < 6; i++)
            for (int k = 0; k < 6; k++)
                u[(size_t)(i * 6 + k) * mc + p] =
                    t[i][0] * G6[k][0] + t[i][1] * G6[k][1] + t[i][2] * G6[k][2];
    }
    return u;
}

struct wino_job {
    const float *x, *u, *b, *res; /* res: fused residual Add (like y), or NULL */
    float *y;
    int64_t C, H, W, M, ph, pw, oh, ow, tw; /* tw: tiles per output row */
    size_t T, TB, nblk, MC, nmc;            /* tiles per image, per block; channel chunks */
    bool clamp, vgemm; /* vgemm: the 36 GEMMs on gemm_avx512.c instead of cblas_sgemm */
    float lo, hi;
    float **v, **p; /* per worker: transformed input (36 x C x TB), products (36 x MC x TB) */
    size_t packed_off; /* vgemm: packed V[xi] (vgemm_packed_len(C, TB)) at v[w] + packed_off */
};

/*
 * Input transform of tile row ty (tw tiles) of channel plane xc into
 * v[xi * cs + t] for t in [0, tw): first B^T along columns over whole padded
 * rows (contiguous, vectorised), then B along each tile's six columns.
 * buf: 12 * wp floats of scratch.
 */
static void input_row(const struct wino_job *j, const float *xc, int64_t ty, float *v, size_t cs,
                      float *buf)
{
    int64_t wp = j->tw * 4 + 2, iy0 = ty * 4 - j->ph;
    int64_t x0 = j->pw, x1 = j->pw + j->W < wp ? j->pw + j->W : wp; /* valid padded cols */
    float *rows = buf, *tv = buf + 6 * wp;
    for (int r = 0; r < 6; r++) {
        float *d = rows + r * wp;
        int64_t iy = iy0 + r;
        if (iy < 0 || iy >= j->H) {
            memset(d, 0, (size_t)wp * sizeof(float));
            continue;
        }
        memset(d, 0, (size_t)x0 * sizeof(float));
        memcpy(d + x0, xc + iy * j->W, (size_t)(x1 - x0) * sizeof(float));
        if (x1 < wp)
            memset(d + x1, 0, (size_t)(wp - x1) * sizeof(float));
    }
    {
        const float *d0 = rows, *d1 = rows + wp, *d2 = rows + 2 * wp, *d3 = rows + 3 * wp,
                    *d4 = rows + 4 * wp, *d5 = rows + 5 * wp;
        float *t0 = tv, *t1 = tv + wp, *t2 = tv + 2 * wp, *t3 = tv + 3 * wp, *t4 = tv + 4 * wp,
              *t5 = tv + 5 * wp;
        for (int64_t p = 0; p < wp; p++) {
            t0[p] = 4.0f * d0[p] - 5.0f * d2[p] + d4[p];
            t1[p] = -4.0f * (d1[p] + d2[p]) + d3[p] + d4[p];
            t2[p] = 4.0f * (d1[p] - d2[p]) - d3[p] + d4[p];
            t3[p] = -2.0f * (d1[p] - d3[p]) - d2[p] + d4[p];
            t4[p] = 2.0f * (d1[p] - d3[p]) - d2[p] + d4[p];
            t5[p] = 4.0f * d1[p] - 5.0f * d3[p] + d5[p];
        }
    }
    for (int i = 0; i < 6; i++) {
        const float *r = tv + i * wp;
        float *o0 = v + (size_t)(6 * i) * cs, *o1 = o0 + cs, *o2 = o1 + cs, *o3 = o2 + cs,
              *o4 = o3 + cs, *o5 = o4 + cs;
        for (int64_t tx = 0; tx < j->tw; tx++) {
            const float *q = r + 4 * tx;
            o0[tx] = 4.0f * q[0] - 5.0f * q[2] + q[4];
            o1[tx] = -4.0f * (q[1] + q[2]) + q[3] + q[4];
            o2[tx] = 4.0f * (q[1] - q[2]) - q[3] + q[4];
            o3[tx] = -2.0f * (q[1] - q[3]) - q[2] + q[4];
            o4[tx] = 2.0f * (q[1] - q[3]) - q[2] + q[4];
            o5[tx] = 4.0f * q[1] - 5.0f * q[3] + q[5];
        }
    }
}

/* Transform the input tiles of tile rows [ty0, ty0 + nty) of image x into v. */
static void input_block(const struct wino_job *j, const float *x, int64_t ty0, int64_t nty,
                        float *v, float *buf)
{
    size_t cs = (size_t)j->C * j->TB; /* stride between the 36 matrices */
    for (int64_t c = 0; c < j->C; c++) {
        const float *xc = x + (size_t)c * (size_t)(j->H * j->W);
        for (int64_t r = 0; r < nty; r++)
            input_row(j, xc, ty0 + r, v + (size_t)c * j->TB + (size_t)(r * j->tw), cs, buf);
    }
}

/*
 * Output transform of one tile row of one output channel: p[xi * ms + tx] ->
 * rows oy..oy+3 of plane ym, with bias and clamp.  buf: 28 * tw floats.
 */
static void output_row(const struct wino_job *j, const float *p, size_t ms, float bias,
                       int64_t oy, float *ym, const float *rm, float *buf)
{
    int64_t tw = j->tw, ny = j->oh - oy < 4 ? j->oh - oy : 4;
    float *tt = buf, *orow = buf + 24 * tw;
    for (int k = 0; k < 6; k++) { /* A^T along the columns: tt[r][k][tx] */
        const float *m0 = p + (size_t)k * ms, *m1 = m0 + 6 * ms, *m2 = m1 + 6 * ms,
                    *m3 = m2 + 6 * ms, *m4 = m3 + 6 * ms, *m5 = m4 + 6 * ms;
        float *r0 = tt + k * tw, *r1 = r0 + 6 * tw, *r2 = r1 + 6 * tw, *r3 = r2 + 6 * tw;
        for (int64_t tx = 0; tx < tw; tx++) {
            float s12 = m1[tx] + m2[tx], d12 = m1[tx] - m2[tx];
            float s34 = m3[tx] + m4[tx], d34 = m3[tx] - m4[tx];
            r0[tx] = m0[tx] + s12 + s34;
            r1[tx] = d12 + 2.0f * d34;
            r2[tx] = s12 + 4.0f * s34;
            r3[tx] = d12 + 8.0f * d34 + m5[tx];
        }
    }
    for (int64_t r = 0; r < ny; r++) {
        const float *q0 = tt + r * 6 * tw, *q1 = q0 + tw, *q2 = q1 + tw, *q3 = q2 + tw,
                    *q4 = q3 + tw, *q5 = q4 + tw;
        float *yr = ym + (oy + r) * j->ow;
        const float *rr = rm ? rm + (oy + r) * j->ow : NULL;
        for (int64_t tx = 0; tx < tw; tx++) {
            float s12 = q1[tx] + q2[tx], d12 = q1[tx] - q2[tx];
            float s34 = q3[tx] + q4[tx], d34 = q3[tx] - q4[tx];
            orow[4 * tx] = q0[tx] + s12 + s34;
            orow[4 * tx + 1] = d12 + 2.0f * d34;
            orow[4 * tx + 2] = s12 + 4.0f * s34;
            orow[4 * tx + 3] = d12 + 8.0f * d34 + q5[tx];
        }
        if (rr) {
            for (int64_t ox = 0; ox < j->ow; ox++) {
                float val = orow[ox] + bias + rr[ox];
                yr[ox] = val < j->lo ? j->lo : val > j->hi ? j->hi : val;
            }
            continue;
        }
        for (int64_t ox = 0; ox < j->ow; ox++) {
            float val = orow[ox] + bias;
            yr[ox] = val < j->lo ? j->lo : val > j->hi ? j->hi : val;
        }
    }
}

/* The 36 products on gemm_avx512.c: each V[xi] (C x tb) is packed into bp
 * (stays in L2) and multiplied by U[xi]'s rows [m0, m0 + mb) read in place. */
static void products_vgemm(const struct wino_job *j, const float *v, float *bp, size_t m0,
                           size_t mb, size_t tb, float *p)
{
    size_t cs = (size_t)j->C * j->TB, ms = j->MC * j->TB, mcnt = (size_t)(j->M * j->C);
    struct vgemm_epi e;
    memset(&e, 0, sizeof(e));
    for (int xi = 0; xi < 36; xi++) {
        vgemm_pack_b_avx512(v + (size_t)xi * cs, j->TB, j->C, (int64_t)tb, bp);
        vgemm_avx512((int64_t)mb, (int64_t)tb, j->C, j->u + (size_t)xi * mcnt + m0 * (size_t)j->C,
                     (size_t)j->C, bp, p + (size_t)xi * ms, j->TB, &e);
    }
}

static void wino_items(size_t begin, size_t end, int worker, void *ud)
{
    const struct wino_job *j = ud;
    float *v = j->v[worker], *p = j->p[worker];
    float *vbuf = v + 36 * (size_t)j->C * j->TB, *pbuf = p + 36 * j->MC * j->TB;
    size_t last_img_blk = (size_t)-1;
    int64_t rows_per_blk = (int64_t)(j->TB / (size_t)j->tw), ty_total = (j->oh + 3) / 4;
    for (size_t it = begin; it < end; it++) {
        size_t mc = it % j->nmc, blk = (it / j->nmc) % j->nblk, n = it / j->nmc / j->nblk;
        size_t m0 = mc * j->MC, mb = (size_t)j->M - m0 < j->MC ? (size_t)j->M - m0 : j->MC;
        int64_t ty0 = (int64_t)blk * rows_per_blk;
        int64_t nty = ty_total - ty0 < rows_per_blk ? ty_total - ty0 : rows_per_blk;
        size_t tb = (size_t)(nty * j->tw);
        const float *x = j->x + n * (size_t)(j->C * j->H * j->W);
        size_t cs = (size_t)j->C * j->TB, ms = j->MC * j->TB, mcnt = (size_t)(j->M * j->C);
        /* consecutive channel chunks of one block reuse the transformed input */
        if (it / j->nmc != last_img_blk)
            input_block(j, x, ty0, nty, v, vbuf);
        last_img_blk = it / j->nmc;
        if (j->vgemm) {
            products_vgemm(j, v, v + j->packed_off, m0, mb, tb, p);
        } else {
            for (int xi = 0; xi < 36; xi++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)mb, (int)tb, (int)j->C,
                        1.0f, j->u + (size_t)xi * mcnt + m0 * (size_t)j->C, (int)j->C,
                            v + (size_t)xi * cs, (int)j->TB, 0.0f, p + (size_t)xi * ms,
                            (int)j->TB);
        }
        for (size_t m = 0; m < mb; m++) {
            float bias = j->b ? j->b[m0 + m] : 0.0f;
            size_t yoff = n * (size_t)(j->M * j->oh * j->ow) + (m0 + m) * (size_t)(j->oh * j->ow);
            float *ym = j->y + yoff;
            const float *rm = j->res ? j->res + yoff : NULL;
            for (int64_t r = 0; r < nty; r++)
                output_row(j, p + m * j->TB + (size_t)(r * j->tw), ms, bias, (ty0 + r) * 4, ym,
                           rm, pbuf);
        }
    }
}

size_t vwino_tile_block(int64_t C, int64_t M, int64_t tw, int64_t th)
{
    /* Whole tile rows.  V (36 x C x TB) + P (36 x M x TB) within ~2 MiB, but
     * at least 192 tiles: sgemm packs U[xi] (M x C) on every call, and with
     * fewer columns that packing and the narrow-N kernel dominate (measured,
     * docs/VISION.md: 256x256 at 56x56 took 30.8 ms with 28-tile blocks,
     * 21.1 ms with 196; 512x512 at 28x28 24.9 -> 18.0 ms). */
    size_t tb = (size_t)(2u << 20) / (36u * 4u * (size_t)(C + M));
    size_t rows = (tb < 192 ? 192 : tb) / (size_t)tw;
    rows = rows < 1 ? 1 : rows > (size_t)th ? (size_t)th : rows;
    return rows * (size_t)tw;
}

int vwino_conv(struct vctx *c, const struct vwino_args *a)
{
    struct wino_job j;
    int workers = vpar_workers(c), rc = KITE_OK;
    struct vt *scr = NULL;
    size_t items;
    memset(&j, 0, sizeof(j));
    j.x = a->x;
    j.u = a->u;
    j.b = a->bias;
    j.res = a->res;
    j.y = a->y;
    j.C = a->C, j.H = a->H, j.W = a->W, j.M = a->M;
    j.ph = a->ph, j.pw = a->pw, j.oh = a->oh, j.ow = a->ow;
    j.clamp = a->clamp, j.lo = a->lo, j.hi = a->hi;
    j.tw = (j.ow + 3) / 4;
    j.T = (size_t)(j.tw * ((j.oh + 3) / 4));
    j.TB = vwino_tile_block(j.C, j.M, j.tw, (j.oh + 3) / 4);
    j.nblk = (j.T + j.TB - 1) / j.TB;
    j.MC = (size_t)j.M;
    j.nmc = 1;
    items = (size_t)a->N * j.nblk;
    if (workers > 1 && items < 2 * (size_t)workers && j.M >= 64) {
        size_t want = (2 * (size_t)workers + items - 1) / items;
        j.MC = ((size_t)j.M + want - 1) / want;
        j.MC = j.MC < 32 ? 32 : (j.MC + 15) / 16 * 16;
        j.nmc = ((size_t)j.M + j.MC - 1) / j.MC;
    }
    scr = kite_calloc((size_t)workers * 2, sizeof(struct vt));
    j.v = kite_calloc((size_t)workers, sizeof(float *));
    j.p = kite_calloc((size_t)workers, sizeof(float *));
    if (!scr || !j.v || !j.p) {
        rc = kite_err_set(c->err, KITE_ENOMEM, "Conv (Winograd): out of memory for scratch");
        goto out;
    }
    /* gemm_avx512.c for the 36 products only where it measured faster
     * (docs/VISION.md): wide inputs (C >= 256) in narrow blocks (<= 64 tiles),
     * where sgemm's per-call repacking of U[xi] (M x C) outweighs the product;
     * with fewer channels or wider blocks packing V per product costs more. */
    j.vgemm = vop_conv_uses_vgemm() && j.C >= 256 && j.TB <= 64;
    j.packed_off = (36 * (size_t)j.C * j.TB + 12 * (size_t)(j.tw * 4 + 2) + 16 + 15) / 16 * 16;
    for (int w = 0; w < workers; w++) {
        int64_t dv = (int64_t)(j.packed_off +
                               (j.vgemm ? vgemm_packed_len(j.C, (int64_t)j.TB) : 0));
        int64_t dp = (int64_t)(36 * j.MC * j.TB + 28 * (size_t)j.tw + 16);
        if ((rc = vt_make(c, &scr[2 * w], VT_F32, 1, &dv)) != KITE_OK ||
            (rc = vt_make(c, &scr[2 * w + 1], VT_F32, 1, &dp)) != KITE_OK)
            goto out;
        j.v[w] = scr[2 * w].data;
        j.p[w] = scr[2 * w + 1].data;
    }
    vpar(c, items * j.nmc, 1, wino_items, &j);
out:
    if (scr)
        for (int w = 0; w < 2 * workers; w++)
            vt_release(c, &scr[w]);
    kite_free(scr);
    kite_free(j.v);
    kite_free(j.p);
    return rc;
}

int vop_conv_winograd = 1;

static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static int env_min_tiles = -1; /* KITE_WINO_MIN_TILES: benchmark override of the rule */

static void env_init(void)
{
    const char *e = getenv("KITE_CONV_WINOGRAD");
    if (e && e[0] == '0')
        vop_conv_winograd = 0;
    e = getenv("KITE_WINO_MIN_TILES");
    if (e && *e)
        env_min_tiles = atoi(e);
}

/*
 * The rule (single-thread CPU time per layer, bench/vision_bench wino; table
 * in docs/VISION.md): Winograd wins from 16 output tiles per image up
 * (14x14: 1.2-1.3x, 28x28 and larger: 2-2.6x) and loses below (10x10: 0.7-1.0x,
 * 7x7: 0.6-0.7x: the 36 GEMMs get only 4-9 columns).
 */
bool vwino_use(int64_t C, int64_t M, int64_t oh, int64_t ow)
{
    int64_t tiles = ((oh + 3) / 4) * ((ow + 3) / 4);
    int64_t min_tiles = 16;
    pthread_once(&env_once, env_init);
    if (!vop_conv_winograd)
        return false;
    if (vop_conv_winograd == 2)
        min_tiles = 1;
    else if (env_min_tiles >= 0)
        min_tiles = env_min_tiles;
    return C >= 16 && M >= 16 && tiles >= min_tiles;
}
