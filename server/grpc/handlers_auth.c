/*
 * handlers_auth.c — the RBAC RPCs of MilvusService on the server's user store
 * (server/auth_store.h): CreateCredential, UpdateCredential, DeleteCredential,
 * ListCredUsers, CreateRole, DropRole, OperateUserRole, SelectRole, SelectUser,
 * OperatePrivilege, SelectGrant.
 *
 * Passwords arrive base64-encoded (what the SDKs send); a value that is not base64
 * is refused with code 1100.  Privileges are checked by grpc_dispatch before a
 * handler runs (server/auth.c table); UpdateCredential additionally requires the
 * old password unless an admin changes someone else's.  Every reply is a Milvus
 * Status (gRPC OK), like the other handlers.
 *
 * Threading: stateless; the store is thread-safe.
 */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "err.h"
#include "grpc_internal.h"

static struct auth_store *store(const struct grpc_call *c, kite_err *err)
{
    if (c->cfg->auth)
        return c->cfg->auth->store;
    kite_err_set(err, KITE_EUNSUPPORTED, "this server has no user store");
    return NULL;
}

/* Decode a base64 password into buf (cap bytes). */
static int password(const char *b64, char *buf, size_t cap, const char *what, kite_err *err)
{
    if (!b64 || auth_b64_decode(b64, buf, cap) < 0)
        return kite_err_set(err, KITE_EINVAL,
                            "invalid %s: expected the password base64-encoded (as the SDKs "
                            "send it), at most %d bytes",
                            what, AUTH_MAX_PASSWORD);
    return KITE_OK;
}

static const char *entity_name(const char *name)
{
    return name ? name : "";
}

GRPC_HANDLER(CreateCredential)
{
    const Milvus__Proto__Milvus__CreateCredentialRequest *r = (const void *)req;
    kite_err err;
    kite_err_clear(&err);
    char pw[AUTH_MAX_PASSWORD + 8];
    struct auth_store *s = store(c, &err);
    int rc = s ? password(r->password, pw, sizeof(pw), "password", &err) : err.code;
    if (rc == KITE_OK)
        rc = auth_user_create(s, r->username, pw, &err);
    memset(pw, 0, sizeof(pw));
    return grpc_reply_status(c, rc, &err, resp);
}

GRPC_HANDLER(UpdateCredential)
{
    const Milvus__Proto__Milvus__UpdateCredentialRequest *r = (const void *)req;
    kite_err err;
    kite_err_clear(&err);
    char oldpw[AUTH_MAX_PASSWORD + 8], newpw[AUTH_MAX_PASSWORD + 8];
    struct auth_store *s = store(c, &err);
    const char *user = entity_name(r->username);
    bool admin_other = s && c->user && strcmp(user, c->user->name) != 0 &&
                       auth_store_is_admin(s, c->user->name);
    int rc = s ? password(r->newpassword, newpw, sizeof(newpw), "newPassword", &err) : err.code;
    if (rc == KITE_OK && !admin_other)
        rc = password(r->oldpassword, oldpw, sizeof(oldpw), "oldPassword", &err);
    if (rc == KITE_OK)
        rc = auth_user_set_password(s, user, admin_other ? NULL : oldpw, newpw, &err);
    memset(oldpw, 0, sizeof(oldpw));
    memset(newpw, 0, sizeof(newpw));
    return grpc_reply_status(c, rc, &err, resp);
}

GRPC_HANDLER(DeleteCredential)
{
    const Milvus__Proto__Milvus__DeleteCredentialRequest *r = (const void *)req;
    kite_err err;
    kite_err_clear(&err);
    struct auth_store *s = store(c, &err);
    int rc = s ? KITE_OK : err.code;
    if (rc == KITE_OK && c->user && strcmp(c->user->name, entity_name(r->username)) == 0)
        rc = kite_err_set(&err, KITE_EINVAL, "user '%s' cannot delete itself", c->user->name);
    if (rc == KITE_OK)
        rc = auth_user_drop(s, entity_name(r->username), &err);
    return grpc_reply_status(c, rc, &err, resp);
}

/* Copy an owned name list into the arena as a char* array. */
static int arena_strings(struct grpc_call *c, char **names, size_t n, char ***out)
{
    *out = n ? grpc_arena_alloc(&c->arena, n * sizeof(char *)) : NULL;
    if (n && !*out)
        return KITE_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!((*out)[i] = grpc_arena_strdup(&c->arena, names[i])))
            return KITE_ENOMEM;
    return KITE_OK;
}

GRPC_HANDLER(ListCredUsers)
{
    (void)req;
    GRPC_RESP(Milvus__Proto__Milvus__ListCredUsersResponse, r,
              milvus__proto__milvus__list_cred_users_response__init);
    kite_err err;
    kite_err_clear(&err);
    char **names = NULL;
    size_t n = 0;
    struct auth_store *s = store(c, &err);
    int rc = s ? auth_user_list(s, &names, &n, &err) : err.code;
    if (rc == KITE_OK && arena_strings(c, names, n, &r->usernames) != KITE_OK) {
        auth_strings_free(names, n);
        return KITE_ENOMEM;
    }
    r->n_usernames = rc == KITE_OK ? n : 0;
    auth_strings_free(names, n);
    if (!(r->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &r->base;
    return KITE_OK;
}

GRPC_HANDLER(CreateRole)
{
    const Milvus__Proto__Milvus__CreateRoleRequest *r = (const void *)req;
    kite_err err;
    kite_err_clear(&err);
    struct auth_store *s = store(c, &err);
    int rc = s ? auth_role_create(s, r->entity ? entity_name(r->entity->name) : "", &err)
               : err.code;
    return grpc_reply_status(c, rc, &err, resp);
}

GRPC_HANDLER(DropRole)
{
    const Milvus__Proto__Milvus__DropRoleRequest *r = (const void *)req;
    kite_err err;
    kite_err_clear(&err);
    struct auth_store *s = store(c, &err);
    int rc = s ? auth_role_drop(s, entity_name(r->role_name), &err) : err.code;
    return grpc_reply_status(c, rc, &err, resp);
}

GRPC_HANDLER(OperateUserRole)
{
    const Milvus__Proto__Milvus__OperateUserRoleRequest *r = (const void *)req;
    kite_err err;
    kite_err_clear(&err);
    struct auth_store *s = store(c, &err);
    int rc = s ? KITE_OK : err.code;
    bool add = r->type == MILVUS__PROTO__MILVUS__OPERATE_USER_ROLE_TYPE__AddUserToRole;
    if (rc == KITE_OK && !add &&
        r->type != MILVUS__PROTO__MILVUS__OPERATE_USER_ROLE_TYPE__RemoveUserFromRole)
        rc = kite_err_set(&err, KITE_EINVAL, "invalid type %d: expected AddUserToRole (0) or "
                                             "RemoveUserFromRole (1)",
                          (int)r->type);
    if (rc == KITE_OK)
        rc = auth_user_role(s, entity_name(r->username), entity_name(r->role_name), add, &err);
    return grpc_reply_status(c, rc, &err, resp);
}

static Milvus__Proto__Milvus__RoleEntity *role_entity(struct grpc_call *c, const char *name)
{
    Milvus__Proto__Milvus__RoleEntity *e = grpc_arena_alloc(&c->arena, sizeof(*e));
    if (!e)
        return NULL;
    milvus__proto__milvus__role_entity__init(e);
    return (e->name = grpc_arena_strdup(&c->arena, name)) ? e : NULL;
}

static Milvus__Proto__Milvus__UserEntity *user_entity(struct grpc_call *c, const char *name)
{
    Milvus__Proto__Milvus__UserEntity *e = grpc_arena_alloc(&c->arena, sizeof(*e));
    if (!e)
        return NULL;
    milvus__proto__milvus__user_entity__init(e);
    return (e->name = grpc_arena_strdup(&c->arena, name)) ? e : NULL;
}

/* One RoleResult: the role and (when asked) its users. */
static int role_result(struct grpc_call *c, struct auth_store *s, const char *role, bool users,
                       Milvus__Proto__Milvus__RoleResult **out, kite_err *err)
{
    Milvus__Proto__Milvus__RoleResult *rr = grpc_arena_alloc(&c->arena, sizeof(*rr));
    if (!rr || !(milvus__proto__milvus__role_result__init(rr), rr->role = role_entity(c, role)))
        return KITE_ENOMEM;
    *out = rr;
    if (!users)
        return KITE_OK;
    char **names = NULL;
    size_t n = 0;
    int rc = auth_role_users(s, role, &names, &n, err);
    if (rc == KITE_OK && n) {
        rr->users = grpc_arena_alloc(&c->arena, n * sizeof(*rr->users));
        for (size_t i = 0; rr->users && i < n; i++)
            if (!(rr->users[i] = user_entity(c, names[i])))
                rc = KITE_ENOMEM;
        rc = rr->users ? rc : KITE_ENOMEM;
        rr->n_users = n;
    }
    auth_strings_free(names, n);
    return rc;
}

GRPC_HANDLER(SelectRole)
{
    const Milvus__Proto__Milvus__SelectRoleRequest *q = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__SelectRoleResponse, r,
              milvus__proto__milvus__select_role_response__init);
    kite_err err;
    kite_err_clear(&err);
    struct auth_store *s = store(c, &err);
    char **names = NULL;
    size_t n = 0;
    int rc = s ? KITE_OK : err.code;
    const char *one = q->role && q->role->name && q->role->name[0] ? q->role->name : NULL;
    if (rc == KITE_OK && one) {
        if (auth_role_exists(s, one)) { /* Milvus: an unknown role gives an empty list */
            r->results = grpc_arena_alloc(&c->arena, sizeof(*r->results));
            if (!r->results ||
                role_result(c, s, one, q->include_user_info, &r->results[0], &err) != KITE_OK)
                return KITE_ENOMEM;
            r->n_results = 1;
        }
    } else if (rc == KITE_OK) {
        rc = auth_role_list(s, &names, &n, &err);
        if (rc == KITE_OK && n) {
            r->results = grpc_arena_alloc(&c->arena, n * sizeof(*r->results));
            for (size_t i = 0; r->results && i < n && rc == KITE_OK; i++)
                rc = role_result(c, s, names[i], q->include_user_info, &r->results[i], &err);
            if (!r->results)
                rc = KITE_ENOMEM;
            r->n_results = rc == KITE_OK ? n : 0;
        }
        auth_strings_free(names, n);
        if (rc == KITE_ENOMEM)
            return KITE_ENOMEM;
    }
    if (!(r->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &r->base;
    return KITE_OK;
}

static int user_result(struct grpc_call *c, struct auth_store *s, const char *user, bool roles,
                       Milvus__Proto__Milvus__UserResult **out, kite_err *err)
{
    Milvus__Proto__Milvus__UserResult *ur = grpc_arena_alloc(&c->arena, sizeof(*ur));
    if (!ur || !(milvus__proto__milvus__user_result__init(ur), ur->user = user_entity(c, user)))
        return KITE_ENOMEM;
    *out = ur;
    if (!roles)
        return KITE_OK;
    char **names = NULL;
    size_t n = 0;
    int rc = auth_user_roles(s, user, &names, &n, err);
    if (rc == KITE_OK && n) {
        ur->roles = grpc_arena_alloc(&c->arena, n * sizeof(*ur->roles));
        for (size_t i = 0; ur->roles && i < n; i++)
            if (!(ur->roles[i] = role_entity(c, names[i])))
                rc = KITE_ENOMEM;
        rc = ur->roles ? rc : KITE_ENOMEM;
        ur->n_roles = n;
    }
    auth_strings_free(names, n);
    return rc;
}

GRPC_HANDLER(SelectUser)
{
    const Milvus__Proto__Milvus__SelectUserRequest *q = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__SelectUserResponse, r,
              milvus__proto__milvus__select_user_response__init);
    kite_err err;
    kite_err_clear(&err);
    struct auth_store *s = store(c, &err);
    char **names = NULL;
    size_t n = 0;
    int rc = s ? KITE_OK : err.code;
    const char *one = q->user && q->user->name && q->user->name[0] ? q->user->name : NULL;
    if (rc == KITE_OK && one) {
        if (!auth_user_exists(s, one)) {
            rc = kite_err_set(&err, KITE_ENOTFOUND, "user '%s' not found", one);
        } else {
            r->results = grpc_arena_alloc(&c->arena, sizeof(*r->results));
            if (!r->results ||
                user_result(c, s, one, q->include_role_info, &r->results[0], &err) != KITE_OK)
                return KITE_ENOMEM;
            r->n_results = 1;
        }
    } else if (rc == KITE_OK) {
        rc = auth_user_list(s, &names, &n, &err);
        if (rc == KITE_OK && n) {
            r->results = grpc_arena_alloc(&c->arena, n * sizeof(*r->results));
            for (size_t i = 0; r->results && i < n && rc == KITE_OK; i++)
                rc = user_result(c, s, names[i], q->include_role_info, &r->results[i], &err);
            if (!r->results)
                rc = KITE_ENOMEM;
            r->n_results = rc == KITE_OK ? n : 0;
        }
        auth_strings_free(names, n);
        if (rc == KITE_ENOMEM)
            return KITE_ENOMEM;
    }
    if (!(r->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &r->base;
    return KITE_OK;
}

/* GrantEntity -> auth_grant (names default as Milvus does: db "default"). */
static int grant_from_pb(const Milvus__Proto__Milvus__GrantEntity *e, const char *grantor,
                         struct auth_grant *g, const char **role, kite_err *err)
{
    memset(g, 0, sizeof(*g));
    if (!e || !e->role || !e->role->name || !e->role->name[0])
        return kite_err_set(err, KITE_EINVAL, "invalid grant: expected entity.role.name");
    *role = e->role->name;
    const char *priv = e->grantor && e->grantor->privilege ? e->grantor->privilege->name : NULL;
    snprintf(g->object_type, sizeof(g->object_type), "%s",
             e->object && e->object->name ? e->object->name : "");
    snprintf(g->object_name, sizeof(g->object_name), "%s",
             e->object_name && e->object_name[0] ? e->object_name : "*");
    snprintf(g->privilege, sizeof(g->privilege), "%s", priv ? priv : "");
    snprintf(g->db_name, sizeof(g->db_name), "%s",
             e->db_name && e->db_name[0] ? e->db_name : "default");
    snprintf(g->grantor, sizeof(g->grantor), "%s", grantor);
    return KITE_OK;
}

GRPC_HANDLER(OperatePrivilege)
{
    const Milvus__Proto__Milvus__OperatePrivilegeRequest *r = (const void *)req;
    kite_err err;
    kite_err_clear(&err);
    struct auth_store *s = store(c, &err);
    struct auth_grant g;
    const char *role = NULL;
    int rc = s ? grant_from_pb(r->entity, c->user ? c->user->name : "root", &g, &role, &err)
               : err.code;
    bool grant = r->type == MILVUS__PROTO__MILVUS__OPERATE_PRIVILEGE_TYPE__Grant;
    if (rc == KITE_OK && !grant && r->type != MILVUS__PROTO__MILVUS__OPERATE_PRIVILEGE_TYPE__Revoke)
        rc = kite_err_set(&err, KITE_EINVAL, "invalid type %d: expected Grant (0) or Revoke (1)",
                          (int)r->type);
    if (rc == KITE_OK)
        rc = auth_role_grant(s, role, &g, grant, &err);
    return grpc_reply_status(c, rc, &err, resp);
}

static Milvus__Proto__Milvus__GrantEntity *grant_to_pb(struct grpc_call *c, const char *role,
                                                       const struct auth_grant *g)
{
    Milvus__Proto__Milvus__GrantEntity *e = grpc_arena_alloc(&c->arena, sizeof(*e));
    Milvus__Proto__Milvus__ObjectEntity *o = grpc_arena_alloc(&c->arena, sizeof(*o));
    Milvus__Proto__Milvus__GrantorEntity *ge = grpc_arena_alloc(&c->arena, sizeof(*ge));
    Milvus__Proto__Milvus__PrivilegeEntity *p = grpc_arena_alloc(&c->arena, sizeof(*p));
    if (!e || !o || !ge || !p)
        return NULL;
    milvus__proto__milvus__grant_entity__init(e);
    milvus__proto__milvus__object_entity__init(o);
    milvus__proto__milvus__grantor_entity__init(ge);
    milvus__proto__milvus__privilege_entity__init(p);
    o->name = grpc_arena_strdup(&c->arena, g->object_type);
    p->name = grpc_arena_strdup(&c->arena, g->privilege);
    ge->user = user_entity(c, g->grantor);
    ge->privilege = p;
    e->role = role_entity(c, role);
    e->object = o;
    e->object_name = grpc_arena_strdup(&c->arena, g->object_name);
    e->grantor = ge;
    e->db_name = grpc_arena_strdup(&c->arena, g->db_name);
    if (!o->name || !p->name || !ge->user || !e->role || !e->object_name || !e->db_name)
        return NULL;
    return e;
}

GRPC_HANDLER(SelectGrant)
{
    const Milvus__Proto__Milvus__SelectGrantRequest *q = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__SelectGrantResponse, r,
              milvus__proto__milvus__select_grant_response__init);
    kite_err err;
    kite_err_clear(&err);
    struct auth_store *s = store(c, &err);
    struct auth_grant filter, *gs = NULL;
    const char *role = NULL;
    size_t n = 0;
    int rc = s ? grant_from_pb(q->entity, "", &filter, &role, &err) : err.code;
    if (rc == KITE_OK)
        rc = auth_role_grants(s, role, &gs, &n, &err);
    if (rc == KITE_OK && n) {
        r->entities = grpc_arena_alloc(&c->arena, n * sizeof(*r->entities));
        if (!r->entities) {
            kite_free(gs);
            return KITE_ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            /* filter by object type / name when the request names them */
            if (filter.object_type[0] && strcmp(filter.object_type, gs[i].object_type) != 0)
                continue;
            if (strcmp(filter.object_name, "*") != 0 &&
                strcmp(filter.object_name, gs[i].object_name) != 0)
                continue;
            if (!(r->entities[r->n_entities++] = grant_to_pb(c, role, &gs[i]))) {
                kite_free(gs);
                return KITE_ENOMEM;
            }
        }
    }
    kite_free(gs);
    if (!(r->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &r->base;
    return KITE_OK;
}
