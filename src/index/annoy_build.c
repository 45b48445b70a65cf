/*
 * annoy_build.c — ANNOY forest construction (see annoy.h).
 *
 * Each tree partitions a private permutation of the rows top-down with an
 * explicit stack (no recursion: degenerate data cannot overflow the C stack).
 * A split whose plane puts every row on one side (duplicates) falls back to
 * halving the slice, so every split strictly shrinks both parts and the build
 * terminates.  Tree t draws from splitmix64(seed + t): reproducible.
 *
 * Threading: single-threaded build; the result is read-only.
 */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "annoy.h"
#include "err.h"

static int push_node(struct annoy *a, struct annoy_node nd, uint32_t *idx)
{
    if (a->n_nodes == a->nodes_cap) {
        size_t cap = a->nodes_cap ? 2 * a->nodes_cap : 64;
        struct annoy_node *p = kite_realloc(a->nodes, cap * sizeof(*p));
        if (!p)
            return KITE_ENOMEM;
        a->nodes = p;
        a->nodes_cap = cap;
    }
    *idx = (uint32_t)a->n_nodes;
    a->nodes[a->n_nodes++] = nd;
    return KITE_OK;
}

static int push_normal(struct annoy *a, uint32_t *idx, float **normal)
{
    size_t dim = a->space.dim;
    if (a->n_normals == a->normals_cap) {
        size_t cap = a->normals_cap ? 2 * a->normals_cap : 64;
        float *p = kite_realloc(a->normals, cap * dim * sizeof(float));
        if (!p)
            return KITE_ENOMEM;
        a->normals = p;
        a->normals_cap = cap;
    }
    *idx = (uint32_t)a->n_normals;
    *normal = a->normals + a->n_normals++ * dim;
    return KITE_OK;
}

/* Plane between rows p and q (annoy.h: bisector for L2, angular for IP). */
static void make_plane(const struct annoy *a, uint32_t p, uint32_t q, float *normal,
                       float *offset)
{
    const struct vspace *sp = &a->space;
    const float *x = (const float *)(const void *)vspace_row(sp, p);
    const float *y = (const float *)(const void *)vspace_row(sp, q);
    uint32_t dim = sp->dim;
    if (sp->kind == VSP_L2) {
        double off = 0;
        for (uint32_t d = 0; d < dim; d++) {
            normal[d] = x[d] - y[d];
            off -= (double)normal[d] * 0.5 * ((double)x[d] + y[d]);
        }
        *offset = (float)off;
    } else {
        float nx = sqrtf(sp->ops->ip_f32(x, x, dim)), ny = sqrtf(sp->ops->ip_f32(y, y, dim));
        for (uint32_t d = 0; d < dim; d++)
            normal[d] = (nx > 0 ? x[d] / nx : 0) - (ny > 0 ? y[d] / ny : 0);
        *offset = 0.0f;
    }
}

struct slice {
    uint32_t node, begin, count;
};

/* Partition ids[0..cnt) by the node's plane; returns the size of the left part. */
static uint32_t partition(const struct annoy *a, const struct annoy_node *nd, uint32_t *ids,
                          uint32_t cnt)
{
    uint32_t l = 0, r = cnt;
    while (l < r) {
        const float *x = (const float *)(const void *)vspace_row(&a->space, ids[l]);
        if (annoy_margin(a, nd, x) >= 0.0f) {
            uint32_t t = ids[l];
            ids[l] = ids[--r];
            ids[r] = t;
        } else {
            l++;
        }
    }
    return l == 0 || l == cnt ? cnt / 2 : l; /* degenerate plane: halve */
}

static int build_tree(struct annoy *a, uint64_t seed, uint32_t *perm, struct slice *stack,
                      uint32_t *root)
{
    int rc;
    uint64_t st = seed;
    size_t n = a->space.n, top = 0;
    if ((rc = push_node(a, (struct annoy_node){0, 0, 0, 0, 0.0f}, root)))
        return rc;
    stack[top++] = (struct slice){*root, 0, (uint32_t)n};
    while (top) {
        struct slice s = stack[--top];
        uint32_t *ids = perm + s.begin;
        if (s.count <= ANNOY_LEAF_MAX) {
            a->nodes[s.node] = (struct annoy_node){0, (uint32_t)a->n_leaf_ids, s.count, 0, 0.0f};
            memcpy(a->leaf_ids + a->n_leaf_ids, ids, s.count * sizeof(uint32_t));
            a->n_leaf_ids += s.count;
            continue;
        }
        uint32_t p = ids[vrand_next(&st) % s.count];
        uint32_t q = ids[vrand_next(&st) % s.count];
        uint32_t ni, left, right;
        float *normal, offset;
        if ((rc = push_normal(a, &ni, &normal)))
            return rc;
        make_plane(a, p, q, normal, &offset);
        struct annoy_node nd = {1, 0, 0, ni, offset};
        uint32_t nl = partition(a, &nd, ids, s.count);
        if ((rc = push_node(a, (struct annoy_node){0, 0, 0, 0, 0.0f}, &left)) ||
            (rc = push_node(a, (struct annoy_node){0, 0, 0, 0, 0.0f}, &right)))
            return rc;
        nd.a = left;
        nd.b = right;
        a->nodes[s.node] = nd;
        stack[top++] = (struct slice){left, s.begin, nl};
        stack[top++] = (struct slice){right, s.begin + nl, s.count - nl};
    }
    return KITE_OK;
}

int annoy_build(int metric, int n_trees, uint64_t seed, const struct vec_view *v,
                struct annoy **out, kite_err *err)
{
    int rc;
    struct annoy *a;
    uint32_t *perm = NULL;
    struct slice *stack = NULL;
    size_t n = v->n, total;

    *out = NULL;
    if (n_trees < 1 || n_trees > ANNOY_MAX_TREES)
        return kite_err_set(err, KITE_EINVAL,
                            "Out of range in json: param 'n_trees' (%d) should be in range "
                            "[1, %d]",
                            n_trees, ANNOY_MAX_TREES);
    if (metric != KITE_METRIC_L2 && metric != KITE_METRIC_IP)
        return kite_err_set(err, KITE_EINVAL,
                            "metric type not found or not supported, supported: [L2 IP]");
    a = kite_calloc(1, sizeof(*a));
    if (!a)
        return kite_err_set(err, KITE_ENOMEM, "out of memory building ANNOY");
    if ((rc = vspace_init(&a->space, v, metric, err)))
        goto fail;
    a->n_trees = (uint32_t)n_trees;
    if (!kite_mul_size(n ? n : 1, (size_t)n_trees, &total)) {
        rc = kite_err_set(err, KITE_ELIMIT, "ANNOY forest too large");
        goto fail;
    }
    a->roots = kite_calloc((size_t)n_trees, sizeof(uint32_t));
    a->leaf_ids = kite_malloc(total * sizeof(uint32_t));
    perm = kite_malloc((n ? n : 1) * sizeof(uint32_t));
    /* Every split pushes two slices and pops one: depth <= n, so n + 2 entries suffice. */
    stack = kite_malloc((n + 2) * sizeof(*stack));
    if (!a->roots || !a->leaf_ids || !perm || !stack) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory building ANNOY");
        goto fail;
    }
    for (int t = 0; t < n_trees; t++) {
        for (size_t i = 0; i < n; i++)
            perm[i] = (uint32_t)i;
        if ((rc = build_tree(a, seed + (uint64_t)t * 0x9E3779B97F4A7C15ull, perm, stack,
                             &a->roots[t]))) {
            kite_err_set(err, rc, "out of memory building ANNOY tree %d", t);
            goto fail;
        }
    }
    kite_free(perm);
    kite_free(stack);
    *out = a;
    return KITE_OK;
fail:
    kite_free(perm);
    kite_free(stack);
    annoy_free(a);
    return rc;
}
