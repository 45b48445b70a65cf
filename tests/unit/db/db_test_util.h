/* db_test_util.h — helpers shared by the db unit tests (public API only). */
#ifndef KITE_DB_TEST_UTIL_H
#define KITE_DB_TEST_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kite/kite.h"
#include "test.h"

/* Deterministic pseudo-random numbers (xorshift). */
static inline uint64_t tu_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static inline float tu_randf(uint64_t *s)
{
    return (float)((tu_rand(s) >> 11) % 2000001) / 1000000.0f - 1.0f;
}

static inline kite_db *tu_open(const char *dir)
{
    kite_db *db = NULL;
    kite_err e;
    kite_options o;
    kite_options_init(&o);
    o.n_threads = 2;
    int rc = kite_open(dir, &o, &db, &e);
    if (rc)
        TEST_FAIL_("kite_open: %d %s", rc, e.message);
    return db;
}

static inline kite_db *tu_open_opts(const char *dir, const kite_options *o)
{
    kite_db *db = NULL;
    kite_err e;
    int rc = kite_open(dir, o, &db, &e);
    if (rc)
        TEST_FAIL_("kite_open: %d %s", rc, e.message);
    return db;
}

/* Schema: id Int64 pk, vec FloatVector(dim), tag VarChar(64), num Int32. */
static inline void tu_create_basic(kite_db *db, const char *name, int dim, bool auto_id,
                                   bool dynamic)
{
    kite_field_schema f[4];
    memset(f, 0, sizeof(f));
    f[0].name = "id";
    f[0].dtype = KITE_DT_INT64;
    f[0].is_primary = true;
    f[0].auto_id = auto_id;
    f[1].name = "vec";
    f[1].dtype = KITE_DT_FLOAT_VECTOR;
    f[1].dim = dim;
    f[2].name = "tag";
    f[2].dtype = KITE_DT_VARCHAR;
    f[2].max_length = 64;
    f[3].name = "num";
    f[3].dtype = KITE_DT_INT32;
    kite_schema s = {0};
    s.fields = f;
    s.n_fields = 4;
    s.enable_dynamic_field = dynamic;
    kite_create_params p;
    kite_create_params_init(&p);
    p.schema = &s;
    kite_err e;
    int rc = kite_collection_create(db, NULL, name, &p, &e);
    if (rc)
        TEST_FAIL_("create %s: %d %s", name, rc, e.message);
    rc = kite_collection_load(db, NULL, name, &e);
    if (rc)
        TEST_FAIL_("load %s: %d %s", name, rc, e.message);
}

/* Insert rows [first, first+n) of the basic schema: vec = deterministic, tag = "t<id%5>",
 * num = id. */
static inline void tu_vec(int64_t id, int dim, float *out)
{
    uint64_t s = (uint64_t)id * 7919u + 1;
    for (int k = 0; k < dim; k++)
        out[k] = tu_randf(&s);
}

static inline int tu_insert_basic(kite_db *db, const char *name, int64_t first, size_t n, int dim,
                                  const char *partition, kite_err *e)
{
    int64_t *ids = malloc(n * 8);
    float *vecs = malloc(n * (size_t)dim * 4);
    int32_t *nums = malloc(n * 4);
    char *tags = malloc(n * 8);
    uint64_t *offs = malloc((n + 1) * 8);
    offs[0] = 0;
    for (size_t i = 0; i < n; i++) {
        ids[i] = first + (int64_t)i;
        tu_vec(ids[i], dim, vecs + i * (size_t)dim);
        nums[i] = (int32_t)ids[i];
        tags[offs[i]] = 't';
        tags[offs[i] + 1] = (char)('0' + ids[i] % 5);
        offs[i + 1] = offs[i] + 2;
    }
    kite_column cols[4] = {
        {"id", KITE_DT_INT64, 0, 0, n, ids, NULL, NULL},
        {"vec", KITE_DT_FLOAT_VECTOR, 0, (uint32_t)dim, n, vecs, NULL, NULL},
        {"tag", KITE_DT_VARCHAR, 0, 0, n, tags, offs, NULL},
        {"num", KITE_DT_INT32, 0, 0, n, nums, NULL, NULL},
    };
    kite_write_result wr;
    int rc = kite_insert(db, NULL, name, partition, cols, 4, &wr, e);
    if (!rc)
        kite_write_result_free(&wr);
    free(ids);
    free(vecs);
    free(nums);
    free(tags);
    free(offs);
    return rc;
}

static inline uint64_t tu_count(kite_db *db, const char *name)
{
    uint64_t n = 0;
    kite_err e;
    int rc = kite_collection_row_count(db, NULL, name, &n, &e);
    if (rc)
        TEST_FAIL_("row_count: %d %s", rc, e.message);
    return n;
}

/* count(*) through a query with the given filter. */
static inline int64_t tu_query_count(kite_db *db, const char *name, const char *filter)
{
    kite_query_params q;
    kite_query_params_init(&q);
    const char *of[] = {"count(*)"};
    q.filter = filter;
    q.output_fields = of;
    q.n_output_fields = 1;
    kite_result *r = NULL;
    kite_err e;
    int rc = kite_query(db, NULL, name, &q, &r, &e);
    if (rc)
        TEST_FAIL_("count query: %d %s", rc, e.message);
    int64_t v = ((const int64_t *)r->fields[0].data)[0];
    kite_result_free(r);
    return v;
}

#endif
