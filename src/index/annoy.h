/*
 * annoy.h — private header of the ANNOY index (random-projection forest, after
 * Spotify's Annoy): n_trees binary trees whose internal nodes split by a
 * hyperplane between two random points of the node; leaves hold at most
 * ANNOY_LEAF_MAX rows.  annoy_build.c builds, annoy_search.c searches,
 * annoy_serde.c serialises, validates and frees.
 *
 * Search (Annoy's algorithm): one priority queue over all trees keyed by the
 * smallest margin seen on the path; leaves are opened best-first until
 * search_k candidate rows were collected (search_k = -1 means
 * max(k * n_trees, n / 20), the "5% of data" of SEMANTICS.md §b), then the
 * candidates are scored exactly.
 *
 * Invariants: nodes are stored in creation order, so every child index is
 * greater than its parent's (no cycles); leaves index a slice of leaf_ids;
 * every leaf_id < n.  Split planes: L2 uses the perpendicular bisector of the
 * two points, IP the angular bisector through the origin (normal a/|a|-b/|b|).
 *
 * Threading: read-only after build; searches allocate their own scratch.
 */
#ifndef KITE_ANNOY_H
#define KITE_ANNOY_H

#include <stdint.h>

#include "index.h"
#include "vindex_int.h"

#define ANNOY_MAGIC 0x594F4E41u /* "ANOY" little-endian */
#define ANNOY_FORMAT_VERSION 1u
#define ANNOY_LEAF_MAX 32
#define ANNOY_MAX_TREES 1024

struct annoy_node {
    uint32_t is_split;  /* 1 = split node, 0 = leaf */
    uint32_t a;         /* split: left child;  leaf: first index into leaf_ids */
    uint32_t b;         /* split: right child; leaf: row count */
    uint32_t normal;    /* split: index of its normal (dim floats) */
    float offset;       /* split: side = normal . x + offset >= 0 ? right : left */
};

struct annoy {
    struct vspace space;
    uint32_t n_trees;
    uint32_t *roots;            /* n_trees */
    struct annoy_node *nodes;
    size_t n_nodes, nodes_cap;
    float *normals;             /* n_normals * dim */
    size_t n_normals, normals_cap;
    uint32_t *leaf_ids;         /* n_trees * n */
    size_t n_leaf_ids;
};

int annoy_build(int metric, int n_trees, uint64_t seed, const struct vec_view *v,
                struct annoy **out, kite_err *err);
int annoy_search(const struct annoy *a, const struct vec_view *v, const struct vsearch_req *req,
                 struct vsearch_out *out, kite_err *err);
int annoy_serialize(const struct annoy *a, struct kite_buf *out);
int annoy_deserialize(int metric, const struct vec_view *v, const uint8_t *data, size_t len,
                      struct annoy **out, kite_err *err);
size_t annoy_memory_bytes(const struct annoy *a);
void annoy_free(struct annoy *a);

static inline float annoy_margin(const struct annoy *a, const struct annoy_node *nd,
                                 const float *x)
{
    return a->space.ops->ip_f32(a->normals + (size_t)nd->normal * a->space.dim, x, a->space.dim) +
           nd->offset;
}

#endif
