/*
 * grpc_dispatch.c — from one complete gRPC request to one packed response.
 *
 * The request body is the gRPC length-prefixed message: 1 byte compressed flag,
 * 4 bytes big-endian length, then the protobuf bytes.  Outcomes:
 *   unknown method                      -> UNIMPLEMENTED (12)
 *   compressed flag set                 -> UNIMPLEMENTED (we advertise no encodings)
 *   prefix missing / length mismatch    -> INTERNAL (13), like grpc-go's framing errors
 *   protobuf that does not parse        -> INTERNAL ("error unmarshalling request")
 *   message over max_recv_bytes         -> RESOURCE_EXHAUSTED (8)
 *   response over max_send_bytes        -> RESOURCE_EXHAUSTED (8)
 *   handler out of memory               -> RESOURCE_EXHAUSTED (8)
 *   auth enabled, no/bad credentials    -> UNAUTHENTICATED (16), except CheckHealth
 *   auth enabled, privilege missing     -> PERMISSION_DENIED (7) (server/auth.h tables;
 *                                          object = the message's collection_name)
 *   anything else                       -> OK with the handler's message (which may
 *                                          carry an application error in its Status)
 * Every call is counted in the metrics registry (server/metrics.h).
 *
 * Threading: reentrant; the method table is read-only.
 */
#include <stdio.h>
#include <string.h>

#include <time.h>

#include "alloc.h"
#include "auth.h"
#include "err.h"
#include "grpc_internal.h"
#include "metrics.h"

#define M(name, req) {#name, &milvus__proto__milvus__##req##__descriptor, grpc_h_##name}

static const struct grpc_method g_methods[] = {
    M(Connect, connect_request),
    M(GetVersion, get_version_request),
    M(CheckHealth, check_health_request),
    M(AllocTimestamp, alloc_timestamp_request),
    M(GetComponentStates, get_component_states_request),
    M(CreateCollection, create_collection_request),
    M(DescribeCollection, describe_collection_request),
    M(HasCollection, has_collection_request),
    M(DropCollection, drop_collection_request),
    M(RenameCollection, rename_collection_request),
    M(AlterCollection, alter_collection_request),
    M(ShowCollections, show_collections_request),
    M(LoadCollection, load_collection_request),
    M(ReleaseCollection, release_collection_request),
    M(GetLoadingProgress, get_loading_progress_request),
    M(GetLoadState, get_load_state_request),
    M(GetCollectionStatistics, get_collection_statistics_request),
    M(CreatePartition, create_partition_request),
    M(DropPartition, drop_partition_request),
    M(HasPartition, has_partition_request),
    M(ShowPartitions, show_partitions_request),
    M(LoadPartitions, load_partitions_request),
    M(ReleasePartitions, release_partitions_request),
    M(GetPartitionStatistics, get_partition_statistics_request),
    M(CreateAlias, create_alias_request),
    M(DropAlias, drop_alias_request),
    M(AlterAlias, alter_alias_request),
    M(DescribeAlias, describe_alias_request),
    M(ListAliases, list_aliases_request),
    M(CreateDatabase, create_database_request),
    M(DropDatabase, drop_database_request),
    M(ListDatabases, list_databases_request),
    M(CreateIndex, create_index_request),
    M(DescribeIndex, describe_index_request),
    M(GetIndexState, get_index_state_request),
    M(GetIndexBuildProgress, get_index_build_progress_request),
    M(DropIndex, drop_index_request),
    M(Insert, insert_request),
    M(Upsert, upsert_request),
    M(Delete, delete_request),
    M(Flush, flush_request),
    M(GetFlushState, get_flush_state_request),
    M(Search, search_request),
    M(HybridSearch, hybrid_search_request),
    M(Query, query_request),
    M(CreateCredential, create_credential_request),
    M(UpdateCredential, update_credential_request),
    M(DeleteCredential, delete_credential_request),
    M(ListCredUsers, list_cred_users_request),
    M(CreateRole, create_role_request),
    M(DropRole, drop_role_request),
    M(OperateUserRole, operate_user_role_request),
    M(SelectRole, select_role_request),
    M(SelectUser, select_user_request),
    M(OperatePrivilege, operate_privilege_request),
    M(SelectGrant, select_grant_request),
};

#undef M

const struct grpc_method *grpc_method_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(g_methods) / sizeof(g_methods[0]); i++)
        if (strlen(g_methods[i].name) == len && memcmp(g_methods[i].name, name, len) == 0)
            return &g_methods[i];
    return NULL;
}

static void reply_error(struct grpc_reply *out, int status, const char *msg)
{
    out->grpc_status = status;
    snprintf(out->message, sizeof(out->message), "%s", msg);
}

/* Pack resp behind a 5-byte gRPC prefix into out->body. */
static void pack_reply(const struct grpc_config *cfg, const ProtobufCMessage *resp,
                       struct grpc_reply *out)
{
    size_t n = protobuf_c_message_get_packed_size(resp);
    if (n > UINT32_MAX || (cfg->max_send_bytes && n > cfg->max_send_bytes)) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "response message is %zu bytes, larger than the %zu bytes allowed "
                 "(max_send_bytes)", n, cfg->max_send_bytes);
        reply_error(out, GRPC_STATUS_RESOURCE_EXHAUSTED, msg);
        return;
    }
    uint8_t *buf = kite_malloc(n + 5);
    if (!buf) {
        reply_error(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory packing the response");
        return;
    }
    buf[0] = 0;
    buf[1] = (uint8_t)(n >> 24);
    buf[2] = (uint8_t)(n >> 16);
    buf[3] = (uint8_t)(n >> 8);
    buf[4] = (uint8_t)n;
    protobuf_c_message_pack(resp, buf + 5);
    out->body = buf;
    out->body_len = n + 5;
    out->grpc_status = GRPC_STATUS_OK;
}

/* A string field of the request message by name ("collection_name"), or NULL. */
static const char *msg_string(const ProtobufCMessage *msg, const char *field)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, field);
    if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    return *(const char *const *)((const char *)msg + f->offset);
}

/* RBAC for one unpacked request; KITE_OK or a reply_error already filled. */
static int check_privilege(const struct grpc_config *cfg, const struct grpc_method *m,
                           const struct auth_user *who, const ProtobufCMessage *in,
                           const char *db_header, struct grpc_reply *out)
{
    const struct auth_need *need = auth_grpc_need(m->name);
    if (!need)
        return KITE_OK;
    const char *db = msg_string(in, "db_name");
    if (!db || !*db)
        db = db_header && *db_header ? db_header : NULL;
    kite_err err;
    kite_err_clear(&err);
    const char *object = msg_string(in, need->self_ok ? "username" : "collection_name");
    int rc = auth_authorize(cfg->auth, who, need, db, object, &err);
    if (rc != KITE_OK)
        reply_error(out, GRPC_STATUS_PERMISSION_DENIED, err.message);
    return rc;
}

static void dispatch(kite_db *db, const struct grpc_config *cfg, const struct grpc_request *req,
                     const struct grpc_method **found, struct grpc_reply *out)
{
    const size_t plen = strlen(GRPC_METHOD_PREFIX);
    const struct grpc_method *m = NULL;
    if (req->path && strncmp(req->path, GRPC_METHOD_PREFIX, plen) == 0)
        m = grpc_method_find(req->path + plen, strlen(req->path + plen));
    if (!m) {
        char msg[200];
        snprintf(msg, sizeof(msg), "unknown method %.150s", req->path ? req->path : "(none)");
        reply_error(out, GRPC_STATUS_UNIMPLEMENTED, msg);
        return;
    }
    *found = m;
    struct auth_user who;
    bool authed = false;
    if (auth_enabled(cfg->auth) && strcmp(m->name, "CheckHealth") != 0) {
        if (auth_check_grpc(cfg->auth, req->authorization, &who) != KITE_OK) {
            reply_error(out, GRPC_STATUS_UNAUTHENTICATED, "user hasn't authenticated");
            return;
        }
        authed = true;
    }
    if (req->body_len < 5) {
        reply_error(out, GRPC_STATUS_INTERNAL,
                    "request has no gRPC message (expected a 5-byte length prefix)");
        return;
    }
    if (req->body[0] != 0) {
        reply_error(out, GRPC_STATUS_UNIMPLEMENTED,
                    "compressed messages are not supported (grpc-accept-encoding: identity)");
        return;
    }
    size_t mlen = ((size_t)req->body[1] << 24) | ((size_t)req->body[2] << 16) |
                  ((size_t)req->body[3] << 8) | (size_t)req->body[4];
    if (cfg->max_recv_bytes && mlen > cfg->max_recv_bytes) {
        reply_error(out, GRPC_STATUS_RESOURCE_EXHAUSTED,
                    "request message larger than max_recv_bytes");
        return;
    }
    if (mlen != req->body_len - 5) {
        reply_error(out, GRPC_STATUS_INTERNAL,
                    "request carries one message whose length prefix does not match the data "
                    "(streaming requests are not supported)");
        return;
    }
    ProtobufCMessage *in =
        protobuf_c_message_unpack(m->request, &grpc_pb_allocator, mlen, req->body + 5);
    if (!in) {
        char msg[200];
        snprintf(msg, sizeof(msg), "error unmarshalling request: not a valid %s message",
                 m->request->name);
        reply_error(out, GRPC_STATUS_INTERNAL, msg);
        return;
    }
    if (authed && check_privilege(cfg, m, &who, in, req->dbname_header, out) != KITE_OK) {
        protobuf_c_message_free_unpacked(in, &grpc_pb_allocator);
        return;
    }
    struct grpc_call call = {
        .db = db,
        .user = authed ? &who : NULL,
        .cfg = cfg,
        .dbname_header = (req->dbname_header && req->dbname_header[0]) ? req->dbname_header
                                                                       : NULL,
        .connection_id = req->connection_id,
    };
    grpc_arena_init(&call.arena);
    ProtobufCMessage *resp = NULL;
    int rc = m->fn(&call, in, &resp);
    if (rc != KITE_OK || !resp)
        reply_error(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory building the response");
    else
        pack_reply(cfg, resp, out);
    grpc_arena_free(&call.arena);
    for (size_t i = 0; i < call.n_keep; i++)
        kite_result_free(call.keep[i]);
    protobuf_c_message_free_unpacked(in, &grpc_pb_allocator);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void grpc_dispatch(kite_db *db, const struct grpc_config *cfg, const struct grpc_request *req,
                   struct grpc_reply *out)
{
    uint64_t t0 = now_us();
    const struct grpc_method *m = NULL;
    /* Error replies set only status and message: start from an empty reply so the
     * caller can always grpc_reply_free() it (found by fuzz_grpc_dispatch). */
    memset(out, 0, sizeof(*out));
    dispatch(db, cfg, req, &m, out);
    metrics_observe_grpc(m ? m->name : "other", out->grpc_status, now_us() - t0);
}

int grpc_call_keep(struct grpc_call *c, kite_result *r)
{
    if (c->n_keep == sizeof(c->keep) / sizeof(c->keep[0])) {
        kite_result_free(r);
        return KITE_ENOMEM;
    }
    c->keep[c->n_keep++] = r;
    return KITE_OK;
}

void grpc_reply_free(struct grpc_reply *r)
{
    if (!r)
        return;
    kite_free(r->body);
    r->body = NULL;
    r->body_len = 0;
}
