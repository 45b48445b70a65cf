/*
 * ivf_train.c — IVF build: sample, train the coarse quantiser (and the SQ8
 * ranges or PQ codebooks), assign every row to a list, encode.
 *
 * Design (see ivf.h for the data layout):
 *  1. The training sample is min(n, nlist * IVF_TRAIN_PER_LIST) rows chosen by a
 *     seeded partial shuffle (all rows, in order, when n is small enough).
 *  2. Rows are "prepared" before training and assignment: COSINE rows are
 *     normalised, so clustering and L2 assignment work on the unit sphere.
 *  3. Coarse distance: L2 for L2 and COSINE, negated inner product for IP
 *     (FAISS assigns IP indexes by maximum inner product as well), Hamming for
 *     binary.  Search probes with the same distance, so a row is always found
 *     in the list a query ranks highest for it.
 *  4. Lists are filled in row order: the build is deterministic for a seed.
 *
 * Threading: the pool splits assignment and encoding by row range; every
 * row's output slot is written by exactly one worker.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "ivf.h"

/* Prepared float row i: normalised for COSINE (into buf), else the row itself. */
static const float *prep_row(const struct ivf *ix, size_t i, float *buf)
{
    const struct vspace *sp = &ix->space;
    const float *x = (const float *)(const void *)vspace_row(sp, i);
    if (sp->kind != VSP_COS)
        return x;
    for (uint32_t d = 0; d < sp->dim; d++)
        buf[d] = x[d] * sp->inv_norm[i];
    return buf;
}

/* Coarse distance of a prepared float vector to centroid j (the search's re-score). */
static inline float coarse_dist(const struct ivf *ix, const float *x, uint32_t j)
{
    return ivf_cent_dist(ix, x, j);
}

#define COARSE_CB 128           /* half centroids decoded per blocked kernel call (at most) */
#define COARSE_CB_FLOATS 65536  /* and about this many floats (256 KiB) of them */
#define COARSE_CB_ALIGN 32      /* a multiple of the GEMM kernels' panel width (16 / 32 rows):
                                   no partial panel inside a block */

void ivf_coarse_block(const struct ivf *ix, const struct vspace *sp, const float *qs, size_t nq,
                      float *out)
{
    size_t nl = ix->nlist, dim = sp->dim;
    if (!ix->hcent) {
        sp->ops->ip_f32_block(qs, nq, ix->centroids, nl, dim, out);
    } else {
        /* Decode cbn centroids at a time (once per nq queries), score them
         * with the blocked kernel, scatter into the nq x nlist rows. */
        size_t cbn = COARSE_CB_FLOATS / (dim ? dim : 1) / COARSE_CB_ALIGN * COARSE_CB_ALIGN;
        cbn = cbn < COARSE_CB_ALIGN ? COARSE_CB_ALIGN : (cbn > COARSE_CB ? COARSE_CB : cbn);
        float *cb = kite_malloc(cbn * dim * sizeof(float));
        float *tmp = kite_malloc(nq * cbn * sizeof(float));
        if (!cb || !tmp) { /* no scratch: the per-pair kernel (same ranking, unshifted) */
            kite_free(cb);
            kite_free(tmp);
            for (size_t i = 0; i < nq; i++)
                ivf_cent_dist_range(ix, qs + i * dim, 0, (uint32_t)nl, out + i * nl);
            return;
        }
        for (uint32_t l0 = 0; l0 < nl; l0 += (uint32_t)cbn) {
            uint32_t cnt = nl - l0 < cbn ? (uint32_t)(nl - l0) : (uint32_t)cbn;
            const float *c = ivf_cent_rows(ix, l0, cnt, cb);
            sp->ops->ip_f32_block(qs, nq, c, cnt, dim, tmp);
            for (size_t i = 0; i < nq; i++)
                memcpy(out + i * nl + l0, tmp + i * cnt, cnt * sizeof(float));
        }
        kite_free(cb);
        kite_free(tmp);
    }
    if (sp->kind == VSP_IP) {
        for (size_t i = 0; i < nq * nl; i++)
            out[i] = -out[i];
        return;
    }
    for (size_t i = 0; i < nq; i++) {
        float *o = out + i * nl;
        for (size_t l = 0; l < nl; l++)
            o[l] = ix->cnorm[l] - 2.0f * o[l];
    }
}

size_t ivf_nearest_lists(const struct ivf *ix, const void *q, size_t nprobe, struct vpair *tmp,
                         uint32_t *lists)
{
    struct vtopk t = {tmp, 0, nprobe < ix->nlist ? nprobe : ix->nlist};
    size_t nb = ix->space.dim / 8;
    if (ix->kind != IVF_KIND_BIN) {
        /* Float centroids: coarse distances (ivf_cent.c), 256 lists at a time. */
        float d[256];
        for (uint32_t j0 = 0; j0 < ix->nlist; j0 += 256) {
            uint32_t cnt = ix->nlist - j0 < 256 ? ix->nlist - j0 : 256;
            ivf_cent_dist_range(ix, q, j0, cnt, d);
            float worst = vtopk_worst(&t);
            for (uint32_t i = 0; i < cnt; i++) {
                float di = d[i];
                if (di < worst || t.n < t.k) {
                    vtopk_push(&t, di, j0 + i);
                    worst = vtopk_worst(&t);
                }
            }
        }
        vtopk_sort(&t);
        for (size_t i = 0; i < t.n; i++)
            lists[i] = t.a[i].id;
        return t.n;
    }
    for (uint32_t j = 0; j < ix->nlist; j++) {
        float d;
        if (ix->kind == IVF_KIND_BIN)
            d = (float)ix->space.ops->hamming(q, ix->bcentroids + (size_t)j * nb, nb);
        else
            d = coarse_dist(ix, q, j);
        vtopk_push(&t, d, j);
    }
    vtopk_sort(&t);
    for (size_t i = 0; i < t.n; i++)
        lists[i] = t.a[i].id;
    return t.n;
}

/* ----------------------------------------------------------- sampling */

static int sample_rows(size_t n, size_t ns, uint64_t seed, uint32_t **out)
{
    uint32_t *idx = kite_malloc((n ? n : 1) * sizeof(uint32_t));
    uint64_t st = seed ^ 0x73616D706C65ull; /* "sample" */
    if (!idx)
        return KITE_ENOMEM;
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)i;
    if (ns < n) {
        for (size_t i = 0; i < ns; i++) {
            size_t j = i + (size_t)(vrand_next(&st) % (n - i));
            uint32_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
    }
    *out = idx;
    return KITE_OK;
}

/* ------------------------------------------------------- assignment */

struct assign_job {
    struct ivf *ix;
    uint32_t *assign;
    _Atomic int rc;
};

#define ASSIGN_ROWS 32 /* prepared rows per blocked coarse kernel call */

#define ASSIGN_CQ_CAND 8 /* 8-bit candidates re-scored exactly per row */

/* Nearest list of nb prepared rows (contiguous) by one blocked coarse call
 * (ivf_coarse_block); dbuf holds nb * nlist floats.  With the 8-bit centroid
 * codes (ivf_coarse_vnni.c): the exact-nearest (coarse_dist, ties: lower list)
 * of each row's ASSIGN_CQ_CAND best 8-bit scores. */
static void assign_block(const struct ivf *ix, const float *rows, size_t nb, float *dbuf,
                         uint32_t *out)
{
    uint8_t *qq = ivf_cq_available(ix) ? kite_malloc(nb * ivf_cq_query_bytes(&ix->cq)) : NULL;
    if (qq) {
        float ab[2 * ASSIGN_ROWS];
        struct vpair cand[ASSIGN_CQ_CAND];
        ivf_cq_block(&ix->cq, rows, nb, qq, ab, dbuf);
        for (size_t i = 0; i < nb; i++) {
            struct vtopk t = {cand, 0, ASSIGN_CQ_CAND < ix->nlist ? ASSIGN_CQ_CAND : ix->nlist};
            ivf_cq_rank(dbuf + i * ix->nlist, ix->nlist, &t);
            uint32_t best = 0;
            float bd = INFINITY;
            for (size_t c = 0; c < t.n; c++) {
                float d = coarse_dist(ix, rows + i * ix->space.dim, t.a[c].id);
                if (d < bd || (d == bd && t.a[c].id < best)) {
                    bd = d;
                    best = t.a[c].id;
                }
            }
            out[i] = best; /* NaN row: list 0, as the fp32 loop below */
        }
        kite_free(qq);
        return;
    }
    ivf_coarse_block(ix, &ix->space, rows, nb, dbuf);
    for (size_t i = 0; i < nb; i++) {
        const float *d = dbuf + i * ix->nlist;
        uint32_t best = 0;
        for (uint32_t j = 1; j < ix->nlist; j++)
            if (d[j] < d[best])
                best = j;
        out[i] = best;
    }
}

static int centroid_norms(struct ivf *ix, kite_err *err)
{
    kite_free(ix->cnorm);
    ix->cnorm = kite_malloc((size_t)ix->nlist * sizeof(float) + 1);
    float *cb = kite_malloc((size_t)ix->space.dim * sizeof(float));
    if (!ix->cnorm || !cb) {
        kite_free(cb);
        return kite_err_set(err, KITE_ENOMEM, "out of memory for IVF centroid norms");
    }
    for (uint32_t j = 0; j < ix->nlist; j++) {
        const float *c = ivf_cent_rows(ix, j, 1, cb);
        ix->cnorm[j] = ix->space.ops->ip_f32(c, c, ix->space.dim);
    }
    kite_free(cb);
    return KITE_OK;
}

static void assign_chunk(size_t begin, size_t end, int worker, void *udata)
{
    struct assign_job *j = udata;
    struct ivf *ix = j->ix;
    float *buf = NULL;
    if (ix->kind == IVF_KIND_BIN) {
        size_t nb = ix->space.dim / 8;
        for (size_t i = begin; i < end; i++)
            j->assign[i] = kmeans_assign_bin(ix->bcentroids, ix->nlist, nb,
                                             vspace_row(&ix->space, i));
        return;
    }
    /* Blocks of ASSIGN_ROWS rows from multiples of it (the pool's grain is one
     * too): the same kernel for a row whatever the thread count. */
    size_t dim = ix->space.dim;
    buf = kite_malloc(ASSIGN_ROWS * dim * sizeof(float));
    float *dbuf = kite_malloc((size_t)ASSIGN_ROWS * ix->nlist * sizeof(float));
    if (!buf || !dbuf) {
        kite_free(buf);
        kite_free(dbuf);
        atomic_store(&j->rc, KITE_ENOMEM);
        return;
    }
    for (size_t i0 = begin; i0 < end; i0 += ASSIGN_ROWS) {
        size_t nb = end - i0 < ASSIGN_ROWS ? end - i0 : ASSIGN_ROWS;
        for (size_t i = 0; i < nb; i++) {
            const float *x = prep_row(ix, i0 + i, buf + i * dim);
            if (x != buf + i * dim)
                memcpy(buf + i * dim, x, dim * sizeof(float));
        }
        assign_block(ix, buf, nb, dbuf, j->assign + i0);
    }
    kite_free(buf);
    kite_free(dbuf);
}

/* ----------------------------------------------------------- encoding */

struct encode_job {
    struct ivf *ix;
    _Atomic int rc;
};

static void sq8_encode_row(const struct ivf *ix, const float *x, uint8_t *code)
{
    for (uint32_t d = 0; d < ix->space.dim; d++) {
        float s = ix->sq_scale[d];
        float v = s > 0.0f ? (x[d] - ix->sq_min[d]) / s : 0.0f;
        v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
        code[d] = (uint8_t)lrintf(v);
    }
}

/* Encode positions [begin, end) of the id array. */
static void encode_chunk(size_t begin, size_t end, int worker, void *udata)
{
    struct encode_job *j = udata;
    struct ivf *ix = j->ix;
    uint32_t dim = ix->space.dim;
    float *buf = kite_malloc(3 * (size_t)dim * sizeof(float));
    if (!buf) {
        atomic_store(&j->rc, KITE_ENOMEM);
        return;
    }
    for (size_t p = begin; p < end; p++) {
        uint32_t row = ix->ids[p];
        const float *x = prep_row(ix, row, buf);
        if (ix->kind == IVF_KIND_SQ8) {
            sq8_encode_row(ix, x, ix->codes + p * dim);
        } else {
            /* The list of position p: binary search in list_off. */
            uint32_t lo = 0, hi = ix->nlist;
            while (hi - lo > 1) {
                uint32_t mid = (lo + hi) / 2;
                if (ix->list_off[mid] <= p)
                    lo = mid;
                else
                    hi = mid;
            }
            float *r = buf + dim;
            const float *c = ivf_cent_rows(ix, lo, 1, buf + 2 * (size_t)dim);
            for (uint32_t d = 0; d < dim; d++)
                r[d] = x[d] - c[d];
            pq_encode(&ix->pq, r, ix->codes + p * pq_code_bytes(&ix->pq));
        }
    }
    kite_free(buf);
}

/* ------------------------------------------------------------- train */

/* Copy the prepared sample rows into one contiguous float buffer. */
static float *gather_sample(const struct ivf *ix, const uint32_t *idx, size_t ns)
{
    uint32_t dim = ix->space.dim;
    float *t = kite_malloc((ns ? ns : 1) * dim * sizeof(float));
    if (!t)
        return NULL;
    for (size_t i = 0; i < ns; i++) {
        const float *x = prep_row(ix, idx[i], t + i * dim);
        if (x != t + i * dim)
            memcpy(t + i * dim, x, dim * sizeof(float));
    }
    return t;
}

static int train_sq8(struct ivf *ix, const float *t, size_t ns, kite_err *err)
{
    uint32_t dim = ix->space.dim;
    ix->sq_min = kite_malloc(dim * sizeof(float));
    ix->sq_scale = kite_malloc(dim * sizeof(float));
    if (!ix->sq_min || !ix->sq_scale)
        return kite_err_set(err, KITE_ENOMEM, "out of memory training SQ8");
    for (uint32_t d = 0; d < dim; d++) {
        float lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < ns; i++) {
            lo = fminf(lo, t[i * dim + d]);
            hi = fmaxf(hi, t[i * dim + d]);
        }
        if (!(lo <= hi))
            lo = hi = 0.0f;
        ix->sq_min[d] = lo;
        ix->sq_scale[d] = (hi - lo) / 255.0f;
    }
    return KITE_OK;
}

static int train_pq(struct ivf *ix, const struct ivf_config *cfg, float *t, size_t ns,
                    kite_err *err)
{
    int rc;
    uint32_t dim = ix->space.dim;
    uint32_t m = ix->kind == IVF_KIND_SCANN ? dim / 2 : (uint32_t)cfg->pq_m;
    uint32_t nbits = ix->kind == IVF_KIND_SCANN ? 4 : (uint32_t)cfg->pq_nbits;
    if ((rc = pq_init(&ix->pq, dim, m, nbits, err)))
        return rc;
    /* SCANN's 16-centroid codebooks train on at most IVF_SCANN_PQ_TRAIN rows of the
     * sample, evenly strided (the coarse sample keeps row order when it is all rows),
     * moved to the front of t. */
    size_t nt = ns;
    if (ix->kind == IVF_KIND_SCANN && ns > IVF_SCANN_PQ_TRAIN) {
        nt = IVF_SCANN_PQ_TRAIN;
        for (size_t i = 1; i < nt; i++) /* source index (i * ns / nt) >= i: no overlap hazard */
            memmove(t + i * dim, t + (i * ns / nt) * dim, dim * sizeof(float));
    }
    /* Train on residuals of the sample (in place). */
    uint32_t lists[ASSIGN_ROWS];
    float *dbuf = kite_malloc((size_t)ASSIGN_ROWS * ix->nlist * sizeof(float));
    float *cb = kite_malloc((size_t)dim * sizeof(float));
    if (!dbuf || !cb) {
        kite_free(dbuf);
        kite_free(cb);
        return kite_err_set(err, KITE_ENOMEM, "out of memory training PQ");
    }
    for (size_t i0 = 0; i0 < nt; i0 += ASSIGN_ROWS) {
        size_t nb = nt - i0 < ASSIGN_ROWS ? nt - i0 : ASSIGN_ROWS;
        assign_block(ix, t + i0 * dim, nb, dbuf, lists);
        for (size_t i = 0; i < nb; i++) {
            float *x = t + (i0 + i) * dim;
            const float *c = ivf_cent_rows(ix, lists[i], 1, cb);
            for (uint32_t d = 0; d < dim; d++)
                x[d] -= c[d];
        }
    }
    kite_free(dbuf);
    kite_free(cb);
    return pq_train(&ix->pq, t, nt, cfg->seed + 1, cfg->pool, err);
}

static int train_coarse(struct ivf *ix, const struct ivf_config *cfg, uint32_t **idx_out,
                        size_t *ns_out, float **train_out, kite_err *err)
{
    int rc;
    size_t n = ix->space.n;
    size_t ns = (size_t)ix->nlist * IVF_TRAIN_PER_LIST;
    uint32_t *idx = NULL;
    if (ns > n)
        ns = n;
    if ((rc = sample_rows(n, ns, cfg->seed, &idx)))
        return kite_err_set(err, rc, "out of memory sampling IVF training rows");
    *idx_out = idx;
    *ns_out = ns;
    if (ix->kind == IVF_KIND_BIN) {
        size_t nb = ix->space.dim / 8;
        uint8_t *t = kite_malloc((ns ? ns : 1) * nb);
        ix->bcentroids = kite_malloc((size_t)ix->nlist * nb + 1);
        if (!t || !ix->bcentroids) {
            kite_free(t);
            return kite_err_set(err, KITE_ENOMEM, "out of memory training BIN_IVF_FLAT");
        }
        for (size_t i = 0; i < ns; i++)
            memcpy(t + i * nb, vspace_row(&ix->space, idx[i]), nb);
        rc = kmeans_bin(t, ns, nb, ix->nlist, IVF_BIN_KMEANS_ITERS, cfg->seed, ix->bcentroids, err);
        kite_free(t);
        return rc;
    }
    float *t = gather_sample(ix, idx, ns);
    float *c = kite_malloc((size_t)ix->nlist * ix->space.dim * sizeof(float) + 4);
    if (!t || !c) {
        kite_free(t);
        kite_free(c);
        return kite_err_set(err, KITE_ENOMEM, "out of memory training IVF");
    }
    *train_out = t;
    rc = kmeans_f32(t, ns, ix->space.dim, ix->nlist, IVF_KMEANS_ITERS, cfg->seed, cfg->pool, c,
                    err);
    if (rc) {
        kite_free(c);
        return rc;
    }
    /* Rounded to the resident half form before any use (ivf_cent.c). */
    return ivf_cent_adopt(ix, c, true, err);
}

/* Group rows by list (CSR), in row order within each list. */
static int fill_lists(struct ivf *ix, const uint32_t *assign, kite_err *err)
{
    size_t n = ix->space.n;
    ix->list_off = kite_calloc((size_t)ix->nlist + 1, sizeof(uint32_t));
    ix->ids = kite_malloc((n ? n : 1) * sizeof(uint32_t));
    if (!ix->list_off || !ix->ids)
        return kite_err_set(err, KITE_ENOMEM, "out of memory building IVF lists");
    for (size_t i = 0; i < n; i++)
        ix->list_off[assign[i] + 1]++;
    for (uint32_t j = 0; j < ix->nlist; j++)
        ix->list_off[j + 1] += ix->list_off[j];
    uint32_t *pos = kite_malloc(((size_t)ix->nlist + 1) * sizeof(uint32_t));
    if (!pos)
        return kite_err_set(err, KITE_ENOMEM, "out of memory building IVF lists");
    memcpy(pos, ix->list_off, ((size_t)ix->nlist + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++)
        ix->ids[pos[assign[i]]++] = (uint32_t)i;
    kite_free(pos);
    return KITE_OK;
}

int ivf_finish_lists(struct ivf *ix, kite_err *err)
{
    size_t n = ix->space.n, rb = ix->space.row_bytes;
    ix->max_list = 0;
    for (uint32_t j = 0; j < ix->nlist; j++)
        if (ix->list_off[j + 1] - ix->list_off[j] > ix->max_list)
            ix->max_list = ix->list_off[j + 1] - ix->list_off[j];
    int rc;
    if (ix->kind != IVF_KIND_BIN && !ix->cnorm && (rc = centroid_norms(ix, err)))
        return rc;
    if ((rc = ivf_cq_init(ix, err)))
        return rc;
    if (ix->kind != IVF_KIND_FLAT && ix->kind != IVF_KIND_BIN)
        return KITE_OK;
    size_t bytes;
    if (!kite_mul_size(n ? n : 1, rb, &bytes))
        return kite_err_set(err, KITE_ELIMIT, "IVF list copy too large");
    ix->lvec = kite_malloc_aligned(bytes);
    if (!ix->lvec)
        return kite_err_set(err, KITE_ENOMEM, "out of memory copying IVF lists");
    for (size_t p = 0; p < n; p++) {
        uint32_t row = ix->ids[p];
        uint8_t *dst = ix->lvec + p * rb;
        if (ix->kind == IVF_KIND_FLAT) {
            const float *x = prep_row(ix, row, (float *)(void *)dst);
            if ((const void *)x != (void *)dst)
                memcpy(dst, x, rb);
        } else {
            memcpy(dst, vspace_row(&ix->space, row), rb);
        }
    }
    return KITE_OK;
}

int ivf_build(const struct ivf_config *cfg, const struct vec_view *v, struct ivf **out,
              kite_err *err)
{
    int rc;
    struct ivf *ix;
    uint32_t *idx = NULL, *assign = NULL;
    float *train = NULL;
    size_t ns = 0, n = v->n;

    *out = NULL;
    if (cfg->nlist < 1 || cfg->nlist > 65536)
        return kite_err_set(err, KITE_EINVAL,
                            "Out of range in json: param 'nlist' (%d) should be in range "
                            "[1, 65536]",
                            cfg->nlist);
    ix = kite_calloc(1, sizeof(*ix));
    if (!ix)
        return kite_err_set(err, KITE_ENOMEM, "out of memory building IVF");
    ix->kind = cfg->kind;
    if ((rc = vspace_init(&ix->space, v, cfg->metric, err)))
        goto fail;
    if ((cfg->kind == IVF_KIND_BIN) != vspace_is_binary(&ix->space)) {
        rc = kite_err_set(err, KITE_EINVAL, "IVF kind %d does not match the vector type",
                          cfg->kind);
        goto fail;
    }
    ix->nlist = n == 0 ? 1 : (n < (size_t)cfg->nlist ? (uint32_t)n : (uint32_t)cfg->nlist);
    if ((rc = train_coarse(ix, cfg, &idx, &ns, &train, err)))
        goto fail;
    /* norms and 8-bit codes of the centroids: the assignments below use them */
    if (ix->kind != IVF_KIND_BIN && ((rc = centroid_norms(ix, err)) || (rc = ivf_cq_init(ix, err))))
        goto fail;
    if (ix->kind == IVF_KIND_SQ8 && (rc = train_sq8(ix, train, ns, err)))
        goto fail;
    if (ix->kind == IVF_KIND_SCANN && cfg->with_raw_data)
        ix->flags |= IVF_FLAG_RAW_DATA;
    if (ivf_uses_pq(ix) && (rc = train_pq(ix, cfg, train, ns, err)))
        goto fail;

    assign = kite_malloc((n ? n : 1) * sizeof(uint32_t));
    if (!assign) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory assigning IVF lists");
        goto fail;
    }
    struct assign_job aj = {.ix = ix, .assign = assign};
    atomic_init(&aj.rc, KITE_OK);
    if (cfg->pool)
        kite_pool_parallel_for(cfg->pool, n, 1024, assign_chunk, &aj);
    else
        assign_chunk(0, n, 0, &aj);
    if ((rc = atomic_load(&aj.rc))) {
        kite_err_set(err, rc, "out of memory assigning IVF lists");
        goto fail;
    }
    if ((rc = fill_lists(ix, assign, err)) || (rc = ivf_finish_lists(ix, err)))
        goto fail;
    if (ix->kind == IVF_KIND_SQ8 || ivf_uses_pq(ix)) {
        size_t cb = ix->kind == IVF_KIND_SQ8 ? ix->space.dim : pq_code_bytes(&ix->pq);
        ix->codes = kite_malloc((n ? n : 1) * cb);
        if (!ix->codes) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory for IVF codes");
            goto fail;
        }
        struct encode_job ej = {.ix = ix};
        atomic_init(&ej.rc, KITE_OK);
        if (cfg->pool)
            kite_pool_parallel_for(cfg->pool, n, 512, encode_chunk, &ej);
        else
            encode_chunk(0, n, 0, &ej);
        if ((rc = atomic_load(&ej.rc))) {
            kite_err_set(err, rc, "out of memory encoding IVF rows");
            goto fail;
        }
    }
    if ((rc = ivf_fs_init(ix, err)))
        goto fail;
    kite_free(idx);
    kite_free(assign);
    kite_free(train);
    *out = ix;
    return KITE_OK;
fail:
    kite_free(idx);
    kite_free(assign);
    kite_free(train);
    ivf_free(ix);
    return rc;
}
