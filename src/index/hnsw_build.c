/*
 * hnsw_build.c — HNSW graph construction: Algorithm 1 (INSERT) with the
 * Algorithm 4 neighbour-selection heuristic, run in parallel over the pool.
 *
 * Design:
 *  1. Levels are drawn per node from a hash of (seed, row): the level
 *     structure is reproducible; with pool == NULL the whole build is
 *     deterministic (inserts in row order).  A parallel build inserts rows in
 *     an interleaved order, so the graph (not its quality) varies run to run.
 *  2. A new node keeps up to m links per level (hnswlib's choice); existing
 *     nodes accept m (upper) or m0 = 2m (level 0) links and are re-pruned with
 *     the heuristic when full.
 *  3. Node 0 is inserted first, alone; every later insert finds an entry point.
 *  4. Where the space has 8-bit codes (hnsw_sq.c), the candidate search of an
 *     insert walks on code distances, like a query, and its ef results are then
 *     re-scored exactly: neighbour selection (Algorithm 4) and the pruning of
 *     full lists see exact distances only.  The codes are made before the
 *     inserts (and dropped after them for quantizedWalk=false).  About half of
 *     an exact build's time was the walk's float distances.
 *
 * Threading (parallel build, see hnsw.h): link lists are guarded by striped
 * mutexes, one held at a time; entry/max_level by build_lock, which an insert
 * holds for its whole duration only when it raises max_level (hnswlib's rule).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "hnsw.h"

/* ------------------------------------------------------------ lifetime */

int hnsw_alloc(struct hnsw **out, struct vspace *space, uint32_t m, uint32_t ef_construction,
               kite_err *err)
{
    struct hnsw *h;
    size_t n = space->n, slots;

    *out = NULL;
    h = kite_calloc(1, sizeof(*h));
    if (!h)
        return kite_err_set(err, KITE_ENOMEM, "out of memory allocating an HNSW graph");
    h->m = m;
    h->m0 = 2 * m;
    h->ef_construction = ef_construction;
    h->n = n;
    if (!kite_mul_size(n ? n : 1, (size_t)h->m0 + 1, &slots) ||
        !kite_mul_size(slots, sizeof(uint32_t), &slots))
        goto oom;
    h->levels = kite_calloc(n ? n : 1, 1);
    h->l0 = kite_calloc(1, slots);
    h->upper_off = kite_calloc(n / HNSW_UPPER_BLOCK + 1, sizeof(*h->upper_off));
    if (!h->levels || !h->l0 || !h->upper_off)
        goto oom;
    pthread_mutex_init(&h->scratch_lock, NULL);
    pthread_mutex_init(&h->build_lock, NULL);
    h->space = *space;
    memset(space, 0, sizeof(*space));
    *out = h;
    return KITE_OK;
oom:
    kite_free(h->levels);
    kite_free(h->l0);
    kite_free(h->upper_off);
    kite_free(h);
    return kite_err_set(err, KITE_ENOMEM, "out of memory allocating an HNSW graph of %zu rows",
                        n);
}

void hnsw_free(struct hnsw *h)
{
    if (!h)
        return;
    while (h->free_scratch) {
        struct hnsw_scratch *s = h->free_scratch;
        h->free_scratch = s->next;
        hnsw_scratch_free(s);
    }
    kite_free(h->upper_pool);
    kite_free(h->upper_off);
    kite_free(h->l0);
    kite_free(h->levels);
    hnsw_sq_free(h);
    vspace_free(&h->space);
    pthread_mutex_destroy(&h->scratch_lock);
    pthread_mutex_destroy(&h->build_lock);
    kite_free(h);
}

int hnsw_upper_alloc(struct hnsw *h, kite_err *err)
{
    size_t total = 0, per = (size_t)h->m + 1;
    for (size_t i = 0; i < h->n; i++) {
        if (i % HNSW_UPPER_BLOCK == 0)
            h->upper_off[i / HNSW_UPPER_BLOCK] = (uint32_t)total;
        total += (size_t)h->levels[i] * per;
        if (total > UINT32_MAX)
            return kite_err_set(err, KITE_ELIMIT,
                                "HNSW upper levels need more than 2^32 link slots (%zu rows)",
                                h->n);
    }
    kite_free(h->upper_pool);
    h->upper_pool = kite_calloc(total ? total : 1, sizeof(uint32_t));
    if (!h->upper_pool)
        return kite_err_set(err, KITE_ENOMEM, "out of memory for HNSW upper-level links");
    return KITE_OK;
}

size_t hnsw_memory_bytes(const struct hnsw *h)
{
    if (!h)
        return 0;
    size_t b = sizeof(*h) + h->n + (h->n / HNSW_UPPER_BLOCK + 1) * sizeof(uint32_t) +
               h->n * ((size_t)h->m0 + 1) * sizeof(uint32_t);
    for (size_t i = 0; i < h->n; i++)
        b += (size_t)h->levels[i] * (h->m + 1) * sizeof(uint32_t);
    if (h->space.owned)
        b += h->n * h->space.row_bytes;
    if (h->space.inv_norm)
        b += h->n * sizeof(float);
    if (h->sq_codes)
        b += h->n * h->space.dim + 2 * (size_t)h->space.dim * sizeof(float);
    if (h->sq_rn)
        b += h->n * sizeof(float);
    if (h->ph)
        b += 2 * h->n * h->space.dim * sizeof(uint16_t);
    return b;
}

/* ------------------------------------------------------- Algorithm 4 */

/*
 * Keep at most max_n of cand[0..n) (sorted ascending by distance to the base
 * point): a candidate is kept only if it is closer to the base than to every
 * candidate already kept.  Returns the kept count (cand[0..kept) reordered).
 */
static size_t select_heuristic(const struct hnsw *h, struct vpair *cand, size_t n, size_t max_n)
{
    size_t kept = 0;
    if (n <= max_n)
        return n;
    for (size_t i = 0; i < n && kept < max_n; i++) {
        bool good = true;
        for (size_t j = 0; j < kept; j++) {
            if (vspace_dist_rows(&h->space, cand[i].id, cand[j].id) < cand[i].d) {
                good = false;
                break;
            }
        }
        if (good)
            cand[kept++] = cand[i];
    }
    return kept;
}

static int vpair_cmp(const void *a, const void *b)
{
    const struct vpair *x = a, *y = b;
    return (x->d > y->d) - (x->d < y->d);
}

/* Add `node` to the links of `nb` at `level`, pruning nb's list when full. */
static void link_back(struct hnsw *h, struct hnsw_scratch *s, uint32_t nb, uint32_t node,
                      int level, bool lock)
{
    uint32_t cap = level == 0 ? h->m0 : h->m;
    /* h->locks exists only for parallel builds: no address arithmetic on NULL. */
    pthread_mutex_t *mu = lock ? &h->locks[nb % HNSW_N_LOCKS] : NULL;
    if (lock)
        pthread_mutex_lock(mu);
    uint32_t *l = hnsw_links(h, nb, level);
    uint32_t cnt = l[0];
    bool dup = false;
    for (uint32_t j = 1; j <= cnt; j++)
        dup |= l[j] == node;
    if (dup) {
        /* nothing to do */
    } else if (cnt < cap) {
        l[++l[0]] = node;
    } else {
        struct vpair *c = s->tmp; /* tmp holds >= m0 + 1 entries (reserved by the caller) */
        for (uint32_t j = 0; j < cnt; j++)
            c[j] = (struct vpair){vspace_dist_rows(&h->space, nb, l[j + 1]), l[j + 1]};
        c[cnt] = (struct vpair){vspace_dist_rows(&h->space, nb, node), node};
        qsort(c, (size_t)cnt + 1, sizeof(*c), vpair_cmp);
        size_t kept = select_heuristic(h, c, (size_t)cnt + 1, cap);
        for (size_t j = 0; j < kept; j++)
            l[j + 1] = c[j].id;
        l[0] = (uint32_t)kept;
    }
    if (lock)
        pthread_mutex_unlock(mu);
}

/* ------------------------------------------------------- Algorithm 1 */

static int draw_level(uint64_t seed, size_t row, double mult)
{
    uint64_t st = seed ^ ((uint64_t)row * 0xD1B54A32D192ED03ull);
    double u = vrand_unit(&st);
    int lev = (int)(-log(u > 0.0 ? u : 1e-300) * mult);
    return lev >= HNSW_MAX_LEVEL ? HNSW_MAX_LEVEL - 1 : lev;
}

static int insert(struct hnsw *h, struct hnsw_scratch *s, uint32_t node, bool lock)
{
    const struct vspace *sp = &h->space;
    const void *q = vspace_prep_query(sp, vspace_row(sp, node), s->qbuf);
    int level = h->levels[node];
    bool holds_global = false;
    int max_level;
    uint32_t ep;

    if (lock)
        pthread_mutex_lock(&h->build_lock);
    max_level = h->max_level;
    ep = h->entry;
    if (level > max_level)
        holds_global = true;
    else if (lock)
        pthread_mutex_unlock(&h->build_lock);

    /* The walk's distances: code distances where the graph has codes (design 4). */
    struct hnsw_sqq sqq = {s->sqbuf, 0.0f, h->sq_idot ? s->sqibuf : NULL, 0.0f};
    const struct hnsw_sqq *sq = NULL;
    if (h->sq) {
        hnsw_sq_prep(h, (const float *)q, &sqq);
        sq = &sqq;
    }
    float d = sq ? hnsw_sq_dist(h, sp, sq, ep) : vspace_dist(sp, q, ep);
    if (level < max_level)
        ep = hnsw_greedy(h, sp, s, q, sq, ep, max_level, level, &d, lock);
    for (int lev = level < max_level ? level : max_level; lev >= 0; lev--) {
        struct hnsw_layer_query lq = {
            .sp = sp, .q = q, .ep = ep, .ep_dist = d, .level = lev, .ef = h->ef_construction,
            .allow = NULL, .range = NULL, .lock = lock, .sq = sq,
        };
        struct vrange none = {false, 0, 0};
        lq.range = &none;
        size_t got = hnsw_search_layer(h, s, &lq);
        if (s->oom) {
            if (holds_global && lock)
                pthread_mutex_unlock(&h->build_lock);
            return KITE_ENOMEM;
        }
        if (sq) { /* exact scores for selection */
            for (size_t i = 0; i < got; i++)
                __builtin_prefetch(vspace_row(sp, s->res[i].id));
            for (size_t i = 0; i < got; i++)
                s->res[i].d = vspace_dist(sp, q, s->res[i].id);
        }
        hnsw_res_sort(s, got);
        memcpy(s->tmp, s->res, got * sizeof(*s->res));
        /* The node itself can be found at level 0 only if it was linked already: skip it. */
        size_t w = 0;
        for (size_t i = 0; i < got; i++)
            if (s->tmp[i].id != node)
                s->tmp[w++] = s->tmp[i];
        got = w;
        if (got) {
            ep = s->tmp[0].id;
            d = sq ? hnsw_sq_dist(h, sp, sq, ep) : s->tmp[0].d;
        }
        size_t kept = select_heuristic(h, s->tmp, got, h->m);
        /* Copy the selection: link_back reuses s->tmp. */
        uint32_t sel[HNSW_MAX_M];
        for (size_t i = 0; i < kept; i++)
            sel[i] = s->tmp[i].id;
        if (lock)
            pthread_mutex_lock(&h->locks[node % HNSW_N_LOCKS]);
        uint32_t *l = hnsw_links(h, node, lev);
        for (size_t i = 0; i < kept; i++)
            l[i + 1] = sel[i];
        l[0] = (uint32_t)kept;
        if (lock)
            pthread_mutex_unlock(&h->locks[node % HNSW_N_LOCKS]);
        for (size_t i = 0; i < kept; i++)
            link_back(h, s, sel[i], node, lev, lock);
    }
    if (holds_global) {
        h->entry = node;
        h->max_level = level;
        if (lock)
            pthread_mutex_unlock(&h->build_lock);
    }
    return KITE_OK;
}

struct build_job {
    struct hnsw *h;
    bool lock;
    size_t offset; /* chunk item i inserts row i + offset */
    _Atomic int rc;
};

static void build_chunk(size_t begin, size_t end, int worker, void *udata)
{
    struct build_job *job = udata;
    struct hnsw *h = job->h;
    size_t cap = (h->ef_construction > h->m0 ? h->ef_construction : h->m0) + 2;
    struct hnsw_scratch *s = hnsw_scratch_acquire(h);
    if (!s || hnsw_scratch_reserve(s, cap) != KITE_OK) {
        atomic_store(&job->rc, KITE_ENOMEM);
    } else {
        s->oom = false;
        for (size_t i = begin; i < end && atomic_load(&job->rc) == KITE_OK; i++)
            if (insert(h, s, (uint32_t)(i + job->offset), job->lock) != KITE_OK)
                atomic_store(&job->rc, KITE_ENOMEM);
    }
    hnsw_scratch_release(h, s);
}

int hnsw_build(const struct hnsw_config *cfg, const struct vec_view *v, struct hnsw **out,
               kite_err *err)
{
    int rc;
    struct vspace sp;
    struct hnsw *h = NULL;
    struct build_job job;

    *out = NULL;
    if (cfg->m < HNSW_MIN_M || cfg->m > HNSW_MAX_M || cfg->ef_construction < 1)
        return kite_err_set(err, KITE_EINVAL, "HNSW needs M in [%d, %d] and efConstruction >= 1",
                            HNSW_MIN_M, HNSW_MAX_M);
    if ((rc = vspace_init(&sp, v, cfg->metric, err)))
        return rc;
    if ((rc = hnsw_alloc(&h, &sp, (uint32_t)cfg->m, (uint32_t)cfg->ef_construction, err))) {
        vspace_free(&sp);
        return rc;
    }
    double mult = 1.0 / log((double)cfg->m);
    for (size_t i = 0; i < h->n; i++) {
        int lev = draw_level(cfg->seed, i, mult);
        h->levels[i] = (uint8_t)lev;
    }
    if ((rc = hnsw_upper_alloc(h, err)))
        goto fail;
    if (h->n == 0)
        goto done;
    h->entry = 0;
    h->max_level = h->levels[0];
    if ((rc = hnsw_sq_init(h, err))) /* the walk's codes (design 4); flags are 0 here */
        goto fail;

    job.h = h;
    job.offset = 1;
    job.lock = cfg->pool && kite_pool_size(cfg->pool) > 1 && h->n > 1000;
    atomic_init(&job.rc, KITE_OK);
    if (job.lock) {
        h->locks = kite_malloc(HNSW_N_LOCKS * sizeof(*h->locks));
        if (!h->locks) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory for HNSW build locks");
            goto fail;
        }
        for (size_t i = 0; i < HNSW_N_LOCKS; i++)
            pthread_mutex_init(&h->locks[i], NULL);
        /* A sequential prefix gives the parallel phase a well-formed graph to enter. */
        size_t prefix = 1000;
        build_chunk(0, prefix - 1, 0, &job);
        job.offset = prefix;
        kite_pool_parallel_for(cfg->pool, h->n - prefix, 64, build_chunk, &job);
    } else {
        build_chunk(0, h->n - 1, 0, &job);
    }
    rc = atomic_load(&job.rc);
    if (h->locks) {
        for (size_t i = 0; i < HNSW_N_LOCKS; i++)
            pthread_mutex_destroy(&h->locks[i]);
        kite_free(h->locks);
        h->locks = NULL;
    }
    if (rc != KITE_OK) {
        kite_err_set(err, rc, "out of memory building the HNSW graph");
        goto fail;
    }
    if (cfg->walk == HNSW_WALK_FLOAT) {
        hnsw_sq_free(h);
        h->flags = HNSW_FLAG_FLOAT_WALK;
    } else if (cfg->walk == HNSW_WALK_SPLIT) {
        /* The construction walked on the codes; searches walk on the planes. */
        hnsw_sq_free(h);
        h->flags = HNSW_FLAG_SPLIT_WALK;
        if ((rc = hnsw_sq_init(h, err)))
            goto fail;
    }
done:
    *out = h;
    return KITE_OK;
fail:
    hnsw_free(h);
    return rc;
}
