/*
 * index.h — vector search inside one segment: exact (FLAT, BIN_FLAT) and ANN
 * indexes behind one method table.
 *
 * The db layer owns segments and calls these functions per segment; the index
 * module knows nothing of storage, WAL or schemas.  Row numbers are offsets
 * within the segment (0..n-1).  Scores are the natural metric values of
 * SEMANTICS.md §c (L2 squared ascending; IP / COSINE descending; HAMMING,
 * JACCARD, TANIMOTO ascending; SUBSTRUCTURE / SUPERSTRUCTURE 0 for every hit, in
 * row order).  An index serialises itself into an opaque byte string that the
 * storage layer checksums and persists (STYLE.md §2).
 */
#ifndef KITE_INDEX_H
#define KITE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "kite/kite.h"
#include "pool.h"

struct kite_hit {
    float score;
    uint32_t row;
};

/* The vectors of one segment: n rows, contiguous, of dtype/dim. */
struct vec_view {
    int dtype;           /* KITE_DT_FLOAT_VECTOR, BINARY, FLOAT16, BFLOAT16 */
    uint32_t dim;        /* components (binary: bits) */
    size_t n;
    const void *data;
    const float *norms;  /* optional precomputed L2 norms (COSINE); NULL = compute */
};

/* Search parameters, parsed and validated by vindex_parse_search_params(). */
struct vsearch_params {
    int metric;
    int64_t k;                   /* top-k to return per query (limit + offset) */
    int nprobe;                  /* IVF*; 0 = default */
    int ef;                      /* HNSW; 0 = default max(k, 16) */
    int search_k;                /* ANNOY; -1 default */
    int reorder_k;               /* SCANN */
    int max_empty_result_buckets;
    bool has_radius, has_range_filter;
    float radius, range_filter;  /* range search (SEMANTICS.md §c) */
};

/*
 * A query batch against one segment.  queries: nq × dim of the field's
 * element type (float for float16/bfloat16 fields: converted by the caller).
 * allow: bitmap over rows (bit r set = row may be returned); NULL = all rows.
 * Results: hits[qi * k .. qi * k + counts[qi]) best first.
 */
struct vsearch_req {
    const void *queries;
    size_t nq;
    const uint64_t *allow;
    size_t n_allowed;            /* popcount of allow (strategy choice); SIZE_MAX = unknown */
    const struct vsearch_params *params;
    struct kite_pool *pool;      /* may be NULL: single-threaded */
};

struct vsearch_out {
    struct kite_hit *hits;       /* nq * k, caller-allocated */
    size_t *counts;              /* nq, caller-allocated */
};

/* ---------------------------------------------------------- exact search */

/* Brute-force search over a vec_view (growing data and FLAT / BIN_FLAT). */
int flat_search(const struct vec_view *v, const struct vsearch_req *req, struct vsearch_out *out,
                kite_err *err);

/* One distance between a query and row `row` (reranking, hybrid search, tests). */
float vindex_distance(const struct vec_view *v, int metric, const void *query, size_t row);

/* ------------------------------------------------------------ ANN indexes */

struct vindex;   /* one built index over one segment's vectors */

struct vindex_build_params {
    const char *index_type;      /* "HNSW", "IVF_FLAT", ... (AUTOINDEX already resolved) */
    int metric;
    const char *params_json;     /* normalised build params (JSON object text) */
    uint64_t seed;               /* deterministic training */
    struct kite_pool *pool;
};

/*
 * Validate build params for (type, metric, field dtype, dim) with Milvus' error
 * texts; on success *normalized_json (owned, kite_free) holds the params with
 * defaults filled in.  AUTOINDEX is resolved to a concrete type here
 * (*resolved_type is a static string).  Types not implemented return
 * KITE_EINDEXTYPE.
 */
int vindex_validate_build(const char *index_type, int metric, int dtype, uint32_t dim,
                          const char *params_json, const char **resolved_type,
                          char **normalized_json, kite_err *err);

/* Parse search params JSON ({"nprobe":..,"ef":..,"radius":..}) for an index type. */
int vindex_parse_search_params(const char *index_type, const char *params_json, int64_t k,
                               struct vsearch_params *out, kite_err *err);

/* true if index_type needs no build (FLAT, BIN_FLAT: flat_search is used). */
bool vindex_is_flat(const char *index_type);

int vindex_build(const struct vindex_build_params *p, const struct vec_view *v,
                 struct vindex **out, kite_err *err);
int vindex_search(const struct vindex *ix, const struct vec_view *v, const struct vsearch_req *req,
                  struct vsearch_out *out, kite_err *err);
/* Serialise to bytes (versioned; the caller checksums and stores them). */
int vindex_serialize(const struct vindex *ix, struct kite_buf *out);
/* Rebuild from bytes; validates every count, offset and id (KITE_ECORRUPT). */
int vindex_deserialize(const char *index_type, int metric, const struct vec_view *v,
                       const uint8_t *data, size_t len, struct vindex **out, kite_err *err);
size_t vindex_memory_bytes(const struct vindex *ix);
/*
 * Whether searches read the segment's vectors (vec_view.data) beyond the
 * exact-scan fallbacks: HNSW (but its split walk, which keeps the rows itself),
 * ANNOY and SCANN with raw data do; the other IVF kinds scan their own copies
 * or codes.  Memory figures add the rows for these (app/cmd_bench.c).
 */
bool vindex_reads_rows(const struct vindex *ix);
void vindex_free(struct vindex *ix);

#endif
