/*
 * cmd_bench.c — `kite bench ann`: build one Kite ANN index over a TEXMEX
 * .fvecs file and time searches, following the command-line contract of the
 * team's benchmark harness (/work/shared/bench/README.md, "Command-line
 * program"), so the harness runs Kite side by side with FAISS and hnswlib:
 *
 *   kite bench ann --base B.fvecs --query Q.fvecs --metric L2|IP|COSINE --k K
 *        --threads 1,2 --build-threads T --build "index_type=HNSW,M=16,..."
 *        --search "ef=64" [--search ...] --runs R --out-dir DIR --max-point-s S
 *
 * For each --search set i (in order) and each thread count t: one untimed
 * warm-up search over all queries whose ids go to DIR/ids_<i>_t<t>.ivecs
 * (nq × k int32, -1 = missing), then up to R timed searches (at least one; stop
 * once S seconds were spent on the point).  Records on stdout:
 *   BUILD seconds=<f> index_bytes=<n> struct_bytes=<n>
 *   SEARCH i=<i> threads=<t> run=<r> seconds=<f> cpu_seconds=<f>
 * index_bytes counts what a search needs in memory: the index structures
 * (vindex_memory_bytes) plus the raw vectors for indexes that read them at
 * search time (vindex_reads_rows: HNSW but its split walk, ANNOY, SCANN
 * re-ranking), as hnswlib's and FAISS' sizes do.
 * cpu_seconds (process CPU time of the timed search, all threads) is extra: the
 * harness ignores it; on a shared machine it is the steadier figure for A/B work.
 *
 * The build key index_type (default HNSW) selects the index; every other
 * key=val becomes a field of the build-params JSON (numbers stay numbers), so
 * the parameters are the ones a Milvus client would send.  This tool uses the
 * index layer (src/index/index.h) directly — the documented exception for
 * benchmark tools in STYLE.md §2 — so the timings hold no storage or RPC costs.
 *
 * Threading: single-threaded driver; the index build and searches run on
 * kite_pool workers (t = 1 searches on the calling thread only).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alloc.h"
#include "commands.h"
#include "index.h"
#include "kite/kite.h"
#include "pool.h"

#define BENCH_MAX_SEARCH 64
#define BENCH_MAX_THREADS 16

struct bench_args {
    const char *base, *query, *metric, *build, *out_dir, *index_file;
    const char *search[BENCH_MAX_SEARCH];
    int n_search;
    int threads[BENCH_MAX_THREADS];
    int n_threads;
    int k, build_threads, runs;
    double max_point_s;
};

struct fvecs {
    float *data;
    size_t n;
    uint32_t dim;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (all threads): steadier than wall time on a shared host. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kite bench ann --base B.fvecs --query Q.fvecs [--metric L2|IP|COSINE]\n"
            "         [--k 10] [--threads 1,2] [--build-threads T] [--build \"key=val,...\"]\n"
            "         [--search \"key=val,...\"]... [--runs 5] [--out-dir DIR] [--max-point-s 10]\n"
            "         [--index-file F]\n"
            "\n"
            "Build one ANN index over the base vectors, then time batch searches of all\n"
            "queries for every --search set and thread count (the benchmark harness'\n"
            "command-line contract).  --build takes index_type=HNSW|IVF_FLAT|IVF_SQ8|\n"
            "IVF_PQ|SCANN|ANNOY plus that index's build params (M=16,efConstruction=200;\n"
            "nlist=1024; m=32,nbits=8; ...).  --search takes search params (ef=64;\n"
            "nprobe=16; reorder_k=100; search_k=...).  Prints BUILD and SEARCH lines and\n"
            "writes DIR/ids_<i>_t<t>.ivecs from an untimed warm-up search.  With --index-file\n"
            "an index saved there by an earlier run (same base, type and metric) is loaded\n"
            "instead of built (BUILD then reports seconds=0), else the new one is saved.\n");
}

/* Read a whole .fvecs file (int32 dim, then dim float32, per record). */
static int read_fvecs(const char *path, struct fvecs *out)
{
    FILE *f = fopen(path, "rb");
    uint8_t *raw = NULL;
    int rc = -1;
    long size;
    int32_t dim;

    memset(out, 0, sizeof(*out));
    if (!f) {
        fprintf(stderr, "kite bench: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 4 || fseek(f, 0, SEEK_SET) != 0 ||
        fread(&dim, 4, 1, f) != 1 || dim <= 0 || dim > (1 << 16)) {
        fprintf(stderr, "kite bench: %s is not an .fvecs file (expected a positive int32 "
                        "dimension first)\n", path);
        goto cleanup;
    }
    size_t rec = 4 + 4 * (size_t)dim;
    if ((size_t)size % rec != 0) {
        fprintf(stderr, "kite bench: %s: size %ld is not a multiple of the %zu-byte record "
                        "of dimension %d\n", path, size, rec, (int)dim);
        goto cleanup;
    }
    out->n = (size_t)size / rec;
    out->dim = (uint32_t)dim;
    raw = kite_malloc((size_t)size);
    out->data = kite_malloc(out->n * (size_t)dim * sizeof(float));
    if (!raw || !out->data) {
        fprintf(stderr, "kite bench: out of memory reading %s\n", path);
        goto cleanup;
    }
    if (fseek(f, 0, SEEK_SET) != 0 || fread(raw, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "kite bench: short read on %s\n", path);
        goto cleanup;
    }
    for (size_t i = 0; i < out->n; i++) {
        int32_t d;
        memcpy(&d, raw + i * rec, 4);
        if (d != dim) {
            fprintf(stderr, "kite bench: %s: record %zu has dimension %d, expected %d\n", path,
                    i, (int)d, (int)dim);
            goto cleanup;
        }
        memcpy(out->data + i * (size_t)dim, raw + i * rec + 4, 4 * (size_t)dim);
    }
    rc = 0;
cleanup:
    kite_free(raw);
    if (rc != 0) {
        kite_free(out->data);
        out->data = NULL;
    }
    fclose(f);
    return rc;
}

/*
 * "a=1,b=x" -> JSON object text {"a":1,"b":"x"}; the key index_type is taken
 * out into *index_type (owned).  Returns NULL on a malformed item.
 */
static char *kv_to_json(const char *kv, char **index_type)
{
    size_t cap = 2 * strlen(kv) + 16, len = 0;
    char *json = kite_malloc(cap), *copy = kite_strdup(kv), *save = NULL;
    if (!json || !copy)
        goto fail;
    json[len++] = '{';
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item) {
            fprintf(stderr, "kite bench: parameter \"%s\" should look like key=value\n", item);
            goto fail;
        }
        *eq = '\0';
        const char *key = item, *val = eq + 1;
        if (index_type && strcmp(key, "index_type") == 0) {
            kite_free(*index_type);
            if (!(*index_type = kite_strdup(val)))
                goto fail;
            continue;
        }
        char *end;
        (void)strtod(val, &end);
        bool number = *val && *end == '\0';
        bool boolean = !strcmp(val, "true") || !strcmp(val, "false");
        int w = snprintf(json + len, cap - len, "%s\"%s\":%s%s%s", len > 1 ? "," : "", key,
                         number || boolean ? "" : "\"", val, number || boolean ? "" : "\"");
        if (w < 0 || (size_t)w >= cap - len)
            goto fail;
        len += (size_t)w;
    }
    json[len++] = '}';
    json[len] = '\0';
    kite_free(copy);
    return json;
fail:
    kite_free(json);
    kite_free(copy);
    return NULL;
}

static int parse_threads(const char *s, struct bench_args *a)
{
    char *copy = kite_strdup(s), *save = NULL;
    a->n_threads = 0;
    for (char *t = strtok_r(copy, ",", &save); t && a->n_threads < BENCH_MAX_THREADS;
         t = strtok_r(NULL, ",", &save)) {
        int v = atoi(t);
        if (v < 1) {
            kite_free(copy);
            return -1;
        }
        a->threads[a->n_threads++] = v;
    }
    kite_free(copy);
    return a->n_threads > 0 ? 0 : -1;
}

static int parse_args(int argc, char **argv, struct bench_args *a)
{
    memset(a, 0, sizeof(*a));
    a->metric = "L2";
    a->build = "";
    a->out_dir = ".";
    a->k = 10;
    a->runs = 5;
    a->max_point_s = 10.0;
    a->threads[0] = 1;
    a->n_threads = 1;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (app_is_help(o)) {
            usage(stdout);
            return 1;
        }
        if (!v) {
            fprintf(stderr, "kite bench ann: option %s needs a value\n", o);
            return -1;
        }
        i++;
        if (!strcmp(o, "--base"))
            a->base = v;
        else if (!strcmp(o, "--query"))
            a->query = v;
        else if (!strcmp(o, "--metric"))
            a->metric = v;
        else if (!strcmp(o, "--k"))
            a->k = atoi(v);
        else if (!strcmp(o, "--threads")) {
            if (parse_threads(v, a) != 0) {
                fprintf(stderr, "kite bench ann: --threads \"%s\": expected a list of "
                                "positive counts such as 1,2\n", v);
                return -1;
            }
        } else if (!strcmp(o, "--build-threads"))
            a->build_threads = atoi(v);
        else if (!strcmp(o, "--build"))
            a->build = v;
        else if (!strcmp(o, "--search")) {
            if (a->n_search == BENCH_MAX_SEARCH) {
                fprintf(stderr, "kite bench ann: at most %d --search sets\n", BENCH_MAX_SEARCH);
                return -1;
            }
            a->search[a->n_search++] = v;
        } else if (!strcmp(o, "--runs"))
            a->runs = atoi(v);
        else if (!strcmp(o, "--out-dir"))
            a->out_dir = v;
        else if (!strcmp(o, "--index-file"))
            a->index_file = v;
        else if (!strcmp(o, "--max-point-s"))
            a->max_point_s = atof(v);
        else {
            fprintf(stderr, "kite bench ann: unknown option %s (see kite bench ann --help)\n", o);
            return -1;
        }
    }
    if (!a->base || !a->query) {
        fprintf(stderr, "kite bench ann: --base and --query are required\n");
        return -1;
    }
    if (a->k < 1 || a->runs < 1) {
        fprintf(stderr, "kite bench ann: --k and --runs must be at least 1\n");
        return -1;
    }
    if (a->n_search == 0)
        a->search[a->n_search++] = "";
    return 0;
}

static int metric_of(const char *s)
{
    if (!strcasecmp(s, "L2"))
        return KITE_METRIC_L2;
    if (!strcasecmp(s, "IP"))
        return KITE_METRIC_IP;
    if (!strcasecmp(s, "COSINE"))
        return KITE_METRIC_COSINE;
    return KITE_METRIC_NONE;
}

static int write_ids(const char *path, const struct vsearch_out *out, size_t nq, int k)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "kite bench: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    int32_t *rec = kite_malloc(((size_t)k + 1) * sizeof(int32_t));
    int rc = rec ? 0 : -1;
    for (size_t q = 0; q < nq && rc == 0; q++) {
        rec[0] = k;
        for (int j = 0; j < k; j++)
            rec[1 + j] = (size_t)j < out->counts[q]
                             ? (int32_t)out->hits[q * (size_t)k + (size_t)j].row
                             : -1;
        if (fwrite(rec, sizeof(int32_t), (size_t)k + 1, f) != (size_t)k + 1)
            rc = -1;
    }
    kite_free(rec);
    if (fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "kite bench: writing %s failed\n", path);
    return rc;
}

/* Load a serialised index from path; 1 = loaded, 0 = no such file, -1 = error. */
static int load_index(const char *path, const char *type, int metric, const struct vec_view *v,
                      struct vindex **ix)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    long size;
    int rc = -1;
    kite_err err;

    memset(&err, 0, sizeof(err));
    if (!f)
        return errno == ENOENT ? 0 : -1;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(data = kite_malloc((size_t)size)) || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "kite bench ann: cannot read the index file %s\n", path);
        goto cleanup;
    }
    if (vindex_deserialize(type, metric, v, data, (size_t)size, ix, &err) != KITE_OK) {
        fprintf(stderr, "kite bench ann: %s: %s (expected a %s index saved by kite bench "
                        "ann over the same base)\n", path, err.message, type);
        goto cleanup;
    }
    rc = 1;
cleanup:
    kite_free(data);
    fclose(f);
    return rc;
}

static int save_index(const char *path, const struct vindex *ix)
{
    struct kite_buf b;
    int rc = -1;
    kite_buf_init(&b, SIZE_MAX);
    if (vindex_serialize(ix, &b) == KITE_OK) {
        FILE *f = fopen(path, "wb");
        if (f) {
            rc = fwrite(b.data, 1, b.len, f) == b.len ? 0 : -1;
            if (fclose(f) != 0)
                rc = -1;
        }
    }
    if (rc != 0)
        fprintf(stderr, "kite bench ann: cannot save the index to %s\n", path);
    kite_buf_free(&b);
    return rc;
}

static int bench_ann(int argc, char **argv)
{
    struct bench_args a;
    struct fvecs base = {0}, qs = {0};
    struct kite_pool *bpool = NULL, *spool[BENCH_MAX_THREADS] = {0};
    struct vindex *ix = NULL;
    char *type = NULL, *build_json = NULL, *norm_json = NULL, *search_json = NULL;
    const char *resolved = NULL;
    struct kite_hit *hits = NULL;
    size_t *counts = NULL;
    kite_err err;
    int status = KITE_EXIT_FAILURE, metric, rc;

    memset(&err, 0, sizeof(err));
    if ((rc = parse_args(argc, argv, &a)) != 0)
        return rc > 0 ? KITE_EXIT_OK : KITE_EXIT_USAGE;
    if ((metric = metric_of(a.metric)) == KITE_METRIC_NONE) {
        fprintf(stderr, "kite bench ann: metric \"%s\": expected L2, IP or COSINE\n", a.metric);
        return KITE_EXIT_USAGE;
    }
    if (!(build_json = kv_to_json(a.build, &type)))
        return KITE_EXIT_USAGE;
    if (read_fvecs(a.base, &base) != 0 || read_fvecs(a.query, &qs) != 0)
        goto cleanup;
    if (qs.dim != base.dim) {
        fprintf(stderr, "kite bench ann: queries have %u dimensions, the base %u\n", qs.dim,
                base.dim);
        goto cleanup;
    }
    if ((rc = vindex_validate_build(type ? type : "HNSW", metric, KITE_DT_FLOAT_VECTOR,
                                    base.dim, build_json, &resolved, &norm_json, &err))) {
        fprintf(stderr, "kite bench ann: build params: %s\n", err.message);
        goto cleanup;
    }
    if (vindex_is_flat(resolved)) {
        fprintf(stderr, "kite bench ann: %s needs no index; use an ANN index type\n", resolved);
        goto cleanup;
    }
    if (kite_pool_new(a.build_threads > 0 ? a.build_threads : 0, &bpool) != 0) {
        fprintf(stderr, "kite bench ann: cannot start the build thread pool\n");
        goto cleanup;
    }
    for (int t = 0; t < a.n_threads; t++)
        if (a.threads[t] > 1 && kite_pool_new(a.threads[t], &spool[t]) != 0) {
            fprintf(stderr, "kite bench ann: cannot start a %d-thread pool\n", a.threads[t]);
            goto cleanup;
        }

    struct vec_view v = {KITE_DT_FLOAT_VECTOR, base.dim, base.n, base.data, NULL};
    struct vindex_build_params bp = {resolved, metric, norm_json, 20240601u, bpool};
    fprintf(stderr, "kite bench ann: %s %s over %zu x %u, %zu queries\n", resolved, norm_json,
            base.n, base.dim, qs.n);
    int loaded = a.index_file ? load_index(a.index_file, resolved, metric, &v, &ix) : 0;
    if (loaded < 0)
        goto cleanup;
    double t0 = now_s();
    if (!loaded && (rc = vindex_build(&bp, &v, &ix, &err))) {
        fprintf(stderr, "kite bench ann: build failed: %s\n", err.message);
        goto cleanup;
    }
    double build_s = loaded ? 0.0 : now_s() - t0;
    if (a.index_file && !loaded && save_index(a.index_file, ix) != 0)
        goto cleanup;
    size_t struct_bytes = vindex_memory_bytes(ix);
    size_t raw_bytes = vindex_reads_rows(ix) ? base.n * base.dim * sizeof(float) : 0;
    printf("BUILD seconds=%.6f index_bytes=%zu struct_bytes=%zu\n", build_s,
           struct_bytes + raw_bytes, struct_bytes);
    fflush(stdout);

    hits = kite_malloc(qs.n * (size_t)a.k * sizeof(*hits));
    counts = kite_malloc(qs.n * sizeof(*counts));
    if (!hits || !counts) {
        fprintf(stderr, "kite bench ann: out of memory for %zu x %d results\n", qs.n, a.k);
        goto cleanup;
    }
    for (int i = 0; i < a.n_search; i++) {
        struct vsearch_params p;
        kite_free(search_json);
        if (!(search_json = kv_to_json(a.search[i], NULL)))
            goto cleanup;
        if ((rc = vindex_parse_search_params(resolved, search_json, a.k, &p, &err))) {
            fprintf(stderr, "kite bench ann: search params %s: %s\n", search_json, err.message);
            goto cleanup;
        }
        for (int t = 0; t < a.n_threads; t++) {
            struct vsearch_req req = {qs.data, qs.n, NULL, SIZE_MAX, &p, spool[t]};
            struct vsearch_out out = {hits, counts};
            char path[4096];
            if ((rc = vindex_search(ix, &v, &req, &out, &err))) {
                fprintf(stderr, "kite bench ann: search failed: %s\n", err.message);
                goto cleanup;
            }
            snprintf(path, sizeof(path), "%s/ids_%d_t%d.ivecs", a.out_dir, i, a.threads[t]);
            if (write_ids(path, &out, qs.n, a.k) != 0)
                goto cleanup;
            double spent = 0;
            for (int r = 0; r < a.runs && (r == 0 || spent < a.max_point_s); r++) {
                double s0 = now_s(), c0 = cpu_s();
                if ((rc = vindex_search(ix, &v, &req, &out, &err))) {
                    fprintf(stderr, "kite bench ann: search failed: %s\n", err.message);
                    goto cleanup;
                }
                double s = now_s() - s0, c = cpu_s() - c0;
                spent += s;
                printf("SEARCH i=%d threads=%d run=%d seconds=%.6f cpu_seconds=%.6f\n", i,
                       a.threads[t], r, s, c);
                fflush(stdout);
            }
        }
    }
    status = KITE_EXIT_OK;
cleanup:
    vindex_free(ix);
    for (int t = 0; t < BENCH_MAX_THREADS; t++)
        kite_pool_free(spool[t]);
    kite_pool_free(bpool);
    kite_free(hits);
    kite_free(counts);
    kite_free(base.data);
    kite_free(qs.data);
    kite_free(type);
    kite_free(build_json);
    kite_free(norm_json);
    kite_free(search_json);
    return status;
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2 || app_is_help(argv[1])) {
        printf("usage: kite bench ann [options]   (kite bench ann --help for the options)\n\n"
               "Benchmarks that print machine-readable records for bench/run_ann.sh and the\n"
               "side-by-side harness.\n");
        return argc < 2 ? KITE_EXIT_USAGE : KITE_EXIT_OK;
    }
    if (strcmp(argv[1], "ann") == 0)
        return bench_ann(argc, argv);
    fprintf(stderr, "kite bench: unknown benchmark \"%s\" (expected ann)\n", argv[1]);
    return KITE_EXIT_USAGE;
}
