/*
 * search_int.h — the search pipeline shared by search.c and hybrid.c.
 *
 * search_prepare() validates a kite_search_params against a collection and
 * compiles its filter; search_run() searches every selected segment and
 * leaves, per query, the merged hits sorted best first (at most offset+limit,
 * or every candidate for group-by); search_build_result() turns them into a
 * kite_result.  All three run under the collection's shared lock.
 */
#ifndef KITE_DB_SEARCH_INT_H
#define KITE_DB_SEARCH_INT_H

#include "db.h"

/* One merged hit: score and (segment index in c->segs, row). */
struct shit {
    float score;
    uint32_t seg;
    uint32_t row;
    uint32_t group; /* group-by scratch */
};

struct sctx {
    struct dcoll *c;
    int fi;                        /* anns field index */
    const kite_field_schema *field;
    struct didx *idx;              /* index on the field or NULL */
    int metric;
    size_t nq;
    int64_t k;                     /* offset + limit */
    const void *queries;
    float *owned_queries;          /* converted f16/bf16 queries */
    struct vsearch_params vp;
    struct expr_plan *plan;
    int64_t *parts;
    size_t n_parts;
    bool ignore_growing;
    int group_fi;
    int64_t group_size;
    struct shit **hits;            /* per query, after search_run */
    size_t *counts;
};

int search_prepare(struct dcoll *c, const kite_search_params *p, struct sctx *x, kite_err *err);
int search_run(struct sctx *x, kite_err *err);
void search_ctx_free(struct sctx *x);
int search_build_result(struct sctx *x, const struct outsel *o, int64_t offset, int64_t limit,
                        int round_decimal, bool grouped, kite_result **out, kite_err *err);
int coll_check_loaded(struct dcoll *c, kite_err *err);

#endif
