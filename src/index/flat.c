/*
 * flat.c — exact (brute-force) search over one segment's vectors: FLAT and
 * BIN_FLAT indexes and growing data without an index.
 *
 * Metrics (SEMANTICS.md §c; natural values, see index.h):
 *   float rows (FloatVector; Float16 / BFloat16 rows are converted to float
 *   block by block on the fly; queries always arrive as float):
 *     L2      squared Euclidean distance, ascending
 *     IP      raw inner product, descending
 *     COSINE  ip / (|q| |x|), descending, clamped to [-1, 1]; 0 when either
 *             vector is all-zero
 *   binary rows (dim bits, dim / 8 bytes per row):
 *     HAMMING      popcount(q ^ x), ascending
 *     JACCARD      1 - popcount(q & x) / popcount(q | x), ascending; 1.0 when
 *                  both vectors are all-zero (§c)
 *     TANIMOTO     -log2(popcount(q & x) / popcount(q | x)) (Milvus 2.1),
 *                  ascending.  When the intersection is empty (this includes
 *                  the all-zero pair, whose Jaccard distance is 1.0) the
 *                  similarity is 0 and -log2(0) = +inf; we return FLT_MAX, a
 *                  finite stand-in that survives JSON encoding.
 *     SUBSTRUCTURE / SUPERSTRUCTURE  filters: a row is a hit iff
 *                  (q & x) == q, resp. (q & x) == x; score 0; hits in row
 *                  order, the first k.  Range parameters do not apply.
 *
 * Design:
 *  1. Blocking (GEMM-like).  Queries are taken in blocks of `qb` (as many as
 *     fit in ~1 MiB, at most 256: measured 7% less CPU per query than 128
 *     on fmnist-784, none gained at 512) and the base in blocks of `rb` rows
 *     (FLAT_RB_MAX, fewer for very wide vectors so scratch stays ~1 MiB).
 *     For each (query block, row block) pair the blocked kernel
 *     kite_simd()->l2_f32_block / ip_f32_block computes the qb × rb
 *     distance tile, so each base row is read from memory once per query
 *     block instead of once per query; then the tile is pushed into the
 *     per-query top-k heaps (topk.h).
 *  2. Filters.  Rows whose `allow` bit is clear are never scored.  A row
 *     block with no allowed row is skipped; a partially allowed block has its
 *     allowed rows gathered (copied, or converted for fp16/bf16) into a
 *     contiguous scratch block first, so few allowed rows cost little.
 *  3. Parallelism (req->pool non-NULL).  With enough queries every worker
 *     takes whole query blocks against all rows and pushes straight into the
 *     output heaps (no merge).  With few queries the row blocks are split
 *     among workers, each worker keeps its own heaps for all queries, and the
 *     heaps are merged at the end; the merge is order-independent because the
 *     heap order is total (score, then smaller row).
 *  4. Determinism.  Every (query, row) distance comes from the same blocked
 *     kernel whatever the split, the block or the gathering, and the kernels
 *     give bit-identical values for identical inputs wherever they sit in a
 *     block, so equal vectors tie exactly and the smaller row wins.  (The
 *     kernel variant may depend on the query block size, which is the same
 *     for every row a query meets.)
 *  5. L2 with FLAT_EXPAND_MIN_NQ or more queries and no range: candidates are
 *     ranked by |q|^2 + |x|^2 - 2 q.x with the inner-product kernel (one FMA
 *     per element instead of a subtract and an FMA, and the packed GEMM
 *     kernel), keeping k + max(16, k/4) per query; the candidates are then
 *     rescored with the direct L2 kernel, so returned values are exact (a
 *     query's own row gives 0.0).  expansion_certified() proves from a
 *     rounding-error bound that no other row can enter the top k; queries it
 *     cannot prove (norms that dwarf the neighbour distances) are redone
 *     with the direct kernel.  Rejected: FAISS-style expansion without
 *     rescoring (its recall on sift-like is 0.9998, not 1, in bench/).
 *  6. Pushing: once a heap is full, kite_simd()->select_le / select_ge pick
 *     in bulk the few scores that can still enter it (measured: the scalar
 *     push loop cost about a quarter of the time at d = 128).
 *
 * Invariants:
 *  1. out->hits[qi * k ..] is the heap storage of query qi in the
 *     query-split mode without L2 candidates; otherwise heaps live in a
 *     separate array.  Either way it holds the sorted result on return.
 *  2. Each worker touches only its own scratch and (row-split mode) its own
 *     heaps, indexed by the worker number kite_pool_parallel_for passes.
 *
 * Threading: flat_search may be called concurrently on the same vec_view (it
 * only reads it); all mutable state lives in the call.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "index.h"
#include "log.h"
#include "simd.h"
#include "topk.h"

#define FLAT_RB_MAX 256                      /* base rows per block */
#define FLAT_RB_MIN 16
#define FLAT_ROWS_BYTES (1u << 20)           /* converted-row scratch target */
#define FLAT_QB_MAX 256                      /* queries per block */
#define FLAT_QBLOCK_BYTES (1024u * 1024u)    /* query block footprint target */
#define FLAT_SPLIT_HEAP_BYTES (64u << 20)    /* cap on per-worker heaps (row split) */
#define FLAT_EXPAND_MIN_NQ 8                 /* queries needed for L2 by expansion */
#define FLAT_RERANK_EXTRA 16                 /* extra L2 candidates reranked exactly */

struct flat_scratch {
    float *dist;      /* qb × rb distance tile */
    float *rows;      /* rb × dim gathered / converted float rows (or NULL) */
    float *xnorm;     /* rb row norms (COSINE) or squared norms (l2_expand) */
    uint32_t *ids;    /* rb segment rows of the gathered columns */
    uint32_t *sel;    /* rb columns picked by select_le / select_ge */
    float xmax2;      /* l2_expand: largest |x|^2 this worker has seen */
};

struct flat_job {
    const struct vec_view *v;
    const struct kite_simd_ops *ops;
    int metric;
    bool larger_better;
    bool is_binary;
    size_t k;             /* results per query: min(requested k, n) */
    size_t cand_k;        /* heap capacity: k, or k + FLAT_RERANK_EXTRA when l2_expand */
    bool l2_expand;       /* L2 ranked by |q|^2 + |x|^2 - 2 q.x, then reranked exactly */
    bool no_expand;       /* forbid l2_expand (the exact fallback pass) */
    float xmax2;          /* l2_expand: largest |x|^2 of all scanned rows */
    uint8_t *uncertain;   /* l2_expand: per query, 1 = candidates not proven complete */
    size_t nq, dim;
    size_t row_bytes;     /* bytes per base row (binary: dim / 8) */
    const void *queries;
    const float *qnorm;   /* COSINE: |q|; l2_expand: |q|^2 (per query) */
    const uint64_t *allow;
    bool has_radius, has_rf;
    float radius, rf;
    size_t qb;            /* queries per block */
    size_t rb;            /* base rows per block */
    size_t n_blocks;      /* row blocks */
    struct topk *heaps;   /* row split: workers × nq; query split: nq */
    struct flat_scratch *scratch; /* one per worker */
    size_t n_heaps;       /* entries of heaps */
    struct vsearch_out *out;
    size_t k_out;         /* stride of out->hits (the requested k) */
};

/* ------------------------------------------------------------------ helpers */

/* kite_malloc(a * b * c), NULL when the product overflows (STYLE.md §6). */
static void *alloc_array(size_t a, size_t b, size_t c)
{
    size_t ab, bytes;
    if (!kite_mul_size(a, b, &ab) || !kite_mul_size(ab, c, &bytes))
        return NULL;
    return kite_malloc(bytes);
}

static bool metric_is_float(int m)
{
    return m == KITE_METRIC_L2 || m == KITE_METRIC_IP || m == KITE_METRIC_COSINE;
}

static bool metric_is_binary(int m)
{
    return m == KITE_METRIC_HAMMING || m == KITE_METRIC_JACCARD || m == KITE_METRIC_TANIMOTO ||
           m == KITE_METRIC_SUBSTRUCTURE || m == KITE_METRIC_SUPERSTRUCTURE;
}

static bool dtype_is_float(int dt)
{
    return dt == KITE_DT_FLOAT_VECTOR || dt == KITE_DT_FLOAT16_VECTOR ||
           dt == KITE_DT_BFLOAT16_VECTOR;
}

static bool is_allowed(const uint64_t *allow, size_t row)
{
    return !allow || ((allow[row / 64] >> (row % 64)) & 1u);
}

static float cosine_of(float ip, float qn, float xn)
{
    if (qn == 0.0f || xn == 0.0f)
        return 0.0f;
    float c = ip / (qn * xn);
    return c > 1.0f ? 1.0f : (c < -1.0f ? -1.0f : c);
}

static float jaccard_of(uint32_t n_and, uint32_t n_or)
{
    if (n_or == 0)
        return 1.0f;
    return (float)(1.0 - (double)n_and / (double)n_or);
}

static float tanimoto_of(uint32_t n_and, uint32_t n_or)
{
    if (n_and == 0)
        return FLT_MAX;
    return (float)-log2((double)n_and / (double)n_or);
}

static bool in_range(const struct flat_job *j, float s)
{
    if (!j->has_radius)
        return true;
    if (j->larger_better)
        return s > j->radius && (!j->has_rf || s <= j->rf);
    return s < j->radius && (!j->has_rf || s >= j->rf);
}

/* Copy or convert `count` float-typed rows (ids[i], or r0 + i) into dst. */
static void load_rows(const struct flat_job *j, const uint32_t *ids, size_t r0, size_t count,
                      float *dst)
{
    const struct vec_view *v = j->v;
    size_t d = j->dim;
    for (size_t i = 0; i < count; i++) {
        size_t row = ids ? ids[i] : r0 + i;
        if (v->dtype == KITE_DT_FLOAT_VECTOR) {
            memcpy(dst + i * d, (const float *)v->data + row * d, d * sizeof(float));
        } else if (v->dtype == KITE_DT_FLOAT16_VECTOR) {
            j->ops->f16_to_f32((const uint16_t *)v->data + row * d, dst + i * d, d);
        } else {
            j->ops->bf16_to_f32((const uint16_t *)v->data + row * d, dst + i * d, d);
        }
    }
}

/*
 * List the allowed rows of [r0, r0 + nr) into ids; returns how many.  Returns
 * nr without touching ids when there is no filter.
 */
static size_t allowed_rows(const uint64_t *allow, size_t r0, size_t nr, uint32_t *ids)
{
    if (!allow)
        return nr;
    size_t cnt = 0, end = r0 + nr;
    size_t r = r0;
    while (r < end) {
        uint64_t w = allow[r / 64] >> (r % 64);
        size_t span = 64 - r % 64;
        if (span > end - r)
            span = end - r;
        if (span < 64)
            w &= (UINT64_C(1) << span) - 1;
        while (w) {
            ids[cnt++] = (uint32_t)(r + (size_t)__builtin_ctzll(w));
            w &= w - 1;
        }
        r += span;
    }
    return cnt;
}

/* ------------------------------------------------------------- float blocks */

/*
 * Push the scores drow[0..ncols) of one query into its heap.  Once the heap is
 * full only scores at least as good as its worst can enter, and the SIMD
 * select kernel finds those few columns in bulk; the heap re-checks each one
 * (its worst only improves while we push).
 */
static void push_selected(const struct flat_job *j, struct flat_scratch *s, struct topk *t,
                          const float *drow, size_t ncols, const uint32_t *ids, size_t r0)
{
    float thr = t->larger_better ? -INFINITY : INFINITY;
    if (t->k > 0 && t->n == t->k)
        thr = t->h[0].score;
    size_t m = t->larger_better ? j->ops->select_ge(drow, ncols, thr, s->sel)
                                : j->ops->select_le(drow, ncols, thr, s->sel);
    for (size_t i = 0; i < m; i++) {
        size_t c = s->sel[i];
        if (topk_admits(t, drow[c]))
            topk_push(t, drow[c], ids ? ids[c] : (uint32_t)(r0 + c));
    }
}

/*
 * Push an inner-product tile as approximate L2 = |q|^2 + |x|^2 - 2 q.x.  The
 * values only choose candidates (cand_k per query); finish_fn() replaces
 * them by exact distances.  No range test here: l2_expand is off for range
 * search.
 */
static void expand_push(const struct flat_job *j, struct flat_scratch *s,
                        struct topk *heaps, size_t q0, size_t nqb, size_t ncols,
                        const uint32_t *ids, size_t r0)
{
    float xmax2 = s->xmax2;
    bool all_finite = true;
    for (size_t c = 0; c < ncols; c++) {
        xmax2 = s->xnorm[c] > xmax2 ? s->xnorm[c] : xmax2;
        all_finite &= s->xnorm[c] <= FLT_MAX;
    }
    s->xmax2 = xmax2;
    for (size_t qi = 0; qi < nqb; qi++) {
        struct topk *t = &heaps[q0 + qi];
        float *restrict drow = s->dist + qi * ncols;
        const float *restrict xn2 = s->xnorm;
        float qn2 = j->qnorm[q0 + qi];
        if (all_finite && qn2 <= FLT_MAX) {
            for (size_t c = 0; c < ncols; c++)
                drow[c] = qn2 + xn2[c] - 2.0f * drow[c];
        } else {
            /* inf - inf (infinite components) stays a candidate for rescoring */
            for (size_t c = 0; c < ncols; c++) {
                float a = qn2 + xn2[c] - 2.0f * drow[c];
                drow[c] = a == a ? a : INFINITY;
            }
        }
        push_selected(j, s, t, drow, ncols, ids, r0);
    }
}

/* Score rows [r0, r0 + nr) for queries [q0, q0 + nqb) and push into heaps[q0..]. */
static void float_block(const struct flat_job *j, struct flat_scratch *s, struct topk *heaps,
                        size_t q0, size_t nqb, size_t r0, size_t nr)
{
    const struct vec_view *v = j->v;
    size_t d = j->dim;
    size_t ncols = allowed_rows(j->allow, r0, nr, s->ids);
    if (ncols == 0)
        return;
    const uint32_t *ids = ncols == nr ? NULL : s->ids;
    const float *base;
    if (!ids && v->dtype == KITE_DT_FLOAT_VECTOR) {
        base = (const float *)v->data + r0 * d;
    } else {
        load_rows(j, ids, r0, ncols, s->rows);
        base = s->rows;
    }
    if (j->metric == KITE_METRIC_COSINE) {
        for (size_t c = 0; c < ncols; c++) {
            size_t row = ids ? ids[c] : r0 + c;
            s->xnorm[c] = v->norms ? v->norms[row]
                                   : sqrtf(j->ops->ip_f32(base + c * d, base + c * d, d));
        }
    } else if (j->l2_expand) {
        for (size_t c = 0; c < ncols; c++)
            s->xnorm[c] = j->ops->ip_f32(base + c * d, base + c * d, d);
    }
    const float *qs = (const float *)j->queries + q0 * d;
    if (j->metric == KITE_METRIC_L2 && !j->l2_expand)
        j->ops->l2_f32_block(qs, nqb, base, ncols, d, s->dist);
    else
        j->ops->ip_f32_block(qs, nqb, base, ncols, d, s->dist);
    if (j->l2_expand) {
        expand_push(j, s, heaps, q0, nqb, ncols, ids, r0);
        return;
    }

    for (size_t qi = 0; qi < nqb; qi++) {
        struct topk *t = &heaps[q0 + qi];
        float *drow = s->dist + qi * ncols;
        if (j->metric == KITE_METRIC_COSINE) {
            float qn = j->qnorm[q0 + qi];
            for (size_t c = 0; c < ncols; c++)
                drow[c] = cosine_of(drow[c], qn, s->xnorm[c]);
        }
        if (!j->has_radius) {
            push_selected(j, s, t, drow, ncols, ids, r0);
            continue;
        }
        for (size_t c = 0; c < ncols; c++) {
            if (in_range(j, drow[c]) && topk_admits(t, drow[c]))
                topk_push(t, drow[c], ids ? ids[c] : (uint32_t)(r0 + c));
        }
    }
}

/* ------------------------------------------------------------ binary blocks */

static float binary_score(const struct flat_job *j, const uint8_t *q, const uint8_t *x)
{
    uint32_t n_and, n_or;
    switch (j->metric) {
    case KITE_METRIC_HAMMING:
        return (float)j->ops->hamming(q, x, j->row_bytes);
    case KITE_METRIC_JACCARD:
        j->ops->and_or_popcnt(q, x, j->row_bytes, &n_and, &n_or);
        return jaccard_of(n_and, n_or);
    default: /* TANIMOTO */
        j->ops->and_or_popcnt(q, x, j->row_bytes, &n_and, &n_or);
        return tanimoto_of(n_and, n_or);
    }
}

static void binary_block(const struct flat_job *j, struct flat_scratch *s, struct topk *heaps,
                         size_t q0, size_t nqb, size_t r0, size_t nr)
{
    size_t ncols = allowed_rows(j->allow, r0, nr, s->ids);
    if (ncols == 0)
        return;
    const uint32_t *ids = ncols == nr ? NULL : s->ids;
    const uint8_t *data = j->v->data;
    for (size_t qi = 0; qi < nqb; qi++) {
        struct topk *t = &heaps[q0 + qi];
        const uint8_t *q = (const uint8_t *)j->queries + (q0 + qi) * j->row_bytes;
        for (size_t c = 0; c < ncols; c++) {
            size_t row = ids ? ids[c] : r0 + c;
            float sc = binary_score(j, q, data + row * j->row_bytes);
            if (!in_range(j, sc) || !topk_admits(t, sc))
                continue;
            topk_push(t, sc, (uint32_t)row);
        }
    }
}

/* Row blocks [b0, b1) for queries [q0, q0 + nq) in query blocks of j->qb. */
static void run_blocks(const struct flat_job *j, struct flat_scratch *s, struct topk *heaps,
                       size_t q0, size_t nq, size_t b0, size_t b1)
{
    for (size_t qa = q0; qa < q0 + nq; qa += j->qb) {
        size_t nqb = q0 + nq - qa < j->qb ? q0 + nq - qa : j->qb;
        for (size_t b = b0; b < b1; b++) {
            size_t r0 = b * j->rb;
            size_t nr = j->v->n - r0 < j->rb ? j->v->n - r0 : j->rb;
            if (j->is_binary)
                binary_block(j, s, heaps, qa, nqb, r0, nr);
            else
                float_block(j, s, heaps, qa, nqb, r0, nr);
        }
    }
}

static void query_split_fn(size_t begin, size_t end, int worker, void *udata)
{
    const struct flat_job *j = udata;
    run_blocks(j, &j->scratch[worker], j->heaps, begin, end - begin, 0, j->n_blocks);
}

static void row_split_fn(size_t begin, size_t end, int worker, void *udata)
{
    const struct flat_job *j = udata;
    run_blocks(j, &j->scratch[worker], j->heaps + (size_t)worker * j->nq, 0, j->nq, begin, end);
}

/* ------------------------------------------------- SUBSTRUCTURE / SUPERSTRUCTURE */

/* true if every bit of `sub` is set in `super`. */
static bool bits_subset(const uint8_t *sub, const uint8_t *super, size_t nbytes)
{
    size_t i = 0;
    for (; i + 8 <= nbytes; i += 8) {
        uint64_t a, b;
        memcpy(&a, sub + i, 8);
        memcpy(&b, super + i, 8);
        if (a & ~b)
            return false;
    }
    for (; i < nbytes; i++) {
        if (sub[i] & ~super[i])
            return false;
    }
    return true;
}

struct struct_job {
    const struct flat_job *j;
    struct vsearch_out *out;
    size_t k_out;  /* stride of out->hits */
};

static void structure_fn(size_t begin, size_t end, int worker, void *udata)
{
    const struct struct_job *sj = udata;
    const struct flat_job *j = sj->j;
    const uint8_t *data = j->v->data;
    bool sub = j->metric == KITE_METRIC_SUBSTRUCTURE;
    for (size_t qi = begin; qi < end; qi++) {
        const uint8_t *q = (const uint8_t *)j->queries + qi * j->row_bytes;
        struct kite_hit *hits = sj->out->hits + qi * sj->k_out;
        size_t cnt = 0;
        for (size_t row = 0; row < j->v->n && cnt < j->k; row++) {
            if (!is_allowed(j->allow, row))
                continue;
            const uint8_t *x = data + row * j->row_bytes;
            if (sub ? bits_subset(q, x, j->row_bytes) : bits_subset(x, q, j->row_bytes)) {
                hits[cnt].score = 0.0f;
                hits[cnt].row = (uint32_t)row;
                cnt++;
            }
        }
        sj->out->counts[qi] = cnt;
    }
}

/* --------------------------------------------------------------- validation */

static int check_args(const struct vec_view *v, const struct vsearch_req *req,
                      const struct vsearch_out *out, kite_err *err)
{
    if (!v || !req || !req->params || !out)
        return kite_err_set(err, KITE_EINVAL, "flat_search: expected a vec_view, a request "
                                              "with params and an output, got NULL");
    const struct vsearch_params *p = req->params;
    int m = p->metric;
    if (p->k < 1)
        return kite_err_set(err, KITE_EINVAL, "topk must be at least 1, not %lld",
                            (long long)p->k);
    if (req->nq > 0 && (!req->queries || !out->hits || !out->counts))
        return kite_err_set(err, KITE_EINVAL,
                            "flat_search: %zu queries but NULL query or output buffers", req->nq);
    if (v->dim == 0)
        return kite_err_set(err, KITE_EINVAL, "vector dimension must be positive, not 0");
    if (v->n > 0 && !v->data)
        return kite_err_set(err, KITE_EINVAL, "flat_search: %zu rows but no vector data", v->n);
    if (v->n > UINT32_MAX)
        return kite_err_set(err, KITE_EINVAL,
                            "segment has %zu rows; at most %u rows per segment are supported",
                            v->n, UINT32_MAX);
    if (dtype_is_float(v->dtype)) {
        if (!metric_is_float(m))
            return kite_err_set(err, KITE_EINVAL,
                                "metric type %d is not valid for a float vector field; expected "
                                "L2, IP or COSINE",
                                m);
    } else if (v->dtype == KITE_DT_BINARY_VECTOR) {
        if (!metric_is_binary(m))
            return kite_err_set(err, KITE_EINVAL,
                                "metric type %d is not valid for a binary vector field; expected "
                                "HAMMING, JACCARD, TANIMOTO, SUBSTRUCTURE or SUPERSTRUCTURE",
                                m);
        if (v->dim % 8 != 0)
            return kite_err_set(err, KITE_EINVAL,
                                "binary vector dimension must be a multiple of 8, not %u", v->dim);
    } else {
        return kite_err_set(err, KITE_EINVAL,
                            "vector data type %d cannot be searched; expected a float, float16, "
                            "bfloat16 or binary vector field",
                            v->dtype);
    }
    if (p->has_range_filter && !p->has_radius)
        return kite_err_set(err, KITE_EINVAL, "range_filter requires radius to be set");
    return KITE_OK;
}

/* -------------------------------------------------------------------- search */

static void free_scratch(struct flat_scratch *sc, int n)
{
    if (!sc)
        return;
    for (int i = 0; i < n; i++) {
        kite_free_aligned(sc[i].dist);
        kite_free_aligned(sc[i].rows);
        kite_free(sc[i].xnorm);
        kite_free(sc[i].ids);
        kite_free(sc[i].sel);
    }
    kite_free(sc);
}

static int alloc_scratch(const struct flat_job *j, int workers, struct flat_scratch **out)
{
    struct flat_scratch *sc = kite_calloc((size_t)workers, sizeof(*sc));
    if (!sc)
        return KITE_ENOMEM;
    bool need_rows = !j->is_binary && (j->v->dtype != KITE_DT_FLOAT_VECTOR || j->allow);
    for (int i = 0; i < workers; i++) {
        sc[i].ids = kite_malloc(j->rb * sizeof(uint32_t));
        if (j->is_binary) {
            if (!sc[i].ids)
                goto out_free;
            continue;
        }
        sc[i].sel = kite_malloc(j->rb * sizeof(uint32_t));
        sc[i].dist = kite_malloc_aligned(j->qb * j->rb * sizeof(float));
        sc[i].xnorm = kite_malloc(j->rb * sizeof(float));
        if (need_rows)
            sc[i].rows = kite_malloc_aligned(j->rb * j->dim * sizeof(float));
        if (!sc[i].ids || !sc[i].sel || !sc[i].dist || !sc[i].xnorm ||
            (need_rows && !sc[i].rows))
            goto out_free;
    }
    *out = sc;
    return KITE_OK;
out_free:
    free_scratch(sc, workers);
    return KITE_ENOMEM;
}

/*
 * Choose the query block size, the L2 strategy and whether to split rows
 * among workers (returns true for a row split).
 */
static bool plan(struct flat_job *j, int workers)
{
    if (j->is_binary) {
        j->qb = 64;
    } else {
        size_t qb = FLAT_QBLOCK_BYTES / (j->dim * sizeof(float));
        qb = qb > FLAT_QB_MAX ? FLAT_QB_MAX : qb;
        qb &= ~(size_t)3;
        j->qb = qb < 4 ? 4 : qb;
    }
    /*
     * L2 by expansion uses the inner-product kernel (one FMA per element
     * instead of a subtract and an FMA: ~2x faster when compute-bound) plus
     * |x|^2 per row and query block, which only pays off with several queries
     * per block.  Range search keeps the direct kernel so the radius test sees
     * exact values.
     */
    j->l2_expand = j->metric == KITE_METRIC_L2 && !j->has_radius && !j->no_expand &&
                   j->nq >= FLAT_EXPAND_MIN_NQ;
    j->cand_k = j->k;
    if (j->l2_expand) {
        size_t extra = j->k / 4 > FLAT_RERANK_EXTRA ? j->k / 4 : FLAT_RERANK_EXTRA;
        j->cand_k = j->k + extra < j->v->n ? j->k + extra : j->v->n;
    }
    size_t rb = FLAT_ROWS_BYTES / (j->dim * sizeof(float));
    rb = rb > FLAT_RB_MAX ? FLAT_RB_MAX : (rb < FLAT_RB_MIN ? FLAT_RB_MIN : rb & ~(size_t)15);
    j->rb = j->is_binary ? FLAT_RB_MAX : rb;
    j->n_blocks = (j->v->n + j->rb - 1) / j->rb;
    if (workers <= 1 || j->nq >= (size_t)workers * j->qb || j->n_blocks < 2 * (size_t)workers)
        return false;
    size_t heap_bytes;
    if (!kite_mul_size((size_t)workers * j->nq, j->cand_k * sizeof(struct kite_hit),
                       &heap_bytes) ||
        heap_bytes > FLAT_SPLIT_HEAP_BYTES)
        return false;
    return true;
}

/* Exact L2 between query qi and `row` with the blocked kernel's arithmetic. */
static float exact_l2(const struct flat_job *j, struct flat_scratch *s, size_t qi, uint32_t row)
{
    const float *q = (const float *)j->queries + qi * j->dim;
    const float *x;
    if (j->v->dtype == KITE_DT_FLOAT_VECTOR) {
        x = (const float *)j->v->data + (size_t)row * j->dim;
    } else {
        load_rows(j, &row, 0, 1, s->rows);
        x = s->rows;
    }
    float dist;
    j->ops->l2_f32_batch(q, x, 1, j->dim, &dist);
    return dist;
}

/*
 * Proof that no row outside the candidates can enter the exact top k.
 *
 * Error model (u = 2^-24): the single-pair kernels that give |q|^2 and
 * |x|^2 sum in 8 or more lanes of at most d/8 terms plus a reduction tree,
 * so they are off by at most (d/8 + 5) u |v|^2.  The blocked inner product
 * either does the same (tile kernels) or sums chunks of 128 dimensions
 * sequentially and adds the chunk sums (packed GEMM kernel): at most
 * (min(d, 128) + d/8 + 5) u sum|q_i x_i|, with sum|q_i x_i| <=
 * (|q|^2 + |x|^2) / 2.  With the three roundings of qn2 + xn2 - 2 ip:
 * |approx - exact| <= (min(d, 128) + d/4 + 16) u (|q|^2 + |x|^2) = B.  Every row outside a full candidate heap has approx >= the heap's
 * worst approx A, hence a true distance >= A - B(|x| <= xmax); if that still
 * exceeds the k-th exact distance (with the direct kernel's own relative
 * error on top), the top k is complete.  Otherwise the query is redone with
 * the direct kernel (flat_search's fallback pass).
 */
static bool expansion_certified(const struct flat_job *j, const struct topk *cand,
                                const struct topk *best, size_t qi)
{
    if (cand->n < cand->k || best->n < best->k)
        return true;  /* every allowed row was a candidate */
    double dim = (double)j->dim;
    double u = 0x1p-24, c = ((dim < 128.0 ? dim : 128.0) + dim / 4.0 + 16.0) * u;
    double bound = c * ((double)j->qnorm[qi] + (double)j->xmax2);
    double worst_cand = cand->h[0].score;  /* heap root: the worst approx kept */
    double kth = -INFINITY;
    for (size_t i = 0; i < best->n; i++)      /* heap order: find the worst kept */
        kth = best->h[i].score > kth ? best->h[i].score : kth;
    double direct_err = ((double)j->dim / 8.0 + 5.0) * u * kth;
    return worst_cand - bound > kth + direct_err;
}

/*
 * Turn the candidate heap of each query into its sorted result in out.  Row
 * split: worker 0's heap absorbs the other workers' heaps first.  l2_expand:
 * candidates are rescored exactly and the best k kept.
 */
static void finish_fn(size_t begin, size_t end, int worker, void *udata)
{
    const struct flat_job *j = udata;
    struct flat_scratch *s = &j->scratch[worker];
    for (size_t qi = begin; qi < end; qi++) {
        struct topk *h = &j->heaps[qi];
        for (size_t w = 1; (w + 1) * j->nq <= j->n_heaps; w++) {
            const struct topk *wt = &j->heaps[w * j->nq + qi];
            topk_merge(h, wt->h, wt->n);
        }
        if (h->h == j->out->hits + qi * j->k_out) {
            j->out->counts[qi] = topk_sort(h);
            continue;
        }
        struct topk t;
        topk_init(&t, j->out->hits + qi * j->k_out, j->k, j->larger_better);
        if (j->l2_expand) {
            for (size_t i = 0; i < h->n; i++)
                topk_push(&t, exact_l2(j, s, qi, h->h[i].row), h->h[i].row);
            j->uncertain[qi] = !expansion_certified(j, h, &t, qi);
        } else {
            topk_merge(&t, h->h, h->n);
        }
        j->out->counts[qi] = topk_sort(&t);
    }
}

static int search_ranked(struct flat_job *j, const struct vsearch_req *req, kite_err *err);

/*
 * Redo the queries whose expansion candidates were not certified (see
 * expansion_certified) with the direct L2 kernel, and put their results in
 * place.  Rare: needs data whose norms dwarf the neighbour distances.
 */
static int redo_uncertain(const struct flat_job *j, const struct vsearch_req *req,
                          kite_err *err)
{
    int rc = KITE_OK;
    size_t n_unc = 0;
    for (size_t qi = 0; qi < j->nq; qi++)
        n_unc += j->uncertain[qi];
    if (n_unc == 0)
        return KITE_OK;
    KITE_DEBUG("flat: %zu of %zu L2 queries redone with the direct kernel", n_unc, j->nq);
    float *qs = alloc_array(n_unc, j->dim, sizeof(float));
    struct kite_hit *hits = alloc_array(n_unc, j->k_out, sizeof(struct kite_hit));
    size_t *counts = kite_malloc(n_unc * sizeof(size_t));
    if (!qs || !hits || !counts) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory for the exact L2 fallback of %zu "
                                            "queries", n_unc);
        goto out_free;
    }
    for (size_t qi = 0, i = 0; qi < j->nq; qi++) {
        if (j->uncertain[qi])
            memcpy(qs + i++ * j->dim, (const float *)j->queries + qi * j->dim,
                   j->dim * sizeof(float));
    }
    struct vsearch_out out2 = {hits, counts};
    struct flat_job j2 = *j;
    j2.queries = qs;
    j2.nq = n_unc;
    j2.no_expand = true;
    j2.out = &out2;
    j2.xmax2 = 0;
    j2.uncertain = NULL;
    rc = search_ranked(&j2, req, err);
    if (rc != KITE_OK)
        goto out_free;
    for (size_t qi = 0, i = 0; qi < j->nq; qi++) {
        if (!j->uncertain[qi])
            continue;
        memcpy(j->out->hits + qi * j->k_out, hits + i * j->k_out,
               counts[i] * sizeof(struct kite_hit));
        j->out->counts[qi] = counts[i];
        i++;
    }
out_free:
    kite_free(qs);
    kite_free(hits);
    kite_free(counts);
    return rc;
}

static int search_ranked(struct flat_job *j, const struct vsearch_req *req, kite_err *err)
{
    int rc = KITE_OK;
    int workers = req->pool ? kite_pool_size(req->pool) : 1;
    bool split_rows = plan(j, workers);
    struct kite_hit *heap_hits = NULL;
    float *qnorm = NULL;

    rc = alloc_scratch(j, workers, &j->scratch);
    if (rc != KITE_OK) {
        kite_err_set(err, rc, "out of memory for exact-search scratch (%d workers, dim %zu)",
                     workers, j->dim);
        return rc;
    }
    if (j->l2_expand) {
        j->uncertain = kite_calloc(j->nq, 1);
        if (!j->uncertain)
            goto out_nomem;
    }
    if (j->metric == KITE_METRIC_COSINE || j->l2_expand) {
        qnorm = kite_malloc(j->nq * sizeof(float));
        if (!qnorm)
            goto out_nomem;
        for (size_t qi = 0; qi < j->nq; qi++) {
            const float *q = (const float *)j->queries + qi * j->dim;
            float n2 = j->ops->ip_f32(q, q, j->dim);
            qnorm[qi] = j->l2_expand ? n2 : sqrtf(n2);
        }
        j->qnorm = qnorm;
    }
    j->n_heaps = split_rows ? (size_t)workers * j->nq : j->nq;
    j->heaps = kite_calloc(j->n_heaps, sizeof(struct topk));
    if (!j->heaps)
        goto out_nomem;
    if (split_rows || j->l2_expand) {
        heap_hits = alloc_array(j->n_heaps, j->cand_k, sizeof(struct kite_hit));
        if (!heap_hits)
            goto out_nomem;
        for (size_t h = 0; h < j->n_heaps; h++)
            topk_init(&j->heaps[h], heap_hits + h * j->cand_k, j->cand_k, j->larger_better);
    } else {
        /* query split without candidates: the output slots are the heaps */
        for (size_t qi = 0; qi < j->nq; qi++)
            topk_init(&j->heaps[qi], j->out->hits + qi * j->k_out, j->k, j->larger_better);
    }
    if (split_rows) {
        size_t grain = j->n_blocks / ((size_t)workers * 4);
        kite_pool_parallel_for(req->pool, j->n_blocks, grain ? grain : 1, row_split_fn, j);
    } else if (workers > 1) {
        size_t grain = (j->nq + (size_t)workers * 4 - 1) / ((size_t)workers * 4);
        kite_pool_parallel_for(req->pool, j->nq, grain, query_split_fn, j);
    } else {
        query_split_fn(0, j->nq, 0, j);
    }
    for (int w = 0; w < workers; w++)
        j->xmax2 = j->scratch[w].xmax2 > j->xmax2 ? j->scratch[w].xmax2 : j->xmax2;
    if (workers > 1)
        kite_pool_parallel_for(req->pool, j->nq, 16, finish_fn, j);
    else
        finish_fn(0, j->nq, 0, j);
    if (j->l2_expand)
        rc = redo_uncertain(j, req, err);
    goto out_free;

out_nomem:
    rc = kite_err_set(err, KITE_ENOMEM, "out of memory for exact search of %zu queries, k %zu",
                      j->nq, j->k);
out_free:
    kite_free(heap_hits);
    kite_free(j->heaps);
    j->heaps = NULL;
    kite_free(qnorm);
    j->qnorm = NULL;
    kite_free(j->uncertain);
    j->uncertain = NULL;
    free_scratch(j->scratch, workers);
    j->scratch = NULL;
    return rc;
}

/*
 * Exact top-k (or range) search of req->nq queries over all allowed rows of v.
 * Results: out->hits[qi * k ...] best first, out->counts[qi] of them, where k
 * = req->params->k (fewer when fewer rows are allowed or in range).
 * Returns KITE_OK, KITE_EINVAL (bad arguments, metric/dtype mismatch) or
 * KITE_ENOMEM; on error the outputs are unspecified.
 */
int flat_search(const struct vec_view *v, const struct vsearch_req *req, struct vsearch_out *out,
                kite_err *err)
{
    int rc = check_args(v, req, out, err);
    if (rc != KITE_OK)
        return rc;
    const struct vsearch_params *p = req->params;
    size_t k_out = (size_t)p->k;
    if (req->nq == 0)
        return KITE_OK;
    if (v->n == 0 || req->n_allowed == 0) {
        memset(out->counts, 0, req->nq * sizeof(size_t));
        return KITE_OK;
    }
    struct flat_job j = {
        .v = v,
        .ops = kite_simd(),
        .metric = p->metric,
        .larger_better = p->metric == KITE_METRIC_IP || p->metric == KITE_METRIC_COSINE,
        .is_binary = v->dtype == KITE_DT_BINARY_VECTOR,
        .k = k_out < v->n ? k_out : v->n,
        .nq = req->nq,
        .dim = v->dim,
        .row_bytes = v->dtype == KITE_DT_BINARY_VECTOR ? v->dim / 8 : 0,
        .queries = req->queries,
        .allow = req->allow,
        .has_radius = p->has_radius,
        .has_rf = p->has_range_filter,
        .radius = p->radius,
        .rf = p->range_filter,
    };
    if (j.metric == KITE_METRIC_SUBSTRUCTURE || j.metric == KITE_METRIC_SUPERSTRUCTURE) {
        struct struct_job sj = {.j = &j, .out = out, .k_out = k_out};
        if (req->pool)
            kite_pool_parallel_for(req->pool, j.nq, 1, structure_fn, &sj);
        else
            structure_fn(0, j.nq, 0, &sj);
        return KITE_OK;
    }
    j.out = out;
    j.k_out = k_out;
    return search_ranked(&j, req, err);
}

/* ------------------------------------------------------------ one distance */

/* Chunked float distance for fp16 / bf16 rows: converts FLAT_CHUNK elements at a time. */
#define FLAT_CHUNK 256

static float half_row_distance(const struct vec_view *v, const struct kite_simd_ops *ops,
                               int metric, const float *q, size_t row)
{
    const uint16_t *x = (const uint16_t *)v->data + row * v->dim;
    float buf[FLAT_CHUNK];
    double acc = 0.0, xx = 0.0, qq = 0.0;
    for (size_t i = 0; i < v->dim; i += FLAT_CHUNK) {
        size_t m = v->dim - i < FLAT_CHUNK ? v->dim - i : FLAT_CHUNK;
        if (v->dtype == KITE_DT_FLOAT16_VECTOR)
            ops->f16_to_f32(x + i, buf, m);
        else
            ops->bf16_to_f32(x + i, buf, m);
        if (metric == KITE_METRIC_L2) {
            acc += ops->l2_f32(q + i, buf, m);
        } else {
            acc += ops->ip_f32(q + i, buf, m);
            xx += ops->ip_f32(buf, buf, m);
            qq += ops->ip_f32(q + i, q + i, m);
        }
    }
    if (metric == KITE_METRIC_COSINE)
        return cosine_of((float)acc, (float)sqrt(qq), (float)sqrt(xx));
    return (float)acc;
}

/*
 * The metric value between `query` (float for float / fp16 / bf16 fields,
 * dim / 8 bytes for binary ones) and row `row` of v, as flat_search would
 * report it.  SUBSTRUCTURE / SUPERSTRUCTURE give 0 when the row satisfies the
 * relation and 1 when it does not.  Returns NaN for a metric that does not fit
 * the field type or a row out of range.
 */
float vindex_distance(const struct vec_view *v, int metric, const void *query, size_t row)
{
    if (!v || !query || row >= v->n || !v->data || v->dim == 0)
        return NAN;
    const struct kite_simd_ops *ops = kite_simd();
    if (dtype_is_float(v->dtype)) {
        if (!metric_is_float(metric))
            return NAN;
        const float *q = query;
        if (v->dtype != KITE_DT_FLOAT_VECTOR)
            return half_row_distance(v, ops, metric, q, row);
        const float *x = (const float *)v->data + row * v->dim;
        if (metric == KITE_METRIC_L2)
            return ops->l2_f32(q, x, v->dim);
        float ip = ops->ip_f32(q, x, v->dim);
        if (metric == KITE_METRIC_IP)
            return ip;
        float xn = v->norms ? v->norms[row] : sqrtf(ops->ip_f32(x, x, v->dim));
        return cosine_of(ip, sqrtf(ops->ip_f32(q, q, v->dim)), xn);
    }
    if (v->dtype != KITE_DT_BINARY_VECTOR || !metric_is_binary(metric) || v->dim % 8 != 0)
        return NAN;
    size_t nb = v->dim / 8;
    const uint8_t *q = query;
    const uint8_t *x = (const uint8_t *)v->data + row * nb;
    uint32_t n_and, n_or;
    switch (metric) {
    case KITE_METRIC_HAMMING:
        return (float)ops->hamming(q, x, nb);
    case KITE_METRIC_JACCARD:
        ops->and_or_popcnt(q, x, nb, &n_and, &n_or);
        return jaccard_of(n_and, n_or);
    case KITE_METRIC_TANIMOTO:
        ops->and_or_popcnt(q, x, nb, &n_and, &n_or);
        return tanimoto_of(n_and, n_or);
    case KITE_METRIC_SUBSTRUCTURE:
        return bits_subset(q, x, nb) ? 0.0f : 1.0f;
    default: /* SUPERSTRUCTURE */
        return bits_subset(x, q, nb) ? 0.0f : 1.0f;
    }
}
