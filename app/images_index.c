/*
 * images_index.c — `kite images index DIR`: walk, diff against the collection,
 * embed in parallel, insert in batches.
 *
 * Passes:
 *   1. walk     DIR recursively (symlinks to files followed, to directories not, so
 *               no cycles); every regular file is a candidate, in sorted path order.
 *   2. diff     against the rows already in the collection (id = hash of the path):
 *               same size and mtime -> unchanged (skipped without reading); otherwise
 *               new or changed -> a job; rows whose file is gone -> deleted.
 *   3. embed    worker threads take jobs in order from a shared counter: read the
 *               bytes, hash them, sniff the format (non-images are counted as bad
 *               with a warning, never fatal), decode, fit to the model input, run
 *               the CNN, make the thumbnail.  Each kite_embed call is single-
 *               threaded (n_threads = 1): parallelism is across images, which
 *               measured better than splitting one small CNN run over cores.
 *   4. insert   the main thread waits for the next batch_rows jobs to finish (in
 *               order) and upserts them as one batch, drawing progress meanwhile.
 *   5. remove   deleted files' rows, then flush.
 *
 * Threading model: `mu` guards jobs[].done and n_done; `cv` is signalled whenever
 * a job finishes.  Workers write only to their own job; the main thread reads a
 * job only after seeing done == true under `mu`.  next_job is atomic.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "codec.h"
#include "err.h"
#include "images_app.h"
#include "pool.h"
#include "vision.h"
#include "web/images_recipe.h"

#define MAX_FILE_BYTES (256u << 20)
#define MAX_DEPTH 64

/* ==================================================================== walk */

struct walk_file {
    char *path;
    int64_t size;
    int64_t mtime_ns;
    int64_t id;
};

struct walk_list {
    struct walk_file *files;
    size_t n, cap;
    uint64_t ignored; /* files without an image extension */
};

/*
 * Only names ending in an image extension are candidates: a folder of pictures
 * often holds sounds, texts and SVGs too (tuxpaint-stamps: ~9,600 of 10,400 files),
 * and warning about each would bury the real problems.  Candidates are then
 * validated by their bytes (magic + full decode), never trusted by name.
 */
static bool has_image_ext(const char *name)
{
    static const char *const exts[] = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"};
    const char *dot = strrchr(name, '.');
    if (!dot)
        return false;
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
        if (strcasecmp(dot, exts[i]) == 0)
            return true;
    return false;
}

static void walk_list_free(struct walk_list *w)
{
    for (size_t i = 0; i < w->n; i++)
        kite_free(w->files[i].path);
    kite_free(w->files);
    memset(w, 0, sizeof(*w));
}

static int walk_push(struct walk_list *w, const char *path, const struct stat *st)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        struct walk_file *f = kite_realloc(w->files, cap * sizeof(*f));
        if (!f)
            return KITE_ENOMEM;
        w->files = f;
        w->cap = cap;
    }
    struct walk_file *f = &w->files[w->n];
    if (!(f->path = kite_strdup(path)))
        return KITE_ENOMEM;
    f->size = (int64_t)st->st_size;
    f->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    f->id = images_path_id(path);
    w->n++;
    return KITE_OK;
}

static int walk_dir(struct walk_list *w, const char *dir, int depth, kite_err *err)
{
    if (depth > MAX_DEPTH)
        return kite_err_set(err, KITE_ELIMIT, "'%s' is nested deeper than %d levels", dir,
                            MAX_DEPTH);
    DIR *d = opendir(dir);
    if (!d)
        return kite_err_set(err, KITE_EIO, "cannot open directory '%s': %s", dir,
                            strerror(errno));
    int rc = KITE_OK;
    struct dirent *e;
    char path[IMAGES_PATH_MAX];
    while (rc == KITE_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue; /* ".", "..", and hidden files such as .DS_Store */
        int len = snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (len < 0 || (size_t)len >= sizeof(path)) {
            fprintf(stderr, "kite images: warning: skipping a path longer than %d bytes in %s\n",
                    IMAGES_PATH_MAX - 1, dir);
            continue;
        }
        struct stat lst, st;
        if (lstat(path, &lst) != 0)
            continue;
        if (S_ISDIR(lst.st_mode)) {
            rc = walk_dir(w, path, depth + 1, err);
        } else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (!has_image_ext(e->d_name)) {
                w->ignored++;
                continue;
            }
            if (walk_push(w, path, &st) != KITE_OK)
                rc = kite_err_set(err, KITE_ENOMEM, "out of memory listing files");
        }
    }
    closedir(d);
    return rc;
}

static int cmp_walk(const void *a, const void *b)
{
    return strcmp(((const struct walk_file *)a)->path, ((const struct walk_file *)b)->path);
}

static int cmp_row_id(const void *a, const void *b)
{
    int64_t x = ((const struct images_row *)a)->id, y = ((const struct images_row *)b)->id;
    return (x > y) - (x < y);
}

/* ==================================================================== jobs */

struct job {
    const struct walk_file *file;
    bool is_update;
    /* results, written by one worker */
    bool done, ok;
    char hash[17];
    char *thumb_b64;
    float *vec;
    char err_msg[300];
    double decode_s, resize_s, cnn_s, thumb_s;
};

struct run {
    struct job *jobs;
    size_t n_jobs;
    atomic_size_t next_job;
    kite_embed *emb;
    kite_preprocess pre;
    uint32_t dim;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static int read_file(const char *path, struct kite_buf *b, kite_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return kite_err_set(err, KITE_EIO, "cannot open: %s", strerror(errno));
    int rc = KITE_OK;
    uint8_t chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (kite_buf_append(b, chunk, got) != KITE_OK) {
            rc = kite_err_set(err, KITE_ELIMIT, "larger than %u MiB", MAX_FILE_BYTES >> 20);
            break;
        }
    }
    if (rc == KITE_OK && ferror(f))
        rc = kite_err_set(err, KITE_EIO, "read error: %s", strerror(errno));
    fclose(f);
    return rc;
}

/* Decode, fit, embed and thumbnail one file into its job. */
static int do_job(struct run *r, struct job *j, kite_err *err)
{
    struct kite_buf bytes;
    kite_image *img = NULL, *fit = NULL;
    uint8_t *jpeg = NULL;
    size_t jpeg_len = 0;
    kite_buf_init(&bytes, MAX_FILE_BYTES);
    int rc = read_file(j->file->path, &bytes, err);
    if (rc != KITE_OK)
        goto out;
    snprintf(j->hash, sizeof(j->hash), "%016" PRIx64,
             images_fnv1a(bytes.data, bytes.len, IMAGES_FNV_SEED));
    if (kite_image_sniff(bytes.data, bytes.len) == KITE_IMAGE_UNKNOWN) {
        rc = kite_err_set(err, KITE_EUNSUPPORTED,
                          "not an image (expected JPEG, PNG, WebP, GIF or BMP)");
        goto out;
    }
    double t0 = images_now_s();
    if ((rc = kite_image_decode(bytes.data, bytes.len, NULL, &img, err)) != KITE_OK)
        goto out;
    double t1 = images_now_s();
    if ((rc = kite_image_fit(img, &r->pre, &fit, err)) != KITE_OK)
        goto out;
    double t2 = images_now_s();
    if (!(j->vec = kite_malloc(r->dim * sizeof(float)))) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = kite_embed_image(r->emb, fit, j->vec, err)) != KITE_OK)
        goto out;
    images_recipe_post(j->vec, (int)r->dim);
    double t3 = images_now_s();
    if ((rc = images_thumb_jpeg(img, IMAGES_THUMB_SIDE, &jpeg, &jpeg_len, err)) != KITE_OK)
        goto out;
    if (!(j->thumb_b64 = kite_base64_encode(jpeg, jpeg_len))) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    if (strlen(j->thumb_b64) > IMAGES_THUMB_MAX_BYTES) {
        rc = kite_err_set(err, KITE_ELIMIT, "thumbnail too large");
        goto out;
    }
    j->thumb_s = images_now_s() - t3;
    j->decode_s = t1 - t0;
    j->resize_s = t2 - t1;
    j->cnn_s = t3 - t2;
out:
    kite_free(jpeg);
    kite_image_free(fit);
    kite_image_free(img);
    kite_buf_free(&bytes);
    return rc;
}

static void *worker_main(void *arg)
{
    struct run *r = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&r->next_job, 1);
        if (i >= r->n_jobs)
            break;
        struct job *j = &r->jobs[i];
        kite_err err;
        kite_err_clear(&err);
        int rc = do_job(r, j, &err);
        if (rc != KITE_OK) {
            snprintf(j->err_msg, sizeof(j->err_msg), "%s",
                     err.message[0] ? err.message : kite_strerror(rc));
            kite_free(j->vec);
            j->vec = NULL;
            kite_free(j->thumb_b64);
            j->thumb_b64 = NULL;
        }
        pthread_mutex_lock(&r->mu);
        j->ok = rc == KITE_OK;
        j->done = true;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
    return NULL;
}

/* ================================================================== insert */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Upsert the successful jobs in [from, to); free their buffers. */
static int insert_batch(struct images_store *s, struct run *r, size_t from, size_t to,
                        struct images_progress *prog, struct images_index_stats *st,
                        kite_err *err)
{
    struct images_new_row *rows = kite_calloc(to - from + 1, sizeof(*rows));
    if (!rows)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = from; i < to; i++) {
        struct job *j = &r->jobs[i];
        st->decode_s += j->decode_s;
        st->resize_s += j->resize_s;
        st->cnn_s += j->cnn_s;
        st->thumb_s += j->thumb_s;
        if (!j->ok) {
            st->bad++;
            images_progress_clear(prog);
            fprintf(stderr, "kite images: warning: skipping %s: %s\n", j->file->path,
                    j->err_msg);
            continue;
        }
        if (j->is_update)
            st->updated++;
        else
            st->added++;
        rows[n++] = (struct images_new_row){
            .id = j->file->id, .name = base_name(j->file->path), .path = j->file->path,
            .size = j->file->size, .mtime = j->file->mtime_ns, .hash = j->hash,
            .thumb_b64 = j->thumb_b64, .vec = j->vec};
    }
    int rc = KITE_OK;
    if (n) {
        double t0 = images_now_s();
        rc = s->ops->upsert(s, rows, n, r->dim, err);
        st->insert_s += images_now_s() - t0;
    }
    for (size_t i = from; i < to; i++) {
        kite_free(r->jobs[i].vec);
        kite_free(r->jobs[i].thumb_b64);
        r->jobs[i].vec = NULL;
        r->jobs[i].thumb_b64 = NULL;
    }
    kite_free(rows);
    return rc;
}

static void report_progress(struct images_store *s, const struct images_progress *p,
                            const char *state)
{
    if (!s->ops->progress)
        return;
    char json[256];
    snprintf(json, sizeof(json),
             "{\"state\":\"%s\",\"done\":%llu,\"total\":%llu,\"elapsed_s\":%.1f}", state,
             (unsigned long long)p->done, (unsigned long long)p->total,
             images_now_s() - p->start_s);
    s->ops->progress(s, json);
}

/* Run the workers over r->jobs and insert finished jobs in order, in batches. */
static int embed_and_insert(struct images_store *s, struct run *r,
                            const struct images_index_opts *o, struct images_progress *prog,
                            struct images_index_stats *st, kite_err *err)
{
    int n_threads = o->n_threads > 0 ? o->n_threads : kite_cpu_count();
    if (n_threads > 64)
        n_threads = 64;
    pthread_t tids[64];
    int started = 0, rc = KITE_OK;
    for (; started < n_threads && (size_t)started < r->n_jobs; started++)
        if (pthread_create(&tids[started], NULL, worker_main, r) != 0)
            break;
    if (started == 0 && r->n_jobs > 0) {
        rc = kite_err_set(err, KITE_EINTERNAL, "cannot start worker threads");
        goto out_join;
    }
    size_t batch = o->batch_rows ? o->batch_rows : 64, ins = 0;
    double last_report = 0;
    while (ins < r->n_jobs) {
        size_t to = ins + batch < r->n_jobs ? ins + batch : r->n_jobs, ready = ins;
        pthread_mutex_lock(&r->mu);
        while (ready < to) {
            while (ready < to && r->jobs[ready].done)
                ready++;
            if (ready < to) {
                /* Show progress while waiting (a no-op unless a redraw is due). */
                prog->done = st->unchanged + ready;
                images_progress_add(prog, 0, 0);
                pthread_cond_wait(&r->cv, &r->mu);
            }
        }
        pthread_mutex_unlock(&r->mu);
        rc = insert_batch(s, r, ins, to, prog, st, err);
        if (rc != KITE_OK) {
            atomic_store(&r->next_job, r->n_jobs); /* stop the workers */
            goto out_join;
        }
        prog->done = st->unchanged + to;
        images_progress_add(prog, 0, 0);
        ins = to;
        if (images_now_s() - last_report > 1.0) {
            report_progress(s, prog, "running");
            last_report = images_now_s();
        }
    }
out_join:
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    for (size_t i = 0; i < r->n_jobs; i++) {
        kite_free(r->jobs[i].vec);
        kite_free(r->jobs[i].thumb_b64);
    }
    return rc;
}

/* ==================================================================== diff */

/* Mark unchanged files, make jobs for new/changed ones, collect ids of deleted rows. */
static int diff(const struct walk_list *w, struct images_row_list *have, struct run *r,
                int64_t **gone, size_t *n_gone, struct images_index_stats *st)
{
    if (have->n > 1)
        qsort(have->rows, have->n, sizeof(*have->rows), cmp_row_id);
    bool *seen = kite_calloc(have->n + 1, sizeof(bool));
    r->jobs = kite_calloc(w->n + 1, sizeof(*r->jobs));
    *gone = kite_calloc(have->n + 1, sizeof(int64_t));
    if (!seen || !r->jobs || !*gone) {
        kite_free(seen);
        return KITE_ENOMEM;
    }
    for (size_t i = 0; i < w->n; i++) {
        const struct walk_file *f = &w->files[i];
        struct images_row key = {.id = f->id};
        struct images_row *row =
            have->n ? bsearch(&key, have->rows, have->n, sizeof(*have->rows), cmp_row_id)
                    : NULL;
        if (row) {
            seen[row - have->rows] = true;
            if (row->size == f->size && row->mtime == f->mtime_ns && strcmp(row->path, f->path) == 0) {
                st->unchanged++;
                continue;
            }
        }
        r->jobs[r->n_jobs].file = f;
        r->jobs[r->n_jobs].is_update = row != NULL;
        r->n_jobs++;
    }
    *n_gone = 0;
    for (size_t i = 0; i < have->n; i++)
        if (!seen[i])
            (*gone)[(*n_gone)++] = have->rows[i].id;
    kite_free(seen);
    return KITE_OK;
}

/* ===================================================================== run */

int images_index_run(struct images_store *s, const struct images_index_opts *o,
                     struct images_index_stats *st, kite_err *err)
{
    int rc = KITE_OK;
    struct walk_list w = {0};
    struct images_row_list have = {0};
    struct run r;
    int64_t *gone = NULL;
    size_t n_gone = 0;
    char root[PATH_MAX];
    double t_start = images_now_s();

    memset(st, 0, sizeof(*st));
    memset(&r, 0, sizeof(r));
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    if (!realpath(o->dir, root)) {
        rc = kite_err_set(err, KITE_EIO, "cannot open directory '%s': %s", o->dir,
                          strerror(errno));
        goto out;
    }
    if ((rc = walk_dir(&w, root, 0, err)) != KITE_OK)
        goto out;
    if (w.n > 1) /* qsort/bsearch must not see a NULL base, even with 0 items */
        qsort(w.files, w.n, sizeof(*w.files), cmp_walk);
    st->seen = w.n;
    st->ignored = w.ignored;

    kite_embed_opts eo;
    kite_embed_opts_init(&eo);
    eo.model_path = o->model_path;
    eo.n_threads = 1;
    images_recipe_opts(&eo);
    if ((rc = kite_embed_open(&eo, &r.emb, err)) != KITE_OK) {
        kite_err_prefix(err, "loading model '%s'", o->model_path);
        goto out;
    }
    r.pre = eo.pre;
    r.dim = (uint32_t)kite_embed_dim(r.emb);
    if ((rc = s->ops->ensure(s, r.dim, err)) != KITE_OK)
        goto out;
    if ((rc = s->ops->list(s, &have, err)) != KITE_OK)
        goto out;
    if (diff(&w, &have, &r, &gone, &n_gone, st) != KITE_OK) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory comparing %zu files", w.n);
        goto out;
    }

    struct images_progress prog;
    bool tty = !o->force_plain && isatty(STDERR_FILENO);
    images_progress_start(&prog, o->quiet ? NULL : stderr, tty, w.n);
    prog.done = st->unchanged;
    report_progress(s, &prog, "running");
    rc = embed_and_insert(s, &r, o, &prog, st, err);
    if (rc == KITE_OK && n_gone) {
        double t0 = images_now_s();
        rc = s->ops->remove(s, gone, n_gone, err);
        st->insert_s += images_now_s() - t0;
        st->removed = n_gone;
    }
    if (rc == KITE_OK)
        rc = s->ops->flush(s, err);
    prog.done = w.n;
    images_progress_finish(&prog);
    report_progress(s, &prog, rc == KITE_OK ? "done" : "failed");
out:
    st->total_s = images_now_s() - t_start;
    kite_free(gone);
    kite_free(r.jobs);
    kite_embed_close(r.emb);
    images_row_list_free(&have);
    walk_list_free(&w);
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    return rc;
}
