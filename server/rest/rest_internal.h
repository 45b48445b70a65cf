/*
 * rest_internal.h — shared by the REST handler files (server/rest/ files) only.
 *
 * A handler gets a rest_ctx with the parsed body and returns KITE_OK after
 * putting its payload in c->data (and optional extra envelope keys in
 * c->extra), or a negative KITE_E* code with c->err filled.  REST-only codes
 * (1801 bad JSON, 1802 missing parameter, 1804 bad rows, 1806 bad ids) are set
 * through rest_fail(), which stores the Milvus code in c->milvus_code.
 * Ownership: c->data and c->extra belong to the dispatcher once set.
 */
#ifndef KITE_SERVER_REST_INTERNAL_H
#define KITE_SERVER_REST_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "kite/kite.h"
#include "rest.h"

/* REST-specific Milvus codes (pkg/util/merr and httpserver constants). */
#define REST_CODE_BAD_JSON 1801
#define REST_CODE_MISSING 1802
#define REST_CODE_BAD_ROWS 1804
#define REST_CODE_BAD_IDS 1806

struct rest_ctx {
    kite_db *db;
    json_t *body;          /* request object, borrowed */
    const char *dbname;    /* effective database; NULL = "default" */
    bool allow_int64;      /* Int64 values as JSON numbers (true) or strings */
    const char *req_name;  /* Milvus request struct name, for 1802 messages */
    json_t *data;          /* reply payload, owned */
    json_t *extra;         /* extra top-level keys ("cost", "topks"), owned object or NULL */
    int milvus_code;       /* non-zero: overrides the mapped code */
    kite_err err;
    struct auth *auth;     /* users/roles store; NULL when the server runs without --auth */
    const struct auth_user *user; /* the caller when auth is enabled, else NULL */
};

typedef int (*rest_handler_fn)(struct rest_ctx *c);

/* ---- errors and parameters (rest.c) */
int rest_fail(struct rest_ctx *c, int milvus_code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int rest_missing(struct rest_ctx *c, const char *param);
/* Strings: absent -> *out = NULL (or 1802 if required, also for ""); wrong type -> 1801. */
int rest_str(struct rest_ctx *c, json_t *obj, const char *key, bool required, const char **out);
/* Integers (numbers or numeric strings): absent -> def; wrong type -> 1801. */
int rest_int(struct rest_ctx *c, json_t *obj, const char *key, int64_t def, int64_t *out);
/* Booleans (true/false or "true"/"false"): absent -> def. */
int rest_bool(struct rest_ctx *c, json_t *obj, const char *key, bool def, bool *out);
/* Array of strings: *out is an owned array (kite_free) of borrowed strings; absent -> NULL, 0. */
int rest_str_array(struct rest_ctx *c, json_t *obj, const char *key, bool required,
                   const char ***out, size_t *n);
/* Object: absent or null -> *out = NULL; other types -> 1801. */
int rest_obj(struct rest_ctx *c, json_t *obj, const char *key, json_t **out);
/* Consistency level name -> enum; absent -> def; unknown -> 1100. */
int rest_consistency(struct rest_ctx *c, json_t *obj, const char *key, int def, int *out);
/* Set c->data to an empty object. */
int rest_ok_empty(struct rest_ctx *c);
/* Add "cost": 0 (and more later) to the envelope. */
int rest_extra_set(struct rest_ctx *c, const char *key, json_t *v);

/* ---- JSON text (rest_json.c) */
/* Compact JSON text with shortest round-trip reals; owned (kite_free); NULL on ENOMEM. */
char *rest_json_dump(const json_t *v, size_t *len);
/* A real holding the shortest decimal that round-trips the float (0.1f -> 0.1). */
json_t *rest_json_float(float f);
/* True if the text nests arrays/objects at most max_depth deep. */
bool rest_json_depth_ok(const char *s, size_t len, int max_depth);

/* ---- result rows (rest_rows.c) */
/* An Int64 value as a number or a string, per c->allow_int64. */
json_t *rest_int64(const struct rest_ctx *c, int64_t v);
/* Value i of a column as JSON (REST encoding, REST.md §3). */
json_t *rest_column_value(const struct rest_ctx *c, const kite_column *col, size_t i);
/* Column of primary keys as a JSON array. */
json_t *rest_ids_array(const struct rest_ctx *c, const kite_column *ids);
/* Rows of a query/get result, or of a search result (with "id" and "distance"). */
json_t *rest_result_rows(const struct rest_ctx *c, const kite_result *r, bool search);

/* ---- handlers */
int rest_collection_create(struct rest_ctx *c);
int rest_collection_describe(struct rest_ctx *c);
int rest_collection_list(struct rest_ctx *c);
int rest_collection_has(struct rest_ctx *c);
int rest_collection_drop(struct rest_ctx *c);
int rest_collection_rename(struct rest_ctx *c);
int rest_collection_load(struct rest_ctx *c);
int rest_collection_release(struct rest_ctx *c);
int rest_collection_load_state(struct rest_ctx *c);
int rest_collection_stats(struct rest_ctx *c);
int rest_collection_flush(struct rest_ctx *c);
int rest_collection_compact(struct rest_ctx *c);
int rest_collection_alter_properties(struct rest_ctx *c);

int rest_entities_insert(struct rest_ctx *c);
int rest_entities_upsert(struct rest_ctx *c);
int rest_entities_delete(struct rest_ctx *c);
int rest_entities_query(struct rest_ctx *c);
int rest_entities_get(struct rest_ctx *c);
int rest_entities_search(struct rest_ctx *c);
int rest_entities_hybrid_search(struct rest_ctx *c);

int rest_index_create(struct rest_ctx *c);
int rest_index_describe(struct rest_ctx *c);
int rest_index_list(struct rest_ctx *c);
int rest_index_drop(struct rest_ctx *c);

int rest_partition_list(struct rest_ctx *c);
int rest_partition_has(struct rest_ctx *c);
int rest_partition_stats(struct rest_ctx *c);
int rest_partition_create(struct rest_ctx *c);
int rest_partition_drop(struct rest_ctx *c);
int rest_partition_load(struct rest_ctx *c);
int rest_partition_release(struct rest_ctx *c);

int rest_alias_create(struct rest_ctx *c);
int rest_alias_alter(struct rest_ctx *c);
int rest_alias_drop(struct rest_ctx *c);
int rest_alias_describe(struct rest_ctx *c);
int rest_alias_list(struct rest_ctx *c);

int rest_database_create(struct rest_ctx *c);
int rest_database_drop(struct rest_ctx *c);
int rest_database_list(struct rest_ctx *c);
int rest_database_describe(struct rest_ctx *c);

int rest_auth_unsupported(struct rest_ctx *c);
int rest_kite_backup(struct rest_ctx *c); /* POST /v2/kite/backup (rest_admin.c) */
/* users/... and roles/... (rest_misc.c); need the server's auth store. */
int rest_user_list(struct rest_ctx *c);
int rest_user_describe(struct rest_ctx *c);
int rest_user_create(struct rest_ctx *c);
int rest_user_update_password(struct rest_ctx *c);
int rest_user_drop(struct rest_ctx *c);
int rest_user_grant_role(struct rest_ctx *c);
int rest_user_revoke_role(struct rest_ctx *c);
int rest_role_list(struct rest_ctx *c);
int rest_role_describe(struct rest_ctx *c);
int rest_role_create(struct rest_ctx *c);
int rest_role_drop(struct rest_ctx *c);
int rest_role_grant(struct rest_ctx *c);
int rest_role_revoke(struct rest_ctx *c);
int rest_role_grant_v2(struct rest_ctx *c);
int rest_role_revoke_v2(struct rest_ctx *c);

#endif
