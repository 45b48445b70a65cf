/*
 * db.h — private structures of the database engine (src/db), which implements
 * include/kite/kite.h on top of core, index, expr and storage.
 *
 * Objects:
 *   struct kite_db      one data directory: databases, collections, aliases,
 *                       the persisted catalog (catalog.c), the worker pool.
 *   struct dcoll        one collection: schema (with "$meta" last when dynamic),
 *                       partitions, indexes, its WAL, its segments.
 *   struct dseg         one segment: a growing one (columns in struct colbuf,
 *                       appendable) or a sealed one (columns are views into an
 *                       mmapped segfile), plus a deleted-rows bitmap.
 *
 * THREADING MODEL (lock order: db->mu, then dcoll->lock, then db->id_mu):
 *   1. db->mu (mutex) guards the catalog: the database list, the collection
 *      list, aliases, every collection's metadata that DDL changes (name, db,
 *      properties, load state, partitions, indexes) and refcounts.  Catalog
 *      writes to disk happen under it (DDL is rare).
 *   2. dcoll->lock (rwlock): searches, queries and describe-like reads of the
 *      data hold it shared; writes (insert/upsert/delete), sealing, flush,
 *      compaction and DDL that changes partitions/indexes hold it exclusive.
 *      Metadata changed by DDL is changed under BOTH db->mu and the exclusive
 *      collection lock, so a data operation holding only the collection lock
 *      may read partitions and indexes.
 *   3. A data operation finds its collection under db->mu, takes a reference
 *      (dcoll->refs), drops db->mu and then takes dcoll->lock.  A dropped
 *      collection is unlinked from the list at once and freed by the last
 *      reference (coll_unref).
 *   4. No lock is held across wal_sync: a write appends its WAL record and
 *      applies it under the exclusive lock, releases the lock, then waits for
 *      wal_sync and only then acknowledges (group commit shares the sync).
 *   5. db->id_mu guards the auto-id allocator only.
 */
#ifndef KITE_DB_H
#define KITE_DB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "alloc.h"
#include "buf.h"
#include "err.h"
#include "expr.h"
#include "index.h"
#include "kite/kite.h"
#include "log.h"
#include "pool.h"
#include "segfile.h"
#include "vfs.h"
#include "wal.h"

/* -------------------------------------------------------------- limits */

#define DB_MAX_DATABASES 64
#define DB_MAX_COLLECTIONS 65536
#define DB_MAX_NAME 255
#define DB_MAX_FIELDS 64
#define DB_MAX_VECTOR_FIELDS 4
#define DB_MAX_PARTITIONS 1024
#define DB_MAX_SHARDS 16
#define DB_MAX_DIM 32768
#define DB_MAX_TOPK 16384
#define DB_MAX_NQ 16384
#define DB_MAX_JSON_BYTES 65536
#define DB_DEFAULT_SEG_ROWS 65536
#define DB_DEFAULT_SEG_BYTES (256u << 20)
#define DB_META_FIELD "$meta"

/* File magics (little-endian u32 of the ASCII text). */
#define DB_MAGIC_CATALOG 0x5441434Bu  /* "KCAT" */
#define DB_MAGIC_MANIFEST 0x4e414d4bu /* "KMAN" */
#define DB_MAGIC_SEGMENT 0x4745534bu  /* "KSEG" payload: column blobs */
#define DB_MAGIC_DELETE 0x4c45444bu   /* "KDEL" */
#define DB_MAGIC_INDEX 0x5844494bu    /* "KIDX" */

/* WAL record types. */
enum { WREC_INSERT = 1, WREC_DELETE = 2, WREC_UPSERT = 3 };

/* ------------------------------------------------------------- columns */

/* A growable column: fixed-width values in data, or var-len bytes in data and
 * n+1 uint64 offsets in offs; valid holds one byte per row when has_valid. */
struct colbuf {
    int dtype;
    int element_type;
    uint32_t dim;
    size_t width;       /* bytes per row, 0 = var-len */
    size_t n;
    bool has_valid;
    struct kite_buf data;
    struct kite_buf offs;
    struct kite_buf valid;
};

void colbuf_init(struct colbuf *c, int dtype, int element_type, uint32_t dim, bool has_valid);
void colbuf_free(struct colbuf *c);
/* Append row `row` of column src (same type); src->valid NULL = present. */
int colbuf_append_row(struct colbuf *c, const kite_column *src, size_t row);
/* Append all rows of src. */
int colbuf_append_col(struct colbuf *c, const kite_column *src);
/* Append one value given as bytes (fixed: width bytes; var: len bytes); NULL = null. */
int colbuf_append_val(struct colbuf *c, const void *val, size_t len);
/* A borrowed view of the column (valid until the next append). */
void colbuf_view(const struct colbuf *c, const char *name, kite_column *out);
/* Move the column into an owned kite_column (result columns); c is reset. */
void colbuf_detach(struct colbuf *c, const char *name, kite_column *out);
/* Free an owned kite_column built by colbuf_detach. */
void db_column_free(kite_column *col);

/* Value helpers over any kite_column. */
bool db_col_is_null(const kite_column *c, size_t row);
const void *db_col_fixed(const kite_column *c, size_t row, size_t width);
const char *db_col_var(const kite_column *c, size_t row, size_t *len);

/* ------------------------------------------------------------- schema */

struct dpart {
    int64_t id;
    char *name;
};

struct didx {
    int64_t id;
    char *name;
    char *field;
    int field_index;
    char *index_type;     /* as requested */
    char *resolved_type;  /* AUTOINDEX resolved */
    char *metric;
    char *params_json;    /* normalised build params */
    bool is_flat;
    /* The latest failed build (in memory only; a reopen retries it): the reason and its
     * segment.  Describe reports Failed while that segment is still unindexed. */
    char *fail_reason;
    uint64_t fail_seg;
};

/* ------------------------------------------------------------ segments */

struct dseg {
    uint64_t id;
    int64_t part_id;
    size_t n;                  /* rows */
    bool sealed;
    size_t n_fields;
    struct colbuf *bufs;       /* growing only */
    struct segfile *sf;        /* sealed only */
    kite_column *cols;         /* n_fields views */
    uint64_t *deleted;         /* bitmap, (cap+63)/64 words */
    size_t deleted_words;
    size_t n_deleted;
    bool del_dirty;            /* deleted bitmap changed since the last checkpoint */
    char *del_file;            /* current delete file (sealed), or NULL */
    char *stale_del_file;      /* previous one: unlinked once the manifest stops naming it */
    struct vindex **ix;        /* per field: built ANN index or NULL (sealed only) */
    char **ix_file;            /* per field: index file name or NULL */
    size_t bytes;              /* approximate data bytes (growing) */
    bool build_queued;         /* a background index build job covers this segment */
};

/* ---------------------------------------------------------- collection */

struct dcoll {
    int64_t id;
    char *db_name;
    char *name;
    kite_schema schema;        /* owned; includes "$meta" last when dynamic */
    int pk_index;
    int dyn_index;             /* -1 if none */
    int consistency;
    int32_t shards;
    int32_t num_partitions;
    kite_kv *props;
    size_t n_props;
    uint64_t created_ms;
    int load_state;
    struct dpart *parts;
    size_t n_parts;
    int64_t next_part_id;
    struct didx *idx;
    size_t n_idx;
    int64_t next_index_id;

    /* runtime */
    struct kite_db *db;
    pthread_rwlock_t lock;
    atomic_int refs;           /* list + in-flight operations + pending index builds */
    atomic_int n_building;     /* background index build jobs not finished */
    bool dropped;
    bool from_catalog;         /* loaded from the catalog: its directory must exist */
    char *dir;
    struct wal *wal;
    struct dseg **segs;
    size_t n_segs;
    uint64_t next_seg_id;
    uint64_t checkpoint_lsn;
    uint64_t applied_lsn;
    int broken_rc;             /* KITE_OK or why the collection cannot be used */
    char broken_msg[400];
    struct expr_field *efields;
    struct expr_schema eschema;
};

struct kite_db {
    char *dir;
    int lock_fd;                 /* data-directory flock (vfs_dir_lock), -1 if none */
    struct kite_vfs *vfs;
    struct kite_pool *pool;
    kite_options opts;
    pthread_mutex_t mu;
    pthread_cond_t refs_cv;      /* signalled when a collection reference is dropped */
    char **dbs;
    size_t n_dbs;
    struct dcoll **colls;
    size_t n_colls;
    struct dalias {
        char *db;
        char *alias;
        char *coll;
    } *aliases;
    size_t n_aliases;
    int64_t next_coll_id;
    pthread_mutex_t id_mu;
    int64_t next_auto_id;
    bool closed;
};

/* ------------------------------------------------------------ types.c */

uint64_t db_now_ms(void);
bool db_dtype_is_var(int dtype);
bool db_name_valid(const char *name, const char *what, kite_err *err);
char *db_path_join(const char *a, const char *b);
char *db_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int db_strings_add(char ***list, size_t *n, const char *s);
char *db_json_text(const json_t *j, size_t *len);

/* ----------------------------------------------------------- schema.c */

int schema_validate(const kite_schema *in, kite_schema *out, kite_err *err);
void schema_free(kite_schema *s);
int schema_copy(const kite_schema *in, kite_schema *out, bool with_meta);
bool schema_equal(const kite_schema *a, const kite_schema *b);
json_t *schema_to_json(const kite_schema *s);
int schema_from_json(json_t *j, kite_schema *out, kite_err *err);
int schema_field_index(const kite_schema *s, const char *name);
void coll_build_expr_schema(struct dcoll *c);

/* ---------------------------------------------------------- catalog.c */

/* Find a collection by name or alias and take a reference (coll_unref). */
int coll_acquire(kite_db *db, const char *dbname, const char *name, struct dcoll **out,
                 kite_err *err);
void coll_unref(struct dcoll *c);
int catalog_save_locked(kite_db *db, kite_err *err);
struct dpart *coll_find_part(struct dcoll *c, const char *name);
struct dpart *coll_find_part_id(struct dcoll *c, int64_t id);
void coll_free(struct dcoll *c);
int64_t db_alloc_ids(kite_db *db, size_t n);
void db_bump_auto_id(kite_db *db, int64_t seen);

/* ---------------------------------------------------------- segment.c */

struct dseg *seg_new_growing(const struct dcoll *c, uint64_t id, int64_t part_id);
void seg_free(struct dseg *s);
int seg_mark_deleted(struct dseg *s, size_t row);
bool seg_is_deleted(const struct dseg *s, size_t row);
/* Append a batch (columns in schema order) to a growing segment. */
int seg_append(struct dseg *s, const struct colbuf *cols, size_t n_rows);
/* Write a growing segment to its file (sorted by pk) and reopen it sealed. */
int seg_seal(struct dcoll *c, struct dseg *s, struct dseg **sealed, kite_err *err);
int seg_open_sealed(struct dcoll *c, uint64_t id, int64_t part_id, size_t rows,
                    struct dseg **out, kite_err *err);
int seg_write_deletes(struct dcoll *c, struct dseg *s, uint64_t lsn, kite_err *err);
int seg_load_deletes(struct dcoll *c, struct dseg *s, const char *file, kite_err *err);
char *seg_file_name(uint64_t id);

/* ---------------------------------------------------------- storage (recovery.c) */

int coll_open_storage(struct dcoll *c, kite_err *err);
int coll_checkpoint(struct dcoll *c, kite_err *err);
int coll_write_manifest(struct dcoll *c, uint64_t lsn, kite_err *err);
void coll_close_storage(struct dcoll *c);
/* Apply a decoded WAL record to memory (insert path and replay). */
int coll_apply_record(struct dcoll *c, uint8_t type, const uint8_t *p, size_t len,
                      uint64_t *n_deleted, kite_err *err);
/* Check that a collection is usable for `what` (broken / WAL state). */
int coll_check_usable(struct dcoll *c, bool write, kite_err *err);

/* ----------------------------------------------------------- insert.c */

/* A batch of rows normalised to the schema: one colbuf per schema field. */
struct batch {
    size_t n;
    size_t n_fields;
    struct colbuf *cols;
};

void batch_free(struct batch *b);
int batch_encode(const struct batch *b, struct kite_buf *out);
int batch_decode(const struct dcoll *c, const uint8_t *p, size_t len, size_t *used,
                 struct batch *out, kite_err *err);
int pks_encode(const kite_column *pks, struct kite_buf *out);
/* Delete every live row whose pk is in pks (part_id < 0 = all partitions). */
int coll_delete_pks(struct dcoll *c, const kite_column *pks, int64_t part_id, uint64_t *n_deleted);
int coll_maybe_seal(struct dcoll *c, kite_err *err);

/* ----------------------------------------------------------- search.c / query.c */

/* Evaluate a filter over one segment into an allow bitmap (deleted rows removed). */
int seg_filter(struct dcoll *c, struct dseg *s, const struct expr_plan *plan, uint64_t *bits,
               size_t *n_allowed, kite_err *err);
/* Resolve partition names into a list of ids (NULL list = all). */
int coll_resolve_parts(struct dcoll *c, const char *const *names, size_t n, int64_t **ids,
                       size_t *n_ids, kite_err *err);
bool part_selected(const int64_t *ids, size_t n, int64_t id);

/* ----------------------------------------------------------- result.c */

struct rowref {
    uint32_t seg;
    uint32_t row;
};

/* Output field selection resolved against the schema. */
struct outsel {
    int *fields;        /* schema field indexes (excluding pk unless asked) */
    size_t n_fields;
    bool meta_all;      /* "*": all dynamic keys */
    char **meta_keys;   /* requested dynamic keys */
    size_t n_meta_keys;
    bool count;
};

int outsel_resolve(struct dcoll *c, const char *const *names, size_t n, bool allow_count,
                   struct outsel *out, kite_err *err);
void outsel_free(struct outsel *o);
/* Fill r->ids, r->fields from row references (segments of c). */
int result_fill(struct dcoll *c, const struct outsel *o, const struct rowref *rows, size_t n,
                kite_result *r);
kite_result *result_new(void);

/* ---------------------------------------------------------- index_mgr.c */

struct didx *coll_index_for_field(struct dcoll *c, int field_index);
/* Queue background builds of the segment's missing non-flat indexes (pool job
 * holding a collection reference).  Caller holds the exclusive lock or is
 * single-threaded (open). */
void coll_schedule_builds(struct dcoll *c, struct dseg *s);
int index_load_for_segment(struct dcoll *c, struct dseg *s, json_t *jidx, kite_err *err);
json_t *index_files_json(struct dcoll *c, struct dseg *s);
json_t *indexes_to_json(const struct dcoll *c);
int indexes_from_json(struct dcoll *c, json_t *j, kite_err *err);
/* backup.c: remove .backup-* staging dirs an interrupted backup left (exclusive lock held). */
void backup_remove_stale_staging(const char *data_dir);
/* Test seam (index_mgr.c): nonzero makes every index build fail with this code. */
extern int db_test_build_fail_rc;
void didx_free(struct didx *x);

#endif
