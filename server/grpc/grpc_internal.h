/*
 * grpc_internal.h — private interfaces of the gRPC face (server/grpc/).
 *
 * Layers, outermost first:
 *   grpc.c          server lifecycle, one thread per adopted connection
 *   grpc_conn.c     HTTP/2 (libnghttp2) + gRPC length-prefixed framing of one connection
 *   grpc_dispatch.c method path -> handler table, protobuf unpack/pack
 *   handlers_*.c    one function per MilvusService RPC, mapping onto include/kite/kite.h
 *   grpc_convert.c  schema / FieldData / result conversions shared by the handlers
 *   grpc_arena.c    per-request arena holding every response message
 *
 * Invariants:
 *  1. A handler never fails at the transport level for an application error: it
 *     returns KITE_OK with a response whose Status carries the Milvus code and a
 *     non-zero legacy error_code (GRPC.md §2).  A negative return means the response
 *     itself could not be built (KITE_ENOMEM) and becomes a gRPC error status.
 *  2. Every response message and everything it points to lives in the call's arena;
 *     the dispatcher packs it and frees the arena in one go, so handlers never free
 *     response memory themselves.  Requests are unpacked with the kite allocator and
 *     freed by the dispatcher.
 *  3. Error codes are mapped only through server/errors_map.c (merr code) and the
 *     legacy table in grpc_status.c.
 *
 * Threading: a call runs entirely on its connection's thread; handlers share only
 * the kite_db (thread-safe) and read-only tables.
 */
#ifndef KITE_SERVER_GRPC_INTERNAL_H
#define KITE_SERVER_GRPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "common.pb-c.h"
#include "milvus.pb-c.h"
#include "schema.pb-c.h"

#include "grpc.h"
#include "kite/kite.h"

/* gRPC status codes (grpc/status.h numbering). */
enum grpc_status_code {
    GRPC_STATUS_OK = 0,
    GRPC_STATUS_CANCELLED = 1,
    GRPC_STATUS_UNKNOWN = 2,
    GRPC_STATUS_INVALID_ARGUMENT = 3,
    GRPC_STATUS_DEADLINE_EXCEEDED = 4,
    GRPC_STATUS_NOT_FOUND = 5,
    GRPC_STATUS_PERMISSION_DENIED = 7,
    GRPC_STATUS_RESOURCE_EXHAUSTED = 8,
    GRPC_STATUS_UNIMPLEMENTED = 12,
    GRPC_STATUS_INTERNAL = 13,
    GRPC_STATUS_UNAVAILABLE = 14,
    GRPC_STATUS_UNAUTHENTICATED = 16,
};

#define GRPC_METHOD_PREFIX "/milvus.proto.milvus.MilvusService/"

/* ------------------------------------------------------------------ arena */

struct grpc_arena_chunk;

/* Bump allocator for one call's response; all memory is zeroed. */
struct grpc_arena {
    struct grpc_arena_chunk *head;
    bool oom;                        /* an allocation failed since init */
};

void grpc_arena_init(struct grpc_arena *a);
/* Zeroed memory valid until grpc_arena_free; NULL (and a->oom) on failure or overflow. */
void *grpc_arena_alloc(struct grpc_arena *a, size_t n);
/* n elements of size bytes, with overflow check. */
void *grpc_arena_array(struct grpc_arena *a, size_t n, size_t size);
char *grpc_arena_strdup(struct grpc_arena *a, const char *s);
char *grpc_arena_strndup(struct grpc_arena *a, const char *s, size_t n);
char *grpc_arena_printf(struct grpc_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void grpc_arena_free(struct grpc_arena *a);

/* The protobuf-c allocator backed by kite_malloc/kite_free (request unpacking). */
extern ProtobufCAllocator grpc_pb_allocator;

/* ---------------------------------------------------------------- one call */

struct auth_user;

struct grpc_call {
    kite_db *db;
    const struct auth_user *user; /* the authenticated caller; NULL when auth is off */
    const struct grpc_config *cfg;
    const char *dbname_header;  /* "dbname" metadata, NULL if absent or empty */
    struct grpc_arena arena;
    int64_t connection_id;      /* per connection, non-zero (Connect's identifier) */
    kite_result *keep[4];       /* results the response points into; freed after packing */
    size_t n_keep;
};

/*
 * Hand r to the call: it is freed after the response is packed, so response fields
 * may point into its columns without copying.  On failure (no slot left) r is freed
 * and KITE_ENOMEM returned.
 */
int grpc_call_keep(struct grpc_call *c, kite_result *r);

/*
 * Handler of one RPC: read *req (a message of the table's request type), build the
 * response in c->arena and store it in *resp.  Returns KITE_OK, or KITE_ENOMEM when
 * the response could not be built (invariant 1).
 */
typedef int (*grpc_handler_fn)(struct grpc_call *c, const ProtobufCMessage *req,
                               ProtobufCMessage **resp);

struct grpc_method {
    const char *name;                           /* "Search" */
    const ProtobufCMessageDescriptor *request;
    grpc_handler_fn fn;
};

/* Method by RPC name (the part after GRPC_METHOD_PREFIX); NULL if not served. */
const struct grpc_method *grpc_method_find(const char *name, size_t len);

/* Outcome of one dispatched call: a packed gRPC message or a gRPC error status. */
struct grpc_reply {
    int grpc_status;            /* GRPC_STATUS_* */
    char message[256];          /* grpc-message text when grpc_status != OK */
    uint8_t *body;              /* owned (kite_free): 5-byte prefix + message, or NULL */
    size_t body_len;
};

struct grpc_request {
    const char *path;           /* ":path" */
    const uint8_t *body;        /* the whole request DATA (prefix included) */
    size_t body_len;
    const char *dbname_header;
    int64_t connection_id;
    const char *authorization;  /* "authorization" metadata or NULL */
};

/*
 * Decode the gRPC message in req->body, run the handler named by req->path and
 * encode its response.  Always fills *out; the body is NULL unless grpc_status is OK.
 */
void grpc_dispatch(kite_db *db, const struct grpc_config *cfg, const struct grpc_request *req,
                   struct grpc_reply *out);
void grpc_reply_free(struct grpc_reply *r);

/* ------------------------------------------------------------- connection */

/* What a connection thread needs from its server (all borrowed, outlive the call). */
struct grpc_conn_env {
    kite_db *db;
    const struct grpc_config *cfg;
    int wake_fd;                /* readable once the server is stopping */
    const _Atomic bool *stopping;
    int64_t connection_id;
};

/*
 * Serve one h2c connection (client preface still unread in fd) until the peer
 * closes it, it idles out, or the server stops; closes fd.
 */
void grpc_conn_serve(const struct grpc_conn_env *env, int fd);

/* --------------------------------------------------------------- statuses */

/* Legacy common.ErrorCode for a Milvus merr code (GRPC.md §2). */
int grpc_legacy_error_code(int milvus_code);
/*
 * A Status for rc in the arena: all zero for KITE_OK, else code = merr code, a
 * non-zero legacy error_code and reason = err->message (or the generic message).
 * NULL only on OOM.
 */
Milvus__Proto__Common__Status *grpc_status_new(struct grpc_call *c, int rc, const kite_err *err);
/* Status-only response (the RPCs that return common.Status). */
int grpc_reply_status(struct grpc_call *c, int rc, const kite_err *err, ProtobufCMessage **resp);
/* Milvus hybrid timestamp (physical ms << 18) for a UTC millisecond time. */
#define GRPC_HYBRID_TS(ms) ((uint64_t)(ms) << 18)
/* Allocate and init a response message of type T (generated init function f) or
 * return KITE_ENOMEM from the handler. */
#define GRPC_RESP(T, var, init_fn)                                                         \
    T *var = grpc_arena_alloc(&c->arena, sizeof(T));                                       \
    if (!var)                                                                              \
        return KITE_ENOMEM;                                                                \
    init_fn(var)
/* The database a request names: its db_name field, else the dbname header, else NULL. */
const char *grpc_call_db(const struct grpc_call *c, const char *db_field);

/* ------------------------------------------------------------- conversions */

/* Parse a CollectionSchema into a kite_schema whose strings live in the arena. */
int grpc_schema_from_pb(struct grpc_call *c, const Milvus__Proto__Schema__CollectionSchema *pb,
                        kite_schema *out, kite_err *err);
/* Build a CollectionSchema (with "$meta" when dynamic) from a described collection. */
Milvus__Proto__Schema__CollectionSchema *grpc_schema_to_pb(struct grpc_call *c,
                                                           const kite_collection_info *info);

/*
 * Columns from request FieldData.  Column memory lives in the arena or points into
 * the request, so it is valid while both are.  num_rows is the row count the
 * request announced (0 = take it from the columns).
 */
int grpc_columns_from_pb(struct grpc_call *c, Milvus__Proto__Schema__FieldData *const *fds,
                         size_t n_fds, kite_column **out, size_t *n_out, kite_err *err);
/* A FieldData holding rows [from, from+n) of col (n = col->n, from = 0 for all). */
Milvus__Proto__Schema__FieldData *grpc_column_to_pb(struct grpc_call *c, const kite_column *col,
                                                    size_t from, size_t n);
/* IDs message from an Int64 or VarChar column (values copied into the arena). */
Milvus__Proto__Schema__IDs *grpc_ids_to_pb(struct grpc_call *c, const kite_column *ids);
/*
 * template_json text for expr_template_values (*out NULL when n == 0).  entries are
 * the map entries of any request (Delete/Search/Query...__ExprTemplateValuesEntry
 * all share one layout: base, key, value), passed as void pointers.
 */
int grpc_templates_to_json(struct grpc_call *c, void *const *entries, size_t n,
                           const char **out, kite_err *err);

/* Milvus-style hybrid timestamp for "now", strictly increasing across calls. */
uint64_t grpc_next_timestamp(void);

/* Value of key in a KeyValuePair list, NULL if absent. */
const char *grpc_kv_get(Milvus__Proto__Common__KeyValuePair *const *kvs, size_t n,
                        const char *key);
/* Parse integers and booleans the way clients send them ("8", "True", "true"). */
int grpc_parse_i64(const char *s, int64_t *out);
bool grpc_parse_bool(const char *s, bool dflt);

/* ---------------------------------------------------------------- handlers */

#define GRPC_HANDLER(name)                                                                 \
    int grpc_h_##name(struct grpc_call *c, const ProtobufCMessage *req, ProtobufCMessage **resp)

/* handlers_misc.c */
GRPC_HANDLER(Connect);
GRPC_HANDLER(GetVersion);
GRPC_HANDLER(CheckHealth);
GRPC_HANDLER(AllocTimestamp);
GRPC_HANDLER(GetComponentStates);
/* handlers_collection.c */
GRPC_HANDLER(CreateCollection);
GRPC_HANDLER(DescribeCollection);
GRPC_HANDLER(HasCollection);
GRPC_HANDLER(DropCollection);
GRPC_HANDLER(RenameCollection);
GRPC_HANDLER(AlterCollection);
GRPC_HANDLER(ShowCollections);
GRPC_HANDLER(LoadCollection);
GRPC_HANDLER(ReleaseCollection);
GRPC_HANDLER(GetLoadingProgress);
GRPC_HANDLER(GetLoadState);
GRPC_HANDLER(GetCollectionStatistics);
/* handlers_partition.c: partitions, aliases, databases */
GRPC_HANDLER(CreatePartition);
GRPC_HANDLER(DropPartition);
GRPC_HANDLER(HasPartition);
GRPC_HANDLER(ShowPartitions);
GRPC_HANDLER(LoadPartitions);
GRPC_HANDLER(ReleasePartitions);
GRPC_HANDLER(GetPartitionStatistics);
GRPC_HANDLER(CreateAlias);
GRPC_HANDLER(DropAlias);
GRPC_HANDLER(AlterAlias);
GRPC_HANDLER(DescribeAlias);
GRPC_HANDLER(ListAliases);
GRPC_HANDLER(CreateDatabase);
GRPC_HANDLER(DropDatabase);
GRPC_HANDLER(ListDatabases);
/* handlers_index.c */
GRPC_HANDLER(CreateIndex);
GRPC_HANDLER(DescribeIndex);
GRPC_HANDLER(GetIndexState);
GRPC_HANDLER(GetIndexBuildProgress);
GRPC_HANDLER(DropIndex);
/* handlers_data.c */
GRPC_HANDLER(Insert);
GRPC_HANDLER(Upsert);
GRPC_HANDLER(Delete);
GRPC_HANDLER(Flush);
GRPC_HANDLER(GetFlushState);
/* handlers_search.c */
GRPC_HANDLER(Search);
GRPC_HANDLER(HybridSearch);
/* handlers_auth.c: users, roles, grants (server/auth_store.h) */
GRPC_HANDLER(CreateCredential);
GRPC_HANDLER(UpdateCredential);
GRPC_HANDLER(DeleteCredential);
GRPC_HANDLER(ListCredUsers);
GRPC_HANDLER(CreateRole);
GRPC_HANDLER(DropRole);
GRPC_HANDLER(OperateUserRole);
GRPC_HANDLER(SelectRole);
GRPC_HANDLER(SelectUser);
GRPC_HANDLER(OperatePrivilege);
GRPC_HANDLER(SelectGrant);
GRPC_HANDLER(Query);

#endif
