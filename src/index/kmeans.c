/*
 * kmeans.c — Lloyd's k-means for the IVF coarse quantiser and PQ codebooks,
 * float (L2) and binary (Hamming, majority-vote centroids).
 *
 * Reproducibility (documented seed): the initial centroids are k distinct rows
 * chosen by a partial Fisher-Yates shuffle driven by splitmix64(seed); empty
 * clusters are re-seeded by splitting the largest cluster with a perturbation
 * drawn from the same generator (FAISS' approach).  Assignment may run on the
 * pool, but every centroid update is a sequential sum in row order, so the
 * result is bit-identical for a given seed whatever the thread count.
 *
 * Large k (>= KM_CQ_MIN_K, the IVF coarse quantiser) on CPUs with AVX-512
 * VNNI: each iteration codes the centroids to 8 bits (ivf_coarse_vnni.c) and a
 * row's KM_CQ_CAND best 8-bit scores are re-scored with exact fp32 distances,
 * the nearest of those is the row's cluster: about a quarter of the fp32
 * multiply-add work, and the same cluster as the exact argmin except for rows
 * whose nearest centroids tie within the 8-bit error.  Per-row arithmetic does
 * not depend on which rows share a kernel call, so the result is still
 * independent of the thread count.
 *
 * Callers sample their training set (at most IVF_TRAIN_PER_LIST rows per
 * centroid); this file trains on exactly the rows it is given.
 *
 * Threading: pure functions of their inputs; the pool only splits assignment.
 */
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "alloc.h"
#include "ivf.h"
#include "pq.h"
#include "simd.h"
#include "vindex_int.h"

uint32_t kmeans_assign_f32(const float *c, uint32_t k, uint32_t dim, const float *x, float *dist)
{
    /* Batched kernel over blocks of centroids: one call per block, not per centroid. */
    const struct kite_simd_ops *ops = kite_simd();
    float buf[256];
    uint32_t best = 0;
    float bd = INFINITY;
    for (uint32_t j0 = 0; j0 < k; j0 += 256) {
        uint32_t nb = k - j0 < 256 ? k - j0 : 256;
        ops->l2_f32_batch(x, c + (size_t)j0 * dim, nb, dim, buf);
        for (uint32_t j = 0; j < nb; j++) {
            if (buf[j] < bd) {
                bd = buf[j];
                best = j0 + j;
            }
        }
    }
    if (dist)
        *dist = bd;
    return best;
}

/*
 * Blocked assignment (large k and dim: the IVF coarse quantiser): argmin_j
 * |c_j|^2 - 2 x.c_j, the ranking of |x - c_j|^2, from one GEMM-like kernel call
 * per KM_ROWS rows x KM_CENTS centroids, so each centroid is read once per row
 * block instead of once per row.  Row blocks start at multiples of KM_ROWS
 * (the pool's chunks are multiples of it too), so every row meets the same
 * kernel and the result does not depend on the thread count.
 */
#define KM_ROWS 64
#define KM_CENTS 512
#define KM_BLOCKED_MIN 16 /* k and dim from which the blocked path pays */
#define KM_CQ_MIN_K 256   /* k from which the 8-bit candidate pass pays */
#define KM_CQ_ROWS 16     /* rows per 8-bit kernel call */
#define KM_CQ_CAND 8      /* 8-bit candidates re-scored exactly per row */

struct assign_job {
    const float *x, *c;
    const float *cnorm;   /* blocked path: |c_j|^2, else NULL */
    const struct ivf_cq *cq; /* 8-bit candidate pass (codes of c), else NULL */
    uint32_t dim, k;
    uint32_t *assign;
    _Atomic int rc;
};

static void assign_blocked(const struct assign_job *j, size_t begin, size_t end, float *buf,
                           float *best_d)
{
    const struct kite_simd_ops *ops = kite_simd();
    for (size_t i0 = begin; i0 < end; i0 += KM_ROWS) {
        size_t nb = end - i0 < KM_ROWS ? end - i0 : KM_ROWS;
        for (size_t i = 0; i < nb; i++)
            best_d[i] = INFINITY;
        for (uint32_t c0 = 0; c0 < j->k; c0 += KM_CENTS) {
            uint32_t nc = j->k - c0 < KM_CENTS ? j->k - c0 : KM_CENTS;
            ops->ip_f32_block(j->x + i0 * j->dim, nb, j->c + (size_t)c0 * j->dim, nc, j->dim, buf);
            for (size_t i = 0; i < nb; i++) {
                const float *row = buf + i * nc;
                float bd = best_d[i];
                uint32_t bj = c0 ? j->assign[i0 + i] : 0;
                for (uint32_t t = 0; t < nc; t++) {
                    float d = j->cnorm[c0 + t] - 2.0f * row[t];
                    if (d < bd) {
                        bd = d;
                        bj = c0 + t;
                    }
                }
                best_d[i] = bd;
                j->assign[i0 + i] = bj;
            }
        }
    }
}

/* 8-bit candidates, then the exact nearest of them (ties: lower index). */
static void assign_cq(const struct assign_job *j, size_t begin, size_t end, uint8_t *qq,
                      float *ab, float *buf, struct vpair *heap)
{
    const struct kite_simd_ops *ops = kite_simd();
    uint32_t k = j->k, dim = j->dim;
    for (size_t i0 = begin; i0 < end; i0 += KM_CQ_ROWS) {
        size_t nb = end - i0 < KM_CQ_ROWS ? end - i0 : KM_CQ_ROWS;
        ivf_cq_block(j->cq, j->x + i0 * dim, nb, qq, ab, buf);
        for (size_t i = 0; i < nb; i++) {
            const float *xi = j->x + (i0 + i) * dim;
            struct vtopk t = {heap, 0, KM_CQ_CAND < k ? KM_CQ_CAND : k};
            ivf_cq_rank(buf + i * k, k, &t);
            uint32_t bj = UINT32_MAX;
            float bd = INFINITY;
            for (size_t c = 0; c < t.n; c++) {
                uint32_t cj = t.a[c].id;
                float d = ops->l2_f32(xi, j->c + (size_t)cj * dim, dim);
                if (d < bd || (d == bd && cj < bj) || bj == UINT32_MAX) {
                    bd = d;
                    bj = cj;
                }
            }
            j->assign[i0 + i] = bj == UINT32_MAX ? 0 : bj; /* NaN row: cluster 0, as fp32 */
        }
    }
}

static void assign_chunk(size_t begin, size_t end, int worker, void *udata)
{
    struct assign_job *j = udata;
    if (j->cq) {
        uint8_t *qq = kite_malloc(KM_CQ_ROWS * ivf_cq_query_bytes(j->cq));
        float *ab = kite_malloc(2 * KM_CQ_ROWS * sizeof(float));
        float *buf = kite_malloc((size_t)KM_CQ_ROWS * j->k * sizeof(float));
        struct vpair *heap = kite_malloc(KM_CQ_CAND * sizeof(struct vpair));
        if (qq && ab && buf && heap)
            assign_cq(j, begin, end, qq, ab, buf, heap);
        else
            atomic_store(&j->rc, KITE_ENOMEM);
        kite_free(qq);
        kite_free(ab);
        kite_free(buf);
        kite_free(heap);
        return;
    }
    if (j->cnorm) {
        float *buf = kite_malloc((size_t)KM_ROWS * KM_CENTS * sizeof(float));
        float *best_d = kite_malloc(KM_ROWS * sizeof(float));
        if (buf && best_d)
            assign_blocked(j, begin, end, buf, best_d);
        else
            atomic_store(&j->rc, KITE_ENOMEM);
        kite_free(buf);
        kite_free(best_d);
        return;
    }
    for (size_t i = begin; i < end; i++)
        j->assign[i] = kmeans_assign_f32(j->c, j->k, j->dim, j->x + i * j->dim, NULL);
}

/* k distinct row indices out of n (k <= n), deterministic for the seed. */
static int pick_rows(size_t n, uint32_t k, uint64_t *st, uint32_t *out)
{
    uint32_t *perm = kite_malloc((n ? n : 1) * sizeof(uint32_t));
    if (!perm)
        return KITE_ENOMEM;
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    for (uint32_t i = 0; i < k; i++) {
        size_t j = i + (size_t)(vrand_next(st) % (n - i));
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        out[i] = perm[i];
    }
    kite_free(perm);
    return KITE_OK;
}

int kmeans_f32(const float *x, size_t n, uint32_t dim, uint32_t k, int iters, uint64_t seed,
               struct kite_pool *pool, float *centroids, kite_err *err)
{
    int rc = KITE_OK;
    uint64_t st = seed ^ 0x6B6D65616E73ull; /* "kmeans" */
    uint32_t *assign = NULL, *rows = NULL, *cnt = NULL;
    double *sum = NULL;
    float *cnorm = NULL;
    bool blocked = k >= KM_BLOCKED_MIN && dim >= KM_BLOCKED_MIN;
    struct ivf_cq cq = {0};

    if (n == 0 || k == 0) {
        memset(centroids, 0, (size_t)k * dim * sizeof(float));
        return KITE_OK;
    }
    rows = kite_malloc((size_t)k * sizeof(uint32_t));
    assign = kite_malloc(n * sizeof(uint32_t));
    cnt = kite_malloc((size_t)k * sizeof(uint32_t));
    sum = kite_malloc((size_t)k * dim * sizeof(double));
    if (blocked)
        cnorm = kite_malloc((size_t)k * sizeof(float));
    if (!rows || !assign || !cnt || !sum || (blocked && !cnorm)) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory training k-means (k=%u)", k);
        goto out;
    }
    /* Fewer rows than centroids: use every row, then duplicates (never assigned twice). */
    if (n < k) {
        for (uint32_t j = 0; j < k; j++)
            memcpy(centroids + (size_t)j * dim, x + (j % n) * dim, dim * sizeof(float));
        goto out;
    }
    if ((rc = pick_rows(n, k, &st, rows))) {
        kite_err_set(err, rc, "out of memory training k-means");
        goto out;
    }
    for (uint32_t j = 0; j < k; j++)
        memcpy(centroids + (size_t)j * dim, x + (size_t)rows[j] * dim, dim * sizeof(float));

    for (int it = 0; it < iters; it++) {
        struct assign_job job = {.x = x, .c = centroids, .cnorm = blocked ? cnorm : NULL,
                                 .dim = dim, .k = k, .assign = assign};
        atomic_init(&job.rc, KITE_OK);
        if (blocked) {
            const struct kite_simd_ops *ops = kite_simd();
            for (uint32_t j = 0; j < k; j++) {
                const float *c = centroids + (size_t)j * dim;
                cnorm[j] = ops->ip_f32(c, c, dim);
            }
            if (k >= KM_CQ_MIN_K) {
                if ((rc = ivf_cq_make(&cq, centroids, cnorm, k, dim, false, err)))
                    goto out;
                job.cq = cq.codes ? &cq : NULL; /* NULL: no VNNI, the fp32 kernel */
            }
        }
        if (pool)
            kite_pool_parallel_for(pool, n, 4 * KM_ROWS, assign_chunk, &job);
        else
            assign_chunk(0, n, 0, &job);
        if ((rc = atomic_load(&job.rc))) {
            kite_err_set(err, rc, "out of memory training k-means (k=%u)", k);
            goto out;
        }
        memset(cnt, 0, (size_t)k * sizeof(uint32_t));
        memset(sum, 0, (size_t)k * dim * sizeof(double));
        for (size_t i = 0; i < n; i++) {
            double *s = sum + (size_t)assign[i] * dim;
            const float *xi = x + i * dim;
            cnt[assign[i]]++;
            for (uint32_t d = 0; d < dim; d++)
                s[d] += xi[d];
        }
        for (uint32_t j = 0; j < k; j++) {
            if (!cnt[j])
                continue;
            for (uint32_t d = 0; d < dim; d++)
                centroids[(size_t)j * dim + d] = (float)(sum[(size_t)j * dim + d] / cnt[j]);
        }
        /* Split the largest cluster into each empty one. */
        for (uint32_t j = 0; j < k; j++) {
            if (cnt[j])
                continue;
            uint32_t big = 0;
            for (uint32_t t = 1; t < k; t++)
                if (cnt[t] > cnt[big])
                    big = t;
            if (cnt[big] < 2)
                break;
            float *cj = centroids + (size_t)j * dim, *cb = centroids + (size_t)big * dim;
            for (uint32_t d = 0; d < dim; d++) {
                float eps = (float)((vrand_unit(&st) - 0.5) * 1e-3) * (fabsf(cb[d]) + 1e-3f);
                cj[d] = cb[d] + eps;
                cb[d] = cb[d] - eps;
            }
            cnt[j] = cnt[big] / 2;
            cnt[big] -= cnt[j];
        }
    }
out:
    ivf_cq_free(&cq);
    kite_free(rows);
    kite_free(assign);
    kite_free(cnt);
    kite_free(sum);
    kite_free(cnorm);
    return rc;
}

uint32_t kmeans_assign_bin(const uint8_t *c, uint32_t k, size_t nbytes, const uint8_t *x)
{
    const struct kite_simd_ops *ops = kite_simd();
    uint32_t best = 0, bd = UINT32_MAX;
    for (uint32_t j = 0; j < k; j++) {
        uint32_t d = ops->hamming(x, c + (size_t)j * nbytes, nbytes);
        if (d < bd) {
            bd = d;
            best = j;
        }
    }
    return best;
}

int kmeans_bin(const uint8_t *x, size_t n, size_t nbytes, uint32_t k, int iters, uint64_t seed,
               uint8_t *centroids, kite_err *err)
{
    int rc = KITE_OK;
    uint64_t st = seed ^ 0x62696E6B6Dull;
    uint32_t *rows = NULL, *assign = NULL, *cnt = NULL, *ones = NULL;
    size_t bits = nbytes * 8;

    if (n == 0 || k == 0) {
        memset(centroids, 0, (size_t)k * nbytes);
        return KITE_OK;
    }
    rows = kite_malloc((size_t)k * sizeof(uint32_t));
    assign = kite_malloc(n * sizeof(uint32_t));
    cnt = kite_malloc((size_t)k * sizeof(uint32_t));
    ones = kite_malloc((size_t)k * bits * sizeof(uint32_t));
    if (!rows || !assign || !cnt || !ones) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory training binary k-means (k=%u)", k);
        goto out;
    }
    if (n < k) {
        for (uint32_t j = 0; j < k; j++)
            memcpy(centroids + (size_t)j * nbytes, x + (j % n) * nbytes, nbytes);
        goto out;
    }
    if ((rc = pick_rows(n, k, &st, rows))) {
        kite_err_set(err, rc, "out of memory training binary k-means");
        goto out;
    }
    for (uint32_t j = 0; j < k; j++)
        memcpy(centroids + (size_t)j * nbytes, x + (size_t)rows[j] * nbytes, nbytes);
    for (int it = 0; it < iters; it++) {
        memset(cnt, 0, (size_t)k * sizeof(uint32_t));
        memset(ones, 0, (size_t)k * bits * sizeof(uint32_t));
        for (size_t i = 0; i < n; i++) {
            const uint8_t *xi = x + i * nbytes;
            uint32_t a = assign[i] = kmeans_assign_bin(centroids, k, nbytes, xi);
            uint32_t *o = ones + (size_t)a * bits;
            cnt[a]++;
            for (size_t b = 0; b < bits; b++)
                o[b] += (xi[b >> 3] >> (b & 7)) & 1u;
        }
        /* Majority vote per bit; empty clusters keep their centroid. */
        for (uint32_t j = 0; j < k; j++) {
            if (!cnt[j])
                continue;
            uint8_t *c = centroids + (size_t)j * nbytes;
            const uint32_t *o = ones + (size_t)j * bits;
            memset(c, 0, nbytes);
            for (size_t b = 0; b < bits; b++)
                if (2 * o[b] > cnt[j])
                    c[b >> 3] |= (uint8_t)(1u << (b & 7));
        }
    }
out:
    kite_free(rows);
    kite_free(assign);
    kite_free(cnt);
    kite_free(ones);
    return rc;
}
