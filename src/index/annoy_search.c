/*
 * annoy_search.c — ANNOY best-first forest search (annoy.h), with the same
 * filter rules as the other indexes: an exact scan of the allowed rows when
 * there are no more of them than search_k, and an exact re-do when the forest
 * yields fewer than min(k, n_allowed) allowed rows (not for range searches).
 *
 * Threading: read-only on the forest; each query chunk owns its scratch.
 */
#include <stdatomic.h>
#include <string.h>

#include "alloc.h"
#include "annoy.h"
#include "err.h"

struct annoy_scratch {
    uint16_t *visited;
    uint16_t epoch;
    struct vpair *pq;     /* max-heap on d (priority); id = node */
    size_t pq_n, pq_cap;
    struct vpair *heap;   /* k best */
};

struct annoy_job {
    const struct annoy *a;
    struct vspace space;      /* copy of a->space bound to this call's vectors */
    const struct vsearch_req *req;
    struct vsearch_out *out;
    size_t k, search_k, n_allowed;
    struct vrange range;
    bool exact_only;
    _Atomic int rc;
};

static int pq_push(struct annoy_scratch *s, float pri, uint32_t node)
{
    if (s->pq_n == s->pq_cap) {
        size_t cap = s->pq_cap ? 2 * s->pq_cap : 256;
        struct vpair *p = kite_realloc(s->pq, cap * sizeof(*p));
        if (!p)
            return KITE_ENOMEM;
        s->pq = p;
        s->pq_cap = cap;
    }
    size_t i = s->pq_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (s->pq[p].d >= pri)
            break;
        s->pq[i] = s->pq[p];
        i = p;
    }
    s->pq[i] = (struct vpair){pri, node};
    return KITE_OK;
}

static struct vpair pq_pop(struct annoy_scratch *s)
{
    struct vpair top = s->pq[0], x = s->pq[--s->pq_n];
    size_t i = 0, n = s->pq_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && s->pq[c + 1].d > s->pq[c].d)
            c++;
        if (s->pq[c].d <= x.d)
            break;
        s->pq[i] = s->pq[c];
        i = c;
    }
    if (n)
        s->pq[i] = x;
    return top;
}

static int one_query(const struct annoy_job *job, struct annoy_scratch *s, size_t qi)
{
    const struct annoy *a = job->a;
    const struct vspace *sp = &job->space;
    const float *q = (const float *)(const void *)((const uint8_t *)job->req->queries +
                                                   qi * vspace_query_bytes(sp));
    const uint64_t *allow = job->req->allow;
    struct vtopk heap = {s->heap, 0, job->k};
    size_t want = job->k < job->n_allowed ? job->k : job->n_allowed, seen = 0;
    int rc;

    job->out->counts[qi] = 0;
    if (sp->n == 0 || want == 0)
        return KITE_OK;
    if (!job->exact_only) {
        if (++s->epoch == 0) {
            memset(s->visited, 0, sp->n * sizeof(uint16_t));
            s->epoch = 1;
        }
        s->pq_n = 0;
        for (uint32_t t = 0; t < a->n_trees; t++)
            if ((rc = pq_push(s, INFINITY, a->roots[t])))
                return rc;
        while (s->pq_n && seen < job->search_k) {
            struct vpair top = pq_pop(s);
            const struct annoy_node *nd = &a->nodes[top.id];
            if (nd->is_split) {
                float m = annoy_margin(a, nd, q);
                if ((rc = pq_push(s, fminf(top.d, m), nd->b)) ||
                    (rc = pq_push(s, fminf(top.d, -m), nd->a)))
                    return rc;
                continue;
            }
            for (uint32_t j = 0; j < nd->b; j++) {
                uint32_t row = a->leaf_ids[nd->a + j];
                if (s->visited[row] == s->epoch)
                    continue;
                s->visited[row] = s->epoch;
                if (allow && !vbit_test(allow, row))
                    continue;
                seen++;
                float d = vspace_dist(sp, q, row);
                if (vrange_keep(&job->range, d))
                    vtopk_push(&heap, d, row);
            }
        }
    }
    if (job->exact_only || (heap.n < want && !job->range.active)) {
        heap.n = 0;
        vspace_exact_scan(sp, q, allow, &job->range, &heap);
    }
    job->out->counts[qi] = vtopk_emit(&heap, sp, job->out->hits + qi * job->k);
    return KITE_OK;
}

static void search_chunk(size_t begin, size_t end, int worker, void *udata)
{
    struct annoy_job *job = udata;
    struct annoy_scratch s = {0};
    int rc = KITE_OK;
    s.visited = kite_calloc(job->a->space.n ? job->a->space.n : 1, sizeof(uint16_t));
    s.heap = kite_malloc(job->k * sizeof(struct vpair));
    if (!s.visited || !s.heap)
        rc = KITE_ENOMEM;
    for (size_t qi = begin; qi < end && rc == KITE_OK; qi++)
        rc = one_query(job, &s, qi);
    if (rc != KITE_OK) {
        for (size_t qi = begin; qi < end; qi++)
            job->out->counts[qi] = 0;
        atomic_store(&job->rc, rc);
    }
    kite_free(s.visited);
    kite_free(s.pq);
    kite_free(s.heap);
}

int annoy_search(const struct annoy *a, const struct vec_view *v, const struct vsearch_req *req,
                 struct vsearch_out *out, kite_err *err)
{
    int rc;
    const struct vsearch_params *p = req->params;
    struct annoy_job job = {.a = a, .req = req, .out = out};
    size_t n = a->space.n;

    /* Bind a private copy: concurrent searches never write the shared index. */
    job.space = a->space;
    if ((rc = vspace_rebind(&job.space, v, err)))
        return rc;
    if (!p || p->k < 1)
        return kite_err_set(err, KITE_EINVAL, "search needs k >= 1");
    job.k = (size_t)p->k;
    if (p->search_k > 0) {
        job.search_k = (size_t)p->search_k;
    } else {
        job.search_k = job.k * a->n_trees;
        if (job.search_k < n / 20)
            job.search_k = n / 20;
    }
    if (job.search_k < job.k)
        job.search_k = job.k;
    job.n_allowed = req->allow ? (req->n_allowed != SIZE_MAX && req->n_allowed <= n
                                      ? req->n_allowed
                                      : vbits_count(req->allow, n))
                               : n;
    vrange_init(&job.range, &a->space, p);
    job.exact_only = req->allow && job.n_allowed <= job.search_k;
    atomic_init(&job.rc, KITE_OK);
    if (req->pool && req->nq > 1)
        kite_pool_parallel_for(req->pool, req->nq, 1, search_chunk, &job);
    else
        search_chunk(0, req->nq, 0, &job);
    rc = atomic_load(&job.rc);
    if (rc != KITE_OK)
        return kite_err_set(err, rc, "out of memory during ANNOY search");
    return KITE_OK;
}
