/*
 * web.c — the handlers behind the search-by-image page (see web.h for the paths).
 *
 * Design notes:
 *  1. Images are addressed by their Int64 id only.  The original is read from the
 *     `path` stored in the row by the indexer; nothing the client sends is ever
 *     used as a file name.  Ids are parsed strictly (digits only, no sign, fits
 *     in int64) and anything else is a 400.
 *  2. Thumbnails were made at index time (base64 JPEG in the `thumb` field), so
 *     the grid costs one kite_get per tile and no image decoding.
 *  3. The CNN is opened on first use, not at server start: `kite serve` without a
 *     model (REST-only deployments) must start fast and never fail because of it.
 *     A failed open is remembered for RETRY_S seconds and reported as 503.
 *  4. "More like this" reuses the stored vector (kite_get of `embedding`) rather
 *     than re-embedding the file, and drops the query image itself from the hits.
 *  5. The upload cap is checked here too (413), not only by the HTTP layer, so the
 *     handler is safe whatever layer calls it.
 *
 * Threading model: see web.h.  `mu` guards emb, emb_failed_at, emb_error and job;
 * it is never held across inference or engine calls except the one-time model open.
 */
#include "web.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vision.h"
#include "alloc.h"
#include "images_recipe.h"
#include "buf.h"
#include "err.h"
#include "log.h"

#define RETRY_S 10
#define JOB_STALE_S 30
#define MAX_ORIGINAL_BYTES (64u << 20)
#define MAX_PROGRESS_BYTES 4096

struct web_app {
    kite_db *db;
    struct web_config cfg;
    char *collection;
    char *model_path;
    pthread_mutex_t mu;
    kite_embed *emb;        /* NULL until first use */
    time_t emb_failed_at;   /* last failed open, 0 = none */
    char emb_error[512];
    json_t *job;            /* last progress object posted by an indexer, or NULL */
    time_t job_at;
};

void web_config_init(struct web_config *cfg)
{
    const char *m = getenv("KITE_MODEL");
    cfg->collection = "images";
    cfg->model_path = m && *m ? m : "models/kite-mobilenetv2.onnx";
    cfg->max_upload_bytes = 20u << 20;
    cfg->max_top = 200;
}

int web_app_new(kite_db *db, const struct web_config *cfg, struct web_app **out)
{
    struct web_config def;
    web_config_init(&def);
    if (!cfg)
        cfg = &def;
    struct web_app *a = kite_calloc(1, sizeof(*a));
    if (!a)
        return KITE_ENOMEM;
    a->db = db;
    a->cfg = *cfg;
    a->collection = kite_strdup(cfg->collection ? cfg->collection : def.collection);
    a->model_path = kite_strdup(cfg->model_path ? cfg->model_path : def.model_path);
    if (!a->collection || !a->model_path) {
        kite_free(a->collection);
        kite_free(a->model_path);
        kite_free(a);
        return KITE_ENOMEM;
    }
    if (a->cfg.max_upload_bytes == 0)
        a->cfg.max_upload_bytes = def.max_upload_bytes;
    if (a->cfg.max_top <= 0)
        a->cfg.max_top = def.max_top;
    pthread_mutex_init(&a->mu, NULL);
    *out = a;
    return KITE_OK;
}

void web_app_free(struct web_app *a)
{
    if (!a)
        return;
    kite_embed_close(a->emb);
    json_decref(a->job);
    pthread_mutex_destroy(&a->mu);
    kite_free(a->collection);
    kite_free(a->model_path);
    kite_free(a);
}

size_t web_app_max_body(const struct web_app *a)
{
    return a->cfg.max_upload_bytes;
}

void web_reply_free(struct web_reply *rep)
{
    if (!rep)
        return;
    if (!rep->body_static)
        kite_free(rep->body);
    memset(rep, 0, sizeof(*rep));
}

/* ================================================================ replies */

static void reply_bytes(struct web_reply *rep, int status, const char *ctype, uint8_t *body,
                        size_t len, const char *cache)
{
    rep->status = status;
    rep->content_type = ctype;
    rep->body = body;
    rep->body_len = len;
    rep->body_static = false;
    rep->cache_control = cache;
}

/* Reply with a JSON value (stolen).  jansson's text is copied into kite memory. */
static void reply_json(struct web_reply *rep, int status, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    size_t len = text ? strlen(text) : 0;
    uint8_t *body = text ? kite_malloc(len + 1) : NULL;
    if (!body) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        free(text);
        rep->status = 500;
        rep->content_type = "application/json";
        rep->body = (uint8_t *)oom;
        rep->body_len = sizeof(oom) - 1;
        rep->body_static = true;
        rep->cache_control = "no-store";
        return;
    }
    memcpy(body, text, len + 1);
    free(text);
    reply_bytes(rep, status, "application/json", body, len, "no-store");
}

static void reply_error(struct web_reply *rep, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_error(struct web_reply *rep, int status, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    reply_json(rep, status, json_pack("{s:s}", "error", msg));
}

static int status_of(int rc)
{
    switch (rc) {
    case KITE_ENOCOLL:
    case KITE_ENOTFOUND:
        return 404;
    case KITE_EINVAL:
    case KITE_ECORRUPT:
    case KITE_EUNSUPPORTED:
    case KITE_ELIMIT:
        return 400;
    case KITE_ENOTLOADED:
    case KITE_ECLOSED:
        return 503;
    default:
        return 500;
    }
}

/* ================================================================= parsing */

/* Strict non-negative int64 from s[0..len). */
static bool parse_i64(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 19)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v > (INT64_MAX - (s[i] - '0')) / 10)
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/*
 * Split "/api/<verb>/<a>[/<b>]" after prefix: a and b as integers (b optional,
 * default def_b).  Returns false on any malformed part.
 */
static bool parse_ids(const char *rest, size_t len, int64_t *a, int64_t *b, bool need_a)
{
    const char *slash = memchr(rest, '/', len);
    size_t a_len = slash ? (size_t)(slash - rest) : len;
    if (need_a) {
        if (!parse_i64(rest, a_len, a))
            return false;
        if (!slash)
            return true;
        return parse_i64(slash + 1, len - a_len - 1, b);
    }
    return slash == NULL && (len == 0 || parse_i64(rest, len, b));
}

/* ================================================================== model */

/* The shared embedder, opened on first use; NULL (and msg filled) if unavailable. */
static kite_embed *get_embed(struct web_app *a, char *msg, size_t msg_len)
{
    pthread_mutex_lock(&a->mu);
    if (!a->emb && (a->emb_failed_at == 0 || time(NULL) - a->emb_failed_at >= RETRY_S)) {
        kite_embed_opts o;
        kite_embed_opts_init(&o);
        o.model_path = a->model_path;
        images_recipe_opts(&o);
        kite_err err;
        kite_err_clear(&err);
        if (kite_embed_open(&o, &a->emb, &err) != KITE_OK) {
            a->emb = NULL;
            a->emb_failed_at = time(NULL);
            snprintf(a->emb_error, sizeof(a->emb_error), "model '%s' unavailable: %s",
                     a->model_path, err.message);
            KITE_WARN("web: %s", a->emb_error);
        } else {
            a->emb_failed_at = 0;
        }
    }
    kite_embed *e = a->emb;
    if (!e)
        snprintf(msg, msg_len, "%s", a->emb_error);
    pthread_mutex_unlock(&a->mu);
    return e;
}

/* ================================================================ queries */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const kite_column *field_of(const kite_result *r, const char *name)
{
    for (size_t i = 0; i < r->n_fields; i++)
        if (r->fields[i].name && strcmp(r->fields[i].name, name) == 0)
            return &r->fields[i];
    return NULL;
}

/* Get one field of the row `id`; *res owned by the caller.  KITE_ENOTFOUND if absent. */
static int get_row(struct web_app *a, int64_t id, const char *field, kite_result **res,
                   const kite_column **col, kite_err *err)
{
    const char *fields[] = {field};
    kite_column ids = {.name = "id", .dtype = KITE_DT_INT64, .n = 1, .data = &id};
    int rc = kite_get(a->db, NULL, a->collection, &ids, fields, 1, NULL, 0, res, err);
    if (rc != KITE_OK)
        return rc;
    *col = field_of(*res, field);
    if ((*res)->n_rows != 1 || !*col)
        return kite_err_set(err, KITE_ENOTFOUND, "no image with id %" PRId64, id);
    return KITE_OK;
}

static char *col_str(const kite_column *c, size_t i, size_t *len)
{
    *len = (size_t)(c->offsets[i + 1] - c->offsets[i]);
    return kite_strndup((const char *)c->data + c->offsets[i], *len);
}

/* Search with vec; skip_id (>= 0) is dropped from the hits.  Replies JSON. */
static void search_reply(struct web_app *a, const float *vec, uint32_t dim, int64_t top,
                         int64_t skip_id, double t0, struct web_reply *rep)
{
    static const char *const fields[] = {"name"};
    kite_search_params sp;
    kite_search_params_init(&sp);
    sp.anns_field = "embedding";
    sp.vectors = vec;
    sp.nq = 1;
    sp.vector_dtype = KITE_DT_FLOAT_VECTOR;
    sp.dim = dim;
    sp.limit = top + (skip_id >= 0 ? 1 : 0);
    sp.output_fields = fields;
    sp.n_output_fields = 1;
    sp.params_json = "{\"ef\":128}";
    kite_result *r = NULL;
    kite_err err;
    kite_err_clear(&err);
    int rc = kite_search(a->db, NULL, a->collection, &sp, &r, &err);
    if (rc == KITE_ENOCOLL) {
        reply_error(rep, 404, "collection '%s' does not exist yet: index some images first "
                              "(kite images index DIR)", a->collection);
        return;
    }
    if (rc != KITE_OK) {
        reply_error(rep, status_of(rc), "search failed: %s", err.message);
        return;
    }
    json_t *arr = json_array();
    const kite_column *names = field_of(r, "name");
    for (size_t i = 0; i < r->n_rows && (int64_t)json_array_size(arr) < top; i++) {
        int64_t id = ((const int64_t *)r->ids.data)[i];
        if (id == skip_id)
            continue;
        size_t len = 0;
        char *name = names ? col_str(names, i, &len) : NULL;
        /* Cosine similarity can round to just above 1: clamp the distance at 0. */
        double dist = 1.0 - (double)r->scores[i];
        json_array_append_new(arr, json_pack("{s:I, s:s%, s:f}", "id", (json_int_t)id, "name",
                                             name ? name : "", name ? len : (size_t)0,
                                             "distance", dist < 0 ? 0.0 : dist));
        kite_free(name);
    }
    kite_result_free(r);
    reply_json(rep, 200, json_pack("{s:o, s:f}", "results", arr, "took_ms", now_ms() - t0));
}

static void handle_search(struct web_app *a, const struct web_request *req, int64_t top,
                          struct web_reply *rep)
{
    double t0 = now_ms();
    char msg[600];
    if (req->body_len > a->cfg.max_upload_bytes) {
        reply_error(rep, 413, "image too large: %zu bytes, the limit is %zu", req->body_len,
                    a->cfg.max_upload_bytes);
        return;
    }
    if (req->body_len == 0) {
        reply_error(rep, 400, "empty upload: send the image file as the request body");
        return;
    }
    if (kite_image_sniff(req->body, req->body_len) == KITE_IMAGE_UNKNOWN) {
        reply_error(rep, 400, "not an image: expected JPEG, PNG, WebP, GIF or BMP");
        return;
    }
    kite_embed *e = get_embed(a, msg, sizeof(msg));
    if (!e) {
        reply_error(rep, 503, "%s", msg);
        return;
    }
    uint32_t dim = (uint32_t)kite_embed_dim(e);
    float *vec = kite_malloc(dim * sizeof(float));
    if (!vec) {
        reply_error(rep, 500, "out of memory");
        return;
    }
    kite_err err;
    kite_err_clear(&err);
    int rc = kite_embed_buffer(e, req->body, req->body_len, vec, &err);
    if (rc != KITE_OK) {
        reply_error(rep, rc == KITE_ENOMEM ? 500 : 400, "cannot read this image: %s",
                    err.message);
    } else {
        images_recipe_post(vec, (int)dim);
        search_reply(a, vec, dim, top, -1, t0, rep);
    }
    kite_free(vec);
}

static void handle_similar(struct web_app *a, int64_t id, int64_t top, struct web_reply *rep)
{
    double t0 = now_ms();
    kite_result *r = NULL;
    const kite_column *c = NULL;
    kite_err err;
    kite_err_clear(&err);
    int rc = get_row(a, id, "embedding", &r, &c, &err);
    if (rc != KITE_OK)
        reply_error(rep, status_of(rc), "%s", err.message);
    else if (c->dtype != KITE_DT_FLOAT_VECTOR || c->dim == 0)
        reply_error(rep, 500, "collection '%s' has no float 'embedding' field", a->collection);
    else
        search_reply(a, c->data, c->dim, top, id, t0, rep);
    kite_result_free(r);
}

static void handle_thumb(struct web_app *a, int64_t id, struct web_reply *rep)
{
    kite_result *r = NULL;
    const kite_column *c = NULL;
    kite_err err;
    kite_err_clear(&err);
    int rc = get_row(a, id, "thumb", &r, &c, &err);
    if (rc != KITE_OK) {
        reply_error(rep, status_of(rc), "%s", err.message);
        goto out;
    }
    const char *text = (const char *)c->data + c->offsets[0];
    size_t len = (size_t)(c->offsets[1] - c->offsets[0]);
    /* Decode base64 (standard alphabet, padded) written by the indexer. */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t *out = len % 4 == 0 && len ? kite_malloc(len / 4 * 3) : NULL;
    size_t o = 0;
    if (!out) {
        reply_error(rep, 500, "image %" PRId64 " has no valid thumbnail", id);
        goto out;
    }
    for (size_t i = 0; i < len; i += 4) {
        uint32_t w = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            const char *p = text[i + k] ? strchr(b64, text[i + k]) : NULL;
            if (text[i + k] == '=' && i + 4 == len && k >= 2) {
                pad++;
                p = b64;
            } else if (!p || pad) {
                kite_free(out);
                reply_error(rep, 500, "image %" PRId64 " has a corrupt thumbnail", id);
                goto out;
            }
            w = w << 6 | (uint32_t)(p - b64);
        }
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)w;
    }
    reply_bytes(rep, 200, "image/jpeg", out, o, "public, max-age=300");
out:
    kite_result_free(r);
}

static const char *image_mime(int format)
{
    switch (format) {
    case KITE_IMAGE_JPEG: return "image/jpeg";
    case KITE_IMAGE_PNG: return "image/png";
    case KITE_IMAGE_WEBP: return "image/webp";
    case KITE_IMAGE_GIF: return "image/gif";
    case KITE_IMAGE_BMP: return "image/bmp";
    default: return NULL;
    }
}

static void handle_original(struct web_app *a, int64_t id, struct web_reply *rep)
{
    kite_result *r = NULL;
    const kite_column *c = NULL;
    char *path = NULL;
    FILE *f = NULL;
    struct kite_buf buf;
    kite_buf_init(&buf, MAX_ORIGINAL_BYTES);
    kite_err err;
    kite_err_clear(&err);
    int rc = get_row(a, id, "path", &r, &c, &err);
    if (rc != KITE_OK) {
        reply_error(rep, status_of(rc), "%s", err.message);
        goto out;
    }
    size_t len;
    if (!(path = col_str(c, 0, &len))) {
        reply_error(rep, 500, "out of memory");
        goto out;
    }
    if (!(f = fopen(path, "rb"))) {
        reply_error(rep, 404, "the original of image %" PRId64 " is gone: %s", id,
                    strerror(errno));
        goto out;
    }
    uint8_t chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (kite_buf_append(&buf, chunk, got) != KITE_OK) {
            reply_error(rep, 413, "original of image %" PRId64 " is over %u MiB", id,
                        MAX_ORIGINAL_BYTES >> 20);
            goto out;
        }
    }
    const char *mime = image_mime(kite_image_sniff(buf.data, buf.len));
    if (!mime) {
        reply_error(rep, 404, "the original of image %" PRId64 " is no longer an image", id);
        goto out;
    }
    size_t n;
    uint8_t *bytes = kite_buf_detach(&buf, &n);
    reply_bytes(rep, 200, mime, bytes, n, "no-cache");
out:
    if (f)
        fclose(f);
    kite_buf_free(&buf);
    kite_free(path);
    kite_result_free(r);
}

static void handle_status(struct web_app *a, struct web_reply *rep)
{
    uint64_t rows = 0;
    int rc = kite_collection_row_count(a->db, NULL, a->collection, &rows, NULL);
    json_t *job = json_null();
    pthread_mutex_lock(&a->mu);
    if (a->job && time(NULL) - a->job_at < JOB_STALE_S)
        job = json_deep_copy(a->job);
    bool model_ready = a->emb != NULL;
    pthread_mutex_unlock(&a->mu);
    reply_json(rep, 200,
               json_pack("{s:s, s:b, s:I, s:b, s:o}", "collection", a->collection, "exists",
                         rc == KITE_OK, "count", (json_int_t)(rc == KITE_OK ? rows : 0),
                         "model_ready", model_ready, "index_job", job ? job : json_null()));
}

static void handle_progress(struct web_app *a, const struct web_request *req,
                            struct web_reply *rep)
{
    if (req->body_len > MAX_PROGRESS_BYTES) {
        reply_error(rep, 413, "progress report over %d bytes", MAX_PROGRESS_BYTES);
        return;
    }
    json_error_t je;
    json_t *v = json_loadb((const char *)req->body, req->body_len, 0, &je);
    json_t *p = v ? json_object_get(v, "progress") : NULL;
    if (!json_is_object(p) || !json_is_string(json_object_get(p, "state")) ||
        !json_is_integer(json_object_get(p, "done")) ||
        !json_is_integer(json_object_get(p, "total"))) {
        json_decref(v);
        reply_error(rep, 400, "expected {\"progress\":{\"state\":..,\"done\":N,\"total\":N}}");
        return;
    }
    json_t *keep = json_pack("{s:O, s:O, s:O}", "state", json_object_get(p, "state"), "done",
                             json_object_get(p, "done"), "total", json_object_get(p, "total"));
    json_decref(v);
    pthread_mutex_lock(&a->mu);
    json_decref(a->job);
    a->job = keep;
    a->job_at = time(NULL);
    pthread_mutex_unlock(&a->mu);
    reply_json(rep, 200, json_pack("{s:i}", "code", 0));
}

/* ================================================================ routing */

static bool has_prefix(const char *s, size_t len, const char *prefix, size_t *rest)
{
    size_t n = strlen(prefix);
    if (len < n || memcmp(s, prefix, n) != 0)
        return false;
    *rest = n;
    return true;
}

bool web_app_handle(struct web_app *a, const struct web_request *req, struct web_reply *rep)
{
    const char *url = req->url ? req->url : "";
    size_t len = strcspn(url, "?#"), off = 0;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    int64_t id = -1, top = 10;
    memset(rep, 0, sizeof(*rep));

    for (const struct web_asset *as = web_assets; as->url; as++) {
        if (strlen(as->url) == len && memcmp(as->url, url, len) == 0) {
            if (!get) {
                reply_error(rep, 405, "%s accepts GET only", as->url);
                return true;
            }
            rep->status = 200;
            rep->content_type = as->content_type;
            rep->body = (uint8_t *)as->data;
            rep->body_len = as->len;
            rep->body_static = true;
            rep->cache_control = "no-cache";
            return true;
        }
    }
    if (!has_prefix(url, len, "/api/", &off))
        return false;
    const char *rest = url + off;
    size_t rest_len = len - off;
    if (has_prefix(rest, rest_len, "search", &off) && (off == rest_len || rest[off] == '/')) {
        bool ok = off == rest_len || parse_ids(rest + off + 1, rest_len - off - 1, &id, &top, false);
        if (!post)
            reply_error(rep, 405, "POST the image bytes to /api/search/<k>");
        else if (!ok || top < 1 || top > a->cfg.max_top)
            reply_error(rep, 400, "k must be an integer from 1 to %d", a->cfg.max_top);
        else
            handle_search(a, req, top, rep);
    } else if (has_prefix(rest, rest_len, "similar/", &off)) {
        if (!get)
            reply_error(rep, 405, "use GET /api/similar/<id>/<k>");
        else if (!parse_ids(rest + off, rest_len - off, &id, &top, true) || top < 1 ||
                 top > a->cfg.max_top)
            reply_error(rep, 400, "expected /api/similar/<id>/<k> with k from 1 to %d",
                        a->cfg.max_top);
        else
            handle_similar(a, id, top, rep);
    } else if (has_prefix(rest, rest_len, "thumb/", &off) ||
               has_prefix(rest, rest_len, "image/", &off)) {
        bool thumb = rest[0] == 't';
        if (!get)
            reply_error(rep, 405, "use GET");
        else if (!parse_i64(rest + off, rest_len - off, &id))
            reply_error(rep, 400, "expected a numeric image id");
        else if (thumb)
            handle_thumb(a, id, rep);
        else
            handle_original(a, id, rep);
    } else if (rest_len == 6 && memcmp(rest, "status", 6) == 0) {
        if (!get)
            reply_error(rep, 405, "use GET /api/status");
        else
            handle_status(a, rep);
    } else if (rest_len == 14 && memcmp(rest, "index-progress", 14) == 0) {
        if (!post)
            reply_error(rep, 405, "use POST /api/index-progress");
        else
            handle_progress(a, req, rep);
    } else {
        reply_error(rep, 404, "no such endpoint: %.*s", (int)len, url);
    }
    return true;
}

bool web_app_owns(const char *url)
{
    size_t len = strcspn(url ? url : "", "?#");
    if (len >= 5 && memcmp(url, "/api/", 5) == 0)
        return true;
    for (const struct web_asset *as = web_assets; as->url; as++)
        if (strlen(as->url) == len && memcmp(as->url, url, len) == 0)
            return true;
    return false;
}
