/*
 * handlers_misc.c — handshake and health RPCs: Connect, GetVersion, CheckHealth,
 * AllocTimestamp, GetComponentStates.  None of them touches collection data.
 *
 * Threading: stateless; the timestamp clock is one atomic.
 */
#include <stdatomic.h>
#include <time.h>

#include "grpc_internal.h"

#define RESP(type, var)                                                                    \
    type *var = grpc_arena_alloc(&c->arena, sizeof(*var));                                 \
    if (!var)                                                                              \
        return KITE_ENOMEM

GRPC_HANDLER(Connect)
{
    (void)req;
    RESP(Milvus__Proto__Milvus__ConnectResponse, r);
    milvus__proto__milvus__connect_response__init(r);
    r->status = grpc_status_new(c, KITE_OK, NULL);
    Milvus__Proto__Common__ServerInfo *info = grpc_arena_alloc(&c->arena, sizeof(*info));
    if (!r->status || !info)
        return KITE_ENOMEM;
    milvus__proto__common__server_info__init(info);
    info->build_tags = grpc_arena_printf(&c->arena, "kite-%s", kite_version());
    info->deploy_mode = grpc_arena_strdup(&c->arena, "STANDALONE");
    if (!info->build_tags || !info->deploy_mode)
        return KITE_ENOMEM;
    r->server_info = info;
    r->identifier = c->connection_id ? c->connection_id : 1;
    *resp = &r->base;
    return KITE_OK;
}

GRPC_HANDLER(GetVersion)
{
    (void)req;
    RESP(Milvus__Proto__Milvus__GetVersionResponse, r);
    milvus__proto__milvus__get_version_response__init(r);
    r->status = grpc_status_new(c, KITE_OK, NULL);
    r->version = grpc_arena_strdup(&c->arena, KITE_MILVUS_VERSION);
    if (!r->status || !r->version)
        return KITE_ENOMEM;
    *resp = &r->base;
    return KITE_OK;
}

GRPC_HANDLER(CheckHealth)
{
    (void)req;
    RESP(Milvus__Proto__Milvus__CheckHealthResponse, r);
    milvus__proto__milvus__check_health_response__init(r);
    r->status = grpc_status_new(c, KITE_OK, NULL);
    if (!r->status)
        return KITE_ENOMEM;
    r->ishealthy = c->db != NULL;
    if (!c->db) {
        r->reasons = grpc_arena_alloc(&c->arena, sizeof(char *));
        if (!r->reasons || !(r->reasons[0] = grpc_arena_strdup(&c->arena, "engine not open")))
            return KITE_ENOMEM;
        r->n_reasons = 1;
    }
    *resp = &r->base;
    return KITE_OK;
}

/*
 * Hybrid-logical timestamps like Milvus' TSO: physical milliseconds << 18 plus a
 * logical counter, strictly increasing across calls.
 */
uint64_t grpc_next_timestamp(void)
{
    static _Atomic uint64_t last;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t phys = ((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u) << 18;
    uint64_t prev = atomic_load(&last);
    uint64_t next;
    do {
        next = phys > prev ? phys : prev + 1;
    } while (!atomic_compare_exchange_weak(&last, &prev, next));
    return next;
}

GRPC_HANDLER(AllocTimestamp)
{
    (void)req;
    RESP(Milvus__Proto__Milvus__AllocTimestampResponse, r);
    milvus__proto__milvus__alloc_timestamp_response__init(r);
    r->status = grpc_status_new(c, KITE_OK, NULL);
    if (!r->status)
        return KITE_ENOMEM;
    r->timestamp = grpc_next_timestamp();
    *resp = &r->base;
    return KITE_OK;
}

GRPC_HANDLER(GetComponentStates)
{
    (void)req;
    RESP(Milvus__Proto__Milvus__ComponentStates, r);
    milvus__proto__milvus__component_states__init(r);
    Milvus__Proto__Milvus__ComponentInfo *info = grpc_arena_alloc(&c->arena, sizeof(*info));
    r->status = grpc_status_new(c, KITE_OK, NULL);
    if (!info || !r->status)
        return KITE_ENOMEM;
    milvus__proto__milvus__component_info__init(info);
    info->nodeid = 1;
    info->role = grpc_arena_strdup(&c->arena, "proxy");
    if (!info->role)
        return KITE_ENOMEM;
    info->state_code = c->db ? MILVUS__PROTO__COMMON__STATE_CODE__Healthy
                             : MILVUS__PROTO__COMMON__STATE_CODE__Abnormal;
    r->state = info;
    *resp = &r->base;
    return KITE_OK;
}
