/*
 * handlers_partition.c — partition, alias and database RPCs, each a thin mapping
 * onto one kite.h call (docs/GRPC.md).  GetPartitionStatistics lives with
 * GetCollectionStatistics in handlers_collection.c.
 *
 * Threading: stateless; the kite_db is thread-safe.
 */
#include <string.h>

#include "err.h"
#include "grpc_internal.h"

/* Copy a kite string list into the arena. */
static char **names_to_pb(struct grpc_call *c, char *const *names, size_t n)
{
    char **out = grpc_arena_array(&c->arena, n ? n : 1, sizeof(*out));
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = grpc_arena_strdup(&c->arena, names[i]);
    return c->arena.oom ? NULL : out;
}

/* ---------------------------------------------------------------- partitions */

GRPC_HANDLER(CreatePartition)
{
    const Milvus__Proto__Milvus__CreatePartitionRequest *r = (const void *)req;
    kite_err err = {0};
    int rc = kite_partition_create(c->db, grpc_call_db(c, r->db_name), r->collection_name,
                                   r->partition_name, &err);
    return grpc_reply_status(c, rc, &err, resp);
}

GRPC_HANDLER(DropPartition)
{
    const Milvus__Proto__Milvus__DropPartitionRequest *r = (const void *)req;
    kite_err err = {0};
    int rc = kite_partition_drop(c->db, grpc_call_db(c, r->db_name), r->collection_name,
                                 r->partition_name, &err);
    return grpc_reply_status(c, rc, &err, resp);
}

GRPC_HANDLER(HasPartition)
{
    const Milvus__Proto__Milvus__HasPartitionRequest *r = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__BoolResponse, out, milvus__proto__milvus__bool_response__init);
    kite_err err = {0};
    bool has = false;
    int rc = kite_partition_has(c->db, grpc_call_db(c, r->db_name), r->collection_name,
                                r->partition_name, &has, &err);
    out->value = has;
    if (!(out->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}

GRPC_HANDLER(ShowPartitions)
{
    const Milvus__Proto__Milvus__ShowPartitionsRequest *r = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__ShowPartitionsResponse, out,
              milvus__proto__milvus__show_partitions_response__init);
    kite_err err = {0};
    const char *db = grpc_call_db(c, r->db_name);
    char **names = NULL;
    size_t n = 0;
    int rc = kite_partition_list(c->db, db, r->collection_name, &names, &n, &err);
    if (rc == KITE_OK) {
        int state = KITE_LOAD_NOT_LOAD;
        kite_err ignored;
        if (kite_collection_load_state(c->db, db, r->collection_name, &state, &ignored) !=
            KITE_OK)
            state = KITE_LOAD_NOT_LOAD;
        size_t m = n ? n : 1;
        out->partition_names = names_to_pb(c, names, n);
        out->partitionids = grpc_arena_array(&c->arena, m, sizeof(int64_t));
        out->created_timestamps = grpc_arena_array(&c->arena, m, sizeof(uint64_t));
        out->created_utc_timestamps = grpc_arena_array(&c->arena, m, sizeof(uint64_t));
        out->inmemory_percentages = grpc_arena_array(&c->arena, m, sizeof(int64_t));
        if (c->arena.oom) {
            kite_strings_free(names, n);
            return KITE_ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            out->partitionids[i] = (int64_t)i + 1; /* kite.h exposes no partition ids */
            out->inmemory_percentages[i] = state == KITE_LOAD_LOADED ? 100 : 0;
        }
        out->n_partition_names = out->n_partitionids = out->n_created_timestamps =
            out->n_created_utc_timestamps = out->n_inmemory_percentages = n;
        kite_strings_free(names, n);
    }
    if (!(out->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}

GRPC_HANDLER(LoadPartitions)
{
    const Milvus__Proto__Milvus__LoadPartitionsRequest *r = (const void *)req;
    kite_err err = {0};
    int rc = kite_partition_load(c->db, grpc_call_db(c, r->db_name), r->collection_name,
                                 (const char *const *)r->partition_names, r->n_partition_names,
                                 &err);
    return grpc_reply_status(c, rc, &err, resp);
}

GRPC_HANDLER(ReleasePartitions)
{
    const Milvus__Proto__Milvus__ReleasePartitionsRequest *r = (const void *)req;
    kite_err err = {0};
    int rc = kite_partition_release(c->db, grpc_call_db(c, r->db_name), r->collection_name,
                                    (const char *const *)r->partition_names,
                                    r->n_partition_names, &err);
    return grpc_reply_status(c, rc, &err, resp);
}

/* ------------------------------------------------------------------- aliases */

GRPC_HANDLER(CreateAlias)
{
    const Milvus__Proto__Milvus__CreateAliasRequest *r = (const void *)req;
    kite_err err = {0};
    int rc = kite_alias_create(c->db, grpc_call_db(c, r->db_name), r->collection_name, r->alias,
                               &err);
    return grpc_reply_status(c, rc, &err, resp);
}

GRPC_HANDLER(DropAlias)
{
    const Milvus__Proto__Milvus__DropAliasRequest *r = (const void *)req;
    kite_err err = {0};
    int rc = kite_alias_drop(c->db, grpc_call_db(c, r->db_name), r->alias, &err);
    return grpc_reply_status(c, rc, &err, resp);
}

GRPC_HANDLER(AlterAlias)
{
    const Milvus__Proto__Milvus__AlterAliasRequest *r = (const void *)req;
    kite_err err = {0};
    int rc = kite_alias_alter(c->db, grpc_call_db(c, r->db_name), r->collection_name, r->alias,
                              &err);
    return grpc_reply_status(c, rc, &err, resp);
}

GRPC_HANDLER(DescribeAlias)
{
    const Milvus__Proto__Milvus__DescribeAliasRequest *r = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__DescribeAliasResponse, out,
              milvus__proto__milvus__describe_alias_response__init);
    kite_err err = {0};
    const char *db = grpc_call_db(c, r->db_name);
    char *coll = NULL;
    int rc = kite_alias_describe(c->db, db, r->alias, &coll, &err);
    if (rc == KITE_OK) {
        out->db_name = grpc_arena_strdup(&c->arena, db ? db : "default");
        out->alias = grpc_arena_strdup(&c->arena, r->alias);
        out->collection = grpc_arena_strdup(&c->arena, coll);
        kite_free(coll);
        if (c->arena.oom)
            return KITE_ENOMEM;
    }
    if (!(out->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}

GRPC_HANDLER(ListAliases)
{
    const Milvus__Proto__Milvus__ListAliasesRequest *r = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__ListAliasesResponse, out,
              milvus__proto__milvus__list_aliases_response__init);
    kite_err err = {0};
    const char *db = grpc_call_db(c, r->db_name);
    char **names = NULL;
    size_t n = 0;
    int rc = kite_alias_list(c->db, db, r->collection_name[0] ? r->collection_name : NULL,
                             &names, &n, &err);
    if (rc == KITE_OK) {
        out->aliases = names_to_pb(c, names, n);
        out->n_aliases = n;
        out->db_name = grpc_arena_strdup(&c->arena, db ? db : "default");
        out->collection_name = grpc_arena_strdup(&c->arena, r->collection_name);
        kite_strings_free(names, n);
        if (c->arena.oom)
            return KITE_ENOMEM;
    }
    if (!(out->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}

/* ----------------------------------------------------------------- databases */

GRPC_HANDLER(CreateDatabase)
{
    const Milvus__Proto__Milvus__CreateDatabaseRequest *r = (const void *)req;
    kite_err err = {0};
    int rc = kite_database_create(c->db, r->db_name, &err);
    return grpc_reply_status(c, rc, &err, resp);
}

GRPC_HANDLER(DropDatabase)
{
    const Milvus__Proto__Milvus__DropDatabaseRequest *r = (const void *)req;
    kite_err err = {0};
    int rc = kite_database_drop(c->db, r->db_name, &err);
    return grpc_reply_status(c, rc, &err, resp);
}

GRPC_HANDLER(ListDatabases)
{
    (void)req;
    GRPC_RESP(Milvus__Proto__Milvus__ListDatabasesResponse, out,
              milvus__proto__milvus__list_databases_response__init);
    kite_err err = {0};
    char **names = NULL;
    size_t n = 0;
    int rc = kite_database_list(c->db, &names, &n, &err);
    if (rc == KITE_OK) {
        out->db_names = names_to_pb(c, names, n);
        out->n_db_names = n;
        out->db_ids = grpc_arena_array(&c->arena, n ? n : 1, sizeof(int64_t));
        out->created_timestamp = grpc_arena_array(&c->arena, n ? n : 1, sizeof(uint64_t));
        kite_strings_free(names, n);
        if (c->arena.oom)
            return KITE_ENOMEM;
        for (size_t i = 0; i < n; i++)
            out->db_ids[i] = (int64_t)i + 1;
        out->n_db_ids = out->n_created_timestamp = n;
    }
    if (!(out->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}
