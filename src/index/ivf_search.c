/*
 * ivf_search.c — IVF search: rank lists by coarse distance, scan the nprobe
 * nearest, score rows exactly (IVF_FLAT, BIN_IVF_FLAT) or from codes (IVF_SQ8
 * decode, IVF_PQ ADC tables), keep the best k.
 *
 * Filters and the "never fewer than k" rule:
 *  1. When an exact scan of the allowed rows is cheaper than scanning the
 *     probed lists (n_allowed <= n * nprobe / nlist), scan exactly.
 *  2. Otherwise, if the probed lists hold fewer than min(k, n_allowed) allowed
 *     rows, keep probing the next-nearest lists until they do (or none remain).
 * Range search follows Milvus: after the nprobe lists, keep probing while fewer
 * than max_empty_result_buckets consecutive lists added nothing.
 *
 * Threading: read-only on the index; each query chunk allocates its scratch.
 */
#include <immintrin.h>
#include <stdatomic.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "hnsw.h"
#include "ivf.h"
#include "simd.h"

struct ivf_scratch {
    float *qbuf;          /* prepared query (dim) */
    float *resid;         /* PQ L2: q - centroid (dim) */
    float *cbuf;          /* PQ L2: one decoded centroid (dim) */
    float *table;         /* PQ: m * ksub */
    struct vpair *order;  /* nlist */
    uint32_t *lists;      /* nlist */
    struct vpair *heap;   /* max(k, shortlist) */
    struct vpair *heap2;  /* k: SCANN re-rank */
    float *dbuf;          /* max_list distances of one list (IVF_FLAT) */
    /* IVF_SQ8: the query prepared for the 8-bit code kernels (shared with HNSW's
     * quantized traversal, hnsw_sq.c): resid = q - min (L2) or q * scale. */
    float sq_bias;        /* non-L2: q . min */
    const struct hnsw_sq_kernels *sqk;
    /* SCANN fast scan: the byte LUT of the current table (ivf_fastscan.c). */
    uint8_t *lut;         /* m * 16 */
    uint8_t *code;        /* SCANN: one row's codes read out of the blocks (m) */
    float fs_off, fs_delta;
    bool fast;            /* this query scans with the fast-scan blocks */
    /* Batch-aware coarse step: IVF_COARSE_BATCH prepared queries and their
     * distances to every centroid from one blocked kernel call, so each
     * centroid is read once per batch instead of once per query. */
    float *qbatch;        /* IVF_COARSE_BATCH * dim */
    float *cdist;         /* IVF_COARSE_BATCH * nlist */
    /* 8-bit coarse pass (ivf_coarse_vnni.c): quantized queries and their factors. */
    uint8_t *cq_q;        /* IVF_COARSE_BATCH * ivf_cq_query_bytes */
    float *cq_ab;         /* 2 * IVF_COARSE_BATCH */
};

#define IVF_COARSE_BATCH 32

struct ivf_job {
    const struct ivf *ix;
    struct vspace space;      /* copy of ix->space bound to this call's vectors */
    const struct vsearch_req *req;
    struct vsearch_out *out;
    size_t k, nprobe, n_allowed;
    size_t shortlist;     /* SCANN: ADC candidates kept for the exact re-rank */
    bool rerank;          /* SCANN with raw data */
    struct vrange range;
    bool exact_only;
    size_t cq_r;          /* > 0: coarse rows come from the 8-bit pass; re-score this many */
    _Atomic int rc;
};

/* Scan list `l`; returns how many rows entered the range/heap candidates. */
static size_t scan_list(const struct ivf_job *job, struct ivf_scratch *s, const void *q,
                        uint32_t l, struct vtopk *heap)
{
    const struct ivf *ix = job->ix;
    const struct vspace *sp = &job->space;
    const uint64_t *allow = job->req->allow;
    uint32_t b = ix->list_off[l], e = ix->list_off[l + 1];
    float base = 0.0f;
    size_t added = 0;

    if (s->fast) {
        /* One table per query (see ivf_fastscan.c); L2 adds |q - c|^2 per list. */
        base = ivf_cent_base(ix, q, l);
        return ivf_fs_scan_list(ix, l, s->lut, base + s->fs_off, s->fs_delta, heap);
    }
    if (ivf_uses_pq(ix)) {
        if (sp->kind == VSP_L2) {
            const float *c = ivf_cent_rows(ix, l, 1, s->cbuf);
            for (uint32_t d = 0; d < sp->dim; d++)
                s->resid[d] = ((const float *)q)[d] - c[d];
            pq_table_l2(&ix->pq, s->resid, s->table);
        } else {
            base = ivf_cent_base(ix, q, l);
        }
    }
    if (ix->kind == IVF_KIND_FLAT && !allow) {
        /* Contiguous list copy: one batched kernel call, then the heap. */
        const float *lv = (const float *)(const void *)(ix->lvec + (size_t)b * sp->row_bytes);
        if (sp->kind == VSP_L2) {
            sp->ops->l2_f32_batch(q, lv, e - b, sp->dim, s->dbuf);
        } else {
            sp->ops->ip_f32_batch(q, lv, e - b, sp->dim, s->dbuf);
            for (uint32_t i = 0; i < e - b; i++)
                s->dbuf[i] = -s->dbuf[i];
        }
        for (uint32_t i = 0; i < e - b; i++) {
            if (!vrange_keep(&job->range, s->dbuf[i]))
                continue;
            added++;
            vtopk_push(heap, s->dbuf[i], ix->ids[b + i]);
        }
        return added;
    }
    for (uint32_t p = b; p < e; p++) {
        uint32_t row = ix->ids[p];
        if (allow && !vbit_test(allow, row))
            continue;
        float d;
        switch (ix->kind) {
        case IVF_KIND_SQ8: {
            const uint8_t *code = ix->codes + (size_t)p * sp->dim;
            d = sp->kind == VSP_L2 ? s->sqk->l2(s->resid, code, ix->sq_scale, sp->dim)
                                   : -(s->sq_bias + s->sqk->dot(s->resid, code, sp->dim));
            break;
        }
        case IVF_KIND_PQ:
        case IVF_KIND_SCANN:
            if (ix->codes) {
                d = base + pq_adc(&ix->pq, s->table,
                                  ix->codes + (size_t)p * pq_code_bytes(&ix->pq));
            } else { /* SCANN: the codes live in the fast-scan blocks only */
                ivf_fs_get_code(ix, l, p, s->code);
                d = base + pq_adc(&ix->pq, s->table, s->code);
            }
            break;
        case IVF_KIND_FLAT: {
            const float *x = (const float *)(const void *)(ix->lvec + (size_t)p * sp->row_bytes);
            d = sp->kind == VSP_L2 ? sp->ops->l2_f32(q, x, sp->dim)
                                   : -sp->ops->ip_f32(q, x, sp->dim);
            break;
        }
        default: { /* BIN: the list copy */
            const uint8_t *x = ix->lvec + (size_t)p * sp->row_bytes;
            if (sp->kind == VSP_HAM) {
                d = (float)sp->ops->hamming(q, x, sp->row_bytes);
            } else {
                uint32_t na = 0, no = 0;
                sp->ops->and_or_popcnt(q, x, sp->row_bytes, &na, &no);
                d = no ? 1.0f - (float)na / (float)no : 1.0f;
            }
            break;
        }
        }
        if (!job->rerank && !vrange_keep(&job->range, d))
            continue;
        added++;
        vtopk_push(heap, d, row);
    }
    return added;
}

/* Offer row[j0 .. nlist) to t in index order; AVX-512 compares 16 entries with
 * the heap's worst at a time, so only entries that beat it reach the scalar
 * push (same pushes in the same order as the scalar loop). */
__attribute__((target("avx512f"))) static void rank_row_avx512(const float *row, uint32_t j0,
                                                              uint32_t nlist, struct vtopk *t)
{
    uint32_t j = j0;
    float worst = vtopk_worst(t);
    for (; j + 16 <= nlist; j += 16) {
        uint32_t m = _mm512_cmp_ps_mask(_mm512_loadu_ps(row + j), _mm512_set1_ps(worst),
                                        _CMP_LT_OQ);
        while (m) {
            uint32_t i = (uint32_t)__builtin_ctz(m);
            m &= m - 1;
            if (row[j + i] < worst) {
                vtopk_push(t, row[j + i], j + i);
                worst = vtopk_worst(t);
            }
        }
    }
    for (; j < nlist; j++) {
        if (row[j] < worst) {
            vtopk_push(t, row[j], j);
            worst = vtopk_worst(t);
        }
    }
}

/* The np nearest lists from a precomputed row of coarse distances (ascending). */
static size_t lists_from_row(const struct ivf *ix, const float *row, size_t np,
                             struct ivf_scratch *s)
{
    struct vtopk t = {s->order, 0, np};
    float worst = INFINITY;
    uint32_t j = 0;
    for (; j < ix->nlist && t.n < t.k; j++) /* fill the heap first */
        vtopk_push(&t, row[j], j);
    worst = vtopk_worst(&t);
    if (kite_simd()->level >= KITE_SIMD_AVX512) {
        rank_row_avx512(row, j, ix->nlist, &t);
        j = ix->nlist;
    }
    for (; j < ix->nlist; j++) {
        float d = row[j];
        if (d < worst || t.n < t.k) {
            vtopk_push(&t, d, j);
            worst = vtopk_worst(&t);
        }
    }
    vtopk_sort(&t);
    for (size_t i = 0; i < t.n; i++)
        s->lists[i] = t.a[i].id;
    return t.n;
}

static void finish_query(const struct ivf_job *job, const void *q, size_t qi, struct vtopk *hp,
                         struct vpair *fin_buf);

/* Coarse rows of nb prepared queries (qs, dim apart) into s->cdist: the 8-bit
 * candidate scores when job->cq_r > 0, else the exact fp32 ones. */
static void coarse_rows(const struct ivf_job *job, struct ivf_scratch *s, const float *qs,
                        size_t nb)
{
    if (job->cq_r)
        ivf_cq_block(&job->ix->cq, qs, nb, s->cq_q, s->cq_ab, s->cdist);
    else
        ivf_coarse_block(job->ix, &job->space, qs, nb, s->cdist);
}

/* The np lists to probe for prepared query q from its coarse row, into s->lists:
 * with the 8-bit pass, its best job->cq_r candidates re-scored with exact fp32
 * distances (|q - c|^2, or -q.c for IP), ascending, the distances left in
 * s->order[i].d; else the row's best np. */
static size_t pick_lists(const struct ivf_job *job, struct ivf_scratch *s, const float *q,
                         const float *row, size_t np)
{
    const struct ivf *ix = job->ix;
    if (!job->cq_r)
        return lists_from_row(ix, row, np, s);
    struct vtopk t = {s->order, 0, job->cq_r};
    ivf_cq_rank(row, ix->nlist, &t); /* candidates in heap order: no sort needed */
    size_t got = t.n;
    for (size_t i = 0; i < got; i++)
        s->lists[i] = t.a[i].id;
    t = (struct vtopk){s->order, 0, np};
    for (size_t i = 0; i < got; i++)
        vtopk_push(&t, ivf_cent_dist(ix, q, s->lists[i]), s->lists[i]);
    vtopk_sort(&t);
    for (size_t i = 0; i < t.n; i++)
        s->lists[i] = t.a[i].id;
    return t.n;
}

/* SCANN fast scan: the query's byte LUT (one per query, not per list; see
 * ivf_fastscan.c): -q_j . C_jk, doubled for L2. */
static void fast_lut(const struct ivf *ix, const float *q, float *table, uint8_t *lut,
                     float *off, float *delta)
{
    ivf_fs_lut(ix, q, table, lut, off, delta);
}

static int one_query(const struct ivf_job *job, struct ivf_scratch *s, size_t qi,
                     const float *crow)
{
    const struct ivf *ix = job->ix;
    const struct vspace *sp = &job->space;
    const uint8_t *raw = (const uint8_t *)job->req->queries + qi * vspace_query_bytes(sp);
    const void *q = vspace_prep_query(sp, raw, s->qbuf);
    struct vtopk heap = {s->heap, 0, job->rerank ? job->shortlist : job->k};
    size_t want = job->k < job->n_allowed ? job->k : job->n_allowed;

    job->out->counts[qi] = 0;
    if (sp->n == 0 || want == 0)
        return KITE_OK;
    if (job->exact_only) {
        /* Exact scores need no re-rank shortlist: keep k, the size of the output
         * slot (a reorder_k-sized heap here overflowed it). */
        heap.k = job->k;
        vspace_exact_scan(sp, q, job->req->allow, &job->range, &heap);
        job->out->counts[qi] = vtopk_emit(&heap, sp, job->out->hits + qi * job->k);
        return KITE_OK;
    }
    s->fast = ivf_fs_available(ix) && job->rerank && !job->req->allow;
    if (s->fast)
        fast_lut(ix, (const float *)q, s->table, s->lut, &s->fs_off, &s->fs_delta);
    else if (ivf_uses_pq(ix) && sp->kind != VSP_L2)
        pq_table_ip(&ix->pq, q, s->table); /* -q_j . C_jk */
    if (ix->kind == IVF_KIND_SQ8) {
        const float *qf = q;
        s->sq_bias = 0.0f;
        for (uint32_t d = 0; d < sp->dim; d++) {
            if (sp->kind == VSP_L2) {
                s->resid[d] = qf[d] - ix->sq_min[d];
            } else {
                s->resid[d] = qf[d] * ix->sq_scale[d];
                s->sq_bias += qf[d] * ix->sq_min[d];
            }
        }
    }
    size_t np = job->nprobe < ix->nlist ? job->nprobe : ix->nlist;
    size_t got = crow ? pick_lists(job, s, (const float *)q, crow, np)
                      : ivf_nearest_lists(ix, q, np, s->order, s->lists);
    for (size_t i = 0; i < got; i++)
        scan_list(job, s, q, s->lists[i], &heap);
    bool more = job->range.active || heap.n < want;
    if (more && got < ix->nlist) {
        /* Rank every list, then continue after the first `got`. */
        size_t all = ivf_nearest_lists(ix, q, ix->nlist, s->order, s->lists);
        int empty_run = 0;
        for (size_t i = got; i < all; i++) {
            size_t added = scan_list(job, s, q, s->lists[i], &heap);
            if (job->range.active) {
                empty_run = added ? 0 : empty_run + 1;
                if (empty_run >= job->req->params->max_empty_result_buckets)
                    break;
            } else if (heap.n >= want) {
                break;
            }
        }
    }
    finish_query(job, q, qi, &heap, s->heap2);
    return KITE_OK;
}

/* SCANN: exact distances for the shortlist (the range applies to them), then
 * write query qi's hits.  fin_buf holds k pairs. */
static void finish_query(const struct ivf_job *job, const void *q, size_t qi, struct vtopk *hp,
                         struct vpair *fin_buf)
{
    const struct vspace *sp = &job->space;
    struct vtopk heap = *hp;
    if (job->rerank) {
        struct vtopk fin = {fin_buf, 0, job->k};
        /* The shortlist rows are scattered: request them all, then compute. */
        for (size_t i = 0; i < heap.n; i++)
            __builtin_prefetch(vspace_row(sp, heap.a[i].id));
        for (size_t i = 0; i < heap.n; i++) {
            if (i + 2 < heap.n) {
                const char *nx = (const char *)vspace_row(sp, heap.a[i + 2].id);
                for (size_t off = 64; off < sp->row_bytes && off < 1024; off += 64)
                    __builtin_prefetch(nx + off);
            }
            float d = vspace_dist(sp, q, heap.a[i].id);
            if (vrange_keep(&job->range, d))
                vtopk_push(&fin, d, heap.a[i].id);
        }
        heap = fin;
    }
    job->out->counts[qi] = vtopk_emit(&heap, sp, job->out->hits + qi * job->k);
}

static void scratch_free(struct ivf_scratch *s)
{
    kite_free(s->qbuf);
    kite_free(s->resid);
    kite_free(s->cbuf);
    kite_free(s->table);
    kite_free(s->order);
    kite_free(s->lists);
    kite_free(s->heap);
    kite_free(s->heap2);
    kite_free(s->dbuf);
    kite_free(s->lut);
    kite_free(s->code);
    kite_free(s->qbatch);
    kite_free(s->cdist);
    kite_free(s->cq_q);
    kite_free(s->cq_ab);
}

/* ---------------------------------------------------- batch-aware list scans
 *
 * Plain top-k searches of several queries (no filter, no range): after the
 * coarse step the (query, list) pairs are inverted into per-list query groups
 * and each probed list is scanned ONCE for all the queries that probe it, with
 * the register-blocked query x row kernels (l2/ip_f32_block): a list's rows
 * are read from memory once per batch instead of once per query.  IVF_FLAT
 * scans its list copy; IVF_SQ8 decodes IVF_SQ_ROWS rows at a time to floats
 * and reuses them for the group; SCANN keeps the list's fast-scan blocks in
 * cache while it scores them with each query's LUT.  Queries whose probed
 * lists hold fewer than k rows are redone by the per-query path (one_query),
 * which probes further lists.
 */

#define IVF_GROUP_MAX 1024 /* queries inverted at once (bounds the scratch) */
#define IVF_GROUP_Q 32     /* queries per blocked kernel call */
#define IVF_SQ_ROWS 64     /* SQ8 rows decoded per step */
#define IVF_FLAT_ROWS 1024 /* IVF_FLAT rows per kernel call (bounds the distance buffer) */
#define IVF_GROUP_PAIRS (1u << 22) /* bound on cap * nprobe and cap * heap size */

struct ivf_group {
    size_t cap, np, hk;
    float *q;              /* cap * dim prepared queries */
    uint32_t *probe;       /* cap * np probed lists */
    uint32_t *loff;        /* nlist + 1: the pairs of list l are pairs[loff[l] .. loff[l + 1]) */
    uint32_t *pairs;       /* cap * np query indices grouped by list */
    float *probe_d, *pair_d; /* 8-bit coarse pass: exact coarse distance of each probe
                              * (cap * np, as probe) and of each pair (as pairs) */
    struct vpair *heapbuf; /* cap * hk */
    struct vtopk *heaps;   /* cap */
    uint8_t *luts;         /* SCANN: cap * m * 16 */
    float *lut_off, *lut_delta; /* SCANN: cap each */
    float *gq;             /* IVF_GROUP_Q * dim gathered queries */
    float *gd;             /* IVF_GROUP_Q * IVF_FLAT_ROWS (SQ8: IVF_SQ_ROWS) distances */
    float *dec;            /* SQ8: IVF_SQ_ROWS * dim decoded rows */
};

static bool group_eligible(const struct ivf_job *job, size_t nq)
{
    const struct ivf *ix = job->ix;
    if (nq < 2 || ix->space.n == 0 || job->req->allow || job->range.active || job->exact_only)
        return false;
    return ix->kind == IVF_KIND_FLAT || ix->kind == IVF_KIND_SQ8 ||
           (ix->kind == IVF_KIND_SCANN && job->rerank && ivf_fs_available(ix));
}

static void group_free(struct ivf_group *g)
{
    kite_free(g->q);
    kite_free(g->probe);
    kite_free(g->loff);
    kite_free(g->pairs);
    kite_free(g->probe_d);
    kite_free(g->pair_d);
    kite_free(g->heapbuf);
    kite_free(g->heaps);
    kite_free(g->luts);
    kite_free(g->lut_off);
    kite_free(g->lut_delta);
    kite_free(g->gq);
    kite_free(g->gd);
    kite_free(g->dec);
}

static int group_alloc(const struct ivf_job *job, size_t cap, struct ivf_group *g)
{
    const struct ivf *ix = job->ix;
    size_t dim = ix->space.dim;
    size_t rows = ix->kind == IVF_KIND_FLAT ? IVF_FLAT_ROWS : IVF_SQ_ROWS;
    memset(g, 0, sizeof(*g));
    g->cap = cap;
    g->np = job->nprobe < ix->nlist ? job->nprobe : ix->nlist;
    g->hk = job->rerank ? job->shortlist : job->k;
    g->q = kite_malloc(cap * dim * sizeof(float));
    g->probe = kite_malloc(cap * g->np * sizeof(uint32_t));
    g->loff = kite_malloc(((size_t)ix->nlist + 1) * sizeof(uint32_t));
    g->pairs = kite_malloc(cap * g->np * sizeof(uint32_t));
    if (job->cq_r && (!(g->probe_d = kite_malloc(cap * g->np * sizeof(float))) ||
                      !(g->pair_d = kite_malloc(cap * g->np * sizeof(float)))))
        return KITE_ENOMEM;
    g->heapbuf = kite_malloc(cap * g->hk * sizeof(struct vpair));
    g->heaps = kite_malloc(cap * sizeof(struct vtopk));
    g->gq = kite_malloc((size_t)IVF_GROUP_Q * dim * sizeof(float));
    g->gd = kite_malloc((size_t)IVF_GROUP_Q * rows * sizeof(float));
    if (!g->q || !g->probe || !g->loff || !g->pairs || !g->heapbuf || !g->heaps || !g->gq ||
        !g->gd)
        return KITE_ENOMEM;
    if (ix->kind == IVF_KIND_SQ8 && !(g->dec = kite_malloc((size_t)IVF_SQ_ROWS * dim *
                                                           sizeof(float))))
        return KITE_ENOMEM;
    if (ix->kind == IVF_KIND_SCANN) {
        g->luts = kite_malloc(cap * ix->pq.m * 16 + 16);
        g->lut_off = kite_malloc(cap * sizeof(float));
        g->lut_delta = kite_malloc(cap * sizeof(float));
        if (!g->luts || !g->lut_off || !g->lut_delta)
            return KITE_ENOMEM;
    }
    return KITE_OK;
}

/* Offer ng rows of block-kernel output (row i of gd: query pairs[i]) to the heaps. */
static void group_push(struct ivf_group *g, const uint32_t *qidx, size_t ng, const float *gd,
                       size_t nr, const uint32_t *ids, bool neg)
{
    for (size_t i = 0; i < ng; i++) {
        struct vtopk *h = &g->heaps[qidx[i]];
        const float *dr = gd + i * nr;
        float worst = vtopk_worst(h);
        for (size_t j = 0; j < nr; j++) {
            float d = neg ? -dr[j] : dr[j];
            if (d < worst) {
                vtopk_push(h, d, ids[j]);
                worst = vtopk_worst(h);
            }
        }
    }
}

/* Scan list l once for every query of the group that probes it. */
static void group_scan_list(const struct ivf_job *job, struct ivf_group *g, uint32_t l)
{
    const struct ivf *ix = job->ix;
    const struct vspace *sp = &job->space;
    uint32_t dim = sp->dim, rb = ix->list_off[l], len = ix->list_off[l + 1] - rb;
    bool l2 = sp->kind == VSP_L2;
    const uint32_t *qs = g->pairs + g->loff[l];
    size_t nqs = g->loff[l + 1] - g->loff[l];
    if (len == 0 || nqs == 0)
        return;
    if (ix->kind == IVF_KIND_SCANN) {
        size_t lb = (size_t)ix->pq.m * 16;
        for (size_t i = 0; i < nqs; i++) {
            const float *q = g->q + (size_t)qs[i] * dim;
            /* pick_lists computed this very distance (same kernel, same operands)
             * except for COSINE, whose coarse distance is L2 but whose base is -q.c */
            float base = g->pair_d && sp->kind != VSP_COS ? g->pair_d[g->loff[l] + i]
                                                          : ivf_cent_base(ix, q, l);
            ivf_fs_scan_list(ix, l, g->luts + qs[i] * lb, base + g->lut_off[qs[i]],
                             g->lut_delta[qs[i]], &g->heaps[qs[i]]);
        }
        return;
    }
    for (size_t p0 = 0; p0 < nqs; p0 += IVF_GROUP_Q) {
        size_t ng = nqs - p0 < IVF_GROUP_Q ? nqs - p0 : IVF_GROUP_Q;
        for (size_t i = 0; i < ng; i++)
            memcpy(g->gq + i * dim, g->q + (size_t)qs[p0 + i] * dim, dim * sizeof(float));
        if (ix->kind == IVF_KIND_FLAT) {
            for (uint32_t r0 = 0; r0 < len; r0 += IVF_FLAT_ROWS) {
                uint32_t nr = len - r0 < IVF_FLAT_ROWS ? len - r0 : IVF_FLAT_ROWS;
                const float *lv =
                    (const float *)(const void *)(ix->lvec + (size_t)(rb + r0) * sp->row_bytes);
                if (l2)
                    sp->ops->l2_f32_block(g->gq, ng, lv, nr, dim, g->gd);
                else
                    sp->ops->ip_f32_block(g->gq, ng, lv, nr, dim, g->gd);
                group_push(g, qs + p0, ng, g->gd, nr, ix->ids + rb + r0, !l2);
            }
            continue;
        }
        /* IVF_SQ8: decode x = min + scale * code, IVF_SQ_ROWS rows at a time. */
        for (uint32_t r0 = 0; r0 < len; r0 += IVF_SQ_ROWS) {
            uint32_t nr = len - r0 < IVF_SQ_ROWS ? len - r0 : IVF_SQ_ROWS;
            for (uint32_t r = 0; r < nr; r++) {
                const uint8_t *code = ix->codes + (size_t)(rb + r0 + r) * dim;
                float *x = g->dec + (size_t)r * dim;
                for (uint32_t d = 0; d < dim; d++)
                    x[d] = ix->sq_min[d] + ix->sq_scale[d] * (float)code[d];
            }
            if (l2)
                sp->ops->l2_f32_block(g->gq, ng, g->dec, nr, dim, g->gd);
            else
                sp->ops->ip_f32_block(g->gq, ng, g->dec, nr, dim, g->gd);
            group_push(g, qs + p0, ng, g->gd, nr, ix->ids + rb + r0, !l2);
        }
    }
}

/* Queries [q0, q0 + nc) through the batch-aware path. */
static int group_run(const struct ivf_job *job, struct ivf_scratch *s, struct ivf_group *g,
                     size_t q0, size_t nc)
{
    const struct ivf *ix = job->ix;
    const struct vspace *sp = &job->space;
    size_t dim = sp->dim, np = g->np;
    size_t want = job->k < job->n_allowed ? job->k : job->n_allowed;
    int rc = KITE_OK;

    for (size_t i = 0; i < nc; i++) {
        const uint8_t *raw = (const uint8_t *)job->req->queries + (q0 + i) * vspace_query_bytes(sp);
        float *dst = g->q + i * dim;
        const void *pq = vspace_prep_query(sp, raw, dst);
        if (pq != (const void *)dst)
            memcpy(dst, pq, dim * sizeof(float));
        g->heaps[i] = (struct vtopk){g->heapbuf + i * g->hk, 0, g->hk};
        if (ix->kind == IVF_KIND_SCANN)
            fast_lut(ix, dst, s->table, g->luts + i * ix->pq.m * 16, &g->lut_off[i],
                     &g->lut_delta[i]);
    }
    /* Coarse step: IVF_COARSE_BATCH queries per blocked kernel call. */
    for (size_t b0 = 0; b0 < nc; b0 += IVF_COARSE_BATCH) {
        size_t nb = nc - b0 < IVF_COARSE_BATCH ? nc - b0 : IVF_COARSE_BATCH;
        coarse_rows(job, s, g->q + b0 * dim, nb);
        for (size_t b = 0; b < nb; b++) {
            size_t got = pick_lists(job, s, g->q + (b0 + b) * dim, s->cdist + b * ix->nlist, np);
            for (size_t i = 0; i < np; i++)
                g->probe[(b0 + b) * np + i] = i < got ? s->lists[i] : UINT32_MAX;
            if (g->probe_d)
                for (size_t i = 0; i < got; i++)
                    g->probe_d[(b0 + b) * np + i] = s->order[i].d;
        }
    }
    /* Invert (query, list) pairs into per-list groups (counting sort). */
    memset(g->loff, 0, ((size_t)ix->nlist + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < nc * np; i++)
        if (g->probe[i] != UINT32_MAX)
            g->loff[g->probe[i] + 1]++;
    for (uint32_t l = 0; l < ix->nlist; l++)
        g->loff[l + 1] += g->loff[l];
    for (size_t i = 0; i < nc * np; i++) {
        uint32_t l = g->probe[i];
        if (l == UINT32_MAX)
            continue;
        if (g->pair_d)
            g->pair_d[g->loff[l]] = g->probe_d[i];
        g->pairs[g->loff[l]++] = (uint32_t)(i / np);
    }
    for (uint32_t l = ix->nlist; l > 0; l--)
        g->loff[l] = g->loff[l - 1];
    g->loff[0] = 0;
    for (uint32_t l = 0; l < ix->nlist; l++)
        group_scan_list(job, g, l);
    for (size_t i = 0; i < nc && rc == KITE_OK; i++) {
        if (g->heaps[i].n < want)
            rc = one_query(job, s, q0 + i, NULL); /* probe further lists */
        else
            finish_query(job, g->q + i * dim, q0 + i, &g->heaps[i], s->heap2);
    }
    return rc;
}

static void search_chunk(size_t begin, size_t end, int worker, void *udata)
{
    struct ivf_job *job = udata;
    const struct ivf *ix = job->ix;
    struct ivf_scratch s = {0};
    int rc = KITE_OK;
    s.sqk = hnsw_sq_kernels_get();
    size_t tsz = ivf_uses_pq(ix) ? (size_t)ix->pq.m * ix->pq.ksub : 1;
    s.qbuf = kite_malloc((size_t)ix->space.dim * sizeof(float) + 8);
    s.resid = kite_malloc((size_t)ix->space.dim * sizeof(float) + 8);
    s.cbuf = kite_malloc((size_t)ix->space.dim * sizeof(float) + 8);
    s.table = kite_malloc(tsz * sizeof(float));
    s.order = kite_malloc((size_t)ix->nlist * sizeof(struct vpair));
    s.lists = kite_malloc((size_t)ix->nlist * sizeof(uint32_t));
    s.heap = kite_malloc((job->k > job->shortlist ? job->k : job->shortlist) *
                         sizeof(struct vpair));
    s.heap2 = kite_malloc(job->k * sizeof(struct vpair));
    s.dbuf = kite_malloc(((size_t)ix->max_list + 1) * sizeof(float));
    s.lut = kite_malloc(tsz + 16);
    s.code = kite_malloc(ivf_uses_pq(ix) ? pq_code_bytes(&ix->pq) + 1 : 1);
    if (!s.lut || !s.code || !s.qbuf || !s.resid || !s.cbuf || !s.table || !s.order || !s.lists ||
        !s.heap || !s.heap2 || !s.dbuf)
        rc = KITE_ENOMEM;
    bool batch = ix->kind != IVF_KIND_BIN && !job->exact_only && ix->space.n > 0 && end - begin > 1;
    if (batch) {
        s.qbatch = kite_malloc((size_t)IVF_COARSE_BATCH * ix->space.dim * sizeof(float));
        s.cdist = kite_malloc((size_t)IVF_COARSE_BATCH * ix->nlist * sizeof(float));
        if (job->cq_r) {
            s.cq_q = kite_malloc((size_t)IVF_COARSE_BATCH * ivf_cq_query_bytes(&ix->cq));
            s.cq_ab = kite_malloc((size_t)IVF_COARSE_BATCH * 2 * sizeof(float));
        }
        if (!s.qbatch || !s.cdist || (job->cq_r && (!s.cq_q || !s.cq_ab)))
            batch = false; /* fall back to per-query coarse ranking */
    }
    size_t rest = begin; /* first query left for the per-query path */
    if (rc == KITE_OK && batch && group_eligible(job, end - begin)) {
        struct ivf_group g;
        size_t cap = end - begin < IVF_GROUP_MAX ? end - begin : IVF_GROUP_MAX;
        size_t np = job->nprobe < ix->nlist ? job->nprobe : ix->nlist;
        size_t hk = job->rerank ? job->shortlist : job->k;
        if (cap * np > IVF_GROUP_PAIRS)
            cap = IVF_GROUP_PAIRS / np;
        if (cap * hk > IVF_GROUP_PAIRS)
            cap = IVF_GROUP_PAIRS / hk;
        if (cap < 1)
            cap = 1;
        rc = group_alloc(job, cap, &g);
        for (size_t q0 = begin; q0 < end && rc == KITE_OK; q0 += cap)
            rc = group_run(job, &s, &g, q0, end - q0 < cap ? end - q0 : cap);
        group_free(&g);
        rest = end; /* all done */
    }
    for (size_t q0 = rest; q0 < end && rc == KITE_OK; q0 += IVF_COARSE_BATCH) {
        size_t nb = end - q0 < IVF_COARSE_BATCH ? end - q0 : IVF_COARSE_BATCH;
        const struct vspace *sp = &job->space;
        if (batch) {
            for (size_t b = 0; b < nb; b++) {
                const uint8_t *raw =
                    (const uint8_t *)job->req->queries + (q0 + b) * vspace_query_bytes(sp);
                float *dst = s.qbatch + b * sp->dim;
                const void *pq = vspace_prep_query(sp, raw, dst);
                if (pq != (const void *)dst)
                    memcpy(dst, pq, (size_t)sp->dim * sizeof(float));
            }
            coarse_rows(job, &s, s.qbatch, nb);
        }
        for (size_t b = 0; b < nb && rc == KITE_OK; b++)
            rc = one_query(job, &s, q0 + b, batch ? s.cdist + b * ix->nlist : NULL);
    }
    if (rc != KITE_OK) {
        for (size_t qi = begin; qi < end; qi++)
            job->out->counts[qi] = 0;
        atomic_store(&job->rc, rc);
    }
    scratch_free(&s);
}

int ivf_search(const struct ivf *ix, const struct vec_view *v, const struct vsearch_req *req,
               struct vsearch_out *out, kite_err *err)
{
    int rc;
    const struct vsearch_params *p = req->params;
    struct ivf_job job = {.ix = ix, .req = req, .out = out};

    /* Bind a private copy: concurrent searches never write the shared index. */
    job.space = ix->space;
    if ((rc = vspace_rebind(&job.space, v, err)))
        return rc;
    if (!p || p->k < 1)
        return kite_err_set(err, KITE_EINVAL, "search needs k >= 1");
    job.k = (size_t)p->k;
    job.nprobe = p->nprobe > 0 ? (size_t)p->nprobe : 8;
    job.rerank = ix->kind == IVF_KIND_SCANN && (ix->flags & IVF_FLAG_RAW_DATA);
    job.shortlist = p->reorder_k > 0 && (size_t)p->reorder_k > job.k ? (size_t)p->reorder_k : job.k;
    size_t n = ix->space.n;
    job.n_allowed = req->allow ? (req->n_allowed != SIZE_MAX && req->n_allowed <= n
                                      ? req->n_allowed
                                      : vbits_count(req->allow, n))
                               : n;
    vrange_init(&job.range, &ix->space, p);
    job.exact_only = req->allow && (double)job.n_allowed * (double)ix->nlist <=
                                       (double)n * (double)job.nprobe;
    size_t cq_r = IVF_CQ_CANDIDATES(job.nprobe < ix->nlist ? job.nprobe : ix->nlist);
    job.cq_r = ivf_cq_available(ix) && cq_r < ix->nlist ? cq_r : 0;
    atomic_init(&job.rc, KITE_OK);
    if (req->pool && req->nq > 1 && group_eligible(&job, req->nq)) {
        /* One contiguous chunk per thread: larger groups share more list reads. */
        size_t nt = (size_t)kite_pool_size(req->pool);
        size_t grain = (req->nq + (nt ? nt : 1) - 1) / (nt ? nt : 1);
        kite_pool_parallel_for(req->pool, req->nq, grain, search_chunk, &job);
    } else if (req->pool && req->nq > 1)
        kite_pool_parallel_for(req->pool, req->nq, 1, search_chunk, &job);
    else
        search_chunk(0, req->nq, 0, &job);
    rc = atomic_load(&job.rc);
    if (rc != KITE_OK)
        return kite_err_set(err, rc, "out of memory during IVF search");
    return KITE_OK;
}
