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
#include <stdatomic.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "hnsw.h"
#include "ivf.h"

struct ivf_scratch {
    float *qbuf;          /* prepared query (dim) */
    float *resid;         /* PQ L2: q - centroid (dim) */
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
    float fs_off, fs_delta;
    bool fast;            /* this query scans with the fast-scan blocks */
    /* Batch-aware coarse step: IVF_COARSE_BATCH prepared queries and their
     * distances to every centroid from one blocked kernel call, so each
     * centroid is read once per batch instead of once per query. */
    float *qbatch;        /* IVF_COARSE_BATCH * dim */
    float *cdist;         /* IVF_COARSE_BATCH * nlist */
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
        if (sp->kind == VSP_L2)
            base = sp->ops->l2_f32(q, ix->centroids + (size_t)l * sp->dim, sp->dim);
        else
            base = -sp->ops->ip_f32(q, ix->centroids + (size_t)l * sp->dim, sp->dim);
        return ivf_fs_scan_list(ix, l, s->lut, base + s->fs_off, s->fs_delta, heap);
    }
    if (ivf_uses_pq(ix)) {
        const float *c = ix->centroids + (size_t)l * sp->dim;
        if (sp->kind == VSP_L2) {
            for (uint32_t d = 0; d < sp->dim; d++)
                s->resid[d] = ((const float *)q)[d] - c[d];
            pq_table_l2(&ix->pq, s->resid, s->table);
        } else {
            base = -sp->ops->ip_f32(q, c, sp->dim);
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
            d = base + pq_adc(&ix->pq, s->table, ix->codes + (size_t)p * pq_code_bytes(&ix->pq));
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

/* The np nearest lists from a precomputed row of coarse distances (ascending). */
static size_t lists_from_row(const struct ivf *ix, const float *row, size_t np,
                             struct ivf_scratch *s)
{
    struct vtopk t = {s->order, 0, np};
    float worst = INFINITY;
    bool neg = ix->space.kind == VSP_IP;
    for (uint32_t j = 0; j < ix->nlist; j++) {
        float d = neg ? -row[j] : row[j];
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
    if (ivf_uses_pq(ix) && (sp->kind != VSP_L2 || s->fast)) {
        pq_table_ip(&ix->pq, q, s->table); /* -q_j . C_jk */
        if (s->fast && sp->kind == VSP_L2) {
            size_t tn = (size_t)ix->pq.m * ix->pq.ksub;
            for (size_t i = 0; i < tn; i++)
                s->table[i] *= 2.0f;
        }
        if (s->fast)
            ivf_fs_quantize(ix, s->table, s->lut, &s->fs_off, &s->fs_delta);
    }
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
    size_t got = crow ? lists_from_row(ix, crow, np, s)
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
    if (job->rerank) {
        /* Exact distances for the shortlist; the range applies to them. */
        struct vtopk fin = {s->heap2, 0, job->k};
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
    return KITE_OK;
}

static void scratch_free(struct ivf_scratch *s)
{
    kite_free(s->qbuf);
    kite_free(s->resid);
    kite_free(s->table);
    kite_free(s->order);
    kite_free(s->lists);
    kite_free(s->heap);
    kite_free(s->heap2);
    kite_free(s->dbuf);
    kite_free(s->lut);
    kite_free(s->qbatch);
    kite_free(s->cdist);
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
    s.table = kite_malloc(tsz * sizeof(float));
    s.order = kite_malloc((size_t)ix->nlist * sizeof(struct vpair));
    s.lists = kite_malloc((size_t)ix->nlist * sizeof(uint32_t));
    s.heap = kite_malloc((job->k > job->shortlist ? job->k : job->shortlist) *
                         sizeof(struct vpair));
    s.heap2 = kite_malloc(job->k * sizeof(struct vpair));
    s.dbuf = kite_malloc(((size_t)ix->max_list + 1) * sizeof(float));
    s.lut = kite_malloc(tsz + 16);
    if (!s.lut ||
        !s.qbuf || !s.resid || !s.table || !s.order || !s.lists || !s.heap || !s.heap2 || !s.dbuf)
        rc = KITE_ENOMEM;
    bool batch = ix->kind != IVF_KIND_BIN && !job->exact_only && ix->space.n > 0 && end - begin > 1;
    if (batch) {
        s.qbatch = kite_malloc((size_t)IVF_COARSE_BATCH * ix->space.dim * sizeof(float));
        s.cdist = kite_malloc((size_t)IVF_COARSE_BATCH * ix->nlist * sizeof(float));
        if (!s.qbatch || !s.cdist)
            batch = false; /* fall back to per-query coarse ranking */
    }
    for (size_t q0 = begin; q0 < end && rc == KITE_OK; q0 += IVF_COARSE_BATCH) {
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
            if (sp->kind == VSP_IP)
                sp->ops->ip_f32_block(s.qbatch, nb, ix->centroids, ix->nlist, sp->dim, s.cdist);
            else
                sp->ops->l2_f32_block(s.qbatch, nb, ix->centroids, ix->nlist, sp->dim, s.cdist);
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
    atomic_init(&job.rc, KITE_OK);
    if (req->pool && req->nq > 1)
        kite_pool_parallel_for(req->pool, req->nq, 1, search_chunk, &job);
    else
        search_chunk(0, req->nq, 0, &job);
    rc = atomic_load(&job.rc);
    if (rc != KITE_OK)
        return kite_err_set(err, rc, "out of memory during IVF search");
    return KITE_OK;
}
