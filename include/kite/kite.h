/*
 * kite/kite.h — the embedded Kite vector database (libkite).
 *
 * One kite_db handle owns a data directory.  Inside it live Milvus-style
 * databases ("default" always exists), collections with schemas, partitions,
 * aliases and indexes.  Every call that names a collection takes the database
 * name (NULL = "default") and the collection name or alias.
 *
 * Conventions (STYLE.md §3):
 *  - every fallible call returns KITE_OK or a negative KITE_E* code and fills the
 *    optional last kite_err with a message saying what was wrong and what was expected;
 *  - _new/_open/_describe return owned objects freed by the matching _free function;
 *    every free function accepts NULL;
 *  - parameter blocks have an _init() that sets defaults; set only what you need.
 *  - all calls are thread-safe on one kite_db.
 *
 * Data exchange is columnar (kite_column): the same shape gRPC FieldData has, and
 * the shape segments are stored in.  Variable-length values (VarChar, JSON, Array)
 * are a byte buffer plus n+1 offsets; JSON and Array values are JSON text
 * (an Array value is the text of a JSON array, e.g. "[1,2,3]").
 */
#ifndef KITE_KITE_H
#define KITE_KITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kite/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KITE_VERSION_STRING "0.1.0"
#define KITE_MILVUS_VERSION "v2.5.4" /* what GetVersion reports to clients */

/* ------------------------------------------------------------------ types */

/* Milvus DataType numbers (schema.proto). */
typedef enum kite_dtype {
    KITE_DT_NONE = 0,
    KITE_DT_BOOL = 1,
    KITE_DT_INT8 = 2,
    KITE_DT_INT16 = 3,
    KITE_DT_INT32 = 4,
    KITE_DT_INT64 = 5,
    KITE_DT_FLOAT = 10,
    KITE_DT_DOUBLE = 11,
    KITE_DT_VARCHAR = 21,
    KITE_DT_ARRAY = 22,
    KITE_DT_JSON = 23,
    KITE_DT_BINARY_VECTOR = 100,
    KITE_DT_FLOAT_VECTOR = 101,
    KITE_DT_FLOAT16_VECTOR = 102,
    KITE_DT_BFLOAT16_VECTOR = 103,
} kite_dtype;

KITE_API const char *kite_dtype_name(int dtype);      /* "Int64", "FloatVector"...; NULL if unknown */
KITE_API int kite_dtype_from_name(const char *name);  /* case-sensitive; KITE_DT_NONE if unknown */
KITE_API bool kite_dtype_is_vector(int dtype);
/* Bytes per row of a fixed-width type (vectors: for this dim); 0 for variable-length types. */
KITE_API size_t kite_dtype_row_bytes(int dtype, uint32_t dim);

typedef enum kite_metric {
    KITE_METRIC_NONE = 0,
    KITE_METRIC_L2,
    KITE_METRIC_IP,
    KITE_METRIC_COSINE,
    KITE_METRIC_HAMMING,
    KITE_METRIC_JACCARD,
    KITE_METRIC_TANIMOTO,
    KITE_METRIC_SUBSTRUCTURE,
    KITE_METRIC_SUPERSTRUCTURE,
} kite_metric;

KITE_API const char *kite_metric_name(int metric);      /* "L2" ... */
KITE_API int kite_metric_from_name(const char *name);   /* case-insensitive; NONE if unknown */
KITE_API bool kite_metric_larger_is_closer(int metric); /* IP, COSINE */

typedef enum kite_consistency {
    KITE_CONSISTENCY_STRONG = 0,
    KITE_CONSISTENCY_SESSION = 1,
    KITE_CONSISTENCY_BOUNDED = 2,
    KITE_CONSISTENCY_EVENTUALLY = 3,
    KITE_CONSISTENCY_CUSTOMIZED = 4,
} kite_consistency;

typedef enum kite_load_state {
    KITE_LOAD_NOT_EXIST = 0,
    KITE_LOAD_NOT_LOAD = 1,
    KITE_LOAD_LOADING = 2,
    KITE_LOAD_LOADED = 3,
} kite_load_state;

typedef struct kite_kv {
    char *key;
    char *value;
} kite_kv;

/* ----------------------------------------------------------------- columns */

/*
 * A column of n values of one field.  Borrowed when passed in; owned by the
 * enclosing result when returned.
 *  fixed-width scalars: data = n values (Bool as uint8 0/1, Int8..Int64, float, double)
 *  FloatVector: n*dim float; BinaryVector: n*dim/8 bytes; Float16/BFloat16: n*dim uint16
 *  VarChar/JSON/Array: data = bytes, offsets = n+1 uint64 (offsets[0] == 0)
 *  valid: NULL = every row present, else n bytes, 0 = null (nullable fields only)
 */
typedef struct kite_column {
    const char *name;
    int dtype;          /* kite_dtype */
    int element_type;   /* Array element kite_dtype */
    uint32_t dim;       /* vectors */
    size_t n;
    const void *data;
    const uint64_t *offsets;
    const uint8_t *valid;
} kite_column;

/* ------------------------------------------------------------------ schema */

typedef struct kite_field_schema {
    char *name;
    char *description;
    int dtype;
    int element_type;      /* for Array */
    int64_t dim;           /* vectors */
    int64_t max_length;    /* VarChar (and Array<VarChar> elements) */
    int64_t max_capacity;  /* Array */
    bool is_primary;
    bool auto_id;
    bool is_partition_key;
    bool is_clustering_key;
    bool nullable;
    bool is_dynamic;       /* the hidden "$meta" JSON field; set by Kite */
    char *default_json;    /* default value as JSON text, or NULL */
    int64_t field_id;      /* assigned by Kite (100, 101, ...); ignored on create */
} kite_field_schema;

typedef struct kite_schema {
    char *description;
    kite_field_schema *fields;
    size_t n_fields;
    bool enable_dynamic_field;
} kite_schema;

/* Describe a collection. */
typedef struct kite_collection_info {
    char *db_name;
    char *name;
    int64_t collection_id;
    uint64_t created_utc_ms;
    kite_schema schema;          /* without the $meta field */
    int consistency_level;
    int32_t shards_num;
    int32_t partitions_num;
    int load_state;              /* kite_load_state */
    char **aliases;
    size_t n_aliases;
    kite_kv *properties;
    size_t n_properties;
} kite_collection_info;

typedef struct kite_create_params {
    int version;                 /* 1 */
    const kite_schema *schema;
    int consistency_level;       /* default BOUNDED */
    int32_t shards_num;          /* default 1, 1..16 */
    int32_t num_partitions;      /* partition-key collections; 0 = default */
    const kite_kv *properties;
    size_t n_properties;
} kite_create_params;

KITE_API void kite_create_params_init(kite_create_params *p);

/* ------------------------------------------------------------------- open */

typedef struct kite_db kite_db;

typedef struct kite_options {
    int version;                 /* 1 */
    int n_threads;               /* search worker threads; 0 = number of CPUs */
    uint64_t segment_max_rows;   /* seal growing data after this many rows; 0 = default */
    uint64_t segment_max_bytes;  /* ... or this many bytes; 0 = default */
    bool read_only;
    void *vfs;                   /* optional storage seam (tests); NULL = POSIX */
} kite_options;

KITE_API void kite_options_init(kite_options *o);
KITE_API int kite_open(const char *data_dir, const kite_options *opts, kite_db **out,
                       kite_err *err) KITE_MUST_CHECK;
KITE_API void kite_close(kite_db *db); /* finishes in-flight writes, syncs, frees */

/* -------------------------------------------------------------- databases */

KITE_API int kite_database_create(kite_db *db, const char *name, kite_err *err);
KITE_API int kite_database_drop(kite_db *db, const char *name, kite_err *err);
KITE_API int kite_database_list(kite_db *db, char ***names, size_t *n, kite_err *err);

/* ------------------------------------------------------------ collections */

KITE_API int kite_collection_create(kite_db *db, const char *dbname, const char *name,
                                    const kite_create_params *p, kite_err *err);
/* Dropping a collection that does not exist succeeds (Milvus semantics). */
KITE_API int kite_collection_drop(kite_db *db, const char *dbname, const char *name,
                                  kite_err *err);
KITE_API int kite_collection_has(kite_db *db, const char *dbname, const char *name, bool *has,
                                 kite_err *err);
KITE_API int kite_collection_list(kite_db *db, const char *dbname, char ***names, size_t *n,
                                  kite_err *err);
KITE_API int kite_collection_describe(kite_db *db, const char *dbname, const char *name,
                                      kite_collection_info **out, kite_err *err);
KITE_API void kite_collection_info_free(kite_collection_info *info);
KITE_API int kite_collection_rename(kite_db *db, const char *dbname, const char *name,
                                    const char *new_dbname, const char *new_name, kite_err *err);
KITE_API int kite_collection_alter_properties(kite_db *db, const char *dbname, const char *name,
                                              const kite_kv *props, size_t n, kite_err *err);
KITE_API int kite_collection_load(kite_db *db, const char *dbname, const char *name,
                                  kite_err *err);
KITE_API int kite_collection_release(kite_db *db, const char *dbname, const char *name,
                                     kite_err *err);
KITE_API int kite_collection_load_state(kite_db *db, const char *dbname, const char *name,
                                        int *state, kite_err *err);
/* Live (non-deleted) rows. */
KITE_API int kite_collection_row_count(kite_db *db, const char *dbname, const char *name,
                                       uint64_t *rows, kite_err *err);
/* Seal growing data into segments and make everything durable. */
KITE_API int kite_collection_flush(kite_db *db, const char *dbname, const char *name,
                                   kite_err *err);
/* Rewrite segments with many deleted rows. */
KITE_API int kite_collection_compact(kite_db *db, const char *dbname, const char *name,
                                     kite_err *err);

/* ------------------------------------------------------------- partitions */

KITE_API int kite_partition_create(kite_db *db, const char *dbname, const char *coll,
                                   const char *part, kite_err *err);
KITE_API int kite_partition_drop(kite_db *db, const char *dbname, const char *coll,
                                 const char *part, kite_err *err);
KITE_API int kite_partition_has(kite_db *db, const char *dbname, const char *coll,
                                const char *part, bool *has, kite_err *err);
KITE_API int kite_partition_list(kite_db *db, const char *dbname, const char *coll,
                                 char ***names, size_t *n, kite_err *err);
KITE_API int kite_partition_row_count(kite_db *db, const char *dbname, const char *coll,
                                      const char *part, uint64_t *rows, kite_err *err);
KITE_API int kite_partition_load(kite_db *db, const char *dbname, const char *coll,
                                 const char *const *parts, size_t n, kite_err *err);
KITE_API int kite_partition_release(kite_db *db, const char *dbname, const char *coll,
                                    const char *const *parts, size_t n, kite_err *err);

/* ---------------------------------------------------------------- aliases */

KITE_API int kite_alias_create(kite_db *db, const char *dbname, const char *coll,
                               const char *alias, kite_err *err);
KITE_API int kite_alias_alter(kite_db *db, const char *dbname, const char *coll,
                              const char *alias, kite_err *err);
KITE_API int kite_alias_drop(kite_db *db, const char *dbname, const char *alias, kite_err *err);
/* *coll is owned (kite_free). */
KITE_API int kite_alias_describe(kite_db *db, const char *dbname, const char *alias, char **coll,
                                 kite_err *err);
/* coll NULL = every alias in the database. */
KITE_API int kite_alias_list(kite_db *db, const char *dbname, const char *coll, char ***names,
                             size_t *n, kite_err *err);

/* ---------------------------------------------------------------- indexes */

typedef struct kite_index_params {
    int version;               /* 1 */
    const char *field_name;
    const char *index_name;    /* NULL/"" = field name */
    const char *index_type;    /* "FLAT", "HNSW", "AUTOINDEX"...; NULL = AUTOINDEX */
    const char *metric_type;   /* NULL = COSINE for float, HAMMING for binary */
    const char *params_json;   /* build params as a JSON object text, e.g. {"M":16} */
} kite_index_params;

KITE_API void kite_index_params_init(kite_index_params *p);

typedef struct kite_index_info {
    char *index_name;
    char *field_name;
    char *index_type;          /* as requested ("AUTOINDEX" stays AUTOINDEX) */
    char *metric_type;
    char *params_json;         /* build params actually used, JSON object text */
    int64_t index_id;
    uint64_t total_rows, indexed_rows, pending_rows;
    int state;                 /* 0 None, 1 Unissued, 2 InProgress, 3 Finished, 4 Failed */
    char *fail_reason;
} kite_index_info;

KITE_API int kite_index_create(kite_db *db, const char *dbname, const char *coll,
                               const kite_index_params *p, kite_err *err);
/* index_name NULL = all indexes of the collection (or of field_name if given). */
KITE_API int kite_index_describe(kite_db *db, const char *dbname, const char *coll,
                                 const char *index_name, kite_index_info **out, size_t *n,
                                 kite_err *err);
KITE_API void kite_index_info_free(kite_index_info *infos, size_t n);
KITE_API int kite_index_drop(kite_db *db, const char *dbname, const char *coll,
                             const char *index_name, kite_err *err);

/* ----------------------------------------------------------------- writes */

/*
 * Result of a write.  ids: the primary keys written (insert/upsert), as a column
 * (Int64 or VarChar) of n rows; delete_count for deletes.
 */
typedef struct kite_write_result {
    kite_column ids;
    uint64_t insert_count;
    uint64_t upsert_count;
    uint64_t delete_count;
} kite_write_result;

KITE_API void kite_write_result_free(kite_write_result *r); /* frees the contents, not r */

/*
 * Insert rows given as columns, one per schema field (the auto_id primary key
 * omitted; nullable/default fields may be omitted; "$meta" carries dynamic
 * keys as one JSON object text per row).  Durable when it returns KITE_OK.
 */
KITE_API int kite_insert(kite_db *db, const char *dbname, const char *coll, const char *partition,
                         const kite_column *cols, size_t n_cols, kite_write_result *res,
                         kite_err *err);
KITE_API int kite_upsert(kite_db *db, const char *dbname, const char *coll, const char *partition,
                         const kite_column *cols, size_t n_cols, kite_write_result *res,
                         kite_err *err);
/*
 * Insert/upsert rows given as a JSON array of objects (the REST encoding:
 * vectors as number arrays, binary vectors as byte arrays or base64, dynamic
 * keys at top level).
 */
KITE_API int kite_insert_json(kite_db *db, const char *dbname, const char *coll,
                              const char *partition, const char *rows_json, size_t len,
                              bool upsert, kite_write_result *res, kite_err *err);
/*
 * The same with the rows already parsed by jansson, the JSON library libkite links: rows
 * is a `json_t *` (an array of row objects, or one object), borrowed.  For a server that
 * has parsed a request body: it skips printing the rows and parsing them again.
 */
KITE_API int kite_insert_json_parsed(kite_db *db, const char *dbname, const char *coll,
                                     const char *partition, const void *rows, bool upsert,
                                     kite_write_result *res, kite_err *err);
/* Delete the rows matching a filter expression (non-empty). */
KITE_API int kite_delete(kite_db *db, const char *dbname, const char *coll, const char *partition,
                         const char *filter, const char *template_json, kite_write_result *res,
                         kite_err *err);

/* ---------------------------------------------------------- search & query */

/*
 * A result table: nq groups of rows.  For query nq == 1.  Columns are owned by
 * the result.  ids is the primary key column (name = pk field name), scores holds
 * one float per row (search only), topks[i] = rows of query i (rows of query i
 * start at the sum of topks[0..i)).  group_values: the group_by column (if any).
 */
typedef struct kite_result {
    size_t nq;
    int64_t *topks;
    size_t n_rows;
    kite_column ids;
    float *scores;
    kite_column *fields;
    size_t n_fields;
    kite_column group_values;     /* dtype NONE if no group-by */
    bool is_count;                /* count(*) query: fields[0] is Int64 "count(*)" */
    char *pk_name;
} kite_result;

KITE_API void kite_result_free(kite_result *r);

typedef struct kite_search_params {
    int version;                  /* 1 */
    const char *anns_field;       /* NULL = the only vector field */
    /* query vectors: nq × dim values of the field's type (float, packed bits, uint16) */
    const void *vectors;
    size_t nq;
    int vector_dtype;             /* dtype of vectors (FloatVector accepted for f16/bf16 fields) */
    uint32_t dim;
    int64_t limit;                /* top-k, 1..16384 */
    int64_t offset;
    const char *filter;           /* NULL/"" = none */
    const char *template_json;    /* template values {name: value}, or NULL */
    const char *const *output_fields;
    size_t n_output_fields;
    const char *const *partitions;
    size_t n_partitions;
    const char *metric_type;      /* NULL = the index's; must match if set */
    const char *params_json;      /* {"nprobe":..,"ef":..,"radius":..,"range_filter":..} */
    int round_decimal;            /* -1 = none, 0..6 */
    const char *group_by_field;   /* NULL = none */
    int64_t group_size;           /* default 1 */
    bool strict_group_size;
    int consistency_level;        /* -1 = collection default */
    bool ignore_growing;
} kite_search_params;

KITE_API void kite_search_params_init(kite_search_params *p);
KITE_API int kite_search(kite_db *db, const char *dbname, const char *coll,
                         const kite_search_params *p, kite_result **out, kite_err *err);

typedef struct kite_rerank {
    int strategy;                 /* 0 = RRF, 1 = weighted */
    double rrf_k;                 /* default 60 */
    const double *weights;        /* one per sub-search (weighted) */
    size_t n_weights;
} kite_rerank;

/*
 * Hybrid search: run each sub-search (their output_fields/limit used for the
 * candidate lists), fuse with the reranker, return the top `limit` after `offset`.
 */
KITE_API int kite_hybrid_search(kite_db *db, const char *dbname, const char *coll,
                                const kite_search_params *subs, size_t n_subs,
                                const kite_rerank *rerank, int64_t limit, int64_t offset,
                                const char *const *output_fields, size_t n_output_fields,
                                int round_decimal, kite_result **out, kite_err *err);

typedef struct kite_query_params {
    int version;                  /* 1 */
    const char *filter;
    const char *template_json;
    const char *const *output_fields;   /* "*", field names, dynamic keys, "count(*)" */
    size_t n_output_fields;
    const char *const *partitions;
    size_t n_partitions;
    int64_t limit;                /* -1 = none (only with a filter) */
    int64_t offset;
    int consistency_level;
} kite_query_params;

KITE_API void kite_query_params_init(kite_query_params *p);
KITE_API int kite_query(kite_db *db, const char *dbname, const char *coll,
                        const kite_query_params *p, kite_result **out, kite_err *err);
/* Get by primary keys: ids is an Int64 or VarChar column. */
KITE_API int kite_get(kite_db *db, const char *dbname, const char *coll, const kite_column *ids,
                      const char *const *output_fields, size_t n_output_fields,
                      const char *const *partitions, size_t n_partitions, kite_result **out,
                      kite_err *err);

/* ------------------------------------------------------------------ misc */

KITE_API void kite_free(void *p);                         /* strings returned by the API */
KITE_API void kite_strings_free(char **names, size_t n);  /* lists returned by the API */
KITE_API const char *kite_version(void);

/* ----------------------------------------------------------------- backup */

/* Progress of kite_backup / kite_restore: bytes done of total, the file being
 * copied (relative path).  Called from the calling thread. */
typedef void (*kite_progress_fn)(uint64_t done_bytes, uint64_t total_bytes,
                                 const char *current_file, void *udata);
/* Consistent online snapshot of the open database into dest_dir (absent or
 * empty); writes keep working meanwhile.  docs/BACKUP.md. */
KITE_API int kite_backup(kite_db *db, const char *dest_dir, kite_progress_fn progress,
                         void *udata, kite_err *err) KITE_MUST_CHECK;
/* Verify a backup (sizes, CRC32C) and copy it into data_dir (absent or empty,
 * not locked by a running server). */
KITE_API int kite_restore(const char *backup_dir, const char *data_dir,
                          kite_progress_fn progress, void *udata, kite_err *err) KITE_MUST_CHECK;

/* ------------------------------------------------------------ statistics */

/* Engine counters for monitoring (a snapshot over all collections of all
 * databases; each collection is read under its shared lock briefly, no I/O).
 *   collections          collections in all databases
 *   rows                 live rows (inserted minus deleted), as row_count
 *   segments_sealed      sealed (immutable, on-disk) segments
 *   segments_growing     growing (in-memory, appendable) segments
 *   index_rows_total     per index, live rows of every segment, summed over
 *                        indexes (kite_index_info.total_rows summed)
 *   index_rows_indexed   of those, rows covered by a built index (FLAT and
 *                        scalar indexes need no build and always count)
 *   index_builds_pending background index build jobs queued or running
 *   index_builds_failed  (segment, index) pairs of sealed segments with no
 *                        built index and no queued build: the build failed or
 *                        the type is not implemented (searched exactly);
 *                        0 on a read-only database, which builds nothing
 *   wal_appends          WAL records appended since the database was opened
 *   wal_syncs            WAL fdatasync calls (group commit: one per batch)
 *   wal_bytes            WAL bytes appended (record headers included)
 * `version` is set to KITE_DB_STATS_VERSION by kite_db_stats_get; fields may
 * be added at the end in later versions. */
#define KITE_DB_STATS_VERSION 1
typedef struct kite_db_stats {
    int version;
    uint64_t collections, rows, segments_sealed, segments_growing, index_rows_total,
        index_rows_indexed, index_builds_pending, index_builds_failed, wal_appends, wal_syncs,
        wal_bytes;
} kite_db_stats;

KITE_API int kite_db_stats_get(kite_db *db, kite_db_stats *out, kite_err *err);

#ifdef __cplusplus
}
#endif
#endif
