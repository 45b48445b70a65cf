/*
 * vindex_int.h — private to src/index ANN code: the distance "space" every ANN
 * index searches in, a bounded result heap, and the exact fallback scan.
 *
 * Design:
 *  1. Every index works with one internal distance where smaller is better:
 *       L2      -> squared L2
 *       IP      -> -(q . x)
 *       COSINE  -> -(q/|q| . x) * inv_norm[x]      (inv_norm precomputed per row)
 *       HAMMING -> popcount(q ^ x)
 *       JACCARD -> 1 - popcount(q & x) / popcount(q | x)   (0 if both all-zero... see
 *                  vspace_dist: both empty gives 1 - 0/0, which we define as 1.0, the
 *                  value SEMANTICS.md §c states for both all-zero)
 *     vspace_score() turns it back into the natural Milvus value (SEMANTICS.md §c).
 *  2. Range search in internal terms is always  lo <= dist < hi  (see vrange_init).
 *  3. Float16 / BFloat16 rows are converted once to a float copy owned by the space
 *     (the index must be fast; converting per distance would dominate search).
 *  4. A space borrows the segment's vectors (vec_view.data) unless it owns a copy;
 *     every search binds a private copy of the space to that call's vec_view
 *     (vspace_rebind), because the db may map the segment at a different address
 *     between calls, and concurrent searches must never write the shared index.
 *
 * Threading: a vspace is read-only after vspace_init(); any number of threads may
 * compute distances concurrently.
 */
#ifndef KITE_VINDEX_INT_H
#define KITE_VINDEX_INT_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"
#include "simd.h"

enum vspace_kind { VSP_L2 = 1, VSP_IP, VSP_COS, VSP_HAM, VSP_JAC };

struct vspace {
    int metric;             /* KITE_METRIC_* */
    int kind;               /* enum vspace_kind */
    int dtype;              /* of the segment's vectors */
    uint32_t dim;           /* components (binary: bits) */
    size_t n;
    size_t row_bytes;       /* bytes per row of `data` (float rows: dim*4) */
    const uint8_t *data;    /* rows: float for float kinds, packed bits for binary */
    float *owned;           /* float copy for FLOAT16/BFLOAT16 segments, else NULL */
    float *inv_norm;        /* COSINE: 1/|x| per row (0 for zero rows), else NULL */
    const struct kite_simd_ops *ops;
};

/* Build a space over v for metric (validates the pairing); owns copies it makes. */
int vspace_init(struct vspace *s, const struct vec_view *v, int metric, kite_err *err);
void vspace_free(struct vspace *s);
/* Point a space at the current address of the segment's vectors (checks n/dim). */
int vspace_rebind(struct vspace *s, const struct vec_view *v, kite_err *err);
bool vspace_is_binary(const struct vspace *s);
/* Bytes of one query (float: dim*4, binary: dim/8). */
size_t vspace_query_bytes(const struct vspace *s);
/*
 * Prepare a query for vspace_dist: COSINE queries are normalised into buf
 * (dim floats); others are returned unchanged.
 */
const void *vspace_prep_query(const struct vspace *s, const void *q, float *buf);
/* Natural Milvus score of an internal distance. */
float vspace_score(const struct vspace *s, float dist);

static inline const void *vspace_row(const struct vspace *s, size_t row)
{
    return s->data + row * s->row_bytes;
}

/* Internal distance between a prepared query and row `row`. */
static inline float vspace_dist(const struct vspace *s, const void *q, size_t row)
{
    const uint8_t *x = s->data + row * s->row_bytes;
    switch (s->kind) {
    case VSP_L2:
        return s->ops->l2_f32((const float *)q, (const float *)(const void *)x, s->dim);
    case VSP_IP:
        return -s->ops->ip_f32((const float *)q, (const float *)(const void *)x, s->dim);
    case VSP_COS:
        return -s->ops->ip_f32((const float *)q, (const float *)(const void *)x, s->dim) *
               s->inv_norm[row];
    case VSP_HAM:
        return (float)s->ops->hamming((const uint8_t *)q, x, s->row_bytes);
    default: {
        uint32_t a = 0, o = 0;
        s->ops->and_or_popcnt((const uint8_t *)q, x, s->row_bytes, &a, &o);
        return o ? 1.0f - (float)a / (float)o : 1.0f;
    }
    }
}

/* Internal distance between two rows (graph construction). */
float vspace_dist_rows(const struct vspace *s, size_t a, size_t b);

static inline bool vbit_test(const uint64_t *bits, size_t i)
{
    return (bits[i >> 6] >> (i & 63)) & 1u;
}

/* ------------------------------------------------------------ range filter */

/* Range search in internal distances: keep lo <= dist < hi. */
struct vrange {
    bool active;
    float lo, hi;
};

void vrange_init(struct vrange *r, const struct vspace *s, const struct vsearch_params *p);

static inline bool vrange_keep(const struct vrange *r, float d)
{
    return !r->active || (d >= r->lo && d < r->hi);
}

/* -------------------------------------------------------------- top-k heap */

struct vpair {
    float d;
    uint32_t id;
};

/* Bounded max-heap holding the k smallest distances seen (worst at a[0]). */
struct vtopk {
    struct vpair *a;
    size_t n, k;
};

static inline void vtopk_sift_down(struct vtopk *h, size_t i)
{
    struct vpair x = h->a[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->a[c + 1].d > h->a[c].d)
            c++;
        if (h->a[c].d <= x.d)
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    h->a[i] = x;
}

/* Offer (d, id); keeps the k best.  Returns true if it was kept. */
static inline bool vtopk_push(struct vtopk *h, float d, uint32_t id)
{
    if (d != d) /* NaN has no place in the order */
        return false;
    if (h->n < h->k) {
        size_t i = h->n++;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (h->a[p].d >= d)
                break;
            h->a[i] = h->a[p];
            i = p;
        }
        h->a[i] = (struct vpair){d, id};
        return true;
    }
    if (h->k == 0 || d >= h->a[0].d)
        return false;
    h->a[0] = (struct vpair){d, id};
    vtopk_sift_down(h, 0);
    return true;
}

static inline float vtopk_worst(const struct vtopk *h)
{
    return h->n < h->k ? INFINITY : h->a[0].d;
}

/* Sort the heap ascending in place (destroys the heap order). */
void vtopk_sort(struct vtopk *h);

/*
 * Write the sorted heap as hits (natural scores) into hits[0..], at most k.
 * Returns the number written.
 */
size_t vtopk_emit(struct vtopk *h, const struct vspace *s, struct kite_hit *hits);

/*
 * Exact scan of the allowed rows for one prepared query: the fallback every ANN
 * index uses when a filter leaves few rows or the approximate search comes up
 * short.  heap must have capacity k.
 */
void vspace_exact_scan(const struct vspace *s, const void *q, const uint64_t *allow,
                       const struct vrange *r, struct vtopk *heap);

/* Count set bits of allow over n rows. */
size_t vbits_count(const uint64_t *allow, size_t n);

/* splitmix64: the one PRNG of the index module (reproducible builds). */
static inline uint64_t vrand_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline double vrand_unit(uint64_t *state)
{
    return (double)(vrand_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
