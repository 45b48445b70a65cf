/* test_db_basic.c — catalog, schema validation, insert/search/query round trips. */
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db_test_util.h"

TEST(db_open_close_default_database)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    char **names;
    size_t n;
    ASSERT_OK(kite_database_list(db, &names, &n, NULL));
    ASSERT_EQ_INT(n, 1);
    ASSERT_STR_EQ(names[0], "default");
    kite_strings_free(names, n);
    kite_err e;
    ASSERT_OK(kite_database_create(db, "db2", &e));
    ASSERT_EQ_INT(kite_database_create(db, "db2", &e), KITE_EEXISTS);
    ASSERT_EQ_INT(kite_database_create(db, "9bad", &e), KITE_EINVAL);
    ASSERT_EQ_INT(kite_database_drop(db, "default", &e), KITE_EINVAL);
    ASSERT_OK(kite_database_list(db, &names, &n, NULL));
    ASSERT_EQ_INT(n, 2);
    kite_strings_free(names, n);
    kite_close(db);
    db = tu_open(kite_test_tmpdir());
    ASSERT_OK(kite_database_list(db, &names, &n, NULL));
    ASSERT_EQ_INT(n, 2);
    kite_strings_free(names, n);
    ASSERT_OK(kite_database_drop(db, "db2", &e));
    kite_close(db);
}

TEST(db_types_and_names)
{
    ASSERT_STR_EQ(kite_dtype_name(KITE_DT_FLOAT_VECTOR), "FloatVector");
    ASSERT_EQ_INT(kite_dtype_from_name("VarChar"), KITE_DT_VARCHAR);
    ASSERT_EQ_INT(kite_dtype_from_name("varchar"), KITE_DT_NONE);
    ASSERT(kite_dtype_is_vector(KITE_DT_BFLOAT16_VECTOR));
    ASSERT_EQ_INT(kite_dtype_row_bytes(KITE_DT_BINARY_VECTOR, 64), 8);
    ASSERT_EQ_INT(kite_dtype_row_bytes(KITE_DT_FLOAT16_VECTOR, 8), 16);
    ASSERT_EQ_INT(kite_dtype_row_bytes(KITE_DT_VARCHAR, 0), 0);
    ASSERT_STR_EQ(kite_metric_name(KITE_METRIC_COSINE), "COSINE");
    ASSERT_EQ_INT(kite_metric_from_name("ip"), KITE_METRIC_IP);
    ASSERT(kite_metric_larger_is_closer(KITE_METRIC_IP));
    ASSERT(!kite_metric_larger_is_closer(KITE_METRIC_L2));
    ASSERT_STR_EQ(kite_version(), KITE_VERSION_STRING);
}

static int create_one(kite_db *db, kite_field_schema *f, size_t n, kite_err *e)
{
    kite_schema s = {0};
    s.fields = f;
    s.n_fields = n;
    kite_create_params p;
    kite_create_params_init(&p);
    p.schema = &s;
    return kite_collection_create(db, NULL, "c", &p, e);
}

TEST(db_schema_validation_errors)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    kite_err e;
    kite_field_schema f[3];
    memset(f, 0, sizeof(f));
    f[0] = (kite_field_schema){.name = "id", .dtype = KITE_DT_INT64, .is_primary = true};
    f[1] = (kite_field_schema){.name = "v", .dtype = KITE_DT_FLOAT_VECTOR, .dim = 1};
    ASSERT_EQ_INT(create_one(db, f, 2, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "invalid dimension");
    ASSERT_CONTAINS(e.message, "2 ~ 32768");
    f[1].dtype = KITE_DT_BINARY_VECTOR;
    f[1].dim = 12;
    ASSERT_EQ_INT(create_one(db, f, 2, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "multiple of 8");
    f[1] = (kite_field_schema){.name = "v", .dtype = KITE_DT_FLOAT_VECTOR, .dim = 4};
    f[2] = (kite_field_schema){.name = "s", .dtype = KITE_DT_VARCHAR, .max_length = 0};
    ASSERT_EQ_INT(create_one(db, f, 3, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "65535");
    f[2] = (kite_field_schema){.name = "a", .dtype = KITE_DT_ARRAY,
                               .element_type = KITE_DT_INT32, .max_capacity = 5000};
    ASSERT_EQ_INT(create_one(db, f, 3, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "4096");
    f[2] = (kite_field_schema){.name = "id2", .dtype = KITE_DT_INT64, .is_primary = true};
    ASSERT_EQ_INT(create_one(db, f, 3, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "more than one primary key");
    f[2] = (kite_field_schema){.name = "1x", .dtype = KITE_DT_INT64};
    ASSERT_EQ_INT(create_one(db, f, 3, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "first character");
    f[2] = (kite_field_schema){.name = "v", .dtype = KITE_DT_INT64};
    ASSERT_EQ_INT(create_one(db, f, 3, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "duplicated field name");
    f[0].dtype = KITE_DT_FLOAT;
    ASSERT_EQ_INT(create_one(db, f, 2, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "Int64 or VarChar");
    f[0].dtype = KITE_DT_INT64;
    f[0].is_primary = false;
    ASSERT_EQ_INT(create_one(db, f, 2, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "primary key is not specified");
    f[0].is_primary = true;
    f[1] = (kite_field_schema){.name = "v", .dtype = KITE_DT_FLOAT_VECTOR, .dim = 4};
    f[2] = (kite_field_schema){.name = "pk2", .dtype = KITE_DT_FLOAT, .is_partition_key = true};
    ASSERT_EQ_INT(create_one(db, f, 3, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "partition key");
    /* Too many vector fields. */
    kite_field_schema many[6];
    memset(many, 0, sizeof(many));
    many[0] = f[0];
    const char *vn[] = {"a", "b", "c", "d", "e"};
    for (int i = 1; i < 6; i++)
        many[i] = (kite_field_schema){.name = (char *)vn[i - 1], .dtype = KITE_DT_FLOAT_VECTOR,
                                      .dim = 4};
    ASSERT_EQ_INT(create_one(db, many, 6, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "vector field");
    /* Valid, then identical re-create OK, different -> error. */
    ASSERT_OK(create_one(db, f, 2, &e));
    ASSERT_OK(create_one(db, f, 2, &e));
    f[1].dim = 8;
    ASSERT_EQ_INT(create_one(db, f, 2, &e), KITE_EEXISTS);
    kite_collection_info *info;
    ASSERT_OK(kite_collection_describe(db, NULL, "c", &info, &e));
    ASSERT_EQ_INT(info->schema.n_fields, 2);
    ASSERT_EQ_INT(info->schema.fields[0].field_id, 100);
    ASSERT_EQ_INT(info->schema.fields[1].field_id, 101);
    ASSERT_EQ_INT(info->schema.fields[1].dim, 4);
    ASSERT_EQ_INT(info->load_state, KITE_LOAD_NOT_LOAD);
    ASSERT_EQ_INT(info->partitions_num, 1);
    ASSERT_EQ_INT(info->consistency_level, KITE_CONSISTENCY_BOUNDED);
    kite_collection_info_free(info);
    kite_close(db);
}

TEST(db_insert_search_query_basic)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    kite_err e;
    const int dim = 8;
    tu_create_basic(db, "c", dim, false, false);
    ASSERT_OK(tu_insert_basic(db, "c", 0, 200, dim, NULL, &e));
    ASSERT_EQ_INT(tu_count(db, "c"), 200);

    float q[8];
    tu_vec(17, dim, q);
    kite_search_params sp;
    kite_search_params_init(&sp);
    sp.vectors = q;
    sp.nq = 1;
    sp.dim = dim;
    sp.limit = 5;
    sp.metric_type = "L2";
    const char *of[] = {"tag", "num"};
    sp.output_fields = of;
    sp.n_output_fields = 2;
    kite_result *r;
    ASSERT_OK(kite_search(db, NULL, "c", &sp, &r, &e));
    ASSERT_EQ_INT(r->nq, 1);
    ASSERT_EQ_INT(r->topks[0], 5);
    ASSERT_EQ_INT(((const int64_t *)r->ids.data)[0], 17);
    ASSERT_NEAR(r->scores[0], 0.0, 1e-5);
    ASSERT_EQ_INT(r->n_fields, 2);
    ASSERT_STR_EQ(r->fields[0].name, "tag");
    ASSERT_EQ_INT(((const int32_t *)r->fields[1].data)[0], 17);
    for (int i = 1; i < 5; i++)
        ASSERT(r->scores[i] >= r->scores[i - 1]);
    kite_result_free(r);

    /* Filtered search. */
    sp.filter = "num >= 100 and tag == \"t2\"";
    ASSERT_OK(kite_search(db, NULL, "c", &sp, &r, &e));
    ASSERT_EQ_INT(r->topks[0], 5);
    for (size_t i = 0; i < r->n_rows; i++) {
        int64_t id = ((const int64_t *)r->ids.data)[i];
        ASSERT(id >= 100 && id % 5 == 2);
    }
    kite_result_free(r);

    /* Query. */
    kite_query_params qp;
    kite_query_params_init(&qp);
    qp.filter = "id in [3, 1, 2, 999]";
    const char *qf[] = {"num", "vec"};
    qp.output_fields = qf;
    qp.n_output_fields = 2;
    ASSERT_OK(kite_query(db, NULL, "c", &qp, &r, &e));
    ASSERT_EQ_INT(r->n_rows, 3);
    ASSERT_EQ_INT(((const int64_t *)r->ids.data)[0], 1);
    ASSERT_EQ_INT(((const int64_t *)r->ids.data)[2], 3);
    ASSERT_EQ_INT(r->n_fields, 3); /* id added */
    ASSERT_STR_EQ(r->fields[0].name, "id");
    ASSERT_EQ_INT(r->fields[2].dim, dim);
    float v1[8];
    tu_vec(1, dim, v1);
    ASSERT_NEAR(((const float *)r->fields[2].data)[3], v1[3], 0);
    kite_result_free(r);

    ASSERT_EQ_INT(tu_query_count(db, "c", "num < 50"), 50);
    ASSERT_EQ_INT(tu_query_count(db, "c", ""), 200);

    /* No match: every requested column with 0 rows. */
    qp.filter = "id > 100000";
    ASSERT_OK(kite_query(db, NULL, "c", &qp, &r, &e));
    ASSERT_EQ_INT(r->n_rows, 0);
    ASSERT_EQ_INT(r->n_fields, 3);
    kite_result_free(r);
    kite_close(db);
}

TEST(db_search_and_query_validation)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    kite_err e;
    tu_create_basic(db, "c", 4, false, false);
    ASSERT_OK(tu_insert_basic(db, "c", 0, 10, 4, NULL, &e));
    float q[8] = {0};
    kite_search_params sp;
    kite_search_params_init(&sp);
    sp.vectors = q;
    sp.nq = 1;
    sp.dim = 4;
    kite_result *r = NULL;
    sp.limit = 0;
    ASSERT_EQ_INT(kite_search(db, NULL, "c", &sp, &r, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "topk [0] is invalid");
    sp.limit = 16385;
    ASSERT_EQ_INT(kite_search(db, NULL, "c", &sp, &r, &e), KITE_EINVAL);
    sp.limit = 10;
    sp.offset = 16380;
    ASSERT_EQ_INT(kite_search(db, NULL, "c", &sp, &r, &e), KITE_EINVAL);
    sp.offset = 0;
    sp.nq = 0;
    ASSERT_EQ_INT(kite_search(db, NULL, "c", &sp, &r, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "nq");
    sp.nq = 1;
    sp.dim = 8;
    ASSERT_EQ_INT(kite_search(db, NULL, "c", &sp, &r, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "dimension");
    sp.dim = 4;
    sp.filter = "nosuch > 1";
    ASSERT_NE_INT(kite_search(db, NULL, "c", &sp, &r, &e), KITE_OK);
    sp.filter = NULL;
    const char *bad[] = {"nosuch"};
    sp.output_fields = bad;
    sp.n_output_fields = 1;
    ASSERT_EQ_INT(kite_search(db, NULL, "c", &sp, &r, &e), KITE_ENOFIELD);
    ASSERT_CONTAINS(e.message, "field nosuch not exist");
    sp.n_output_fields = 0;

    kite_query_params qp;
    kite_query_params_init(&qp);
    ASSERT_EQ_INT(kite_query(db, NULL, "c", &qp, &r, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "empty expression should be used with limit");
    const char *cnt[] = {"count(*)"};
    qp.output_fields = cnt;
    qp.n_output_fields = 1;
    qp.limit = 5;
    ASSERT_EQ_INT(kite_query(db, NULL, "c", &qp, &r, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "count entities with pagination is not allowed");
    qp.n_output_fields = 0;
    qp.limit = 16000;
    qp.offset = 1000;
    ASSERT_EQ_INT(kite_query(db, NULL, "c", &qp, &r, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "16384");
    qp.limit = 3;
    qp.offset = 2;
    ASSERT_OK(kite_query(db, NULL, "c", &qp, &r, &e));
    ASSERT_EQ_INT(r->n_rows, 3);
    ASSERT_EQ_INT(((const int64_t *)r->ids.data)[0], 2);
    kite_result_free(r);

    /* Not loaded. */
    ASSERT_OK(kite_collection_release(db, NULL, "c", &e));
    int st;
    ASSERT_OK(kite_collection_load_state(db, NULL, "c", &st, &e));
    ASSERT_EQ_INT(st, KITE_LOAD_NOT_LOAD);
    ASSERT_EQ_INT(kite_search(db, NULL, "c", &sp, &r, &e), KITE_ENOTLOADED);
    ASSERT_CONTAINS(e.message, "collection not loaded[collection=c]");
    ASSERT_EQ_INT(kite_query(db, NULL, "c", &qp, &r, &e), KITE_ENOTLOADED);
    ASSERT_EQ_INT(kite_collection_load_state(db, NULL, "zz", &st, &e), KITE_ENOCOLL);
    ASSERT_EQ_INT(st, KITE_LOAD_NOT_EXIST);
    ASSERT_EQ_INT(kite_search(db, NULL, "zz", &sp, &r, &e), KITE_ENOCOLL);
    kite_close(db);
}

TEST(db_aliases_rename_partitions)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    kite_err e;
    tu_create_basic(db, "c", 4, false, false);
    tu_create_basic(db, "d", 4, false, false);
    ASSERT_OK(kite_alias_create(db, NULL, "c", "al", &e));
    ASSERT_EQ_INT(kite_alias_create(db, NULL, "c", "d", &e), KITE_EALIASCONFLICT);
    ASSERT_EQ_INT(kite_alias_create(db, NULL, "d", "al", &e), KITE_EALIASEXISTS);
    ASSERT_OK(tu_insert_basic(db, "al", 0, 10, 4, NULL, &e));
    ASSERT_EQ_INT(tu_count(db, "c"), 10);
    char *cn;
    ASSERT_OK(kite_alias_describe(db, NULL, "al", &cn, &e));
    ASSERT_STR_EQ(cn, "c");
    kite_free(cn);
    ASSERT_OK(kite_alias_alter(db, NULL, "d", "al", &e));
    ASSERT_EQ_INT(tu_count(db, "al"), 0);
    char **names;
    size_t n;
    ASSERT_OK(kite_alias_list(db, NULL, "d", &names, &n, &e));
    ASSERT_EQ_INT(n, 1);
    kite_strings_free(names, n);
    ASSERT_OK(kite_alias_list(db, NULL, "c", &names, &n, &e));
    ASSERT_EQ_INT(n, 0);
    kite_strings_free(names, n);
    kite_field_schema f[2] = {{.name = "id", .dtype = KITE_DT_INT64, .is_primary = true},
                              {.name = "v", .dtype = KITE_DT_FLOAT_VECTOR, .dim = 4}};
    kite_schema s = {.fields = f, .n_fields = 2};
    kite_create_params p;
    kite_create_params_init(&p);
    p.schema = &s;
    ASSERT_EQ_INT(kite_collection_create(db, NULL, "al", &p, &e), KITE_EALIASCONFLICT);
    ASSERT_EQ_INT(kite_collection_drop(db, NULL, "al", &e), KITE_EINVAL);
    ASSERT_OK(kite_alias_drop(db, NULL, "al", &e));
    ASSERT_EQ_INT(kite_alias_describe(db, NULL, "al", &cn, &e), KITE_ENOALIAS);

    /* Rename, also into another database. */
    ASSERT_OK(kite_collection_rename(db, NULL, "c", NULL, "c2", &e));
    bool has;
    ASSERT_OK(kite_collection_has(db, NULL, "c", &has, &e));
    ASSERT(!has);
    ASSERT_EQ_INT(tu_count(db, "c2"), 10);
    ASSERT_OK(kite_database_create(db, "other", &e));
    ASSERT_OK(kite_collection_rename(db, NULL, "c2", "other", "c3", &e));
    ASSERT_OK(kite_collection_has(db, "other", "c3", &has, &e));
    ASSERT(has);

    /* Partitions. */
    ASSERT_OK(kite_partition_create(db, NULL, "d", "p1", &e));
    ASSERT_OK(kite_partition_has(db, NULL, "d", "p1", &has, &e));
    ASSERT(has);
    ASSERT_OK(tu_insert_basic(db, "d", 0, 10, 4, "p1", &e));
    ASSERT_OK(tu_insert_basic(db, "d", 100, 5, 4, NULL, &e));
    ASSERT_EQ_INT(tu_insert_basic(db, "d", 100, 5, 4, "nope", &e), KITE_ENOPART);
    uint64_t rows;
    ASSERT_OK(kite_partition_row_count(db, NULL, "d", "p1", &rows, &e));
    ASSERT_EQ_INT(rows, 10);
    ASSERT_OK(kite_partition_list(db, NULL, "d", &names, &n, &e));
    ASSERT_EQ_INT(n, 2);
    ASSERT_STR_EQ(names[0], "_default");
    kite_strings_free(names, n);
    kite_query_params qp;
    kite_query_params_init(&qp);
    const char *pn[] = {"_default"};
    const char *cnt[] = {"count(*)"};
    qp.filter = "id >= 0";
    qp.partitions = pn;
    qp.n_partitions = 1;
    qp.output_fields = cnt;
    qp.n_output_fields = 1;
    kite_result *r;
    ASSERT_OK(kite_query(db, NULL, "d", &qp, &r, &e));
    ASSERT_EQ_INT(((const int64_t *)r->fields[0].data)[0], 5);
    kite_result_free(r);
    ASSERT_EQ_INT(kite_partition_drop(db, NULL, "d", "_default", &e), KITE_EINVAL);
    ASSERT_OK(kite_partition_load(db, NULL, "d", pn, 1, &e));
    ASSERT_OK(kite_partition_release(db, NULL, "d", pn, 1, &e));
    ASSERT_OK(kite_collection_flush(db, NULL, "d", &e));
    ASSERT_OK(kite_partition_drop(db, NULL, "d", "p1", &e));
    ASSERT_EQ_INT(tu_count(db, "d"), 5);
    kite_close(db);
    db = tu_open(kite_test_tmpdir());
    ASSERT_EQ_INT(tu_count(db, "d"), 5);
    ASSERT_OK(kite_partition_has(db, NULL, "d", "p1", &has, &e));
    ASSERT(!has);
    ASSERT_OK(kite_collection_has(db, "other", "c3", &has, &e));
    ASSERT(has);
    ASSERT_EQ_INT(kite_database_drop(db, "other", &e), KITE_EINVAL);
    ASSERT_OK(kite_collection_drop(db, "other", "c3", &e));
    ASSERT_OK(kite_collection_drop(db, "other", "c3", &e));
    ASSERT_OK(kite_database_drop(db, "other", &e));
    ASSERT_OK(kite_collection_list(db, NULL, &names, &n, &e));
    ASSERT_EQ_INT(n, 1);
    kite_strings_free(names, n);
    kite_close(db);
}

/* Regression: two processes could open one data directory at once. */
TEST(db_data_dir_is_locked_against_a_second_process)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    pid_t pid = fork();
    if (pid == 0) {
        kite_db *other = NULL;
        kite_err e;
        int rc = kite_open(kite_test_tmpdir(), NULL, &other, &e);
        if (rc != KITE_EBUSY || !strstr(e.message, "in use by another process"))
            _exit(1);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    kite_close(db);
    /* Closing releases the lock: a new open (here, in a child) succeeds. */
    pid = fork();
    if (pid == 0) {
        kite_db *other = NULL;
        kite_err e;
        if (kite_open(kite_test_tmpdir(), NULL, &other, &e) != KITE_OK)
            _exit(1);
        kite_close(other);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
