/*
 * test_db_index_matrix.c — every vector index type through the whole engine
 * (public kite.h API only).
 *
 * A table of (index type, build params, metric, float/binary, search params,
 * recall threshold) runs one scenario each: several sealed segments (small
 * segment_max_rows) in two partitions plus growing rows; search while builds
 * run; wait for the builds (kite_index_describe until Finished); then, against
 * a brute-force oracle computed here:
 *   recall@10 over nq=5 batches; filters at 50/10/1/0.1% selectivity returning
 *   min(limit, passing) rows that all pass; range search; group-by; offset;
 *   output fields incl. the vector; partitions; deletes; close + reopen gives
 *   identical results without rebuilding (describe right after open, index file
 *   mtimes); compaction rebuilds; drop index removes the files.
 * Separate tests: a corrupted / truncated index file at open is detected,
 * logged and rebuilt (the collection stays usable, results stay correct);
 * out-of-range build and search params give KITE_EINVAL (Milvus 1100).
 *
 * Data: dim 16 floats or 64-bit binary vectors, 3500 rows, segment_max_rows 800.
 * Recall is tie-aware: a returned row counts when its oracle distance is no
 * worse than the oracle's k-th (thresholds per row of the table, fixed seeds).
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db_test_util.h"

#define DIMF 16
#define DIMB 64
#define N_ROWS 3500
#define K 10
#define NQ 5

struct icfg {
    const char *type;
    const char *metric;
    const char *build;
    const char *search;
    bool binary;
    bool exact;       /* FLAT-like: results must equal the oracle */
    double min_recall;
    double score_tol; /* quantised codes (SQ8, PQ) return approximate scores */
};

/* ------------------------------------------------------------ data + oracle */

struct ds {
    const struct icfg *cfg;
    bool binary;
    int metric;
    float vf[N_ROWS][DIMF];
    uint8_t vb[N_ROWS][DIMB / 8];
    bool live[N_ROWS];
    int part[N_ROWS]; /* 0 = _default, 1 = p1 */
    float qf[NQ][DIMF];
    uint8_t qb[NQ][DIMB / 8];
};

static void gen(struct ds *d, const struct icfg *cfg)
{
    memset(d, 0, sizeof(*d));
    d->cfg = cfg;
    d->binary = cfg->binary;
    d->metric = kite_metric_from_name(cfg->metric);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < N_ROWS; i++) {
        for (int k = 0; k < DIMF; k++)
            d->vf[i][k] = tu_randf(&s);
        for (int k = 0; k < DIMB / 8; k++)
            d->vb[i][k] = (uint8_t)(tu_rand(&s) >> 17);
        d->live[i] = true;
        d->part[i] = i >= 2400 && i < 3400 ? 1 : 0;
    }
    for (int q = 0; q < NQ; q++) {
        for (int k = 0; k < DIMF; k++)
            d->qf[q][k] = tu_randf(&s);
        for (int k = 0; k < DIMB / 8; k++)
            d->qb[q][k] = (uint8_t)(tu_rand(&s) >> 17);
    }
}

/* The engine's score of row i for query q (L2 squared, IP, cosine, Hamming, Jaccard). */
static double oscore(const struct ds *d, int q, int i)
{
    if (d->binary) {
        int x = 0, a = 0, o = 0;
        for (int k = 0; k < DIMB / 8; k++) {
            x += __builtin_popcount((unsigned)(d->qb[q][k] ^ d->vb[i][k]));
            a += __builtin_popcount((unsigned)(d->qb[q][k] & d->vb[i][k]));
            o += __builtin_popcount((unsigned)(d->qb[q][k] | d->vb[i][k]));
        }
        if (d->metric == KITE_METRIC_HAMMING)
            return x;
        return o ? 1.0 - (double)a / o : 0.0;
    }
    double l2 = 0, ip = 0, na = 0, nb = 0;
    for (int k = 0; k < DIMF; k++) {
        double a = d->qf[q][k], b = d->vf[i][k];
        l2 += (a - b) * (a - b);
        ip += a * b;
        na += a * a;
        nb += b * b;
    }
    if (d->metric == KITE_METRIC_L2)
        return l2;
    if (d->metric == KITE_METRIC_IP)
        return ip;
    return ip / (sqrt(na) * sqrt(nb));
}

/* Distance where smaller is closer. */
static double odist(const struct ds *d, int q, int i)
{
    double s = oscore(d, q, i);
    return kite_metric_larger_is_closer(d->metric) ? -s : s;
}

typedef bool (*row_pred)(int id);

static bool pass_all(int id)
{
    (void)id;
    return true;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorted oracle distances of the rows passing pred (and partition, -1 = any). */
static size_t oracle(const struct ds *d, int q, row_pred pred, int part, double *out)
{
    size_t n = 0;
    for (int i = 0; i < N_ROWS; i++)
        if (d->live[i] && pred(i) && (part < 0 || d->part[i] == part))
            out[n++] = odist(d, q, i);
    qsort(out, n, sizeof(double), cmp_dbl);
    return n;
}

/* ------------------------------------------------------------ engine calls */

static void create_coll(kite_db *db, const struct icfg *cfg)
{
    kite_field_schema f[4];
    memset(f, 0, sizeof(f));
    f[0].name = "id";
    f[0].dtype = KITE_DT_INT64;
    f[0].is_primary = true;
    f[1].name = "vec";
    f[1].dtype = cfg->binary ? KITE_DT_BINARY_VECTOR : KITE_DT_FLOAT_VECTOR;
    f[1].dim = cfg->binary ? DIMB : DIMF;
    f[2].name = "tag";
    f[2].dtype = KITE_DT_VARCHAR;
    f[2].max_length = 16;
    f[3].name = "num";
    f[3].dtype = KITE_DT_INT32;
    kite_schema s = {0};
    s.fields = f;
    s.n_fields = 4;
    kite_create_params p;
    kite_create_params_init(&p);
    p.schema = &s;
    kite_err e;
    int rc = kite_collection_create(db, NULL, "m", &p, &e);
    if (rc)
        TEST_FAIL_("create: %d %s", rc, e.message);
    rc = kite_partition_create(db, NULL, "m", "p1", &e);
    if (rc)
        TEST_FAIL_("partition: %d %s", rc, e.message);
    kite_index_params ip;
    kite_index_params_init(&ip);
    ip.field_name = "vec";
    ip.index_type = cfg->type;
    ip.metric_type = cfg->metric;
    ip.params_json = cfg->build;
    rc = kite_index_create(db, NULL, "m", &ip, &e);
    if (rc)
        TEST_FAIL_("index %s: %d %s", cfg->type, rc, e.message);
    rc = kite_collection_load(db, NULL, "m", &e);
    if (rc)
        TEST_FAIL_("load: %d %s", rc, e.message);
}

static void insert_rows(kite_db *db, const struct ds *d, int first, int n, const char *part)
{
    int64_t ids[100];
    int32_t nums[100];
    char tags[200];
    uint64_t offs[101];
    ASSERT(n <= 100);
    offs[0] = 0;
    for (int i = 0; i < n; i++) {
        ids[i] = first + i;
        nums[i] = first + i;
        tags[2 * i] = 't';
        tags[2 * i + 1] = (char)('0' + (first + i) % 5);
        offs[i + 1] = offs[i] + 2;
    }
    kite_column cols[4] = {
        {"id", KITE_DT_INT64, 0, 0, (size_t)n, ids, NULL, NULL},
        {"vec", d->binary ? KITE_DT_BINARY_VECTOR : KITE_DT_FLOAT_VECTOR, 0,
         d->binary ? DIMB : DIMF, (size_t)n,
         d->binary ? (const void *)d->vb[first] : (const void *)d->vf[first], NULL, NULL},
        {"tag", KITE_DT_VARCHAR, 0, 0, (size_t)n, tags, offs, NULL},
        {"num", KITE_DT_INT32, 0, 0, (size_t)n, nums, NULL, NULL},
    };
    kite_write_result wr;
    kite_err e;
    int rc = kite_insert(db, NULL, "m", part, cols, 4, &wr, &e);
    if (rc)
        TEST_FAIL_("insert: %d %s", rc, e.message);
    kite_write_result_free(&wr);
}

/* 3 sealed segments in _default (0..2399), 1 sealed + growing in p1 (2400..3399),
 * growing rows in _default (3400..3499). */
static void insert_all(kite_db *db, const struct ds *d)
{
    for (int i = 0; i < 2400; i += 100)
        insert_rows(db, d, i, 100, NULL);
    for (int i = 2400; i < 3400; i += 100)
        insert_rows(db, d, i, 100, "p1");
    for (int i = 3400; i < N_ROWS; i += 100)
        insert_rows(db, d, i, 100, NULL);
}

static kite_index_info describe(kite_db *db)
{
    kite_index_info *infos = NULL, out;
    size_t n = 0;
    kite_err e;
    int rc = kite_index_describe(db, NULL, "m", "vec", &infos, &n, &e);
    if (rc)
        TEST_FAIL_("describe: %d %s", rc, e.message);
    ASSERT_EQ_INT(n, 1);
    out = infos[0];
    out.index_name = out.field_name = out.index_type = out.metric_type = out.params_json =
        out.fail_reason = NULL;
    kite_index_info_free(infos, n);
    return out;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Poll describe until the builds are Finished (60 s timeout). */
static kite_index_info wait_built(kite_db *db, bool exact)
{
    double t0 = now_s();
    for (;;) {
        kite_index_info x = describe(db);
        if (x.state == 4)
            TEST_FAIL_("index build Failed");
        if (x.state == 3 && (exact || x.indexed_rows > 0))
            return x;
        if (now_s() - t0 > 60)
            TEST_FAIL_("index builds not Finished after 60 s (state %d, indexed %llu)", x.state,
                       (unsigned long long)x.indexed_rows);
        usleep(10000);
    }
}

struct sopt {
    const char *filter;
    const char *extra;       /* extra search params JSON members, e.g. "\"radius\":1" */
    const char *part;
    const char *group_by;
    const char *const *out_fields;
    size_t n_out;
    int64_t limit, offset;
    size_t nq;
};

static kite_result *search(kite_db *db, const struct ds *d, const struct sopt *o)
{
    char params[512];
    const char *sp = d->cfg->search ? d->cfg->search : "{}";
    if (o->extra) {
        size_t l = strlen(sp);
        snprintf(params, sizeof(params), "%.*s%s%s}", (int)(l - 1), sp, l > 2 ? "," : "",
                 o->extra);
    } else {
        snprintf(params, sizeof(params), "%s", sp);
    }
    kite_search_params p;
    kite_search_params_init(&p);
    p.anns_field = "vec";
    p.vectors = d->binary ? (const void *)d->qb : (const void *)d->qf;
    p.nq = o->nq ? o->nq : NQ;
    p.vector_dtype = d->binary ? KITE_DT_BINARY_VECTOR : KITE_DT_FLOAT_VECTOR;
    p.dim = d->binary ? DIMB : DIMF;
    p.limit = o->limit ? o->limit : K;
    p.offset = o->offset;
    p.filter = o->filter;
    p.params_json = params;
    p.output_fields = o->out_fields;
    p.n_output_fields = o->n_out;
    const char *parts[1] = {o->part};
    if (o->part) {
        p.partitions = parts;
        p.n_partitions = 1;
    }
    p.group_by_field = o->group_by;
    p.consistency_level = KITE_CONSISTENCY_STRONG;
    kite_result *r = NULL;
    kite_err e;
    int rc = kite_search(db, NULL, "m", &p, &r, &e);
    if (rc)
        TEST_FAIL_("search %s (params %s, filter %s): %d %s", d->cfg->type, params,
                   o->filter ? o->filter : "-", rc, e.message);
    ASSERT_EQ_INT(r->nq, p.nq);
    return r;
}

static size_t row_start(const kite_result *r, size_t q)
{
    size_t s = 0;
    for (size_t i = 0; i < q; i++)
        s += (size_t)r->topks[i];
    return s;
}

/*
 * Check one result against the oracle: every row passes pred / partition and is
 * live, its score matches the oracle's, rows are sorted best first, there are
 * min(limit, passing) of them, and the tie-aware recall is returned (averaged).
 */
static double check(const struct ds *d, const kite_result *r, row_pred pred, int part,
                    int64_t limit)
{
    static double dist[N_ROWS];
    const int64_t *ids = r->ids.data;
    double hit = 0, want = 0;
    for (size_t q = 0; q < r->nq; q++) {
        size_t n = oracle(d, (int)q, pred, part, dist);
        size_t expect = n < (size_t)limit ? n : (size_t)limit;
        if ((size_t)r->topks[q] != expect)
            TEST_FAIL_("%s: query %zu returned %lld rows, %zu pass (limit %lld)", d->cfg->type,
                       q, (long long)r->topks[q], n, (long long)limit);
        size_t s = row_start(r, q);
        double kth = expect ? dist[expect - 1] : 0;
        for (size_t j = 0; j < expect; j++) {
            int64_t id = ids[s + j];
            ASSERT(id >= 0 && id < N_ROWS);
            if (!d->live[id] || !pred((int)id) || (part >= 0 && d->part[id] != part))
                TEST_FAIL_("%s: row %lld returned but deleted / filtered out", d->cfg->type,
                           (long long)id);
            double sc = oscore(d, (int)q, (int)id);
            if (fabs(sc - r->scores[s + j]) > d->cfg->score_tol * (1 + fabs(sc)))
                TEST_FAIL_("%s: score of row %lld is %g, oracle %g", d->cfg->type,
                           (long long)id, (double)r->scores[s + j], sc);
            if (j > 0) {
                float a = r->scores[s + j - 1], b = r->scores[s + j];
                ASSERT(kite_metric_larger_is_closer(d->metric) ? a >= b - 1e-5f
                                                               : a <= b + 1e-5f);
            }
            for (size_t k = 0; k < j; k++)
                ASSERT(ids[s + k] != id);
            if (odist(d, (int)q, (int)id) <= kth + 1e-5 * (1 + fabs(kth)))
                hit++;
        }
        want += (double)expect;
    }
    return want > 0 ? hit / want : 1.0;
}

/* -------------------------------------------------------------- filters */

static bool f50(int id) { return id % 2 == 0; }
static bool f10(int id) { return id % 10 == 0; }
static bool f1(int id) { return id % 100 == 0; }
static bool f01(int id) { return id % 1000 == 0; }
static bool fp1(int id) { return id >= 2400 && id < 3400; }

/* ----------------------------------------------------------- index files */

#define MAX_FILES 64
struct kfile {
    char path[512];
    struct timespec mtime;
    off_t size;
};
static struct kfile g_files[MAX_FILES];
static size_t g_nfiles;

static int collect_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    const char *base = path + ftw->base;
    if (flag == FTW_F && strncmp(base, "idx-", 4) == 0 && strstr(base, ".kidx") &&
        !strstr(base, ".tmp") && g_nfiles < MAX_FILES) {
        snprintf(g_files[g_nfiles].path, sizeof(g_files[0].path), "%s", path);
        g_files[g_nfiles].mtime = st->st_mtim;
        g_files[g_nfiles].size = st->st_size;
        g_nfiles++;
    }
    return 0;
}

static size_t list_index_files(struct kfile *out)
{
    g_nfiles = 0;
    nftw(kite_test_tmpdir(), collect_cb, 16, FTW_PHYS);
    memcpy(out, g_files, g_nfiles * sizeof(struct kfile));
    return g_nfiles;
}

static bool same_files(const struct kfile *a, size_t na, const struct kfile *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        bool found = false;
        for (size_t j = 0; j < nb; j++)
            if (strcmp(a[i].path, b[j].path) == 0 && a[i].size == b[j].size &&
                a[i].mtime.tv_sec == b[j].mtime.tv_sec &&
                a[i].mtime.tv_nsec == b[j].mtime.tv_nsec)
                found = true;
        if (!found)
            return false;
    }
    return true;
}

/* ------------------------------------------------------------- scenario */

static kite_db *open_db(void)
{
    kite_options o;
    kite_options_init(&o);
    o.n_threads = 2;
    o.segment_max_rows = 800;
    return tu_open_opts(kite_test_tmpdir(), &o);
}

static void check_group_by(const struct ds *d, kite_db *db)
{
    struct sopt o = {0};
    o.group_by = "tag";
    o.limit = 3;
    kite_result *r = search(db, d, &o);
    const int64_t *ids = r->ids.data;
    for (size_t q = 0; q < r->nq; q++) {
        ASSERT_EQ_INT(r->topks[q], 3);
        size_t s = row_start(r, q);
        for (size_t j = 0; j < 3; j++)
            for (size_t k = 0; k < j; k++)
                if (ids[s + j] % 5 == ids[s + k] % 5)
                    TEST_FAIL_("%s: group-by returned two rows of group t%lld", d->cfg->type,
                               (long long)(ids[s + j] % 5));
    }
    ASSERT_EQ_INT(r->group_values.n, r->n_rows);
    kite_result_free(r);
}

static void check_offset(const struct ds *d, kite_db *db)
{
    struct sopt o = {0};
    kite_result *all = search(db, d, &o);
    o.limit = 5;
    o.offset = 5;
    kite_result *off = search(db, d, &o);
    const int64_t *a = all->ids.data, *b = off->ids.data;
    for (size_t q = 0; q < NQ; q++) {
        ASSERT_EQ_INT(off->topks[q], 5);
        size_t sa = row_start(all, q), sb = row_start(off, q);
        for (size_t j = 0; j < 5; j++)
            ASSERT_NEAR(off->scores[sb + j], all->scores[sa + 5 + j], 1e-5);
        (void)a;
        (void)b;
    }
    kite_result_free(all);
    kite_result_free(off);
}

static void check_output_fields(const struct ds *d, kite_db *db)
{
    const char *of[] = {"vec", "num", "tag"};
    struct sopt o = {0};
    o.out_fields = of;
    o.n_out = 3;
    kite_result *r = search(db, d, &o);
    const kite_column *vec = NULL, *num = NULL, *tag = NULL;
    for (size_t i = 0; i < r->n_fields; i++) {
        if (strcmp(r->fields[i].name, "vec") == 0)
            vec = &r->fields[i];
        if (strcmp(r->fields[i].name, "num") == 0)
            num = &r->fields[i];
        if (strcmp(r->fields[i].name, "tag") == 0)
            tag = &r->fields[i];
    }
    ASSERT(vec && num && tag);
    ASSERT_EQ_INT(vec->n, r->n_rows);
    const int64_t *ids = r->ids.data;
    for (size_t i = 0; i < r->n_rows; i++) {
        int64_t id = ids[i];
        ASSERT_EQ_INT(((const int32_t *)num->data)[i], id);
        ASSERT_EQ_INT(tag->offsets[i + 1] - tag->offsets[i], 2);
        ASSERT_EQ_INT(((const char *)tag->data)[tag->offsets[i] + 1], '0' + id % 5);
        if (d->binary)
            ASSERT(memcmp((const uint8_t *)vec->data + i * (DIMB / 8), d->vb[id], DIMB / 8) ==
                   0);
        else
            ASSERT(memcmp((const float *)vec->data + i * DIMF, d->vf[id], DIMF * 4) == 0);
    }
    kite_result_free(r);
}

static void check_range(const struct ds *d, kite_db *db)
{
    static double dist[N_ROWS];
    bool big = kite_metric_larger_is_closer(d->metric);
    for (int q = 0; q < NQ; q++) {
        size_t n = oracle(d, q, pass_all, -1, dist);
        ASSERT(n > 20);
        if (dist[15] == dist[14] || dist[4] == dist[3])
            continue; /* ties at the boundary (binary): no clean radius */
        /* radius between the 15th and 16th, range_filter between the 4th and 5th */
        double rad = (dist[14] + dist[15]) / 2, rf = (dist[3] + dist[4]) / 2;
        if (big) {
            rad = -rad;
            rf = -rf;
        }
        char extra[128];
        snprintf(extra, sizeof(extra), "\"radius\":%.9g,\"range_filter\":%.9g", rad, rf);
        struct sopt o = {0};
        o.extra = extra;
        o.limit = 50;
        o.nq = 1;
        struct ds *dq = (struct ds *)d;
        /* search query q alone: rotate it into slot 0 */
        float sf[DIMF];
        uint8_t sb[DIMB / 8];
        memcpy(sf, dq->qf[0], sizeof(sf));
        memcpy(sb, dq->qb[0], sizeof(sb));
        memcpy(dq->qf[0], dq->qf[q], sizeof(sf));
        memcpy(dq->qb[0], dq->qb[q], sizeof(sb));
        kite_result *r = search(db, d, &o);
        memcpy(dq->qf[0], sf, sizeof(sf));
        memcpy(dq->qb[0], sb, sizeof(sb));
        if (d->cfg->score_tol <= 1e-3) /* 11 rows lie in range; approximate scores may vary */
            ASSERT(r->topks[0] <= 11);
        if (d->cfg->exact)
            ASSERT_EQ_INT(r->topks[0], 11);
        else
            ASSERT(r->topks[0] >= 1);
        const int64_t *ids = r->ids.data;
        for (size_t j = 0; j < (size_t)r->topks[0]; j++) {
            /* quantised codes: the engine's own (approximate) scores are what it ranges on */
            double od = d->cfg->score_tol > 1e-3 ? (big ? -r->scores[j] : r->scores[j])
                                                 : odist(d, q, (int)ids[j]);
            double hi = (dist[14] + dist[15]) / 2, lo = (dist[3] + dist[4]) / 2;
            if (!(od < hi + 1e-5 * (1 + fabs(od)) && od >= lo - 1e-5 * (1 + fabs(od))))
                TEST_FAIL_("%s: range search returned row %lld at %g outside (%g, %g)",
                           d->cfg->type, (long long)ids[j], (double)r->scores[j], rf, rad);
        }
        kite_result_free(r);
    }
}

static void run_matrix(const struct icfg *cfg)
{
    static struct ds d;
    gen(&d, cfg);
    kite_db *db = open_db();
    create_coll(db, cfg);
    insert_all(db, &d);

    /* Search and writes keep working while builds run: never a missing row. */
    struct sopt o = {0};
    kite_result *r = search(db, &d, &o);
    (void)check(&d, r, pass_all, -1, K);
    kite_result_free(r);

    kite_index_info x = wait_built(db, cfg->exact);
    ASSERT_EQ_INT(x.total_rows, N_ROWS);
    ASSERT_EQ_INT(x.indexed_rows + x.pending_rows, N_ROWS);
    if (!cfg->exact) /* 3+1 sealed segments indexed, the growing rows pending */
        ASSERT(x.indexed_rows >= 3200 && x.pending_rows > 0);

    /* recall@10, nq = 5 */
    r = search(db, &d, &o);
    double rec = check(&d, r, pass_all, -1, K);
    kite_result_free(r);
    fprintf(stderr, "  [%s %s %s] recall@10 %.3f (min %.2f)\n", cfg->type, cfg->metric,
            cfg->build ? cfg->build : "{}", rec, cfg->min_recall);
    if (rec < cfg->min_recall)
        TEST_FAIL_("%s %s: recall %.3f < %.2f", cfg->type, cfg->metric, rec, cfg->min_recall);

    /* filters at 50 / 10 / 1 / 0.1 % selectivity */
    static const struct {
        const char *expr;
        row_pred pred;
    } filt[] = {{"num % 2 == 0", f50},
                {"num % 10 == 0", f10},
                {"num % 100 == 0", f1},
                {"num % 1000 == 0", f01}};
    for (size_t i = 0; i < 4; i++) {
        o.filter = filt[i].expr;
        r = search(db, &d, &o);
        double fr = check(&d, r, filt[i].pred, -1, K);
        kite_result_free(r);
        if (fr < cfg->min_recall - 0.1)
            TEST_FAIL_("%s: filtered (%s) recall %.3f", cfg->type, filt[i].expr, fr);
    }
    o.filter = NULL;

    check_range(&d, db);
    check_group_by(&d, db);
    check_offset(&d, db);
    check_output_fields(&d, db);

    /* partitions */
    o.part = "p1";
    r = search(db, &d, &o);
    double pr = check(&d, r, fp1, 1, K);
    kite_result_free(r);
    ASSERT(pr >= cfg->min_recall - 0.1);
    o.part = NULL;

    /* deletes: the oracle's top-3 of every query, then search */
    {
        char expr[512] = "id in [";
        static double dist[N_ROWS];
        for (int q = 0; q < NQ; q++) {
            (void)oracle(&d, q, pass_all, -1, dist);
            for (int i = 0; i < N_ROWS; i++)
                if (d.live[i] && odist(&d, q, i) <= dist[2]) {
                    d.live[i] = false;
                    snprintf(expr + strlen(expr), sizeof(expr) - strlen(expr), "%d,", i);
                }
        }
        expr[strlen(expr) - 1] = ']';
        kite_write_result wr;
        kite_err e;
        int rc = kite_delete(db, NULL, "m", NULL, expr, NULL, &wr, &e);
        if (rc)
            TEST_FAIL_("delete: %d %s", rc, e.message);
        kite_write_result_free(&wr);
        r = search(db, &d, &o);
        double dr = check(&d, r, pass_all, -1, K);
        kite_result_free(r);
        ASSERT(dr >= cfg->min_recall - 0.1);
    }

    /* close + reopen: identical results, no rebuild */
    r = search(db, &d, &o);
    kite_index_info before = describe(db);
    kite_close(db);
    static struct kfile f0[MAX_FILES], f1s[MAX_FILES];
    size_t n0 = list_index_files(f0);
    if (!cfg->exact)
        ASSERT(n0 >= 4);
    else
        ASSERT_EQ_INT(n0, 0);
    db = open_db();
    kite_index_info after = describe(db);
    ASSERT_EQ_INT(after.state, 3); /* nothing queued: no rebuild */
    ASSERT_EQ_INT(after.indexed_rows, before.indexed_rows);
    kite_result *r2 = search(db, &d, &o);
    ASSERT_EQ_INT(r2->n_rows, r->n_rows);
    for (size_t i = 0; i < r->n_rows; i++) {
        ASSERT_EQ_INT(((const int64_t *)r2->ids.data)[i], ((const int64_t *)r->ids.data)[i]);
        ASSERT_NEAR(r2->scores[i], r->scores[i], 1e-6);
    }
    kite_result_free(r);
    kite_result_free(r2);
    size_t n1 = list_index_files(f1s);
    ASSERT(same_files(f0, n0, f1s, n1));

    /* compaction: delete most of the first segment, compact, builds redo it */
    {
        for (int i = 0; i < 600; i++)
            d.live[i] = false;
        kite_write_result wr;
        kite_err e;
        ASSERT_OK(kite_delete(db, NULL, "m", NULL, "id < 600", NULL, &wr, &e));
        kite_write_result_free(&wr);
        int rc = kite_collection_compact(db, NULL, "m", &e);
        if (rc)
            TEST_FAIL_("compact: %d %s", rc, e.message);
        x = wait_built(db, cfg->exact);
        uint64_t live = 0;
        for (int i = 0; i < N_ROWS; i++)
            live += d.live[i];
        ASSERT_EQ_INT(x.total_rows, live);
        size_t n2 = list_index_files(f1s);
        if (!cfg->exact) {
            ASSERT(!same_files(f0, n0, f1s, n2));
            ASSERT(x.indexed_rows >= live - 300 - 10);
        }
        r = search(db, &d, &o);
        double cr = check(&d, r, pass_all, -1, K);
        kite_result_free(r);
        ASSERT(cr >= cfg->min_recall - 0.1);
    }

    /* drop index removes its files */
    {
        kite_err e;
        ASSERT_OK(kite_index_drop(db, NULL, "m", "vec", &e));
        ASSERT_EQ_INT(list_index_files(f1s), 0);
        kite_index_info *infos = NULL;
        size_t n = 0;
        ASSERT(kite_index_describe(db, NULL, "m", "vec", &infos, &n, &e) != KITE_OK);
    }
    kite_close(db);
    ASSERT_EQ_INT(list_index_files(f1s), 0);
}

/* ------------------------------------------------------------------ table */

#define HNSW_S "{\"ef\":64}"
#define IVF_S "{\"nprobe\":8}"
#define SCANN_S "{\"nprobe\":8,\"reorder_k\":100}"

static const struct icfg CFG[] = {
    {"FLAT", "L2", NULL, NULL, false, true, 1.0, 1e-3},
    {"FLAT", "IP", NULL, NULL, false, true, 1.0, 1e-3},
    {"FLAT", "COSINE", NULL, NULL, false, true, 1.0, 1e-3},
    {"HNSW", "L2", "{\"M\":16,\"efConstruction\":100}", HNSW_S, false, false, 0.95, 1e-3},
    {"HNSW", "IP", "{\"M\":16,\"efConstruction\":100}", HNSW_S, false, false, 0.9, 1e-3},
    {"HNSW", "COSINE", "{\"M\":16,\"efConstruction\":100}", HNSW_S, false, false, 0.95, 1e-3},
    {"IVF_FLAT", "L2", "{\"nlist\":16}", IVF_S, false, false, 0.8, 1e-3},
    {"IVF_FLAT", "COSINE", "{\"nlist\":16}", IVF_S, false, false, 0.8, 1e-3},
    {"IVF_SQ8", "L2", "{\"nlist\":16}", IVF_S, false, false, 0.75, 0.05},
    {"IVF_PQ", "L2", "{\"nlist\":16,\"m\":8,\"nbits\":8}", IVF_S, false, false, 0.5, 0.5},
    {"SCANN", "L2", "{\"nlist\":16}", SCANN_S, false, false, 0.8, 1e-3},
    {"SCANN", "IP", "{\"nlist\":16}", SCANN_S, false, false, 0.75, 1e-3},
    {"ANNOY", "L2", "{\"n_trees\":8}", "{\"search_k\":-1}", false, false, 0.55, 1e-3},
    {"ANNOY", "IP", "{\"n_trees\":8}", "{\"search_k\":-1}", false, false, 0.55, 1e-3},
    {"AUTOINDEX", "COSINE", NULL, NULL, false, false, 0.9, 1e-3},
    {"BIN_FLAT", "HAMMING", NULL, NULL, true, true, 1.0, 1e-3},
    {"BIN_FLAT", "JACCARD", NULL, NULL, true, true, 1.0, 1e-3},
    {"BIN_IVF_FLAT", "HAMMING", "{\"nlist\":16}", IVF_S, true, false, 0.6, 1e-3},
    {"BIN_IVF_FLAT", "JACCARD", "{\"nlist\":16}", IVF_S, true, false, 0.6, 1e-3},
    /* HNSW's default is the split walk (rows held as 16-bit planes, docs/INDEXES.md);
     * these two run the 8-bit walk, whose re-score reads the segment's rows. */
    {"HNSW", "L2", "{\"M\":16,\"efConstruction\":100,\"walk\":\"int8\"}", HNSW_S, false,
     false, 0.95, 1e-3},
    {"HNSW", "COSINE", "{\"M\":16,\"efConstruction\":100,\"walk\":\"int8\"}", HNSW_S, false,
     false, 0.95, 1e-3},
};

#define MATRIX(i, name)                                                                        \
    TEST_TIMEOUT(index_matrix_##name, 90) { run_matrix(&CFG[i]); }

MATRIX(0, flat_l2)
MATRIX(1, flat_ip)
MATRIX(2, flat_cosine)
MATRIX(3, hnsw_l2)
MATRIX(4, hnsw_ip)
MATRIX(5, hnsw_cosine)
MATRIX(6, ivf_flat_l2)
MATRIX(7, ivf_flat_cosine)
MATRIX(8, ivf_sq8_l2)
MATRIX(9, ivf_pq_l2)
MATRIX(10, scann_l2)
MATRIX(11, scann_ip)
MATRIX(12, annoy_l2)
MATRIX(13, annoy_ip)
MATRIX(14, autoindex_cosine)
MATRIX(15, bin_flat_hamming)
MATRIX(16, bin_flat_jaccard)
MATRIX(17, bin_ivf_flat_hamming)
MATRIX(18, bin_ivf_flat_jaccard)
MATRIX(19, hnsw_int8_l2)
MATRIX(20, hnsw_int8_cosine)

/* ------------------------------------------------------------ corruption */

enum damage { FLIP, TRUNCATE, REMOVE };

static void run_corrupt(const struct icfg *cfg, enum damage how)
{
    static struct ds d;
    static struct kfile f0[MAX_FILES], f1s[MAX_FILES];
    gen(&d, cfg);
    kite_db *db = open_db();
    create_coll(db, cfg);
    insert_all(db, &d);
    kite_index_info x = wait_built(db, false);
    struct sopt o = {0};
    kite_result *r = search(db, &d, &o);
    kite_close(db);
    size_t n0 = list_index_files(f0);
    ASSERT(n0 >= 4);
    /* damage every index file */
    for (size_t i = 0; i < n0; i++) {
        FILE *fp = fopen(f0[i].path, "r+b");
        ASSERT(fp);
        if (how == FLIP) {
            long at = (long)f0[i].size / 2;
            fseek(fp, at, SEEK_SET);
            int c = fgetc(fp);
            fseek(fp, at, SEEK_SET);
            fputc(c ^ 0x10, fp);
            fclose(fp);
        } else if (how == TRUNCATE) {
            fclose(fp);
            ASSERT_OK(truncate(f0[i].path, f0[i].size * 2 / 3));
        } else {
            fclose(fp);
            ASSERT_OK(unlink(f0[i].path));
        }
    }
    /* Open succeeds: bad derived files are logged, searched exactly, rebuilt. */
    db = open_db();
    kite_result *r2 = search(db, &d, &o);
    double rec = check(&d, r2, pass_all, -1, K);
    ASSERT(rec >= cfg->min_recall);
    kite_result_free(r2);
    kite_index_info y = wait_built(db, false);
    ASSERT_EQ_INT(y.indexed_rows, x.indexed_rows);
    r2 = search(db, &d, &o);
    ASSERT(check(&d, r2, pass_all, -1, K) >= cfg->min_recall);
    kite_result_free(r2);
    kite_close(db);
    size_t n1 = list_index_files(f1s);
    ASSERT_EQ_INT(n1, n0);
    for (size_t i = 0; i < n1; i++)
        ASSERT(f1s[i].size > 0);
    /* Rebuilt files load cleanly: reopen gives no rebuild and the same results as the first. */
    db = open_db();
    ASSERT_EQ_INT(describe(db).state, 3);
    ASSERT_EQ_INT(describe(db).indexed_rows, x.indexed_rows);
    r2 = search(db, &d, &o);
    ASSERT(check(&d, r2, pass_all, -1, K) >= cfg->min_recall);
    kite_result_free(r2);
    kite_result_free(r);
    kite_close(db);
}

/* Read-only open: a bad index file is detected, the segment searched exactly, nothing
 * rebuilt or written. */
TEST_TIMEOUT(index_file_bitflip_read_only_searched_exactly, 60)
{
    static struct ds d;
    static struct kfile f0[MAX_FILES], f1s[MAX_FILES];
    const struct icfg *cfg = &CFG[3];
    gen(&d, cfg);
    kite_db *db = open_db();
    create_coll(db, cfg);
    insert_all(db, &d);
    kite_index_info x = wait_built(db, false);
    kite_close(db);
    size_t n0 = list_index_files(f0);
    ASSERT(n0 >= 4);
    FILE *fp = fopen(f0[0].path, "r+b");
    ASSERT(fp);
    fseek(fp, (long)f0[0].size / 2, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, (long)f0[0].size / 2, SEEK_SET);
    fputc(c ^ 0x01, fp);
    fclose(fp);
    n0 = list_index_files(f0);
    kite_options o;
    kite_options_init(&o);
    o.n_threads = 2;
    o.segment_max_rows = 800;
    o.read_only = true;
    db = tu_open_opts(kite_test_tmpdir(), &o);
    kite_index_info y = describe(db);
    ASSERT_EQ_INT(y.state, 3);
    ASSERT(y.indexed_rows < x.indexed_rows); /* the damaged segment is pending */
    struct sopt so = {0};
    kite_result *r = search(db, &d, &so);
    ASSERT(check(&d, r, pass_all, -1, K) >= cfg->min_recall);
    kite_result_free(r);
    usleep(100000);
    size_t n1 = list_index_files(f1s);
    if (!same_files(f0, n0, f1s, n1))
        for (size_t i = 0; i < n1; i++)
            fprintf(stderr, "  now %s %lld %ld.%09ld / before %s %lld %ld.%09ld\n", f1s[i].path,
                    (long long)f1s[i].size, (long)f1s[i].mtime.tv_sec, f1s[i].mtime.tv_nsec,
                    i < n0 ? f0[i].path : "-", i < n0 ? (long long)f0[i].size : 0LL,
                    i < n0 ? (long)f0[i].mtime.tv_sec : 0L, i < n0 ? f0[i].mtime.tv_nsec : 0L);
    ASSERT(same_files(f0, n0, f1s, n1));
    kite_close(db);
}

TEST_TIMEOUT(index_file_bitflip_hnsw_rebuilt, 60) { run_corrupt(&CFG[3], FLIP); }
TEST_TIMEOUT(index_file_truncated_hnsw_rebuilt, 60) { run_corrupt(&CFG[3], TRUNCATE); }
TEST_TIMEOUT(index_file_bitflip_ivf_rebuilt, 60) { run_corrupt(&CFG[6], FLIP); }
TEST_TIMEOUT(index_file_truncated_annoy_rebuilt, 60) { run_corrupt(&CFG[12], TRUNCATE); }
TEST_TIMEOUT(index_file_bitflip_bin_ivf_rebuilt, 60) { run_corrupt(&CFG[17], FLIP); }
TEST_TIMEOUT(index_file_missing_scann_rebuilt, 60) { run_corrupt(&CFG[10], REMOVE); }

/* ------------------------------------------------------- out-of-range params */

TEST(index_params_out_of_range_einval)
{
    static const struct {
        const char *type, *metric, *params;
        bool binary;
    } bad[] = {
        {"HNSW", "L2", "{\"M\":1}", false},
        {"HNSW", "L2", "{\"M\":4097}", false},
        {"HNSW", "L2", "{\"efConstruction\":0}", false},
        {"HNSW", "L2", "{\"M\":\"x\"}", false},
        {"IVF_FLAT", "L2", "{\"nlist\":0}", false},
        {"IVF_FLAT", "L2", "{\"nlist\":65537}", false},
        {"IVF_SQ8", "L2", "{\"nlist\":-3}", false},
        {"IVF_PQ", "L2", "{\"nlist\":16}", false},          /* m missing */
        {"IVF_PQ", "L2", "{\"nlist\":16,\"m\":5}", false},  /* 16 % 5 != 0 */
        {"IVF_PQ", "L2", "{\"nlist\":16,\"m\":8,\"nbits\":0}", false},
        {"SCANN", "L2", "{\"nlist\":0}", false},
        {"ANNOY", "L2", "{\"n_trees\":0}", false},
        {"ANNOY", "L2", "{\"n_trees\":1025}", false},
        {"BIN_IVF_FLAT", "HAMMING", "{\"nlist\":0}", true},
        {"HNSW", "HAMMING", "{}", false},                   /* metric of the wrong kind */
        {"BIN_IVF_FLAT", "L2", "{}", true},
        {"NOT_AN_INDEX", "L2", "{}", false},
    };
    kite_db *db = open_db();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char name[16];
        snprintf(name, sizeof(name), "c%zu", i);
        kite_field_schema f[2];
        memset(f, 0, sizeof(f));
        f[0].name = "id";
        f[0].dtype = KITE_DT_INT64;
        f[0].is_primary = true;
        f[1].name = "vec";
        f[1].dtype = bad[i].binary ? KITE_DT_BINARY_VECTOR : KITE_DT_FLOAT_VECTOR;
        f[1].dim = bad[i].binary ? DIMB : DIMF;
        kite_schema s = {0};
        s.fields = f;
        s.n_fields = 2;
        kite_create_params p;
        kite_create_params_init(&p);
        p.schema = &s;
        kite_err e;
        ASSERT_OK(kite_collection_create(db, NULL, name, &p, &e));
        kite_index_params ip;
        kite_index_params_init(&ip);
        ip.field_name = "vec";
        ip.index_type = bad[i].type;
        ip.metric_type = bad[i].metric;
        ip.params_json = bad[i].params;
        int rc = kite_index_create(db, NULL, name, &ip, &e);
        if (rc != KITE_EINVAL)
            TEST_FAIL_("%s %s %s: rc %d (want KITE_EINVAL) %s", bad[i].type, bad[i].metric,
                       bad[i].params, rc, rc ? e.message : "");
        ASSERT(strlen(e.message) > 10);
    }
    kite_close(db);
}

TEST(search_params_out_of_range_einval)
{
    static const struct {
        int cfg;
        const char *params;
    } bad[] = {
        {3, "{\"ef\":5}"},               /* ef < k */
        {3, "{\"ef\":0}"},
        {6, "{\"nprobe\":0}"},
        {6, "{\"nprobe\":65537}"},
        {10, "{\"nprobe\":8,\"reorder_k\":5}"}, /* reorder_k < k */
        {12, "{\"search_k\":5}"},        /* < k and not -1 */
        {12, "{\"search_k\":-2}"},
        {6, "{\"range_filter\":0.5}"},   /* range_filter without radius */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        static struct ds d;
        const struct icfg *cfg = &CFG[bad[i].cfg];
        gen(&d, cfg);
        char dir[600];
        snprintf(dir, sizeof(dir), "%s/s%zu", kite_test_tmpdir(), i);
        kite_options op;
        kite_options_init(&op);
        op.n_threads = 2;
        kite_db *db = tu_open_opts(dir, &op);
        create_coll(db, cfg);
        insert_rows(db, &d, 0, 100, NULL);
        kite_search_params p;
        kite_search_params_init(&p);
        p.vectors = d.qf;
        p.nq = 1;
        p.vector_dtype = KITE_DT_FLOAT_VECTOR;
        p.dim = DIMF;
        p.limit = K;
        p.params_json = bad[i].params;
        kite_result *r = NULL;
        kite_err e;
        int rc = kite_search(db, NULL, "m", &p, &r, &e);
        if (rc != KITE_EINVAL)
            TEST_FAIL_("%s %s: rc %d (want KITE_EINVAL)", cfg->type, bad[i].params, rc);
        ASSERT(strlen(e.message) > 10);
        kite_close(db);
    }
}

TEST(diskann_not_supported_eindextype)
{
    kite_db *db = open_db();
    static struct ds d;
    struct icfg cfg = {"DISKANN", "L2", "{}", NULL, false, false, 0, 0};
    gen(&d, &cfg);
    kite_field_schema f[2];
    memset(f, 0, sizeof(f));
    f[0].name = "id";
    f[0].dtype = KITE_DT_INT64;
    f[0].is_primary = true;
    f[1].name = "vec";
    f[1].dtype = KITE_DT_FLOAT_VECTOR;
    f[1].dim = DIMF;
    kite_schema s = {0};
    s.fields = f;
    s.n_fields = 2;
    kite_create_params p;
    kite_create_params_init(&p);
    p.schema = &s;
    kite_err e;
    ASSERT_OK(kite_collection_create(db, NULL, "m", &p, &e));
    kite_index_params ip;
    kite_index_params_init(&ip);
    ip.field_name = "vec";
    ip.index_type = "DISKANN";
    ip.metric_type = "L2";
    int rc = kite_index_create(db, NULL, "m", &ip, &e);
    ASSERT_EQ_INT(rc, KITE_EINDEXTYPE);
    ASSERT_CONTAINS(e.message, "DISKANN");
    kite_close(db);
}
