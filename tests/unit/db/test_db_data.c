/* test_db_data.c — every field type through kite_insert_json / kite_insert, write errors,
 * deletes, upserts, auto ids, nullable and default values, dynamic fields. */
#include <stdio.h>

#include "db_test_util.h"

/* Schema with every field type. */
static void create_all_types(kite_db *db, bool auto_id)
{
    kite_field_schema f[16];
    memset(f, 0, sizeof(f));
    size_t n = 0;
    f[n++] = (kite_field_schema){.name = "pk", .dtype = KITE_DT_INT64, .is_primary = true,
                                 .auto_id = auto_id};
    f[n++] = (kite_field_schema){.name = "b", .dtype = KITE_DT_BOOL};
    f[n++] = (kite_field_schema){.name = "i8", .dtype = KITE_DT_INT8};
    f[n++] = (kite_field_schema){.name = "i16", .dtype = KITE_DT_INT16};
    f[n++] = (kite_field_schema){.name = "i32", .dtype = KITE_DT_INT32, .nullable = true};
    f[n++] = (kite_field_schema){.name = "i64", .dtype = KITE_DT_INT64,
                                 .default_json = "42"};
    f[n++] = (kite_field_schema){.name = "fl", .dtype = KITE_DT_FLOAT};
    f[n++] = (kite_field_schema){.name = "db", .dtype = KITE_DT_DOUBLE};
    f[n++] = (kite_field_schema){.name = "s", .dtype = KITE_DT_VARCHAR, .max_length = 8};
    f[n++] = (kite_field_schema){.name = "j", .dtype = KITE_DT_JSON};
    f[n++] = (kite_field_schema){.name = "arr", .dtype = KITE_DT_ARRAY,
                                 .element_type = KITE_DT_INT32, .max_capacity = 3};
    f[n++] = (kite_field_schema){.name = "fv", .dtype = KITE_DT_FLOAT_VECTOR, .dim = 4};
    f[n++] = (kite_field_schema){.name = "bv", .dtype = KITE_DT_BINARY_VECTOR, .dim = 16};
    f[n++] = (kite_field_schema){.name = "hv", .dtype = KITE_DT_FLOAT16_VECTOR, .dim = 4};
    kite_field_schema *bf = &f[n++];
    *bf = (kite_field_schema){.name = "bfv", .dtype = KITE_DT_BFLOAT16_VECTOR, .dim = 4};
    kite_schema s = {.fields = f, .n_fields = n, .enable_dynamic_field = true};
    kite_create_params p;
    kite_create_params_init(&p);
    p.schema = &s;
    kite_err e;
    ASSERT_OK(kite_collection_create(db, NULL, "all", &p, &e));
    ASSERT_OK(kite_collection_load(db, NULL, "all", &e));
}

#define ROW_FMT \
    "{\"pk\":%d,\"b\":true,\"i8\":-5,\"i16\":300,\"i32\":%s,\"fl\":1.5,\"db\":2.25," \
    "\"s\":\"abc\",\"j\":{\"k\":[1,2]},\"arr\":[1,2,3],\"fv\":[1,0,0,%d]," \
    "\"bv\":[255,1],\"hv\":[0.5,1,2,%d],\"bfv\":\"AAAAAAAAAAA=\",\"extra\":\"x%d\"}"

TEST(db_json_insert_all_types)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    kite_err e;
    create_all_types(db, false);
    char buf[8192];
    size_t len = 0;
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "[");
    for (int i = 0; i < 5; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, ROW_FMT, i,
                                i == 2 ? "null" : "7", i, i, i),
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, i < 4 ? "," : "]");
    kite_write_result wr;
    ASSERT_OK(kite_insert_json(db, NULL, "all", NULL, buf, len, false, &wr, &e));
    ASSERT_EQ_INT(wr.insert_count, 5);
    ASSERT_EQ_INT(wr.ids.n, 5);
    kite_write_result_free(&wr);

    kite_query_params qp;
    kite_query_params_init(&qp);
    const char *of[] = {"*"};
    qp.filter = "pk == 2";
    qp.output_fields = of;
    qp.n_output_fields = 1;
    kite_result *r;
    ASSERT_OK(kite_query(db, NULL, "all", &qp, &r, &e));
    ASSERT_EQ_INT(r->n_rows, 1);
    ASSERT_EQ_INT(r->n_fields, 16); /* 15 fields + $meta */
    for (size_t i = 0; i < r->n_fields; i++) {
        const kite_column *c = &r->fields[i];
        size_t l;
        if (strcmp(c->name, "i32") == 0) {
            ASSERT(c->valid && c->valid[0] == 0);
        } else if (strcmp(c->name, "i64") == 0) {
            ASSERT_EQ_INT(((const int64_t *)c->data)[0], 42); /* default */
        } else if (strcmp(c->name, "i16") == 0) {
            ASSERT_EQ_INT(((const int16_t *)c->data)[0], 300);
        } else if (strcmp(c->name, "s") == 0) {
            l = (size_t)(c->offsets[1] - c->offsets[0]);
            ASSERT_EQ_INT(l, 3);
        } else if (strcmp(c->name, "$meta") == 0) {
            char t[64];
            l = (size_t)(c->offsets[1] - c->offsets[0]);
            memcpy(t, c->data, l);
            t[l] = 0;
            ASSERT_STR_EQ(t, "{\"extra\":\"x2\"}");
        } else if (strcmp(c->name, "bv") == 0) {
            ASSERT_EQ_INT(((const uint8_t *)c->data)[0], 255);
            ASSERT_EQ_INT(c->dim, 16);
        } else if (strcmp(c->name, "hv") == 0) {
            ASSERT_EQ_INT(((const uint16_t *)c->data)[0], 0x3800); /* 0.5 in fp16 */
        } else if (strcmp(c->name, "fv") == 0) {
            ASSERT_NEAR(((const float *)c->data)[3], 2.0, 0);
        } else if (strcmp(c->name, "arr") == 0) {
            char t[64];
            l = (size_t)(c->offsets[1] - c->offsets[0]);
            memcpy(t, c->data, l);
            t[l] = 0;
            ASSERT_STR_EQ(t, "[1,2,3]");
        }
    }
    kite_result_free(r);

    /* Dynamic keys in filters and output. */
    qp.filter = "extra == \"x3\"";
    const char *dk[] = {"extra"};
    qp.output_fields = dk;
    ASSERT_OK(kite_query(db, NULL, "all", &qp, &r, &e));
    ASSERT_EQ_INT(r->n_rows, 1);
    ASSERT_EQ_INT(((const int64_t *)r->ids.data)[0], 3);
    ASSERT_STR_EQ(r->fields[r->n_fields - 1].name, "$meta");
    kite_result_free(r);

    /* Search every vector type. */
    const char *anns[] = {"fv", "bv", "hv", "bfv"};
    float fq[4] = {1, 0, 0, 3};
    uint8_t bq[2] = {255, 1};
    for (int k = 0; k < 4; k++) {
        kite_search_params sp;
        kite_search_params_init(&sp);
        sp.anns_field = anns[k];
        sp.vectors = k == 1 ? (const void *)bq : (const void *)fq;
        sp.vector_dtype = k == 1 ? KITE_DT_BINARY_VECTOR : KITE_DT_FLOAT_VECTOR;
        sp.nq = 1;
        sp.limit = 3;
        ASSERT_OK(kite_search(db, NULL, "all", &sp, &r, &e));
        ASSERT_EQ_INT(r->topks[0], 3);
        if (k == 0)
            ASSERT_EQ_INT(((const int64_t *)r->ids.data)[0], 3);
        if (k == 1)
            ASSERT_NEAR(r->scores[0], 0, 0);
        kite_result_free(r);
    }
    kite_close(db);
}

static void replace(char *buf, const char *from, const char *to)
{
    char *p = strstr(buf, from);
    ASSERT(p);
    size_t lf = strlen(from), lt = strlen(to);
    memmove(p + lt, p + lf, strlen(p + lf) + 1);
    memcpy(p, to, lt);
}

static int insert_text(kite_db *db, const char *txt, kite_err *e)
{
    kite_write_result wr;
    int rc = kite_insert_json(db, NULL, "all", NULL, txt, strlen(txt), false, &wr, e);
    if (!rc)
        kite_write_result_free(&wr);
    return rc;
}

TEST(db_json_insert_errors)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    kite_err e;
    create_all_types(db, false);
    char buf[4096];
    snprintf(buf, sizeof(buf), ROW_FMT, 1, "1", 1, 1, 1);
    ASSERT_OK(insert_text(db, buf, &e));
    /* Wrong dim. */
    ASSERT_EQ_INT(insert_text(db, "[{\"pk\":1,\"b\":true,\"i8\":1,\"i16\":1,\"fl\":1,\"db\":1,"
                                  "\"s\":\"a\",\"j\":1,\"arr\":[],\"fv\":[1,2],\"bv\":[1,2],"
                                  "\"hv\":[1,2,3,4],\"bfv\":[1,2,3,4]}]",
                              &e),
                  KITE_EDATA);
    ASSERT_CONTAINS(e.message, "the dim (2) of field data(fv) is not equal to schema dim (4)");
    /* Missing required field. */
    ASSERT_EQ_INT(insert_text(db, "[{\"pk\":1}]", &e), KITE_EDATA);
    ASSERT_CONTAINS(e.message, "row 0");
    /* Too long varchar. */
    snprintf(buf, sizeof(buf), ROW_FMT, 1, "1", 1, 1, 1);
    replace(buf, "\"abc\"", "\"abcdefghijk\"");
    ASSERT_EQ_INT(insert_text(db, buf, &e), KITE_EDATA);
    ASSERT_CONTAINS(e.message, "exceeds max length");
    /* Int8 out of range. */
    snprintf(buf, sizeof(buf), ROW_FMT, 1, "1", 1, 1, 1);
    replace(buf, "-5", "999");
    ASSERT_EQ_INT(insert_text(db, buf, &e), KITE_EDATA);
    ASSERT_CONTAINS(e.message, "i8");
    /* Array over capacity. */
    snprintf(buf, sizeof(buf), ROW_FMT, 1, "1", 1, 1, 1);
    replace(buf, "[1,2,3]", "[1,2,3,4]");
    ASSERT_EQ_INT(insert_text(db, buf, &e), KITE_EDATA);
    ASSERT_CONTAINS(e.message, "max capacity");
    snprintf(buf, sizeof(buf), ROW_FMT, 1, "1", 1, 1, 1);
    replace(buf, "[1,2,3]", "[1,\"x\"]");
    ASSERT_EQ_INT(insert_text(db, buf, &e), KITE_EDATA);
    ASSERT_CONTAINS(e.message, "element 1");
    ASSERT_EQ_INT(insert_text(db, "not json", &e), KITE_EDATA);
    ASSERT_EQ_INT(insert_text(db, "[]", &e), KITE_EDATA);
    ASSERT_EQ_INT(tu_count(db, "all"), 1);
    kite_close(db);
}

TEST(db_auto_id_and_columns_errors)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    kite_err e;
    tu_create_basic(db, "a", 4, true, false);
    ASSERT_EQ_INT(tu_insert_basic(db, "a", 0, 3, 4, NULL, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "can not assign primary field data when auto id enabled id");
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int32_t nums[2] = {1, 2};
    uint64_t offs[3] = {0, 1, 2};
    kite_column cols[3] = {
        {"vec", KITE_DT_FLOAT_VECTOR, 0, 4, 2, v, NULL, NULL},
        {"tag", KITE_DT_VARCHAR, 0, 0, 2, "ab", offs, NULL},
        {"num", KITE_DT_INT32, 0, 0, 2, nums, NULL, NULL},
    };
    kite_write_result wr, wr2;
    ASSERT_OK(kite_insert(db, NULL, "a", NULL, cols, 3, &wr, &e));
    ASSERT_OK(kite_insert(db, NULL, "a", NULL, cols, 3, &wr2, &e));
    const int64_t *a = wr.ids.data, *b = wr2.ids.data;
    ASSERT(a[1] > a[0] && b[0] > a[1]);
    ASSERT(a[0] > ((int64_t)1 << 40)); /* timestamp based */
    kite_write_result_free(&wr);
    kite_write_result_free(&wr2);
    /* Wrong dim through columns. */
    cols[0].dim = 8;
    cols[0].n = 1;
    cols[1].n = cols[2].n = 1;
    ASSERT_EQ_INT(kite_insert(db, NULL, "a", NULL, cols, 3, &wr, &e), KITE_EDATA);
    ASSERT_CONTAINS(e.message, "the dim (8) of field data(vec) is not equal to schema dim (4)");
    cols[0].dim = 4;
    cols[2].n = 2;
    ASSERT_EQ_INT(kite_insert(db, NULL, "a", NULL, cols, 3, &wr, &e), KITE_EDATA);
    ASSERT_CONTAINS(e.message, "num_rows");
    cols[2].n = 1;
    ASSERT_EQ_INT(kite_insert(db, NULL, "a", NULL, cols, 2, &wr, &e), KITE_EDATA);
    ASSERT_CONTAINS(e.message, "num");
    kite_close(db);
    /* Auto ids stay increasing across reopen. */
    db = tu_open(kite_test_tmpdir());
    ASSERT_OK(kite_insert(db, NULL, "a", NULL, cols, 3, &wr, &e));
    ASSERT_EQ_INT(tu_count(db, "a"), 5);
    kite_query_params qp;
    kite_query_params_init(&qp);
    qp.filter = "id > 0";
    kite_result *r;
    ASSERT_OK(kite_query(db, NULL, "a", &qp, &r, &e));
    ASSERT_EQ_INT(r->n_rows, 5);
    for (size_t i = 0; i < 4; i++)
        ASSERT(((const int64_t *)r->ids.data)[4] > ((const int64_t *)r->ids.data)[i]);
    ASSERT_EQ_INT(((const int64_t *)wr.ids.data)[0], ((const int64_t *)r->ids.data)[4]);
    kite_result_free(r);
    kite_write_result_free(&wr);
    kite_close(db);
}

TEST(db_delete_and_upsert)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    kite_err e;
    tu_create_basic(db, "c", 4, false, false);
    ASSERT_OK(tu_insert_basic(db, "c", 0, 100, 4, NULL, &e));
    kite_write_result wr;
    ASSERT_EQ_INT(kite_delete(db, NULL, "c", NULL, "", NULL, &wr, &e), KITE_EINVAL);
    ASSERT_OK(kite_delete(db, NULL, "c", NULL, "id < 10", NULL, &wr, &e));
    ASSERT_EQ_INT(wr.delete_count, 10);
    ASSERT_OK(kite_delete(db, NULL, "c", NULL, "id in [5, 50, 51, 1000]", NULL, &wr, &e));
    ASSERT_EQ_INT(wr.delete_count, 2);
    ASSERT_EQ_INT(tu_count(db, "c"), 88);
    ASSERT_EQ_INT(tu_query_count(db, "c", "id < 60"), 48);
    /* Upsert: replace 60..69 (tag becomes "u") and add 200..204. */
    const char *rows =
        "[{\"id\":60,\"vec\":[1,1,1,1],\"tag\":\"u\",\"num\":-1},"
        "{\"id\":\"61\",\"vec\":[1,1,1,1],\"tag\":\"u\",\"num\":-1},"
        "{\"id\":200,\"vec\":[1,1,1,1],\"tag\":\"u\",\"num\":-1}]";
    ASSERT_OK(kite_insert_json(db, NULL, "c", NULL, rows, strlen(rows), true, &wr, &e));
    ASSERT_EQ_INT(wr.upsert_count, 3);
    kite_write_result_free(&wr);
    ASSERT_EQ_INT(tu_count(db, "c"), 89);
    ASSERT_EQ_INT(tu_query_count(db, "c", "tag == \"u\""), 3);
    ASSERT_EQ_INT(tu_query_count(db, "c", "id == 60"), 1);
    /* Persisted: flush seals, reopen replays. */
    ASSERT_OK(kite_collection_flush(db, NULL, "c", &e));
    ASSERT_OK(kite_delete(db, NULL, "c", NULL, "id == 61", NULL, &wr, &e));
    ASSERT_OK(kite_insert_json(db, NULL, "c", NULL, rows, strlen(rows), true, &wr, &e));
    kite_write_result_free(&wr);
    ASSERT_EQ_INT(tu_count(db, "c"), 89);
    kite_close(db);
    db = tu_open(kite_test_tmpdir());
    ASSERT_EQ_INT(tu_count(db, "c"), 89);
    ASSERT_EQ_INT(tu_query_count(db, "c", "tag == \"u\""), 3);
    ASSERT_EQ_INT(tu_query_count(db, "c", "id == 61"), 1);
    /* Get by ids. */
    int64_t ids[3] = {61, 0, 99};
    kite_column idc = {"id", KITE_DT_INT64, 0, 0, 3, ids, NULL, NULL};
    kite_result *r;
    const char *of[] = {"tag"};
    ASSERT_OK(kite_get(db, NULL, "c", &idc, of, 1, NULL, 0, &r, &e));
    ASSERT_EQ_INT(r->n_rows, 2);
    kite_result_free(r);
    /* Compaction keeps results. */
    ASSERT_OK(kite_collection_compact(db, NULL, "c", &e));
    ASSERT_EQ_INT(tu_count(db, "c"), 89);
    kite_close(db);
    db = tu_open(kite_test_tmpdir());
    ASSERT_EQ_INT(tu_count(db, "c"), 89);
    ASSERT_EQ_INT(tu_query_count(db, "c", "id < 60"), 48);
    ASSERT_EQ_INT(tu_query_count(db, "c", "tag == \"u\""), 3);
    kite_close(db);
}

TEST(db_varchar_pk_and_nullable_columns)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    kite_err e;
    kite_field_schema f[3] = {
        {.name = "k", .dtype = KITE_DT_VARCHAR, .max_length = 16, .is_primary = true},
        {.name = "v", .dtype = KITE_DT_FLOAT_VECTOR, .dim = 2},
        {.name = "n", .dtype = KITE_DT_DOUBLE, .nullable = true}};
    kite_schema s = {.fields = f, .n_fields = 3};
    kite_create_params p;
    kite_create_params_init(&p);
    p.schema = &s;
    ASSERT_OK(kite_collection_create(db, NULL, "v", &p, &e));
    ASSERT_OK(kite_collection_load(db, NULL, "v", &e));
    uint64_t offs[4] = {0, 1, 3, 6};
    float vec[6] = {0, 0, 1, 1, 2, 2};
    double n[3] = {1, 2, 3};
    uint8_t valid[3] = {1, 0, 1};
    kite_column cols[3] = {{"k", KITE_DT_VARCHAR, 0, 0, 3, "abbccc", offs, NULL},
                           {"v", KITE_DT_FLOAT_VECTOR, 0, 2, 3, vec, NULL, NULL},
                           {"n", KITE_DT_DOUBLE, 0, 0, 3, n, NULL, valid}};
    kite_write_result wr;
    ASSERT_OK(kite_insert(db, NULL, "v", NULL, cols, 3, &wr, &e));
    ASSERT_EQ_INT(wr.ids.dtype, KITE_DT_VARCHAR);
    kite_write_result_free(&wr);
    ASSERT_OK(kite_upsert(db, NULL, "v", NULL, cols, 3, &wr, &e));
    kite_write_result_free(&wr);
    ASSERT_EQ_INT(tu_count(db, "v"), 3);
    ASSERT_EQ_INT(tu_query_count(db, "v", "k == \"bb\""), 1);
    ASSERT_EQ_INT(tu_query_count(db, "v", "n > 0"), 2);
    ASSERT_OK(kite_delete(db, NULL, "v", NULL, "k in [\"a\"]", NULL, &wr, &e));
    ASSERT_EQ_INT(wr.delete_count, 1);
    ASSERT_OK(kite_collection_flush(db, NULL, "v", &e));
    kite_close(db);
    db = tu_open(kite_test_tmpdir());
    ASSERT_EQ_INT(tu_count(db, "v"), 2);
    kite_column ids = {"k", KITE_DT_VARCHAR, 0, 0, 1, "ccc", offs, NULL};
    uint64_t o2[2] = {0, 3};
    ids.offsets = o2;
    kite_result *r;
    const char *of[] = {"n"};
    ASSERT_OK(kite_get(db, NULL, "v", &ids, of, 1, NULL, 0, &r, &e));
    ASSERT_EQ_INT(r->n_rows, 1);
    ASSERT_NEAR(((const double *)r->fields[1].data)[0], 3, 0);
    kite_result_free(r);
    kite_close(db);
}
