/*
 * handlers_data.c — write RPCs: Insert, Upsert, Delete, Flush, GetFlushState.
 *
 * Writes are durable when kite_insert/kite_upsert/kite_delete return, so every
 * consistency level is satisfied at once and GetFlushState always answers
 * flushed = true; Flush still calls kite_collection_flush (seal + sync) so a
 * client's explicit flush has its usual effect on segment layout.
 *
 * Threading: stateless; the kite_db is thread-safe.
 */
#include <string.h>
#include <time.h>

#include "err.h"
#include "grpc_internal.h"

typedef Milvus__Proto__Milvus__MutationResult MutationResult;

static int mutation_reply(struct grpc_call *c, int rc, const kite_err *err,
                          const kite_write_result *res, ProtobufCMessage **resp)
{
    GRPC_RESP(MutationResult, out, milvus__proto__milvus__mutation_result__init);
    if (rc == KITE_OK) {
        out->ids = grpc_ids_to_pb(c, &res->ids);
        if (!out->ids)
            return KITE_ENOMEM;
        size_t n = res->ids.n;
        out->succ_index = grpc_arena_array(&c->arena, n ? n : 1, sizeof(uint32_t));
        if (!out->succ_index)
            return KITE_ENOMEM;
        for (size_t i = 0; i < n; i++)
            out->succ_index[i] = (uint32_t)i;
        out->n_succ_index = n;
        out->insert_cnt = (int64_t)res->insert_count;
        out->upsert_cnt = (int64_t)res->upsert_count;
        out->delete_cnt = (int64_t)res->delete_count;
        out->timestamp = grpc_next_timestamp();
    }
    if (!(out->status = grpc_status_new(c, rc, err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}

/* Insert and Upsert share the request layout (GRPC.md §4). */
static int write_rows(struct grpc_call *c, const Milvus__Proto__Milvus__InsertRequest *r,
                      bool upsert, ProtobufCMessage **resp)
{
    kite_err err = {0};
    kite_write_result res;
    memset(&res, 0, sizeof(res));
    kite_column *cols = NULL;
    size_t n_cols = 0;
    int rc = grpc_columns_from_pb(c, r->fields_data, r->n_fields_data, &cols, &n_cols, &err);
    if (rc == KITE_OK && r->num_rows > 0) {
        for (size_t i = 0; i < n_cols && rc == KITE_OK; i++)
            if (cols[i].n != r->num_rows)
                rc = kite_err_set(&err, KITE_EINVAL,
                                  "field %s has %zu rows, but num_rows is %u", cols[i].name,
                                  cols[i].n, r->num_rows);
    }
    if (rc == KITE_OK) {
        const char *db = grpc_call_db(c, r->db_name);
        const char *part = r->partition_name[0] ? r->partition_name : NULL;
        rc = upsert ? kite_upsert(c->db, db, r->collection_name, part, cols, n_cols, &res, &err)
                    : kite_insert(c->db, db, r->collection_name, part, cols, n_cols, &res, &err);
    }
    int out = mutation_reply(c, rc, &err, &res, resp);
    kite_write_result_free(&res);
    return out;
}

GRPC_HANDLER(Insert)
{
    return write_rows(c, (const void *)req, false, resp);
}

GRPC_HANDLER(Upsert)
{
    /* UpsertRequest has InsertRequest's exact layout; read it through that type. */
    const Milvus__Proto__Milvus__UpsertRequest *u = (const void *)req;
    Milvus__Proto__Milvus__InsertRequest r;
    milvus__proto__milvus__insert_request__init(&r);
    r.db_name = u->db_name;
    r.collection_name = u->collection_name;
    r.partition_name = u->partition_name;
    r.fields_data = u->fields_data;
    r.n_fields_data = u->n_fields_data;
    r.num_rows = u->num_rows;
    return write_rows(c, &r, true, resp);
}

GRPC_HANDLER(Delete)
{
    const Milvus__Proto__Milvus__DeleteRequest *r = (const void *)req;
    kite_err err = {0};
    kite_write_result res;
    memset(&res, 0, sizeof(res));
    const char *tmpl = NULL;
    int rc = grpc_templates_to_json(c, (void *const *)r->expr_template_values,
                                    r->n_expr_template_values, &tmpl, &err);
    if (rc == KITE_OK)
        rc = kite_delete(c->db, grpc_call_db(c, r->db_name), r->collection_name,
                         r->partition_name[0] ? r->partition_name : NULL, r->expr, tmpl, &res,
                         &err);
    int out = mutation_reply(c, rc, &err, &res, resp);
    kite_write_result_free(&res);
    return out;
}

/* Per-collection map entries of FlushResponse: empty segment lists, flush ts now. */
static int flush_entries(struct grpc_call *c, char *const *names, size_t n,
                         Milvus__Proto__Milvus__FlushResponse *out)
{
    size_t m = n ? n : 1;
    out->coll_segids = grpc_arena_array(&c->arena, m, sizeof(*out->coll_segids));
    out->flush_coll_segids = grpc_arena_array(&c->arena, m, sizeof(*out->flush_coll_segids));
    out->coll_flush_ts = grpc_arena_array(&c->arena, m, sizeof(*out->coll_flush_ts));
    out->coll_seal_times = grpc_arena_array(&c->arena, m, sizeof(*out->coll_seal_times));
    if (c->arena.oom)
        return KITE_ENOMEM;
    uint64_t ts = grpc_next_timestamp();
    for (size_t i = 0; i < n; i++) {
        Milvus__Proto__Milvus__FlushResponse__CollSegIDsEntry *a =
            grpc_arena_alloc(&c->arena, sizeof(*a));
        Milvus__Proto__Milvus__FlushResponse__FlushCollSegIDsEntry *b =
            grpc_arena_alloc(&c->arena, sizeof(*b));
        Milvus__Proto__Milvus__FlushResponse__CollFlushTsEntry *t =
            grpc_arena_alloc(&c->arena, sizeof(*t));
        Milvus__Proto__Milvus__FlushResponse__CollSealTimesEntry *s =
            grpc_arena_alloc(&c->arena, sizeof(*s));
        Milvus__Proto__Schema__LongArray *la = grpc_arena_alloc(&c->arena, sizeof(*la));
        Milvus__Proto__Schema__LongArray *lb = grpc_arena_alloc(&c->arena, sizeof(*lb));
        if (!a || !b || !t || !s || !la || !lb)
            return KITE_ENOMEM;
        milvus__proto__milvus__flush_response__coll_seg_ids_entry__init(a);
        milvus__proto__milvus__flush_response__flush_coll_seg_ids_entry__init(b);
        milvus__proto__milvus__flush_response__coll_flush_ts_entry__init(t);
        milvus__proto__milvus__flush_response__coll_seal_times_entry__init(s);
        milvus__proto__schema__long_array__init(la);
        milvus__proto__schema__long_array__init(lb);
        a->key = b->key = t->key = s->key = names[i];
        a->value = la;
        b->value = lb;
        t->value = ts;
        s->value = (int64_t)time(NULL);
        out->coll_segids[i] = a;
        out->flush_coll_segids[i] = b;
        out->coll_flush_ts[i] = t;
        out->coll_seal_times[i] = s;
    }
    out->n_coll_segids = out->n_flush_coll_segids = out->n_coll_flush_ts =
        out->n_coll_seal_times = n;
    return KITE_OK;
}

GRPC_HANDLER(Flush)
{
    const Milvus__Proto__Milvus__FlushRequest *r = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__FlushResponse, out,
              milvus__proto__milvus__flush_response__init);
    kite_err err = {0};
    const char *db = grpc_call_db(c, r->db_name);
    int rc = KITE_OK;
    for (size_t i = 0; i < r->n_collection_names && rc == KITE_OK; i++)
        rc = kite_collection_flush(c->db, db, r->collection_names[i], &err);
    if (rc == KITE_OK) {
        out->db_name = grpc_arena_strdup(&c->arena, db ? db : "default");
        if (!out->db_name || flush_entries(c, r->collection_names, r->n_collection_names,
                                           out) != KITE_OK)
            return KITE_ENOMEM;
    }
    if (!(out->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}

GRPC_HANDLER(GetFlushState)
{
    (void)req;
    GRPC_RESP(Milvus__Proto__Milvus__GetFlushStateResponse, out,
              milvus__proto__milvus__get_flush_state_response__init);
    out->flushed = true; /* acknowledged writes are already durable */
    if (!(out->status = grpc_status_new(c, KITE_OK, NULL)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}
