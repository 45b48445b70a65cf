/*
 * hybrid.c — kite_hybrid_search: several ANN sub-searches (usually on
 * different vector fields) fused by a reranker.
 *
 * Each sub-search runs through the normal pipeline (search_int.h) with its
 * own limit, filter and params; all of them run under one shared lock, so a
 * row is identified across lists by (segment, row).  Fusion per query:
 *   RRF       score(row) = sum over lists containing it of 1 / (k + rank),
 *             rank 1-based, k = rrf_k (default 60).
 *   weighted  score(row) = sum of weight_i * norm_i(score), where norm maps
 *             each metric to [0, 1] with "larger is closer" (as Milvus):
 *               L2 and other distances:  1 - 2 * atan(d) / pi
 *               IP:                      0.5 + atan(s) / pi
 *               COSINE:                  (1 + s) / 2
 * Results are sorted by fused score descending (ties: segment, row), then
 * offset / limit; the returned scores are the fused scores.
 *
 * Threading model: one shared collection lock for the whole call.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "search_int.h"

struct fused {
    uint32_t seg, row;
    double score;
};

static double norm_score(int metric, float s)
{
    if (metric == KITE_METRIC_COSINE)
        return (1.0 + s) / 2.0;
    if (metric == KITE_METRIC_IP)
        return 0.5 + atan(s) / M_PI;
    return 1.0 - 2.0 * atan(s) / M_PI;
}

static int cmp_fused(const void *a, const void *b)
{
    const struct fused *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

static int fuse_query(struct sctx *subs, size_t n_subs, size_t q, const kite_rerank *rr,
                      struct fused **out, size_t *n_out)
{
    size_t total = 0, n = 0;
    for (size_t i = 0; i < n_subs; i++)
        total += subs[i].counts[q];
    struct fused *f = kite_malloc((total ? total : 1) * sizeof(*f));
    if (!f)
        return KITE_ENOMEM;
    double k = rr && rr->rrf_k > 0 ? rr->rrf_k : 60.0;
    for (size_t i = 0; i < n_subs; i++) {
        for (size_t h = 0; h < subs[i].counts[q]; h++) {
            struct shit *x = &subs[i].hits[q][h];
            double add;
            if (rr && rr->strategy == 1)
                add = rr->weights[i] * norm_score(subs[i].metric, x->score);
            else
                add = 1.0 / (k + (double)(h + 1));
            size_t j;
            for (j = 0; j < n; j++)
                if (f[j].seg == x->seg && f[j].row == x->row)
                    break;
            if (j == n)
                f[n++] = (struct fused){x->seg, x->row, 0};
            f[j].score += add;
        }
    }
    qsort(f, n, sizeof(*f), cmp_fused);
    *out = f;
    *n_out = n;
    return KITE_OK;
}

static int check_hybrid(const kite_search_params *subs, size_t n_subs, const kite_rerank *rr,
                        int64_t limit, int64_t offset, kite_err *err)
{
    if (!subs || n_subs == 0)
        return kite_err_set(err, KITE_EMISSING, "hybrid search needs at least one sub-search");
    if (n_subs > 1024)
        return kite_err_set(err, KITE_EINVAL, "too many sub-searches (%zu): at most 1024", n_subs);
    if (limit < 1 || limit > DB_MAX_TOPK)
        return kite_err_set(err, KITE_EINVAL,
                            "topk [%lld] is invalid, it should be in range [1, 16384], but got "
                            "%lld",
                            (long long)limit, (long long)limit);
    if (offset < 0 || offset + limit > DB_MAX_TOPK)
        return kite_err_set(err, KITE_EINVAL,
                            "(offset+limit) should be in range [1, 16384], but got %lld",
                            (long long)(offset + limit));
    for (size_t i = 1; i < n_subs; i++)
        if (subs[i].nq != subs[0].nq)
            return kite_err_set(err, KITE_EINVAL,
                                "sub-search %zu has nq %zu, sub-search 0 has %zu: all must be "
                                "equal",
                                i, subs[i].nq, subs[0].nq);
    if (rr && rr->strategy == 1 && (!rr->weights || rr->n_weights != n_subs))
        return kite_err_set(err, KITE_EINVAL,
                            "the length of weights param mismatch with ann search requests: "
                            "expected %zu weights, got %zu",
                            n_subs, rr->weights ? rr->n_weights : 0);
    if (rr && rr->strategy != 0 && rr->strategy != 1)
        return kite_err_set(err, KITE_EINVAL, "unknown rerank strategy %d: expected 0 (RRF) or "
                                              "1 (weighted)",
                            rr->strategy);
    return KITE_OK;
}

static int build_fused(struct dcoll *c, struct sctx *subs, size_t n_subs, const kite_rerank *rr,
                       int64_t limit, int64_t offset, const struct outsel *o, int round_decimal,
                       kite_result **out, kite_err *err)
{
    size_t nq = subs[0].nq;
    struct sctx view = {0};
    int rc = KITE_OK;
    view.c = c;
    view.nq = nq;
    view.group_fi = -1;
    view.hits = kite_calloc(nq, sizeof(struct shit *));
    view.counts = kite_calloc(nq, sizeof(size_t));
    if (!view.hits || !view.counts) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t q = 0; q < nq; q++) {
        struct fused *f;
        size_t n;
        if (fuse_query(subs, n_subs, q, rr, &f, &n)) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
            goto out;
        }
        view.hits[q] = kite_malloc((n ? n : 1) * sizeof(struct shit));
        if (!view.hits[q]) {
            kite_free(f);
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            view.hits[q][i] = (struct shit){(float)f[i].score, f[i].seg, f[i].row, 0};
        view.counts[q] = n;
        kite_free(f);
    }
    rc = search_build_result(&view, o, offset, limit, round_decimal, false, out, err);
out:
    search_ctx_free(&view);
    return rc;
}

int kite_hybrid_search(kite_db *db, const char *dbname, const char *coll,
                       const kite_search_params *subs, size_t n_subs, const kite_rerank *rerank,
                       int64_t limit, int64_t offset, const char *const *output_fields,
                       size_t n_output_fields, int round_decimal, kite_result **out,
                       kite_err *err)
{
    struct dcoll *c = NULL;
    struct outsel o = {0};
    struct sctx *ctx = NULL;
    kite_err_clear(err);
    *out = NULL;
    int rc = check_hybrid(subs, n_subs, rerank, limit, offset, err);
    if (rc)
        return rc;
    rc = coll_acquire(db, dbname, coll, &c, err);
    if (rc)
        return rc;
    ctx = kite_calloc(n_subs, sizeof(*ctx));
    pthread_rwlock_rdlock(&c->lock);
    rc = ctx ? coll_check_loaded(c, err) : kite_err_set(err, KITE_ENOMEM, "out of memory");
    if (!rc)
        rc = outsel_resolve(c, output_fields, n_output_fields, false, &o, err);
    for (size_t i = 0; i < n_subs && !rc; i++) {
        kite_search_params sp = subs[i];
        sp.offset = 0;
        sp.group_by_field = NULL;
        rc = search_prepare(c, &sp, &ctx[i], err);
        if (!rc)
            rc = search_run(&ctx[i], err);
        if (rc)
            kite_err_prefix(err, "sub-search %zu", i);
    }
    if (!rc)
        rc = build_fused(c, ctx, n_subs, rerank, limit, offset, &o, round_decimal, out, err);
    pthread_rwlock_unlock(&c->lock);
    for (size_t i = 0; ctx && i < n_subs; i++)
        search_ctx_free(&ctx[i]);
    kite_free(ctx);
    outsel_free(&o);
    coll_unref(c);
    return rc;
}
