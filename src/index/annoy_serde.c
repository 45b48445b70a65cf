/*
 * annoy_serde.c — ANNOY serialisation, validated loading, memory, free.
 *
 * Format (version 1), little-endian:
 *
 *   offset  size  field
 *   0       4     magic 0x594F4E41 ("ANOY")
 *   4       4     format version (1)
 *   8       4     metric (L2 or IP)
 *   12      4     dim
 *   16      8     n (rows)
 *   24      4     n_trees (1..1024)
 *   28      4     n_nodes
 *   32      4     n_normals
 *   36      4     reserved, 0
 *   40            roots: n_trees u32
 *   ...           nodes: n_nodes × {u32 is_split, u32 a, u32 b, u32 normal, f32 offset}
 *   ...           normals: n_normals × dim f32
 *   ...           leaf ids: n_trees × n u32
 *
 * Load rule: roots and children < n_nodes, children > their parent (acyclic),
 * normal < n_normals, leaf slices inside the leaf-id array, ids < n, floats
 * finite; anything else is KITE_ECORRUPT.
 */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "annoy.h"
#include "endian.h"
#include "err.h"

#define ANNOY_HEADER_BYTES 40

void annoy_free(struct annoy *a)
{
    if (!a)
        return;
    vspace_free(&a->space);
    kite_free(a->roots);
    kite_free(a->nodes);
    kite_free(a->normals);
    kite_free(a->leaf_ids);
    kite_free(a);
}

size_t annoy_memory_bytes(const struct annoy *a)
{
    if (!a)
        return 0;
    return sizeof(*a) + a->n_trees * 4 + a->n_nodes * sizeof(struct annoy_node) +
           a->n_normals * a->space.dim * sizeof(float) + a->n_leaf_ids * 4;
}

int annoy_serialize(const struct annoy *a, struct kite_buf *out)
{
    int rc;
    uint8_t h[ANNOY_HEADER_BYTES] = {0};
    kite_put_u32(h, ANNOY_MAGIC);
    kite_put_u32(h + 4, ANNOY_FORMAT_VERSION);
    kite_put_u32(h + 8, (uint32_t)a->space.metric);
    kite_put_u32(h + 12, a->space.dim);
    kite_put_u64(h + 16, a->space.n);
    kite_put_u32(h + 24, a->n_trees);
    kite_put_u32(h + 28, (uint32_t)a->n_nodes);
    kite_put_u32(h + 32, (uint32_t)a->n_normals);
    if ((rc = kite_buf_append(out, h, sizeof(h))))
        return rc;
    for (uint32_t t = 0; t < a->n_trees; t++)
        if ((rc = kite_buf_append_u32(out, a->roots[t])))
            return rc;
    for (size_t i = 0; i < a->n_nodes; i++) {
        const struct annoy_node *nd = &a->nodes[i];
        uint8_t b[20];
        kite_put_u32(b, nd->is_split);
        kite_put_u32(b + 4, nd->a);
        kite_put_u32(b + 8, nd->b);
        kite_put_u32(b + 12, nd->normal);
        kite_put_f32(b + 16, nd->offset);
        if ((rc = kite_buf_append(out, b, sizeof(b))))
            return rc;
    }
    for (size_t i = 0; i < a->n_normals * a->space.dim; i++) {
        uint8_t b[4];
        kite_put_f32(b, a->normals[i]);
        if ((rc = kite_buf_append(out, b, 4)))
            return rc;
    }
    for (size_t i = 0; i < a->n_leaf_ids; i++)
        if ((rc = kite_buf_append_u32(out, a->leaf_ids[i])))
            return rc;
    return KITE_OK;
}

static int corrupt(kite_err *err, const char *what)
{
    return kite_err_set(err, KITE_ECORRUPT, "ANNOY data corrupt: %s", what);
}

static int load_arrays(struct annoy *a, const uint8_t *p, kite_err *err)
{
    size_t dim = a->space.dim, n = a->space.n;
    for (uint32_t t = 0; t < a->n_trees; t++, p += 4) {
        a->roots[t] = kite_get_u32(p);
        if (a->roots[t] >= a->n_nodes)
            return corrupt(err, "root out of range");
    }
    for (size_t i = 0; i < a->n_nodes; i++, p += 20) {
        struct annoy_node *nd = &a->nodes[i];
        *nd = (struct annoy_node){kite_get_u32(p), kite_get_u32(p + 4), kite_get_u32(p + 8),
                                  kite_get_u32(p + 12), kite_get_f32(p + 16)};
        if (nd->is_split > 1 || !isfinite(nd->offset))
            return corrupt(err, "bad node");
        if (nd->is_split) {
            if (nd->a <= i || nd->b <= i || nd->a >= a->n_nodes || nd->b >= a->n_nodes ||
                nd->normal >= a->n_normals)
                return corrupt(err, "split node links out of range");
        } else if (nd->b > ANNOY_LEAF_MAX || nd->a > a->n_leaf_ids ||
                   nd->b > a->n_leaf_ids - nd->a) {
            return corrupt(err, "leaf slice out of range");
        }
    }
    for (size_t i = 0; i < a->n_normals * dim; i++, p += 4) {
        a->normals[i] = kite_get_f32(p);
        if (!isfinite(a->normals[i]))
            return corrupt(err, "non-finite normal");
    }
    for (size_t i = 0; i < a->n_leaf_ids; i++, p += 4) {
        a->leaf_ids[i] = kite_get_u32(p);
        if (a->leaf_ids[i] >= n)
            return corrupt(err, "leaf row out of range");
    }
    return KITE_OK;
}

int annoy_deserialize(int metric, const struct vec_view *v, const uint8_t *data, size_t len,
                      struct annoy **out, kite_err *err)
{
    int rc;
    struct annoy *a;
    size_t need, t;

    *out = NULL;
    if (len < ANNOY_HEADER_BYTES || kite_get_u32(data) != ANNOY_MAGIC)
        return corrupt(err, "bad magic or short header");
    if (kite_get_u32(data + 4) != ANNOY_FORMAT_VERSION || kite_get_u32(data + 36) != 0)
        return corrupt(err, "unknown format version");
    if (kite_get_u32(data + 8) != (uint32_t)metric || kite_get_u32(data + 12) != v->dim ||
        kite_get_u64(data + 16) != v->n)
        return corrupt(err, "metric, dim or row count do not match the segment");
    uint32_t n_trees = kite_get_u32(data + 24);
    size_t n_nodes = kite_get_u32(data + 28), n_normals = kite_get_u32(data + 32);
    if (n_trees < 1 || n_trees > ANNOY_MAX_TREES || n_nodes < n_trees)
        return corrupt(err, "tree or node count out of range");
    /* need = header + roots + nodes + normals + leaf ids, overflow-checked. */
    size_t n_leaf = (size_t)n_trees * v->n;
    if (!kite_mul_size(n_normals, (size_t)v->dim * 4, &t) ||
        !kite_add_size(ANNOY_HEADER_BYTES + (size_t)n_trees * 4, t, &need) ||
        !kite_mul_size(n_nodes, 20, &t) || !kite_add_size(need, t, &need) ||
        !kite_add_size(need, n_leaf * 4, &need) || need != len)
        return corrupt(err, "length does not match the counts");
    a = kite_calloc(1, sizeof(*a));
    if (!a)
        return kite_err_set(err, KITE_ENOMEM, "out of memory loading ANNOY");
    if ((rc = vspace_init(&a->space, v, metric, err)))
        goto fail;
    a->n_trees = n_trees;
    a->n_nodes = a->nodes_cap = n_nodes;
    a->n_normals = a->normals_cap = n_normals;
    a->n_leaf_ids = n_leaf;
    a->roots = kite_malloc(n_trees * sizeof(uint32_t));
    a->nodes = kite_malloc((n_nodes ? n_nodes : 1) * sizeof(struct annoy_node));
    a->normals = kite_malloc((n_normals ? n_normals : 1) * v->dim * sizeof(float));
    a->leaf_ids = kite_malloc((n_leaf ? n_leaf : 1) * sizeof(uint32_t));
    if (!a->roots || !a->nodes || !a->normals || !a->leaf_ids) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory loading ANNOY");
        goto fail;
    }
    if ((rc = load_arrays(a, data + ANNOY_HEADER_BYTES, err)))
        goto fail;
    *out = a;
    return KITE_OK;
fail:
    annoy_free(a);
    return rc;
}
