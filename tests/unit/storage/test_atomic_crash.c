/*
 * test_atomic_crash.c — simulated power loss around atomic file replacement
 * (RELIABILITY.md A9: temp write, fsync, rename, fsync dir) for
 * vfs_write_file_atomic() and segfile_write().
 *
 * A trace vfs records creations, writes, syncs, renames, unlinks and
 * directory syncs, keyed by inode so renames are modelled.  For every cut
 * point an image is built from the synced state of each inode plus none /
 * all / a random subset of its unsynced writes, and the directory as of the
 * last directory fsync plus none / all / a prefix of the later directory
 * operations.  Invariant: the published name is absent (only before its first
 * acknowledged write), or holds one complete acknowledged-or-in-flight
 * version, never a partial file; after an acknowledged write it holds that
 * version or a later one.  Stray temp files are allowed and ignored.
 */
#include <errno.h>

#include "alloc.h"
#include "segfile.h"
#include "storage_test_util.h"
#include "test.h"
#include "vfs.h"

enum aop { A_CREATE, A_WRITE, A_SYNC, A_RENAME, A_UNLINK, A_SYNCDIR, A_ACK };

struct aev {
    enum aop op;
    int ino;
    char name[128], name2[128]; /* base names */
    uint64_t off;
    uint8_t *data;
    size_t len;
};

#define MAX_AEV 1024
#define MAX_INO 64

static struct aev g_a[MAX_AEV];
static int g_na;
static int g_next_ino;

struct name_ino {
    char name[128];
    int ino;
};
static struct name_ino g_live[MAX_INO]; /* the live directory, to map names to inodes */
static int g_nlive;

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int live_find(const char *name)
{
    for (int i = 0; i < g_nlive; i++)
        if (strcmp(g_live[i].name, name) == 0)
            return i;
    return -1;
}

static struct aev *arec(enum aop op)
{
    if (g_na >= MAX_AEV)
        TEST_FAIL_("trace too long");
    struct aev *e = &g_a[g_na++];
    memset(e, 0, sizeof(*e));
    e->op = op;
    return e;
}

struct afile {
    struct kite_file *base;
    int ino;
};
#define AF(f) ((struct afile *)(void *)(f))
#define PX kite_vfs_posix()

static int a_open(struct kite_vfs *vfs, const char *path, int flags, struct kite_file **out)
{
    const char *bn = base_name(path);
    int at = live_find(bn);
    struct afile *af = malloc(sizeof(*af));
    int rc = PX->open(PX, path, flags, &af->base);
    if (rc) {
        free(af);
        return rc;
    }
    if (at < 0) {
        at = g_nlive++;
        snprintf(g_live[at].name, sizeof(g_live[at].name), "%s", bn);
        g_live[at].ino = g_next_ino++;
        struct aev *e = arec(A_CREATE);
        e->ino = g_live[at].ino;
        snprintf(e->name, sizeof(e->name), "%s", bn);
    }
    af->ino = g_live[at].ino;
    *out = (struct kite_file *)(void *)af;
    return 0;
}

static int a_close(struct kite_file *f)
{
    int rc = PX->close(AF(f)->base);
    free(f);
    return rc;
}

static int a_pwrite(struct kite_file *f, const void *buf, size_t len, uint64_t off)
{
    struct aev *e = arec(A_WRITE);
    e->ino = AF(f)->ino;
    e->off = off;
    e->len = len;
    e->data = malloc(len ? len : 1);
    memcpy(e->data, buf, len);
    return PX->pwrite(AF(f)->base, buf, len, off);
}

static int a_sync(struct kite_file *f)
{
    int rc = PX->fsync(AF(f)->base);
    if (rc == 0)
        arec(A_SYNC)->ino = AF(f)->ino;
    return rc;
}

static int a_rename(struct kite_vfs *vfs, const char *from, const char *to)
{
    int rc = PX->rename(PX, from, to);
    if (rc)
        return rc;
    int i = live_find(base_name(from)), j = live_find(base_name(to));
    struct aev *e = arec(A_RENAME);
    snprintf(e->name, sizeof(e->name), "%s", base_name(from));
    snprintf(e->name2, sizeof(e->name2), "%s", base_name(to));
    if (j >= 0)
        g_live[j] = g_live[--g_nlive];
    i = live_find(base_name(from));
    snprintf(g_live[i].name, sizeof(g_live[i].name), "%s", base_name(to));
    return 0;
}

static int a_unlink(struct kite_vfs *vfs, const char *path)
{
    int rc = PX->unlink(PX, path);
    if (rc)
        return rc;
    int i = live_find(base_name(path));
    if (i >= 0)
        g_live[i] = g_live[--g_nlive];
    snprintf(arec(A_UNLINK)->name, sizeof(g_a[0].name), "%s", base_name(path));
    return 0;
}

static int a_fsync_dir(struct kite_vfs *vfs, const char *path)
{
    int rc = PX->fsync_dir(PX, path);
    if (rc == 0)
        arec(A_SYNCDIR);
    return rc;
}

static struct kite_vfs *atrace_vfs(void)
{
    static struct kite_vfs v;
    v = *PX;
    v.open = a_open;
    v.close = a_close;
    v.pwrite = a_pwrite;
    v.fsync = a_sync;
    v.fdatasync = a_sync;
    v.rename = a_rename;
    v.unlink = a_unlink;
    v.fsync_dir = a_fsync_dir;
    return &v;
}

/* ---- images -------------------------------------------------------------- */

struct ino_state {
    uint8_t durable[8192], cur[8192];
    size_t dlen, clen;
    int pending[MAX_AEV];
    int np;
};

static uint64_t g_seed;
static uint64_t arnd(void)
{
    g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
    return g_seed >> 33;
}

static void awrite(uint8_t *buf, size_t *len, const struct aev *e)
{
    if (e->off + e->len > 8192)
        TEST_FAIL_("file too big for the model");
    if (e->off > *len)
        memset(buf + *len, 0, (size_t)e->off - *len);
    memcpy(buf + e->off, e->data, e->len);
    if (e->off + e->len > *len)
        *len = (size_t)(e->off + e->len);
}

struct dir_ent {
    char name[128];
    int ino;
};

static void dir_apply(struct dir_ent *d, int *n, const struct aev *e)
{
    int at = -1, to = -1;
    for (int i = 0; i < *n; i++) {
        if (strcmp(d[i].name, e->name) == 0)
            at = i;
        if (e->op == A_RENAME && strcmp(d[i].name, e->name2) == 0)
            to = i;
    }
    if (e->op == A_CREATE) {
        snprintf(d[*n].name, sizeof(d[0].name), "%s", e->name);
        d[(*n)++].ino = e->ino;
    } else if (e->op == A_UNLINK && at >= 0) {
        d[at] = d[--*n];
    } else if (e->op == A_RENAME && at >= 0) {
        int ino = d[at].ino;
        if (to >= 0) {
            d[to].ino = ino;
            d[at] = d[--*n];
        } else {
            snprintf(d[at].name, sizeof(d[0].name), "%s", e->name2);
        }
    }
}

static void build(int k, int v, const char *dir, struct ino_state *is)
{
    struct dir_ent durable[MAX_INO], img[MAX_INO];
    int nd = 0, ni = 0;
    int pend_dir[MAX_AEV], npd = 0;
    memset(is, 0, sizeof(*is) * MAX_INO);
    for (int i = 0; i < k; i++) {
        const struct aev *e = &g_a[i];
        struct ino_state *s = &is[e->ino];
        switch (e->op) {
        case A_CREATE:
        case A_RENAME:
        case A_UNLINK:
            pend_dir[npd++] = i;
            break;
        case A_WRITE:
            s->pending[s->np++] = i;
            awrite(s->cur, &s->clen, e);
            break;
        case A_SYNC:
            memcpy(s->durable, s->cur, s->clen);
            s->dlen = s->clen;
            s->np = 0;
            break;
        case A_SYNCDIR:
            for (int j = 0; j < npd; j++)
                dir_apply(durable, &nd, &g_a[pend_dir[j]]);
            npd = 0;
            break;
        case A_ACK:
            break;
        }
    }
    memcpy(img, durable, sizeof(durable[0]) * (size_t)nd);
    ni = nd;
    int take = v == 0 ? 0 : v == 1 ? npd : (int)(arnd() % (uint64_t)(npd + 1));
    for (int j = 0; j < take; j++)
        dir_apply(img, &ni, &g_a[pend_dir[j]]);
    for (int j = 0; j < ni; j++) {
        struct ino_state *s = &is[img[j].ino];
        uint8_t buf[8192];
        size_t len = s->dlen;
        memcpy(buf, s->durable, len);
        for (int p = 0; p < s->np; p++)
            if (v == 1 || (v == 2 && (arnd() & 1)))
                awrite(buf, &len, &g_a[s->pending[p]]);
        char path[1200];
        snprintf(path, sizeof(path), "%s/%s", dir, img[j].name);
        if (twrite_file(path, buf, len) != 0)
            TEST_FAIL_("cannot write %s", path);
    }
}

/* ---- workload and check ---------------------------------------------------- */

static const char *V1 = "{\"version\":1,\"segments\":[]}";
static const char *V2 = "{\"version\":2,\"segments\":[\"s1\",\"s2\"],\"pad\":\"xxxxxxxxxxxxxxx\"}";

static void seg_version(int ver, struct seg_blob *b, uint8_t *buf)
{
    for (int i = 0; i < 200; i++)
        buf[i] = (uint8_t)(i * ver);
    b[0] = (struct seg_blob){"vectors", 1, buf, (size_t)(100 * ver)};
    b[1] = (struct seg_blob){"ids", 2, ver == 1 ? "one" : "two", 3};
}

TEST_TIMEOUT(atomic_replace_crash_images, 120)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/live", kite_test_tmpdir());
    ASSERT_OK(vfs_mkdir_p(PX, dir));
    struct kite_vfs *vfs = atrace_vfs();
    char man[1100], seg[1100];
    snprintf(man, sizeof(man), "%s/MANIFEST", dir);
    snprintf(seg, sizeof(seg), "%s/seg-1.seg", dir);
    uint8_t sbuf[200];
    struct seg_blob sb[2];
    ASSERT_OK(vfs_write_file_atomic(vfs, man, V1, strlen(V1)));
    arec(A_ACK)->off = 1;
    seg_version(1, sb, sbuf);
    ASSERT_OK(segfile_write(vfs, seg, 0x11223344u, sb, 2, NULL));
    arec(A_ACK)->off = 2;
    ASSERT_OK(vfs_write_file_atomic(vfs, man, V2, strlen(V2)));
    arec(A_ACK)->off = 3;
    seg_version(2, sb, sbuf);
    ASSERT_OK(segfile_write(vfs, seg, 0x11223344u, sb, 2, NULL));
    arec(A_ACK)->off = 4;

    struct ino_state *is = calloc(MAX_INO, sizeof(*is));
    int acked = 0, images = 0;
    for (int k = 0; k <= g_na; k++) {
        if (k > 0 && g_a[k - 1].op == A_ACK)
            acked = (int)g_a[k - 1].off;
        for (int v = 0; v < 4; v++) {
            g_seed = (uint64_t)k * 977u + (uint64_t)v;
            char img[1024];
            snprintf(img, sizeof(img), "%s/img", kite_test_tmpdir());
            ASSERT_OK(PX->rmdir_r(PX, img));
            ASSERT_OK(vfs_mkdir_p(PX, img));
            build(k, v, img, is);
            images++;
            /* The manifest: absent before its first ack, else V1 or V2 whole. */
            uint8_t *d = NULL;
            size_t len = 0;
            int rc = vfs_read_file(PX, tpath(img, "MANIFEST"), &d, &len, 1 << 20);
            if (rc == KITE_ENOTFOUND) {
                if (acked >= 1)
                    TEST_FAIL_("cut %d v %d: acked manifest missing", k, v);
            } else {
                ASSERT_OK(rc);
                bool is1 = len == strlen(V1) && memcmp(d, V1, len) == 0;
                bool is2 = len == strlen(V2) && memcmp(d, V2, len) == 0;
                if (!(is1 || is2) || (acked >= 3 && !is2))
                    TEST_FAIL_("cut %d v %d: manifest is partial or stale (%zu bytes)", k, v,
                               len);
            }
            kite_free(d);
            /* The segment: absent before its first ack, else a whole version. */
            struct segfile *sf = NULL;
            kite_err err;
            rc = segfile_open(PX, tpath(img, "seg-1.seg"), 0x11223344u, &sf, &err);
            if (rc == KITE_ENOTFOUND) {
                if (acked >= 2)
                    TEST_FAIL_("cut %d v %d: acked segment missing", k, v);
            } else {
                if (rc != KITE_OK)
                    TEST_FAIL_("cut %d v %d: segment damaged: %s", k, v, err.message);
                const void *data = NULL;
                size_t n = 0;
                ASSERT_OK(segfile_blob(sf, "vectors", NULL, &data, &n));
                if (acked >= 4 && n != 200)
                    TEST_FAIL_("cut %d v %d: stale segment after ack", k, v);
                segfile_close(sf);
            }
        }
    }
    fprintf(stderr, "  atomic replace: %d events, %d images\n", g_na, images);
    free(is);
}
