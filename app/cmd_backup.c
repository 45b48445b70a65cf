/*
 * cmd_backup.c — `kite backup` and `kite restore` (docs/BACKUP.md).
 *
 *   kite backup DEST [--data-dir D]      offline: opens D itself (fails when a
 *                                        server holds its lock: use --server)
 *   kite backup DEST --server URL        online: POST URL/v2/kite/backup
 *                                        {"dest": DEST}; DEST is absolute and
 *                                        is written by the server
 *   kite restore BACKUP DATA_DIR         verify, then copy into an empty dir
 *
 * Progress goes to stderr: on a terminal one line redrawn in place (a bar,
 * bytes done/total, percent, MiB/s) at most every 0.1 s; otherwise a plain
 * line every 2 s and a last one at the end (logs stay readable), like
 * `kite images index`.  The online form shows no byte progress (the server
 * does the copy in one request).
 *
 * libcurl is loaded at run time (curl_dl.c), as for `kite images --server`, so only
 * --server needs it.
 *
 * Threading model: single-threaded; the progress callback runs on the thread
 * that called kite_backup/kite_restore.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "curl_dl.h"
#include "kite/kite.h"

/* ---------------------------------------------------------------- progress */

struct progress {
    FILE *out;          /* NULL = quiet */
    bool tty;
    double start_s, last_s;
    uint64_t done, total;
    const char *verb;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fmt_bytes(char *buf, size_t n, uint64_t b)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%llu B", (unsigned long long)b);
    else
        snprintf(buf, n, "%.1f %s", v, unit[u]);
}

static void progress_print(struct progress *p, double now)
{
    char d[32], t[32], line[256];
    fmt_bytes(d, sizeof(d), p->done);
    fmt_bytes(t, sizeof(t), p->total);
    int pct = p->total ? (int)(p->done * 100 / p->total) : 100;
    double el = now - p->start_s;
    double rate = el > 0 ? (double)p->done / el / (1024.0 * 1024.0) : 0;
    if (p->tty) {
        char bar[31];
        int fill = p->total ? (int)((double)p->done / (double)p->total * 30) : 30;
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        snprintf(line, sizeof(line), "%s [%s] %s / %s %3d%% %6.1f MiB/s", p->verb, bar, d, t,
                 pct, rate);
        fprintf(p->out, "\r%s", line);
    } else {
        fprintf(p->out, "%s: %s / %s (%d%%), %.1f MiB/s\n", p->verb, d, t, pct, rate);
    }
    fflush(p->out);
    p->last_s = now;
}

static void on_progress(uint64_t done, uint64_t total, const char *file, void *udata)
{
    struct progress *p = udata;
    (void)file;
    p->done = done;
    p->total = total;
    if (!p->out)
        return;
    double now = now_s();
    if (now - p->last_s >= (p->tty ? 0.1 : 2.0))
        progress_print(p, now);
}

static void progress_init(struct progress *p, bool quiet, bool plain, const char *verb)
{
    memset(p, 0, sizeof(*p));
    p->out = quiet ? NULL : stderr;
    p->tty = !plain && isatty(STDERR_FILENO);
    p->start_s = now_s();
    p->last_s = p->start_s - 10; /* print the first call */
    p->verb = verb;
}

static void progress_finish(struct progress *p, bool ok)
{
    if (!p->out)
        return;
    if (ok)
        progress_print(p, now_s());
    if (p->tty)
        fputc('\n', p->out);
}

/* ------------------------------------------------------------------ online */

struct body {
    char *p;
    size_t n;
};

static size_t on_body(char *data, size_t size, size_t n, void *udata)
{
    struct body *b = udata;
    size_t len = size * n;
    if (b->n + len > (16u << 20))
        return 0;
    char *q = realloc(b->p, b->n + len + 1);
    if (!q)
        return 0;
    memcpy(q + b->n, data, len);
    b->p = q;
    b->n += len;
    b->p[b->n] = '\0';
    return len;
}

static int backup_online(const char *dest, const char *url, const char *token, bool quiet)
{
    if (dest[0] != '/') {
        fprintf(stderr,
                "kite backup: with --server, DEST must be an absolute path on the server's "
                "machine (the server writes it), not \"%s\"\n",
                dest);
        return KITE_EXIT_USAGE;
    }
    struct curl_api cf;
    kite_err cerr;
    if (curl_api_load(&cf, &cerr) != KITE_OK) {
        fprintf(stderr, "kite backup: %s\n", cerr.message);
        return KITE_EXIT_FAILURE;
    }
    int status = KITE_EXIT_FAILURE;
    CURL *h = cf.easy_init();
    struct curl_slist *hdr = NULL;
    struct body b = {0};
    char *endpoint = NULL, *auth = NULL, *req = NULL;
    json_t *jreq = json_pack("{s:s}", "dest", dest), *reply = NULL;
    size_t ul = strlen(url);
    while (ul && url[ul - 1] == '/')
        ul--;
    endpoint = malloc(ul + 32);
    req = jreq ? json_dumps(jreq, JSON_COMPACT) : NULL;
    if (!h || !endpoint || !req) {
        fprintf(stderr, "kite backup: out of memory\n");
        goto out;
    }
    snprintf(endpoint, ul + 32, "%.*s/v2/kite/backup", (int)ul, url);
    hdr = cf.slist_append(hdr, "Content-Type: application/json");
    if (token && *token) {
        auth = malloc(strlen(token) + 32);
        if (!auth)
            goto out;
        sprintf(auth, "Authorization: Bearer %s", token);
        hdr = cf.slist_append(hdr, auth);
    }
    cf.easy_setopt(h, CURLOPT_URL, endpoint);
    cf.easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    cf.easy_setopt(h, CURLOPT_POSTFIELDS, req);
    cf.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    cf.easy_setopt(h, CURLOPT_WRITEDATA, &b);
    cf.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (!quiet)
        fprintf(stderr, "backup: asking the server at %.*s to write %s ...\n", (int)ul, url,
                dest);
    CURLcode cc = cf.easy_perform(h);
    if (cc != CURLE_OK) {
        fprintf(stderr, "kite backup: cannot reach %s: %s\n", endpoint, cf.easy_strerror(cc));
        goto out;
    }
    long http = 0;
    cf.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
    json_error_t je;
    reply = b.p ? json_loads(b.p, 0, &je) : NULL;
    json_int_t code = json_integer_value(json_object_get(reply, "code"));
    if (!json_is_object(reply) || !json_is_integer(json_object_get(reply, "code"))) {
        fprintf(stderr, "kite backup: unexpected reply from %s (HTTP %ld): %.200s\n", endpoint,
                http, b.p ? b.p : "(empty)");
        goto out;
    }
    if (code != 0) {
        const char *msg = json_string_value(json_object_get(reply, "message"));
        fprintf(stderr, "kite backup: the server refused (code %lld, HTTP %ld): %s\n",
                (long long)code, http, msg ? msg : "(no message)");
        goto out;
    }
    json_t *data = json_object_get(reply, "data");
    char bs[32];
    fmt_bytes(bs, sizeof(bs), (uint64_t)json_integer_value(json_object_get(data, "bytes")));
    printf("backup written to %s: %lld files, %s\n", dest,
           (long long)json_integer_value(json_object_get(data, "files")), bs);
    status = KITE_EXIT_OK;
out:
    json_decref(jreq);
    json_decref(reply);
    free(req);
    free(b.p);
    free(endpoint);
    free(auth);
    if (hdr)
        cf.slist_free_all(hdr);
    if (h)
        cf.easy_cleanup(h);
    curl_api_unload(&cf);
    return status;
}

/* ----------------------------------------------------------------- offline */

static int backup_offline(const char *dest, const char *data_dir, bool quiet, bool plain)
{
    kite_db *db = NULL;
    kite_err err;
    kite_options o;
    kite_options_init(&o);
    int rc = kite_open(data_dir, &o, &db, &err);
    if (rc == KITE_EBUSY) {
        fprintf(stderr,
                "kite backup: data directory %s is locked by a running kite server; back it "
                "up online instead: kite backup %s --server http://HOST:PORT\n",
                data_dir, dest);
        return KITE_EXIT_FAILURE;
    }
    if (rc) {
        fprintf(stderr, "kite backup: cannot open %s: %s\n", data_dir, err.message);
        return KITE_EXIT_FAILURE;
    }
    struct progress p;
    progress_init(&p, quiet, plain, "backup");
    rc = kite_backup(db, dest, on_progress, &p, &err);
    progress_finish(&p, rc == KITE_OK);
    kite_close(db);
    if (rc) {
        fprintf(stderr, "kite backup: %s\n", err.message);
        return KITE_EXIT_FAILURE;
    }
    char bs[32];
    fmt_bytes(bs, sizeof(bs), p.total);
    printf("backup of %s written to %s (%s)\n", data_dir, dest, bs);
    return KITE_EXIT_OK;
}

static void backup_usage(FILE *f)
{
    fputs("usage: kite backup DEST [--data-dir DIR] [--quiet] [--plain]\n"
          "       kite backup DEST --server URL [--token USER:PASSWORD]\n"
          "Takes a consistent snapshot of a data directory into DEST (new or empty).\n"
          "  --data-dir DIR   back up DIR directly (default ./kite-data); fails while a\n"
          "                   server runs on it: use --server then\n"
          "  --server URL     ask the running server (POST URL/v2/kite/backup); DEST must\n"
          "                   be an absolute path on the server's machine\n"
          "  --token T        credentials when the server has auth enabled (also the\n"
          "                   KITE_TOKEN environment variable); needs admin/root\n"
          "  --quiet          no progress;  --plain  progress as plain lines\n",
          f);
}

int cmd_backup(int argc, char **argv)
{
    const char *dest = NULL, *data_dir = "./kite-data", *server = NULL;
    const char *token = getenv("KITE_TOKEN");
    bool quiet = false, plain = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (app_is_help(a)) {
            backup_usage(stdout);
            return KITE_EXIT_OK;
        } else if ((!strcmp(a, "--data-dir") || !strcmp(a, "--server") || !strcmp(a, "--token")) &&
                   i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(a, "--data-dir"))
                data_dir = v;
            else if (!strcmp(a, "--server"))
                server = v;
            else
                token = v;
        } else if (!strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!strcmp(a, "--plain")) {
            plain = true;
        } else if (a[0] == '-' || dest) {
            fprintf(stderr, "kite backup: unexpected argument \"%s\"\n", a);
            backup_usage(stderr);
            return KITE_EXIT_USAGE;
        } else {
            dest = a;
        }
    }
    if (!dest) {
        fprintf(stderr, "kite backup: DEST is required\n");
        backup_usage(stderr);
        return KITE_EXIT_USAGE;
    }
    return server ? backup_online(dest, server, token, quiet)
                  : backup_offline(dest, data_dir, quiet, plain);
}

/* ----------------------------------------------------------------- restore */

static void restore_usage(FILE *f)
{
    fputs("usage: kite restore BACKUP DATA_DIR [--quiet] [--plain]\n"
          "Verifies the backup in BACKUP (sizes and CRC32C of every file) and copies it\n"
          "into DATA_DIR, which must be new or empty and not used by a running server.\n",
          f);
}

int cmd_restore(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL};
    int n_pos = 0;
    bool quiet = false, plain = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (app_is_help(a)) {
            restore_usage(stdout);
            return KITE_EXIT_OK;
        } else if (!strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!strcmp(a, "--plain")) {
            plain = true;
        } else if (a[0] == '-' || n_pos == 2) {
            fprintf(stderr, "kite restore: unexpected argument \"%s\"\n", a);
            restore_usage(stderr);
            return KITE_EXIT_USAGE;
        } else {
            pos[n_pos++] = a;
        }
    }
    if (n_pos != 2) {
        fprintf(stderr, "kite restore: BACKUP and DATA_DIR are required\n");
        restore_usage(stderr);
        return KITE_EXIT_USAGE;
    }
    struct progress p;
    progress_init(&p, quiet, plain, "restore");
    kite_err err;
    int rc = kite_restore(pos[0], pos[1], on_progress, &p, &err);
    progress_finish(&p, rc == KITE_OK);
    if (rc) {
        fprintf(stderr, "kite restore: %s\n", err.message);
        return KITE_EXIT_FAILURE;
    }
    printf("restored %s into %s\n", pos[0], pos[1]);
    return KITE_EXIT_OK;
}
