/* test_db_search.c — metrics against a brute-force oracle, range search, group-by,
 * hybrid search, indexes, sealing into segments. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "db_test_util.h"

static double oracle(int metric, const float *a, const float *b, int dim)
{
    double l2 = 0, ip = 0, na = 0, nb = 0;
    for (int k = 0; k < dim; k++) {
        l2 += (double)(a[k] - b[k]) * (a[k] - b[k]);
        ip += (double)a[k] * b[k];
        na += (double)a[k] * a[k];
        nb += (double)b[k] * b[k];
    }
    if (metric == KITE_METRIC_L2)
        return l2;
    if (metric == KITE_METRIC_IP)
        return ip;
    return ip / (sqrt(na) * sqrt(nb));
}

/* Search nq queries, compare ids and scores with a brute-force oracle. */
static void check_metric(kite_db *db, const char *coll, int metric, int dim, int n_rows,
                         const char *filter, int mod)
{
    const int nq = 3, k = 7;
    float q[3 * 16];
    uint64_t seed = 99 + (uint64_t)metric;
    for (int i = 0; i < nq * dim; i++)
        q[i] = tu_randf(&seed);
    kite_search_params sp;
    kite_search_params_init(&sp);
    sp.vectors = q;
    sp.nq = nq;
    sp.dim = (uint32_t)dim;
    sp.limit = k;
    sp.metric_type = kite_metric_name(metric);
    sp.filter = filter;
    kite_result *r;
    kite_err e;
    ASSERT_OK(kite_search(db, NULL, coll, &sp, &r, &e));
    ASSERT_EQ_INT(r->nq, nq);
    size_t off = 0;
    bool desc = kite_metric_larger_is_closer(metric);
    for (int qi = 0; qi < nq; qi++) {
        /* oracle top-k */
        double best[7];
        int64_t bid[7];
        int nb = 0;
        float v[16];
        for (int64_t id = 0; id < n_rows; id++) {
            if (mod && id % mod != 0)
                continue;
            tu_vec(id, dim, v);
            double d = oracle(metric, q + qi * dim, v, dim);
            int pos = nb < k ? nb++ : k;
            if (pos == k) {
                if (desc ? d <= best[k - 1] : d >= best[k - 1])
                    continue;
                pos = k - 1;
            }
            while (pos > 0 && (desc ? d > best[pos - 1] : d < best[pos - 1])) {
                best[pos] = best[pos - 1];
                bid[pos] = bid[pos - 1];
                pos--;
            }
            best[pos] = d;
            bid[pos] = id;
        }
        ASSERT_EQ_INT(r->topks[qi], nb);
        for (int i = 0; i < nb; i++) {
            ASSERT_NEAR(r->scores[off + (size_t)i], best[i], 1e-4);
            if (i == 0)
                ASSERT_EQ_INT(((const int64_t *)r->ids.data)[off], bid[0]);
        }
        off += (size_t)r->topks[qi];
    }
    kite_result_free(r);
}

TEST(db_metrics_vs_oracle_growing_and_sealed)
{
    kite_options o;
    kite_options_init(&o);
    o.n_threads = 2;
    o.segment_max_rows = 64; /* several sealed segments + a growing one */
    kite_db *db = tu_open_opts(kite_test_tmpdir(), &o);
    kite_err e;
    const int dim = 12, n = 300;
    tu_create_basic(db, "c", dim, false, false);
    for (int b = 0; b < 6; b++)
        ASSERT_OK(tu_insert_basic(db, "c", b * 50, 50, dim, NULL, &e));
    ASSERT_EQ_INT(tu_count(db, "c"), n);
    for (int m = KITE_METRIC_L2; m <= KITE_METRIC_COSINE; m++) {
        check_metric(db, "c", m, dim, n, NULL, 0);
        check_metric(db, "c", m, dim, n, "num % 3 == 0", 3);
    }
    kite_close(db);
    db = tu_open_opts(kite_test_tmpdir(), &o);
    for (int m = KITE_METRIC_L2; m <= KITE_METRIC_COSINE; m++)
        check_metric(db, "c", m, dim, n, NULL, 0);
    kite_close(db);
}

TEST(db_binary_metrics)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    kite_err e;
    kite_field_schema f[2] = {{.name = "id", .dtype = KITE_DT_INT64, .is_primary = true},
                              {.name = "b", .dtype = KITE_DT_BINARY_VECTOR, .dim = 32}};
    kite_schema s = {.fields = f, .n_fields = 2};
    kite_create_params p;
    kite_create_params_init(&p);
    p.schema = &s;
    ASSERT_OK(kite_collection_create(db, NULL, "b", &p, &e));
    ASSERT_OK(kite_collection_load(db, NULL, "b", &e));
    int64_t ids[64];
    uint8_t bits[64 * 4];
    uint64_t seed = 5;
    for (int i = 0; i < 64; i++) {
        ids[i] = i;
        for (int k = 0; k < 4; k++)
            bits[i * 4 + k] = (uint8_t)tu_rand(&seed);
    }
    kite_column cols[2] = {{"id", KITE_DT_INT64, 0, 0, 64, ids, NULL, NULL},
                           {"b", KITE_DT_BINARY_VECTOR, 0, 32, 64, bits, NULL, NULL}};
    kite_write_result wr;
    ASSERT_OK(kite_insert(db, NULL, "b", NULL, cols, 2, &wr, &e));
    kite_write_result_free(&wr);
    kite_search_params sp;
    kite_search_params_init(&sp);
    sp.vectors = bits + 10 * 4;
    sp.nq = 1;
    sp.limit = 64;
    kite_result *r;
    ASSERT_OK(kite_search(db, NULL, "b", &sp, &r, &e)); /* default HAMMING */
    ASSERT_EQ_INT(((const int64_t *)r->ids.data)[0], 10);
    for (size_t i = 0; i < r->n_rows; i++) {
        int64_t id = ((const int64_t *)r->ids.data)[i];
        int h = 0;
        for (int k = 0; k < 4; k++)
            h += __builtin_popcount((unsigned)(bits[id * 4 + k] ^ bits[40 + k]));
        ASSERT_NEAR(r->scores[i], h, 0);
        if (i)
            ASSERT(r->scores[i] >= r->scores[i - 1]);
    }
    kite_result_free(r);
    sp.metric_type = "JACCARD";
    ASSERT_OK(kite_search(db, NULL, "b", &sp, &r, &e));
    ASSERT_NEAR(r->scores[0], 0, 1e-6);
    kite_result_free(r);
    sp.metric_type = "L2";
    ASSERT_EQ_INT(kite_search(db, NULL, "b", &sp, &r, &e), KITE_EINVAL);
    kite_close(db);
}

TEST(db_range_search_and_round_decimal)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    kite_err e;
    tu_create_basic(db, "c", 4, false, false);
    ASSERT_OK(tu_insert_basic(db, "c", 0, 200, 4, NULL, &e));
    float q[4];
    tu_vec(3, 4, q);
    kite_search_params sp;
    kite_search_params_init(&sp);
    sp.vectors = q;
    sp.nq = 1;
    sp.limit = 100;
    sp.metric_type = "L2";
    sp.params_json = "{\"radius\": 0.5, \"range_filter\": 0.05}";
    kite_result *r;
    ASSERT_OK(kite_search(db, NULL, "c", &sp, &r, &e));
    int expect = 0;
    float v[4];
    for (int64_t id = 0; id < 200; id++) {
        tu_vec(id, 4, v);
        double d = oracle(KITE_METRIC_L2, q, v, 4);
        expect += d >= 0.05 && d < 0.5;
    }
    ASSERT_EQ_INT(r->topks[0], expect);
    for (size_t i = 0; i < r->n_rows; i++)
        ASSERT(r->scores[i] >= 0.05f && r->scores[i] < 0.5f);
    kite_result_free(r);
    sp.params_json = NULL;
    sp.round_decimal = 1;
    sp.limit = 3;
    ASSERT_OK(kite_search(db, NULL, "c", &sp, &r, &e));
    for (size_t i = 0; i < r->n_rows; i++)
        ASSERT_NEAR(r->scores[i] * 10, roundf(r->scores[i] * 10), 1e-3);
    kite_result_free(r);
    /* offset */
    sp.round_decimal = -1;
    sp.limit = 5;
    ASSERT_OK(kite_search(db, NULL, "c", &sp, &r, &e));
    int64_t third = ((const int64_t *)r->ids.data)[2];
    kite_result_free(r);
    sp.offset = 2;
    ASSERT_OK(kite_search(db, NULL, "c", &sp, &r, &e));
    ASSERT_EQ_INT(((const int64_t *)r->ids.data)[0], third);
    kite_result_free(r);
    kite_close(db);
}

TEST(db_group_by)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    kite_err e;
    tu_create_basic(db, "c", 4, false, false);
    ASSERT_OK(tu_insert_basic(db, "c", 0, 100, 4, NULL, &e));
    float q[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    kite_search_params sp;
    kite_search_params_init(&sp);
    sp.vectors = q;
    sp.nq = 1;
    sp.limit = 3;
    sp.metric_type = "L2";
    sp.group_by_field = "tag";
    kite_result *r;
    ASSERT_OK(kite_search(db, NULL, "c", &sp, &r, &e));
    ASSERT_EQ_INT(r->topks[0], 3);
    ASSERT_EQ_INT(r->group_values.dtype, KITE_DT_VARCHAR);
    ASSERT_EQ_INT(r->group_values.n, 3);
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < i; j++)
            ASSERT(((const int64_t *)r->ids.data)[i] % 5 != ((const int64_t *)r->ids.data)[j] % 5);
    kite_result_free(r);
    sp.group_size = 2;
    sp.limit = 5;
    ASSERT_OK(kite_search(db, NULL, "c", &sp, &r, &e));
    ASSERT_EQ_INT(r->topks[0], 10);
    kite_result_free(r);
    sp.group_by_field = "vec";
    ASSERT_EQ_INT(kite_search(db, NULL, "c", &sp, &r, &e), KITE_EINVAL);
    kite_close(db);
}

TEST(db_hybrid_search)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    kite_err e;
    kite_field_schema f[3] = {{.name = "id", .dtype = KITE_DT_INT64, .is_primary = true},
                              {.name = "a", .dtype = KITE_DT_FLOAT_VECTOR, .dim = 4},
                              {.name = "b", .dtype = KITE_DT_FLOAT_VECTOR, .dim = 4}};
    kite_schema s = {.fields = f, .n_fields = 3};
    kite_create_params p;
    kite_create_params_init(&p);
    p.schema = &s;
    ASSERT_OK(kite_collection_create(db, NULL, "h", &p, &e));
    ASSERT_OK(kite_collection_load(db, NULL, "h", &e));
    int64_t ids[50];
    float a[200], b[200];
    for (int i = 0; i < 50; i++) {
        ids[i] = i;
        tu_vec(i, 4, a + i * 4);
        tu_vec(i + 1000, 4, b + i * 4);
    }
    kite_column cols[3] = {{"id", KITE_DT_INT64, 0, 0, 50, ids, NULL, NULL},
                           {"a", KITE_DT_FLOAT_VECTOR, 0, 4, 50, a, NULL, NULL},
                           {"b", KITE_DT_FLOAT_VECTOR, 0, 4, 50, b, NULL, NULL}};
    kite_write_result wr;
    ASSERT_OK(kite_insert(db, NULL, "h", NULL, cols, 3, &wr, &e));
    kite_write_result_free(&wr);
    kite_search_params subs[2];
    kite_search_params_init(&subs[0]);
    kite_search_params_init(&subs[1]);
    subs[0].anns_field = "a";
    subs[0].vectors = a + 7 * 4; /* row 7 is best in list a */
    subs[0].nq = 1;
    subs[0].limit = 10;
    subs[0].metric_type = "L2";
    subs[1].anns_field = "b";
    subs[1].vectors = b + 7 * 4; /* and in list b */
    subs[1].nq = 1;
    subs[1].limit = 10;
    subs[1].metric_type = "COSINE";
    kite_rerank rr = {0, 60, NULL, 0};
    kite_result *r;
    const char *of[] = {"a"};
    ASSERT_OK(kite_hybrid_search(db, NULL, "h", subs, 2, &rr, 5, 0, of, 1, -1, &r, &e));
    ASSERT_EQ_INT(r->topks[0], 5);
    ASSERT_EQ_INT(((const int64_t *)r->ids.data)[0], 7);
    ASSERT_NEAR(r->scores[0], 2.0 / 61.0, 1e-6);
    ASSERT_STR_EQ(r->fields[0].name, "a");
    kite_result_free(r);
    double w[2] = {0.5, 0.5};
    kite_rerank wr2 = {1, 0, w, 2};
    ASSERT_OK(kite_hybrid_search(db, NULL, "h", subs, 2, &wr2, 5, 0, NULL, 0, -1, &r, &e));
    ASSERT_EQ_INT(((const int64_t *)r->ids.data)[0], 7);
    for (size_t i = 1; i < r->n_rows; i++)
        ASSERT(r->scores[i] <= r->scores[i - 1]);
    kite_result_free(r);
    wr2.n_weights = 1;
    ASSERT_EQ_INT(kite_hybrid_search(db, NULL, "h", subs, 2, &wr2, 5, 0, NULL, 0, -1, &r, &e),
                  KITE_EINVAL);
    /* multiple vector fields: anns_field required */
    kite_search_params sp = subs[0];
    sp.anns_field = NULL;
    ASSERT_EQ_INT(kite_search(db, NULL, "h", &sp, &r, &e), KITE_EINVAL);
    kite_close(db);
}

static int count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

/* Wait for background index builds: describe until indexed_rows == want. */
static void wait_indexed(kite_db *db, const char *coll, uint64_t want)
{
    for (int i = 0; i < 1000; i++) {
        kite_index_info *ii;
        size_t n;
        kite_err e;
        ASSERT_OK(kite_index_describe(db, NULL, coll, NULL, &ii, &n, &e));
        uint64_t got = ii[0].indexed_rows;
        int st = ii[0].state;
        kite_index_info_free(ii, n);
        if (got == want && st == 3)
            return;
        usleep(10000);
    }
    TEST_FAIL_("index builds did not finish: expected %llu indexed rows", (unsigned long long)want);
}

TEST(db_indexes_lifecycle)
{
    char cdir[1024];
    snprintf(cdir, sizeof(cdir), "%s/collections/1", kite_test_tmpdir());
    kite_options o;
    kite_options_init(&o);
    o.n_threads = 2;
    o.segment_max_rows = 500;
    kite_db *db = tu_open_opts(kite_test_tmpdir(), &o);
    kite_err e;
    tu_create_basic(db, "c", 8, false, false);
    kite_index_params ip;
    kite_index_params_init(&ip);
    ip.field_name = "vec";
    ip.index_type = "HNSW";
    ip.metric_type = "L2";
    ip.params_json = "{\"M\":8,\"efConstruction\":64}";
    ASSERT_OK(kite_index_create(db, NULL, "c", &ip, &e));
    ASSERT_OK(kite_index_create(db, NULL, "c", &ip, &e)); /* identical: OK */
    ip.metric_type = "IP";
    ASSERT_EQ_INT(kite_index_create(db, NULL, "c", &ip, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "at most one distinct index is allowed per field");
    ip.metric_type = "L2";
    ip.field_name = "nosuch";
    ASSERT_EQ_INT(kite_index_create(db, NULL, "c", &ip, &e), KITE_ENOFIELD);
    ip.field_name = "vec";
    for (int b = 0; b < 3; b++) /* the 2nd batch seals 800 rows; 400 stay growing */
        ASSERT_OK(tu_insert_basic(db, "c", b * 400, 400, 8, NULL, &e));
    wait_indexed(db, "c", 800);
    kite_index_info *ii;
    size_t n;
    ASSERT_OK(kite_index_describe(db, NULL, "c", NULL, &ii, &n, &e));
    ASSERT_EQ_INT(n, 1);
    ASSERT_STR_EQ(ii[0].index_name, "vec");
    ASSERT_STR_EQ(ii[0].metric_type, "L2");
    ASSERT_EQ_INT(ii[0].total_rows, 1200);
    ASSERT_EQ_INT(ii[0].indexed_rows, 800);
    ASSERT_EQ_INT(ii[0].pending_rows, 400);
    ASSERT_EQ_INT(count_files(cdir, "idx-"), 1);
    kite_index_info_free(ii, n);
    /* metric mismatch */
    float q[8];
    tu_vec(5, 8, q);
    kite_search_params sp;
    kite_search_params_init(&sp);
    sp.vectors = q;
    sp.nq = 1;
    sp.limit = 5;
    sp.metric_type = "IP";
    kite_result *r;
    ASSERT_EQ_INT(kite_search(db, NULL, "c", &sp, &r, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "metric type not match");
    sp.metric_type = NULL;
    ASSERT_OK(kite_search(db, NULL, "c", &sp, &r, &e));
    ASSERT_EQ_INT(((const int64_t *)r->ids.data)[0], 5);
    kite_result_free(r);
    kite_close(db);
    db = tu_open_opts(kite_test_tmpdir(), &o);
    ASSERT_OK(kite_search(db, NULL, "c", &sp, &r, &e));
    ASSERT_EQ_INT(((const int64_t *)r->ids.data)[0], 5);
    kite_result_free(r);
    ASSERT_EQ_INT(kite_index_drop(db, NULL, "c", "nope", &e), KITE_ENOINDEX);
    ASSERT_OK(kite_index_drop(db, NULL, "c", "vec", &e));
    ASSERT_EQ_INT(kite_index_describe(db, NULL, "c", NULL, &ii, &n, &e), KITE_ENOINDEX);
    ASSERT_EQ_INT(count_files(cdir, "idx-"), 0);
    sp.metric_type = "IP";
    ASSERT_OK(kite_search(db, NULL, "c", &sp, &r, &e));
    kite_result_free(r);
    /* scalar index + AUTOINDEX default metric COSINE */
    ip.field_name = "num";
    ip.index_type = "STL_SORT";
    ip.metric_type = NULL;
    ip.params_json = NULL;
    ASSERT_OK(kite_index_create(db, NULL, "c", &ip, &e));
    ip.field_name = "vec";
    ip.index_type = NULL;
    ASSERT_OK(kite_index_create(db, NULL, "c", &ip, &e));
    ASSERT_OK(kite_index_describe(db, NULL, "c", "vec", &ii, &n, &e));
    ASSERT_STR_EQ(ii[0].metric_type, "COSINE");
    ASSERT_STR_EQ(ii[0].index_type, "AUTOINDEX");
    kite_index_info_free(ii, n);
    kite_close(db);
}
