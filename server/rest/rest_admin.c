/*
 * rest_admin.c — Kite-specific administrative REST routes (not part of Milvus):
 *
 *   POST /v2/kite/backup {"dest": "/absolute/path"}
 *     -> kite_backup of the served database into dest (docs/BACKUP.md)
 *     -> {"code":0,"data":{"files":N,"bytes":B,"dest":"..."}}
 *
 * Authorization: the route goes through rest_dispatch like every other one
 * (authentication when auth is enabled).  It then needs the Global privilege
 * "BackupRBAC" (Milvus' name): the root user and members of the admin role
 * have it; other users only if it was granted explicitly.
 *
 * Threading model: the handler runs on the calling HTTP worker thread and
 * blocks it for the duration of the copy; kite_backup itself lets every other
 * request (writes included) proceed meanwhile.
 */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "err.h"
#include "rest_internal.h"

static const struct auth_need g_backup_need = {"Global", "BackupRBAC", false};

int rest_kite_backup(struct rest_ctx *c)
{
    const char *dest = NULL;
    int rc = rest_str(c, c->body, "dest", true, &dest);
    if (rc != KITE_OK)
        return rc;
    if (dest[0] != '/')
        return kite_err_set(&c->err, KITE_EINVAL,
                            "backup destination must be an absolute path on the server, not "
                            "\"%s\"",
                            dest);
    if (c->auth && c->user && auth_enabled(c->auth)) {
        rc = auth_authorize(c->auth, c->user, &g_backup_need, c->dbname, NULL, &c->err);
        if (rc != KITE_OK)
            return rc;
    }
    rc = kite_backup(c->db, dest, NULL, NULL, &c->err);
    if (rc != KITE_OK)
        return rc;
    /* Report what the BACKUP manifest lists (written last by kite_backup). */
    char path[4200];
    snprintf(path, sizeof(path), "%s/BACKUP", dest);
    json_error_t je;
    json_t *m = json_load_file(path, 0, &je);
    if (!m)
        return kite_err_set(&c->err, KITE_EIO, "backup written but %s cannot be read: %s", path,
                            je.text);
    json_t *data = json_object();
    json_object_set_new(data, "files", json_integer((json_int_t)json_array_size(
                                           json_object_get(m, "files"))));
    json_object_set(data, "bytes", json_object_get(m, "total_bytes"));
    json_object_set_new(data, "dest", json_string(dest));
    json_decref(m);
    c->data = data;
    return KITE_OK;
}
