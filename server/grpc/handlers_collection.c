/*
 * handlers_collection.c — collection RPCs: Create/Describe/Has/Drop/Rename/Alter,
 * ShowCollections, Load/Release, GetLoadingProgress, GetLoadState,
 * GetCollectionStatistics.  Each maps onto one or two kite.h calls (docs/GRPC.md).
 *
 * Threading: stateless; the kite_db is thread-safe.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "grpc_internal.h"

typedef Milvus__Proto__Common__KeyValuePair KeyValuePair;

/* kite_kv view of request KeyValuePairs (strings borrowed from the request). */
static kite_kv *kvs_from_pb(struct grpc_call *c, KeyValuePair *const *kvs, size_t n)
{
    kite_kv *out = grpc_arena_array(&c->arena, n ? n : 1, sizeof(*out));
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        out[i].key = kvs[i]->key;
        out[i].value = kvs[i]->value;
    }
    return out;
}

static KeyValuePair **kvs_to_pb(struct grpc_call *c, const kite_kv *kvs, size_t n)
{
    KeyValuePair **out = grpc_arena_array(&c->arena, n ? n : 1, sizeof(*out));
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        out[i] = grpc_arena_alloc(&c->arena, sizeof(KeyValuePair));
        if (!out[i])
            return NULL;
        milvus__proto__common__key_value_pair__init(out[i]);
        out[i]->key = grpc_arena_strdup(&c->arena, kvs[i].key);
        out[i]->value = grpc_arena_strdup(&c->arena, kvs[i].value);
    }
    return c->arena.oom ? NULL : out;
}

static char **strs_to_pb(struct grpc_call *c, char *const *strs, size_t n)
{
    char **out = grpc_arena_array(&c->arena, n ? n : 1, sizeof(*out));
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = grpc_arena_strdup(&c->arena, strs[i]);
    return c->arena.oom ? NULL : out;
}

GRPC_HANDLER(CreateCollection)
{
    const Milvus__Proto__Milvus__CreateCollectionRequest *r = (const void *)req;
    kite_err err = {0};
    int rc;
    Milvus__Proto__Schema__CollectionSchema *pb = (void *)protobuf_c_message_unpack(
        &milvus__proto__schema__collection_schema__descriptor, &grpc_pb_allocator, r->schema.len,
        r->schema.data);
    if (!pb) {
        rc = kite_err_set(&err, KITE_EINVAL,
                          "schema is not a serialized milvus.proto.schema.CollectionSchema");
        return grpc_reply_status(c, rc, &err, resp);
    }
    kite_schema schema;
    rc = grpc_schema_from_pb(c, pb, &schema, &err);
    if (rc == KITE_OK) {
        kite_create_params p;
        kite_create_params_init(&p);
        p.schema = &schema;
        p.consistency_level = r->consistency_level;
        if (r->shards_num > 0)
            p.shards_num = r->shards_num;
        p.num_partitions = (int32_t)r->num_partitions;
        p.properties = kvs_from_pb(c, r->properties, r->n_properties);
        p.n_properties = r->n_properties;
        const char *name = r->collection_name[0] ? r->collection_name : pb->name;
        rc = p.properties ? kite_collection_create(c->db, grpc_call_db(c, r->db_name), name, &p,
                                                   &err)
                          : KITE_ENOMEM;
    }
    int out = grpc_reply_status(c, rc, &err, resp);
    protobuf_c_message_free_unpacked(&pb->base, &grpc_pb_allocator);
    return out;
}

static int describe_fill(struct grpc_call *c, const kite_collection_info *info,
                         Milvus__Proto__Milvus__DescribeCollectionResponse *out)
{
    out->schema = grpc_schema_to_pb(c, info);
    out->collectionid = info->collection_id;
    out->created_timestamp = GRPC_HYBRID_TS(info->created_utc_ms);
    out->created_utc_timestamp = info->created_utc_ms;
    out->shards_num = info->shards_num;
    out->aliases = strs_to_pb(c, info->aliases, info->n_aliases);
    out->n_aliases = info->n_aliases;
    out->consistency_level = (Milvus__Proto__Common__ConsistencyLevel)info->consistency_level;
    out->collection_name = grpc_arena_strdup(&c->arena, info->name);
    out->properties = kvs_to_pb(c, info->properties, info->n_properties);
    out->n_properties = info->n_properties;
    out->db_name = grpc_arena_strdup(&c->arena, info->db_name);
    out->num_partitions = info->partitions_num;
    out->update_timestamp = out->created_timestamp;
    return c->arena.oom || !out->schema ? KITE_ENOMEM : KITE_OK;
}

GRPC_HANDLER(DescribeCollection)
{
    const Milvus__Proto__Milvus__DescribeCollectionRequest *r = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__DescribeCollectionResponse, out,
              milvus__proto__milvus__describe_collection_response__init);
    kite_err err = {0};
    kite_collection_info *info = NULL;
    int rc;
    if (!r->collection_name[0])
        rc = kite_err_set(&err, KITE_EMISSING,
                          "collection_name is required (lookup by collectionID is not "
                          "supported)");
    else
        rc = kite_collection_describe(c->db, grpc_call_db(c, r->db_name), r->collection_name,
                                      &info, &err);
    if (rc == KITE_OK) {
        rc = describe_fill(c, info, out);
        kite_collection_info_free(info);
        if (rc != KITE_OK)
            return rc;
    }
    out->status = grpc_status_new(c, rc, &err);
    if (!out->status)
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}

GRPC_HANDLER(HasCollection)
{
    const Milvus__Proto__Milvus__HasCollectionRequest *r = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__BoolResponse, out, milvus__proto__milvus__bool_response__init);
    kite_err err = {0};
    bool has = false;
    int rc = kite_collection_has(c->db, grpc_call_db(c, r->db_name), r->collection_name, &has,
                                 &err);
    out->value = has;
    if (!(out->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}

GRPC_HANDLER(DropCollection)
{
    const Milvus__Proto__Milvus__DropCollectionRequest *r = (const void *)req;
    kite_err err = {0};
    int rc = kite_collection_drop(c->db, grpc_call_db(c, r->db_name), r->collection_name, &err);
    return grpc_reply_status(c, rc, &err, resp);
}

GRPC_HANDLER(RenameCollection)
{
    const Milvus__Proto__Milvus__RenameCollectionRequest *r = (const void *)req;
    kite_err err = {0};
    const char *db = grpc_call_db(c, r->db_name);
    const char *new_db = r->newdbname[0] ? r->newdbname : db;
    int rc = kite_collection_rename(c->db, db, r->oldname, new_db, r->newname, &err);
    return grpc_reply_status(c, rc, &err, resp);
}

GRPC_HANDLER(AlterCollection)
{
    const Milvus__Proto__Milvus__AlterCollectionRequest *r = (const void *)req;
    kite_err err = {0};
    int rc;
    if (r->n_delete_keys > 0) {
        rc = kite_err_set(&err, KITE_EUNSUPPORTED,
                          "deleting collection properties (delete_keys) is not supported");
    } else {
        kite_kv *kvs = kvs_from_pb(c, r->properties, r->n_properties);
        if (!kvs)
            return KITE_ENOMEM;
        rc = kite_collection_alter_properties(c->db, grpc_call_db(c, r->db_name),
                                              r->collection_name, kvs, r->n_properties, &err);
    }
    return grpc_reply_status(c, rc, &err, resp);
}

/* One row of ShowCollections; returns the kite code of the describe. */
static int show_one(struct grpc_call *c, const char *db, const char *name, bool in_memory_only,
                    Milvus__Proto__Milvus__ShowCollectionsResponse *out, kite_err *err)
{
    kite_collection_info *info = NULL;
    int rc = kite_collection_describe(c->db, db, name, &info, err);
    if (rc != KITE_OK)
        return rc;
    bool loaded = info->load_state == KITE_LOAD_LOADED;
    if (!in_memory_only || loaded) {
        size_t i = out->n_collection_names;
        out->collection_names[i] = grpc_arena_strdup(&c->arena, info->name);
        out->collection_ids[i] = info->collection_id;
        out->created_timestamps[i] = GRPC_HYBRID_TS(info->created_utc_ms);
        out->created_utc_timestamps[i] = info->created_utc_ms;
        out->inmemory_percentages[i] = loaded ? 100 : 0;
        out->query_service_available[i] = loaded;
        out->n_collection_names = out->n_collection_ids = out->n_created_timestamps =
            out->n_created_utc_timestamps = out->n_inmemory_percentages =
                out->n_query_service_available = i + 1;
    }
    kite_collection_info_free(info);
    return c->arena.oom ? KITE_ENOMEM : KITE_OK;
}

static int show_alloc(struct grpc_call *c, size_t n,
                      Milvus__Proto__Milvus__ShowCollectionsResponse *out)
{
    if (!n)
        n = 1;
    out->collection_names = grpc_arena_array(&c->arena, n, sizeof(char *));
    out->collection_ids = grpc_arena_array(&c->arena, n, sizeof(int64_t));
    out->created_timestamps = grpc_arena_array(&c->arena, n, sizeof(uint64_t));
    out->created_utc_timestamps = grpc_arena_array(&c->arena, n, sizeof(uint64_t));
    out->inmemory_percentages = grpc_arena_array(&c->arena, n, sizeof(int64_t));
    out->query_service_available = grpc_arena_array(&c->arena, n, sizeof(protobuf_c_boolean));
    return c->arena.oom ? KITE_ENOMEM : KITE_OK;
}

/*
 * ShowCollections.  type InMemory with collection_names is pymilvus 2.1's load
 * poll: one row per named collection with inMemory_percentages 100 once loaded
 * (the lists stay parallel).  Plain InMemory lists only loaded collections.
 */
GRPC_HANDLER(ShowCollections)
{
    const Milvus__Proto__Milvus__ShowCollectionsRequest *r = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__ShowCollectionsResponse, out,
              milvus__proto__milvus__show_collections_response__init);
    kite_err err = {0};
    const char *db = grpc_call_db(c, r->db_name);
    bool in_memory = r->type == MILVUS__PROTO__MILVUS__SHOW_TYPE__InMemory;
    char **names = NULL;
    size_t n = 0;
    int rc;
    if (r->n_collection_names > 0) {
        if ((rc = show_alloc(c, r->n_collection_names, out)) != KITE_OK)
            return rc;
        for (size_t i = 0; i < r->n_collection_names && rc == KITE_OK; i++)
            rc = show_one(c, db, r->collection_names[i], false, out, &err);
    } else {
        rc = kite_collection_list(c->db, db, &names, &n, &err);
        if (rc == KITE_OK && (rc = show_alloc(c, n, out)) == KITE_OK) {
            for (size_t i = 0; i < n && (rc == KITE_OK || rc == KITE_ENOCOLL); i++)
                rc = show_one(c, db, names[i], in_memory, out, &err); /* may race a drop */
            if (rc == KITE_ENOCOLL)
                rc = KITE_OK;
        }
        kite_strings_free(names, n);
    }
    if (rc == KITE_ENOMEM)
        return rc;
    if (rc != KITE_OK) { /* an error reply carries no half-filled lists */
        out->n_collection_names = out->n_collection_ids = out->n_created_timestamps =
            out->n_created_utc_timestamps = out->n_inmemory_percentages =
                out->n_query_service_available = 0;
    }
    if (!(out->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}

GRPC_HANDLER(LoadCollection)
{
    const Milvus__Proto__Milvus__LoadCollectionRequest *r = (const void *)req;
    kite_err err = {0};
    int rc = kite_collection_load(c->db, grpc_call_db(c, r->db_name), r->collection_name, &err);
    return grpc_reply_status(c, rc, &err, resp);
}

GRPC_HANDLER(ReleaseCollection)
{
    const Milvus__Proto__Milvus__ReleaseCollectionRequest *r = (const void *)req;
    kite_err err = {0};
    int rc = kite_collection_release(c->db, grpc_call_db(c, r->db_name), r->collection_name,
                                     &err);
    return grpc_reply_status(c, rc, &err, resp);
}

GRPC_HANDLER(GetLoadingProgress)
{
    const Milvus__Proto__Milvus__GetLoadingProgressRequest *r = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__GetLoadingProgressResponse, out,
              milvus__proto__milvus__get_loading_progress_response__init);
    kite_err err = {0};
    int state = KITE_LOAD_NOT_EXIST;
    int rc = kite_collection_load_state(c->db, grpc_call_db(c, r->db_name), r->collection_name,
                                        &state, &err);
    if (rc == KITE_OK && state == KITE_LOAD_NOT_LOAD)
        rc = kite_err_set(&err, KITE_ENOTLOADED, "collection not loaded[collection=%s]",
                          r->collection_name);
    if (rc == KITE_OK) {
        out->progress = state == KITE_LOAD_LOADED ? 100 : 0;
        out->refresh_progress = out->progress;
    }
    if (!(out->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}

GRPC_HANDLER(GetLoadState)
{
    const Milvus__Proto__Milvus__GetLoadStateRequest *r = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__GetLoadStateResponse, out,
              milvus__proto__milvus__get_load_state_response__init);
    kite_err err = {0};
    int state = KITE_LOAD_NOT_EXIST;
    int rc = kite_collection_load_state(c->db, grpc_call_db(c, r->db_name), r->collection_name,
                                        &state, &err);
    out->state = (Milvus__Proto__Common__LoadState)state;
    if (!(out->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}

/* stats = [{row_count: "<n>"}] (pymilvus does int(stats["row_count"])). */
static KeyValuePair **row_count_stats(struct grpc_call *c, uint64_t rows)
{
    char num[32];
    snprintf(num, sizeof(num), "%" PRIu64, rows);
    kite_kv kv = {.key = "row_count", .value = num};
    return kvs_to_pb(c, &kv, 1);
}

GRPC_HANDLER(GetCollectionStatistics)
{
    const Milvus__Proto__Milvus__GetCollectionStatisticsRequest *r = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__GetCollectionStatisticsResponse, out,
              milvus__proto__milvus__get_collection_statistics_response__init);
    kite_err err = {0};
    uint64_t rows = 0;
    int rc = kite_collection_row_count(c->db, grpc_call_db(c, r->db_name), r->collection_name,
                                       &rows, &err);
    if (rc == KITE_OK) {
        if (!(out->stats = row_count_stats(c, rows)))
            return KITE_ENOMEM;
        out->n_stats = 1;
    }
    if (!(out->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}

GRPC_HANDLER(GetPartitionStatistics)
{
    const Milvus__Proto__Milvus__GetPartitionStatisticsRequest *r = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__GetPartitionStatisticsResponse, out,
              milvus__proto__milvus__get_partition_statistics_response__init);
    kite_err err = {0};
    uint64_t rows = 0;
    int rc = kite_partition_row_count(c->db, grpc_call_db(c, r->db_name), r->collection_name,
                                      r->partition_name, &rows, &err);
    if (rc == KITE_OK) {
        if (!(out->stats = row_count_stats(c, rows)))
            return KITE_ENOMEM;
        out->n_stats = 1;
    }
    if (!(out->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}
