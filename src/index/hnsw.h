/*
 * hnsw.h — private header of the HNSW graph index (Malkov & Yashunin 2016,
 * "Efficient and robust approximate nearest neighbor search using Hierarchical
 * Navigable Small World graphs", arXiv:1603.09320; algorithm numbers below are
 * that paper's).  Split by operation: hnsw_build.c (Alg. 1 insert, Alg. 4
 * neighbour heuristic, parallel build), hnsw_search.c (Alg. 2 search-layer,
 * Alg. 5 k-NN search, filters, range search), hnsw_serde.c (format, validation).
 *
 * Layout (for speed): level-0 links are one contiguous array of n slots of
 * (m0 + 1) uint32 each — slot[0] is the count, slot[1..] neighbour rows — so a
 * search touches one cache line run per visited node; upper-level links live in
 * one pool, level * (m + 1) uint32 per node with a level (only ~1/m of nodes),
 * found through a 32-bit offset per node (4 bytes a row instead of a pointer:
 * what keeps the float-walk graph no larger than hnswlib's).
 *
 * Invariants (checked by hnsw_validate and on load):
 *  1. every neighbour id < n and never the node itself; counts <= m0 (level 0)
 *     or m (upper levels); no duplicate neighbour in one list;
 *  2. levels[i] <= max_level < HNSW_MAX_LEVEL; levels[entry] == max_level;
 *  3. a node at level L has link lists for levels 0..L only.
 *
 * Threading: a built graph is read-only; searches share it and take private
 * scratch (visited epochs, heaps) from a mutex-protected free list.  During the
 * parallel build, each node's link lists are guarded by a striped mutex
 * (node % HNSW_N_LOCKS), at most one held at a time; entry/max_level by
 * build_lock, taken before any node lock.
 */
#ifndef KITE_HNSW_H
#define KITE_HNSW_H

#include <pthread.h>
#include <stdint.h>

#include "index.h"
#include "vindex_int.h"

#define HNSW_MAGIC 0x57534E48u /* "HNSW" little-endian */
#define HNSW_FORMAT_VERSION 2u /* 2: header word 44 = flags (1: reserved, 0) */
#define HNSW_FLAG_FLOAT_WALK 1u /* no 8-bit traversal codes: walk on the float rows */
#define HNSW_FLAG_SPLIT_WALK 2u /* rows held as two 16-bit planes, walk on the high one */
#define HNSW_MIN_M 2
#define HNSW_MAX_M 2048
#define HNSW_DEFAULT_M 30
#define HNSW_DEFAULT_EF_CONSTRUCTION 360
#define HNSW_MAX_LEVEL 32
#define HNSW_N_LOCKS 4096

struct hnsw_config {
    int metric;
    int m;
    int ef_construction;
    uint64_t seed;            /* level draws: reproducible for a given seed */
    struct kite_pool *pool;   /* NULL = single-threaded, fully deterministic build */
    int walk;                 /* enum hnsw_walk: what the search walks the graph on */
};

/*
 * What a search walks the graph on (build parameter `walk`, docs/INDEXES.md):
 *  CODES  8-bit codes beside the segment's float rows (n * dim bytes more; fastest);
 *  FLOAT  the segment's float rows (no extra memory; slowest);
 *  SPLIT  "bf16": the index holds every float row losslessly as two 16-bit planes,
 *         ph = the high halves of the float bits (a bfloat16, truncated) and pl =
 *         the low halves; the walk reads ph only (half the bytes of the floats) and
 *         every exact distance rebuilds the float bits from both.  The segment's
 *         rows are then not read (but by the exact-scan fallback of very selective
 *         filters), so the memory is the float rows' bytes plus the graph.
 * SPLIT applies to FloatVector data; over Float16/BFloat16 (whose float copy the
 * space already owns) it walks on that copy, as FLOAT.  SPLIT is the index
 * type's default (vindex.c param_walk); a zeroed hnsw_config means CODES.
 */
enum hnsw_walk { HNSW_WALK_CODES = 0, HNSW_WALK_FLOAT = 1, HNSW_WALK_SPLIT = 2 };

struct hnsw_scratch {
    struct hnsw_scratch *next;   /* free list link */
    uint16_t *visited;           /* n epochs */
    uint16_t epoch;
    struct vpair *cand;          /* min-heap of candidates */
    size_t cand_cap;
    struct vpair *res;           /* max-heap of results */
    size_t res_cap;
    float *qbuf;                 /* prepared (normalised) query */
    uint32_t *nbuf;              /* copy of one link list (m0 + 1), taken under the node lock */
    uint32_t *todo;              /* unvisited neighbours of the expanded node (m0 + 1) */
    float *sqbuf;                /* dim: the query prepared for the code kernels */
    int8_t *sqibuf;              /* dim + 64: its 8-bit form (integer kernel) */
    struct vpair *tmp;           /* build: candidate lists for the heuristic */
    size_t tmp_cap;
    bool oom;                    /* set when a heap could not grow: the caller fails */
};

/*
 * Quantized traversal (hnsw_sq.c): kernels on 8-bit codes against a prepared
 * query; and on the split planes (hi = high 16 bits of each float, lo = low 16):
 * hl2/hdot read hi only (the truncated bfloat16 value), xl2/xdot rebuild the
 * exact floats from hi and lo.
 */
struct hnsw_sq_kernels {
    float (*l2)(const float *a, const uint8_t *c, const float *step, size_t dim);
    float (*dot)(const float *w, const uint8_t *c, size_t dim);
    float (*hl2)(const float *q, const uint16_t *hi, size_t dim);
    float (*hdot)(const float *q, const uint16_t *hi, size_t dim);
    float (*xl2)(const float *q, const uint16_t *hi, const uint16_t *lo, size_t dim);
    float (*xdot)(const float *q, const uint16_t *hi, const uint16_t *lo, size_t dim);
};
extern const struct hnsw_sq_kernels hnsw_sq_kernels_avx2, hnsw_sq_kernels_avx512;

/*
 * Integer traversal kernel (hnsw_sq_vnni.c): sum_d w[d] * c[d] of a signed
 * 8-bit query against unsigned 8-bit codes (AVX-512 VNNI vpdpbusd).  NULL
 * where the CPU lacks VNNI: the float kernels above are used instead.
 */
typedef int32_t (*hnsw_sq_idot_fn)(const int8_t *w, const uint8_t *c, size_t dim);
hnsw_sq_idot_fn hnsw_sq_idot_get(void);
int32_t hnsw_sq_idot_scalar(const int8_t *w, const uint8_t *c, size_t dim);

/*
 * Split walk IP/COSINE on AVX512_BF16 (hnsw_sq_bf16.c): sum_d qb[d] * hi[d] of
 * a bfloat16 query against the high plane; NULL where the CPU lacks it.
 * hnsw_to_bf16 rounds to nearest even (inf/NaN -> 0).
 */
typedef float (*hnsw_bf_dot_fn)(const uint16_t *qb, const uint16_t *hi, size_t dim);
hnsw_bf_dot_fn hnsw_bf_dot_get(void);
uint16_t hnsw_to_bf16(float f);

/*
 * A query prepared for the code kernels: a = q - min (L2) or q * step
 * (IP/COSINE).  Integer path (h->sq_idot set): qi = round(w / scale) with
 * w = a * step (L2) or a (IP/COSINE), |qi| <= 127.
 */
struct hnsw_sqq {
    float *a;                    /* dim, in the caller's scratch */
    float bias;                  /* IP/COSINE: q . min */
    int8_t *qi;                  /* dim (+64 zero padding), in the caller's scratch */
    float scale;                 /* w ~ scale * qi; L2 stores 2 * scale */
};

struct hnsw {
    struct vspace space;
    uint32_t m, m0, ef_construction;
    size_t n;
    uint32_t entry;
    int max_level;
    uint32_t flags;              /* HNSW_FLAG_*, serialised */
    uint8_t *levels;             /* n */
    uint32_t *l0;                /* n * (m0 + 1) */
    uint32_t *upper_off;         /* one per HNSW_UPPER_BLOCK nodes: the start in upper_pool
                                    of the block's first upper lists (hnsw_links adds the
                                    lists of the block's earlier nodes) */
    uint32_t *upper_pool;        /* sum(levels) * (m + 1) */
    pthread_mutex_t scratch_lock;
    struct hnsw_scratch *free_scratch;
    pthread_mutex_t *locks;      /* build only: HNSW_N_LOCKS striped node locks */
    /* Quantized traversal (float L2/IP/COSINE, dim >= 16; else all NULL). */
    uint8_t *sq_codes;           /* n * dim codes, row-major */
    float *sq_min, *sq_step;     /* dim each */
    const struct hnsw_sq_kernels *sq;
    hnsw_sq_idot_fn sq_idot;     /* integer traversal kernel, or NULL (float kernels) */
    float *sq_rn;                /* n, L2 with sq_idot: sum_d (c_d * step_d)^2 of each row;
                                    L2 split walk with bf_dot: sum_d x_hi_d^2 */
    /* Split walk (HNSW_FLAG_SPLIT_WALK over float rows; else NULL): sq set, codes NULL. */
    uint16_t *ph, *pl;           /* n * dim each: high / low 16 bits of the float rows */
    hnsw_bf_dot_fn bf_dot;       /* split walk kernel (AVX512_BF16), or NULL (hl2/hdot) */
    pthread_mutex_t build_lock;
};

#define HNSW_UPPER_BLOCK 64

static inline uint32_t *hnsw_links(const struct hnsw *h, uint32_t node, int level)
{
    if (level == 0)
        return h->l0 + (size_t)node * (h->m0 + 1);
    /* Upper lists are few (1/M of the nodes) and read rarely: an offset per
     * block of nodes instead of per node saves 4 bytes a row. */
    size_t first = node & ~(uint32_t)(HNSW_UPPER_BLOCK - 1), lists = 0;
    for (size_t i = first; i < node; i++)
        lists += h->levels[i];
    return h->upper_pool + h->upper_off[node / HNSW_UPPER_BLOCK] +
           (lists + (size_t)(level - 1)) * (h->m + 1);
}

/* Size upper_pool from levels[] and set every node's offset (hnsw_build.c). */
int hnsw_upper_alloc(struct hnsw *h, kite_err *err);

/* Allocate an empty graph over the space (takes ownership of *space on success). */
int hnsw_alloc(struct hnsw **out, struct vspace *space, uint32_t m, uint32_t ef_construction,
               kite_err *err);
int hnsw_build(const struct hnsw_config *cfg, const struct vec_view *v, struct hnsw **out,
               kite_err *err);
int hnsw_search(const struct hnsw *h, const struct vec_view *v, const struct vsearch_req *req,
                struct vsearch_out *out, kite_err *err);
int hnsw_serialize(const struct hnsw *h, struct kite_buf *out);
int hnsw_deserialize(int metric, const struct vec_view *v, const uint8_t *data, size_t len,
                     struct hnsw **out, kite_err *err);
/* Check invariants 1-3 (KITE_ECORRUPT with a message naming the first violation). */
int hnsw_validate(const struct hnsw *h, kite_err *err);
size_t hnsw_memory_bytes(const struct hnsw *h);
void hnsw_free(struct hnsw *h);

/*
 * Quantized traversal: hnsw_sq_init derives the codes from the bound space's
 * rows (after build and after deserialise; a no-op where hnsw_sq_applies is
 * false); hnsw_sq_free releases them; hnsw_sq_prep prepares a (prepared,
 * i.e. normalised for COSINE) query.
 */
bool hnsw_sq_applies(const struct vspace *sp);
/* Whether searches read the segment's rows (false when the split planes hold them). */
static inline bool hnsw_reads_rows(const struct hnsw *h)
{
    return h->ph == NULL;
}
int hnsw_sq_init(struct hnsw *h, kite_err *err);
void hnsw_sq_free(struct hnsw *h);
void hnsw_sq_prep(const struct hnsw *h, const float *q, struct hnsw_sqq *out);
const struct hnsw_sq_kernels *hnsw_sq_kernels_get(void);

static inline float hnsw_sq_dist(const struct hnsw *h, const struct vspace *sp,
                                 const struct hnsw_sqq *q, uint32_t row)
{
    const uint8_t *c = h->sq_codes + (size_t)row * sp->dim;
    if (h->sq_idot && q->qi) {
        /* L2 without the query's constant sum a^2: the walk only compares. */
        float t = q->scale * (float)h->sq_idot(q->qi, c, sp->dim);
        if (sp->kind == VSP_L2)
            return h->sq_rn[row] - t;
        float ip = q->bias + t;
        return sp->kind == VSP_COS ? -ip * sp->inv_norm[row] : -ip;
    }
    if (sp->kind == VSP_L2)
        return h->sq->l2(q->a, c, h->sq_step, sp->dim);
    float ip = q->bias + h->sq->dot(q->a, c, sp->dim);
    return sp->kind == VSP_COS ? -ip * sp->inv_norm[row] : -ip;
}

/* Walk distance (the prepared query q) for the split planes or the codes. */
static inline float hnsw_walk_dist(const struct hnsw *h, const struct vspace *sp,
                                   const struct hnsw_sqq *q, uint32_t row)
{
    if (h->ph) {
        const uint16_t *hi = h->ph + (size_t)row * sp->dim;
        if (sp->kind == VSP_L2)
            return h->bf_dot ? h->sq_rn[row] -
                                   2.0f * h->bf_dot((const uint16_t *)(const void *)q->a, hi,
                                                    sp->dim)
                             : h->sq->hl2(q->a, hi, sp->dim);
        /* bf_dot: hnsw_sq_prep stored the query as bfloat16 in a's bytes. */
        float ip = h->bf_dot ? h->bf_dot((const uint16_t *)(const void *)q->a, hi, sp->dim)
                             : h->sq->hdot(q->a, hi, sp->dim);
        return sp->kind == VSP_COS ? -ip * sp->inv_norm[row] : -ip;
    }
    return hnsw_sq_dist(h, sp, q, row);
}

/* Exact internal distance: from the split planes when the index holds them. */
static inline float hnsw_exact_dist(const struct hnsw *h, const struct vspace *sp, const void *q,
                                    uint32_t row)
{
    if (h->ph) {
        size_t o = (size_t)row * sp->dim;
        if (sp->kind == VSP_L2)
            return h->sq->xl2((const float *)q, h->ph + o, h->pl + o, sp->dim);
        float ip = h->sq->xdot((const float *)q, h->ph + o, h->pl + o, sp->dim);
        return sp->kind == VSP_COS ? -ip * sp->inv_norm[row] : -ip;
    }
    return vspace_dist(sp, q, row);
}

/* Scratch for one thread's searches; NULL on OOM.  Release returns it to the list. */
struct hnsw_scratch *hnsw_scratch_acquire(const struct hnsw *h);
void hnsw_scratch_release(const struct hnsw *h, struct hnsw_scratch *s);
void hnsw_scratch_free(struct hnsw_scratch *s);
/* Ensure heap capacities of at least cap entries. */
int hnsw_scratch_reserve(struct hnsw_scratch *s, size_t cap);

/*
 * Algorithm 2: beam search on one level from entry ep with beam width ef.
 * Results (unordered max-heap, ef best) are left in s->res, their count is
 * returned (s->oom set if the candidate heap could not grow).  allow/range apply only to what enters the result set (the
 * traversal walks through filtered-out nodes).  lock = take node locks
 * (concurrent build).
 */
struct hnsw_layer_query {
    const struct vspace *sp;     /* the graph's space, bound to this call's vectors */
    const void *q;
    uint32_t ep;
    float ep_dist;
    int level;
    size_t ef;
    const uint64_t *allow;
    const struct vrange *range;
    int lock;
    const struct hnsw_sqq *sq;   /* non-NULL: walk on code distances (no allow/range) */
};
size_t hnsw_search_layer(const struct hnsw *h, struct hnsw_scratch *s,
                         const struct hnsw_layer_query *lq);
/*
 * Greedy descent from the entry point to level `stop` (exclusive); returns the
 * node.  With sq non-NULL the distances (and *dist, in and out) are code
 * distances, else exact ones against q.
 */
uint32_t hnsw_greedy(const struct hnsw *h, const struct vspace *sp, struct hnsw_scratch *s,
                     const void *q, const struct hnsw_sqq *sq, uint32_t ep, int from_level,
                     int stop, float *dist, int lock);
/* Pop the result max-heap into ascending order in place: s->res[0..n). */
void hnsw_res_sort(struct hnsw_scratch *s, size_t n);

#endif
