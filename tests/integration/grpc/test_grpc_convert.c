/*
 * test_grpc_convert.c — engine-independent tests of the gRPC face's own logic:
 * schema and FieldData conversions (through a real pack/unpack, as on the wire),
 * nullable column expansion, IDs, template values, Status codes, and the dispatcher's
 * framing errors.  The Node SDK tests (seed.test.js) cover the same code end to end
 * against the real engine.
 */
#include <string.h>

#include "grpc_internal.h"
#include "test.h"

typedef Milvus__Proto__Schema__FieldSchema FieldSchema;
typedef Milvus__Proto__Schema__FieldData FieldData;
typedef Milvus__Proto__Schema__ScalarField ScalarField;
typedef Milvus__Proto__Common__KeyValuePair KeyValuePair;

static void call_init(struct grpc_call *c)
{
    memset(c, 0, sizeof(*c));
    grpc_arena_init(&c->arena);
}

/* Pack m and unpack it again as `desc` (what a server receives). */
static ProtobufCMessage *wire(const ProtobufCMessage *m, const ProtobufCMessageDescriptor *desc)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    ASSERT(buf);
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *out = protobuf_c_message_unpack(desc, NULL, n, buf);
    free(buf);
    ASSERT(out);
    return out;
}

static KeyValuePair *mk_kv(const char *k, const char *v)
{
    KeyValuePair *kv = calloc(1, sizeof(*kv));
    milvus__proto__common__key_value_pair__init(kv);
    kv->key = (char *)k;
    kv->value = (char *)v;
    return kv;
}

static FieldSchema *mk_field(const char *name, int type, KeyValuePair *tp)
{
    FieldSchema *f = calloc(1, sizeof(*f));
    milvus__proto__schema__field_schema__init(f);
    f->name = (char *)name;
    f->data_type = (Milvus__Proto__Schema__DataType)type;
    if (tp) {
        f->type_params = calloc(1, sizeof(KeyValuePair *));
        f->type_params[0] = tp;
        f->n_type_params = 1;
    }
    return f;
}

TEST(schema_from_pb_and_back)
{
    FieldSchema *fs[5];
    fs[0] = mk_field("id", KITE_DT_INT64, NULL);
    fs[0]->is_primary_key = 1;
    fs[0]->autoid = 1;
    fs[1] = mk_field("vec", KITE_DT_FLOAT_VECTOR, mk_kv("dim", "8"));
    fs[2] = mk_field("title", KITE_DT_VARCHAR, mk_kv("max_length", "\"64\"")); /* JSON-quoted */
    fs[3] = mk_field("price", KITE_DT_DOUBLE, NULL);
    fs[3]->nullable = 1;
    Milvus__Proto__Schema__ValueField dv = MILVUS__PROTO__SCHEMA__VALUE_FIELD__INIT;
    dv.data_case = MILVUS__PROTO__SCHEMA__VALUE_FIELD__DATA_DOUBLE_DATA;
    dv.double_data = 1.5;
    fs[3]->default_value = &dv;
    fs[4] = mk_field("$meta", KITE_DT_JSON, NULL);
    fs[4]->is_dynamic = 1;
    Milvus__Proto__Schema__CollectionSchema s = MILVUS__PROTO__SCHEMA__COLLECTION_SCHEMA__INIT;
    s.name = "books";
    s.fields = fs;
    s.n_fields = 5;
    s.enable_dynamic_field = 1;
    Milvus__Proto__Schema__CollectionSchema *in =
        (void *)wire(&s.base, &milvus__proto__schema__collection_schema__descriptor);

    struct grpc_call c;
    call_init(&c);
    kite_schema ks;
    kite_err err = {0};
    ASSERT_EQ_INT(grpc_schema_from_pb(&c, in, &ks, &err), KITE_OK);
    ASSERT_EQ_INT(ks.n_fields, 4); /* $meta is Kite's own */
    ASSERT(ks.enable_dynamic_field);
    ASSERT_STR_EQ(ks.fields[0].name, "id");
    ASSERT(ks.fields[0].is_primary && ks.fields[0].auto_id);
    ASSERT_EQ_INT(ks.fields[1].dim, 8);
    ASSERT_EQ_INT(ks.fields[2].max_length, 64);
    ASSERT(ks.fields[3].nullable);
    ASSERT_STR_EQ(ks.fields[3].default_json, "1.5");

    for (size_t i = 0; i < ks.n_fields; i++)
        ks.fields[i].field_id = 100 + (int64_t)i;
    kite_collection_info info = {.db_name = "default", .name = "books", .schema = ks};
    Milvus__Proto__Schema__CollectionSchema *out = grpc_schema_to_pb(&c, &info);
    ASSERT(out);
    Milvus__Proto__Schema__CollectionSchema *back =
        (void *)wire(&out->base, &milvus__proto__schema__collection_schema__descriptor);
    ASSERT_EQ_INT(back->n_fields, 5);
    ASSERT_STR_EQ(back->fields[4]->name, "$meta");
    ASSERT(back->fields[4]->is_dynamic);
    ASSERT_EQ_INT(back->fields[4]->fieldid, 104);
    ASSERT(back->fields[0]->autoid && back->autoid);
    ASSERT_EQ_INT(back->fields[1]->fieldid, 101);
    ASSERT_EQ_INT(back->fields[1]->n_type_params, 1);
    ASSERT_STR_EQ(back->fields[1]->type_params[0]->key, "dim");
    ASSERT_STR_EQ(back->fields[1]->type_params[0]->value, "8");
    ASSERT_STR_EQ(back->fields[2]->type_params[0]->value, "64");
    ASSERT(back->fields[3]->default_value);
    ASSERT_NEAR(back->fields[3]->default_value->double_data, 1.5, 0);
    grpc_arena_free(&c.arena);
}

TEST(schema_bad_type_param)
{
    FieldSchema *f = mk_field("vec", KITE_DT_FLOAT_VECTOR, mk_kv("dim", "eight"));
    Milvus__Proto__Schema__CollectionSchema s = MILVUS__PROTO__SCHEMA__COLLECTION_SCHEMA__INIT;
    s.fields = &f;
    s.n_fields = 1;
    struct grpc_call c;
    call_init(&c);
    kite_schema ks;
    kite_err err = {0};
    ASSERT_EQ_INT(grpc_schema_from_pb(&c, &s, &ks, &err), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "dim");
    ASSERT_CONTAINS(err.message, "eight");
    grpc_arena_free(&c.arena);
}

/* ------------------------------------------------------------------ columns */

static FieldData *scalar_fd(const char *name, int type, ScalarField *sf)
{
    FieldData *fd = calloc(1, sizeof(*fd));
    milvus__proto__schema__field_data__init(fd);
    fd->field_name = (char *)name;
    fd->type = (Milvus__Proto__Schema__DataType)type;
    fd->field_case = MILVUS__PROTO__SCHEMA__FIELD_DATA__FIELD_SCALARS;
    fd->scalars = sf;
    return fd;
}

static ScalarField *sf_new(void)
{
    ScalarField *sf = calloc(1, sizeof(*sf));
    milvus__proto__schema__scalar_field__init(sf);
    return sf;
}

static ScalarField *ints(const int32_t *v, size_t n)
{
    ScalarField *sf = sf_new();
    Milvus__Proto__Schema__IntArray *a = calloc(1, sizeof(*a));
    milvus__proto__schema__int_array__init(a);
    a->data = (int32_t *)v;
    a->n_data = n;
    sf->data_case = MILVUS__PROTO__SCHEMA__SCALAR_FIELD__DATA_INT_DATA;
    sf->int_data = a;
    return sf;
}

static ScalarField *longs(const int64_t *v, size_t n)
{
    ScalarField *sf = sf_new();
    Milvus__Proto__Schema__LongArray *a = calloc(1, sizeof(*a));
    milvus__proto__schema__long_array__init(a);
    a->data = (int64_t *)v;
    a->n_data = n;
    sf->data_case = MILVUS__PROTO__SCHEMA__SCALAR_FIELD__DATA_LONG_DATA;
    sf->long_data = a;
    return sf;
}

static ScalarField *strings(char **v, size_t n)
{
    ScalarField *sf = sf_new();
    Milvus__Proto__Schema__StringArray *a = calloc(1, sizeof(*a));
    milvus__proto__schema__string_array__init(a);
    a->data = v;
    a->n_data = n;
    sf->data_case = MILVUS__PROTO__SCHEMA__SCALAR_FIELD__DATA_STRING_DATA;
    sf->string_data = a;
    return sf;
}

static FieldData *float_vec_fd(const char *name, float *v, size_t n_values, int64_t dim)
{
    FieldData *fd = calloc(1, sizeof(*fd));
    milvus__proto__schema__field_data__init(fd);
    fd->field_name = (char *)name;
    fd->type = MILVUS__PROTO__SCHEMA__DATA_TYPE__FloatVector;
    Milvus__Proto__Schema__VectorField *vf = calloc(1, sizeof(*vf));
    milvus__proto__schema__vector_field__init(vf);
    Milvus__Proto__Schema__FloatArray *fa = calloc(1, sizeof(*fa));
    milvus__proto__schema__float_array__init(fa);
    fa->data = v;
    fa->n_data = n_values;
    vf->dim = dim;
    vf->data_case = MILVUS__PROTO__SCHEMA__VECTOR_FIELD__DATA_FLOAT_VECTOR;
    vf->float_vector = fa;
    fd->field_case = MILVUS__PROTO__SCHEMA__FIELD_DATA__FIELD_VECTORS;
    fd->vectors = vf;
    return fd;
}

TEST(columns_round_trip)
{
    static const int32_t i16[] = {-3, 300, 7};
    static const int64_t i64[] = {1, 1LL << 40, -9};
    static char *strs[] = {"a", "", "héllo"};
    static char *json[] = {"{\"k\":1}", "{}", "{\"k\":[1,2]}"};
    static float vec[] = {1, 2, 3, 4, 5, 6};
    /* JSON column: bytes per row */
    ScalarField *js = sf_new();
    Milvus__Proto__Schema__JSONArray *ja = calloc(1, sizeof(*ja));
    milvus__proto__schema__jsonarray__init(ja);
    ProtobufCBinaryData jb[3];
    for (int i = 0; i < 3; i++) {
        jb[i].data = (uint8_t *)json[i];
        jb[i].len = strlen(json[i]);
    }
    ja->data = jb;
    ja->n_data = 3;
    js->data_case = MILVUS__PROTO__SCHEMA__SCALAR_FIELD__DATA_JSON_DATA;
    js->json_data = ja;
    /* Array<Int64> column: one ScalarField per row */
    static const int64_t r0[] = {1, 2}, r2[] = {5};
    ScalarField *arr = sf_new();
    Milvus__Proto__Schema__ArrayArray *aa = calloc(1, sizeof(*aa));
    milvus__proto__schema__array_array__init(aa);
    ScalarField *rows[3] = {longs(r0, 2), longs(NULL, 0), longs(r2, 1)};
    aa->data = rows;
    aa->n_data = 3;
    aa->element_type = MILVUS__PROTO__SCHEMA__DATA_TYPE__Int64;
    arr->data_case = MILVUS__PROTO__SCHEMA__SCALAR_FIELD__DATA_ARRAY_DATA;
    arr->array_data = aa;

    FieldData *fds[6] = {
        scalar_fd("small", KITE_DT_INT16, ints(i16, 3)),
        scalar_fd("big", KITE_DT_INT64, longs(i64, 3)),
        scalar_fd("name", KITE_DT_VARCHAR, strings(strs, 3)),
        scalar_fd("$meta", KITE_DT_JSON, js),
        scalar_fd("tags", KITE_DT_ARRAY, arr),
        float_vec_fd("vec", vec, 6, 2),
    };
    fds[3]->is_dynamic = 1;
    Milvus__Proto__Milvus__InsertRequest r = MILVUS__PROTO__MILVUS__INSERT_REQUEST__INIT;
    r.fields_data = fds;
    r.n_fields_data = 6;
    r.num_rows = 3;
    Milvus__Proto__Milvus__InsertRequest *in =
        (void *)wire(&r.base, &milvus__proto__milvus__insert_request__descriptor);

    struct grpc_call c;
    call_init(&c);
    kite_column *cols;
    size_t n;
    kite_err err = {0};
    ASSERT_EQ_INT(grpc_columns_from_pb(&c, in->fields_data, in->n_fields_data, &cols, &n, &err),
                  KITE_OK);
    ASSERT_EQ_INT(n, 6);
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ_INT(cols[i].n, 3);
    ASSERT_EQ_INT(((const int16_t *)cols[0].data)[1], 300);
    ASSERT_EQ_INT(((const int64_t *)cols[1].data)[1], 1LL << 40);
    ASSERT_EQ_INT(cols[2].offsets[3], 1 + 0 + strlen("héllo"));
    ASSERT_STR_EQ(cols[3].name, "$meta");
    ASSERT_EQ_INT(cols[3].dtype, KITE_DT_JSON);
    ASSERT_EQ_INT(cols[4].element_type, KITE_DT_INT64);
    char row0[16] = {0};
    memcpy(row0, (const char *)cols[4].data + cols[4].offsets[0],
           cols[4].offsets[1] - cols[4].offsets[0]);
    ASSERT_STR_EQ(row0, "[1,2]");
    ASSERT_EQ_INT(cols[5].dim, 2);
    ASSERT_NEAR(((const float *)cols[5].data)[5], 6.0, 0);

    /* back to FieldData, rows 1..2, through the wire again */
    Milvus__Proto__Milvus__QueryResults q = MILVUS__PROTO__MILVUS__QUERY_RESULTS__INIT;
    FieldData *outs[6];
    for (size_t i = 0; i < n; i++)
        ASSERT((outs[i] = grpc_column_to_pb(&c, &cols[i], 1, 2)));
    q.fields_data = outs;
    q.n_fields_data = 6;
    Milvus__Proto__Milvus__QueryResults *b =
        (void *)wire(&q.base, &milvus__proto__milvus__query_results__descriptor);
    ASSERT_EQ_INT(b->fields_data[0]->scalars->int_data->data[1], 7);
    ASSERT_EQ_INT(b->fields_data[1]->scalars->long_data->data[0], 1LL << 40);
    ASSERT_STR_EQ(b->fields_data[2]->scalars->string_data->data[1], "héllo");
    ASSERT(b->fields_data[3]->is_dynamic);
    ASSERT_EQ_INT(b->fields_data[3]->scalars->json_data->data[1].len, strlen(json[2]));
    ASSERT_EQ_INT(b->fields_data[4]->scalars->array_data->data[1]->long_data->data[0], 5);
    ASSERT_EQ_INT(b->fields_data[4]->scalars->array_data->data[0]->long_data->n_data, 0);
    ASSERT_EQ_INT(b->fields_data[5]->vectors->dim, 2);
    ASSERT_EQ_INT(b->fields_data[5]->vectors->float_vector->n_data, 4);
    ASSERT_NEAR(b->fields_data[5]->vectors->float_vector->data[0], 3.0, 0);
    grpc_arena_free(&c.arena);
}

TEST(nullable_compact_values_are_expanded)
{
    static const int64_t vals[] = {10, 30};
    FieldData *fd = scalar_fd("n", KITE_DT_INT64, longs(vals, 2));
    protobuf_c_boolean valid[] = {1, 0, 1};
    fd->valid_data = valid;
    fd->n_valid_data = 3;
    static char *s[] = {"x"};
    FieldData *fs = scalar_fd("s", KITE_DT_VARCHAR, strings(s, 1));
    protobuf_c_boolean valid2[] = {0, 1, 0};
    fs->valid_data = valid2;
    fs->n_valid_data = 3;
    FieldData *fds[2] = {fd, fs};
    struct grpc_call c;
    call_init(&c);
    kite_column *cols;
    size_t n;
    kite_err err = {0};
    ASSERT_EQ_INT(grpc_columns_from_pb(&c, fds, 2, &cols, &n, &err), KITE_OK);
    ASSERT_EQ_INT(cols[0].n, 3);
    ASSERT_EQ_INT(((const int64_t *)cols[0].data)[2], 30);
    ASSERT_EQ_INT(cols[0].valid[1], 0);
    ASSERT_EQ_INT(cols[1].n, 3);
    ASSERT_EQ_INT(cols[1].offsets[1], 0);
    ASSERT_EQ_INT(cols[1].offsets[2], 1);
    ASSERT_EQ_INT(cols[1].offsets[3], 1);
    /* 2 values for 3 rows of which 1 is set: rejected */
    protobuf_c_boolean valid3[] = {0, 1, 0};
    fd->valid_data = valid3;
    ASSERT_EQ_INT(grpc_columns_from_pb(&c, fds, 1, &cols, &n, &err), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "not null");
    grpc_arena_free(&c.arena);
}

TEST(bad_columns_are_rejected)
{
    static float v[] = {1, 2, 3};
    struct grpc_call c;
    call_init(&c);
    kite_column *cols;
    size_t n;
    kite_err err = {0};
    FieldData *fd = float_vec_fd("vec", v, 3, 2); /* 3 floats, dim 2 */
    ASSERT_EQ_INT(grpc_columns_from_pb(&c, &fd, 1, &cols, &n, &err), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "vec");
    fd = float_vec_fd("vec", v, 3, 0);
    ASSERT_EQ_INT(grpc_columns_from_pb(&c, &fd, 1, &cols, &n, &err), KITE_EINVAL);
    static const int64_t l[] = {1};
    fd = scalar_fd("vec", KITE_DT_FLOAT_VECTOR, longs(l, 1)); /* scalars for a vector */
    ASSERT_EQ_INT(grpc_columns_from_pb(&c, &fd, 1, &cols, &n, &err), KITE_EINVAL);
    fd = scalar_fd("x", KITE_DT_VARCHAR, longs(l, 1)); /* wrong scalar slot */
    ASSERT_EQ_INT(grpc_columns_from_pb(&c, &fd, 1, &cols, &n, &err), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "x");
    fd = scalar_fd("empty", KITE_DT_INT64, NULL);
    fd->field_case = MILVUS__PROTO__SCHEMA__FIELD_DATA__FIELD__NOT_SET;
    ASSERT_EQ_INT(grpc_columns_from_pb(&c, &fd, 1, &cols, &n, &err), KITE_EINVAL);
    grpc_arena_free(&c.arena);
}

TEST(ids_and_templates)
{
    struct grpc_call c;
    call_init(&c);
    int64_t v[] = {5, 6};
    kite_column ids = {.name = "id", .dtype = KITE_DT_INT64, .n = 2, .data = v};
    Milvus__Proto__Schema__IDs *p = grpc_ids_to_pb(&c, &ids);
    ASSERT(p);
    v[0] = 99; /* copied, not borrowed */
    ASSERT_EQ_INT(p->id_field_case, MILVUS__PROTO__SCHEMA__IDS__ID_FIELD_INT_ID);
    ASSERT_EQ_INT(p->int_id->data[0], 5);
    const uint64_t off[] = {0, 2, 5};
    kite_column sids = {.dtype = KITE_DT_VARCHAR, .n = 2, .data = "abcde", .offsets = off};
    p = grpc_ids_to_pb(&c, &sids);
    ASSERT_STR_EQ(p->str_id->data[1], "cde");

    Milvus__Proto__Schema__TemplateValue tv[2] = {MILVUS__PROTO__SCHEMA__TEMPLATE_VALUE__INIT,
                                                  MILVUS__PROTO__SCHEMA__TEMPLATE_VALUE__INIT};
    tv[0].val_case = MILVUS__PROTO__SCHEMA__TEMPLATE_VALUE__VAL_INT64_VAL;
    tv[0].int64_val = 5;
    Milvus__Proto__Schema__TemplateArrayValue av = MILVUS__PROTO__SCHEMA__TEMPLATE_ARRAY_VALUE__INIT;
    Milvus__Proto__Schema__StringArray sa = MILVUS__PROTO__SCHEMA__STRING_ARRAY__INIT;
    char *words[] = {"x", "y"};
    sa.data = words;
    sa.n_data = 2;
    av.data_case = MILVUS__PROTO__SCHEMA__TEMPLATE_ARRAY_VALUE__DATA_STRING_DATA;
    av.string_data = &sa;
    tv[1].val_case = MILVUS__PROTO__SCHEMA__TEMPLATE_VALUE__VAL_ARRAY_VAL;
    tv[1].array_val = &av;
    Milvus__Proto__Milvus__QueryRequest__ExprTemplateValuesEntry e[2] = {
        MILVUS__PROTO__MILVUS__QUERY_REQUEST__EXPR_TEMPLATE_VALUES_ENTRY__INIT,
        MILVUS__PROTO__MILVUS__QUERY_REQUEST__EXPR_TEMPLATE_VALUES_ENTRY__INIT};
    e[0].key = "n";
    e[0].value = &tv[0];
    e[1].key = "names";
    e[1].value = &tv[1];
    void *entries[2] = {&e[0], &e[1]};
    const char *json = NULL;
    kite_err err = {0};
    ASSERT_EQ_INT(grpc_templates_to_json(&c, entries, 2, &json, &err), KITE_OK);
    ASSERT_STR_EQ(json, "{\"n\":5,\"names\":[\"x\",\"y\"]}");
    ASSERT_EQ_INT(grpc_templates_to_json(&c, entries, 0, &json, &err), KITE_OK);
    ASSERT(json == NULL);
    grpc_arena_free(&c.arena);
}

TEST(status_codes)
{
    struct grpc_call c;
    call_init(&c);
    kite_err err = {0};
    snprintf(err.message, sizeof(err.message), "collection not found[collection=x]");
    Milvus__Proto__Common__Status *st = grpc_status_new(&c, KITE_ENOCOLL, &err);
    ASSERT_EQ_INT(st->code, 100);
    ASSERT_EQ_INT(st->error_code, 4);
    ASSERT_STR_EQ(st->reason, "collection not found[collection=x]");
    st = grpc_status_new(&c, KITE_EINVAL, NULL);
    ASSERT_EQ_INT(st->code, 1100);
    ASSERT_EQ_INT(st->error_code, 5);
    st = grpc_status_new(&c, KITE_ENOINDEX, NULL);
    ASSERT_EQ_INT(st->error_code, 25);
    st = grpc_status_new(&c, KITE_EINTERNAL, NULL);
    ASSERT_EQ_INT(st->code, 65535);
    ASSERT_EQ_INT(st->error_code, 1);
    st = grpc_status_new(&c, KITE_OK, NULL);
    ASSERT_EQ_INT(st->code, 0);
    ASSERT_EQ_INT(st->error_code, 0);
    ASSERT_EQ_INT(protobuf_c_message_get_packed_size(&st->base), 0); /* success = empty */
    grpc_arena_free(&c.arena);
}

static void dispatch(const char *method, const uint8_t *body, size_t len, struct grpc_reply *out)
{
    char path[128];
    snprintf(path, sizeof(path), "%s%s", GRPC_METHOD_PREFIX, method);
    struct grpc_config cfg = {.max_recv_bytes = 1024, .max_send_bytes = 1 << 20};
    struct grpc_request req = {.path = path, .body = body, .body_len = len, .connection_id = 7};
    grpc_dispatch(NULL, &cfg, &req, out);
}

TEST(dispatch_framing)
{
    struct grpc_reply r;
    const uint8_t empty[5] = {0};
    dispatch("GetVersion", empty, 5, &r);
    ASSERT_EQ_INT(r.grpc_status, GRPC_STATUS_OK);
    ASSERT(r.body_len > 5);
    Milvus__Proto__Milvus__GetVersionResponse *v = (void *)protobuf_c_message_unpack(
        &milvus__proto__milvus__get_version_response__descriptor, NULL, r.body_len - 5,
        r.body + 5);
    ASSERT(v);
    ASSERT_STR_EQ(v->version, KITE_MILVUS_VERSION);
    protobuf_c_message_free_unpacked(&v->base, NULL);
    grpc_reply_free(&r);

    dispatch("Connect", empty, 5, &r);
    Milvus__Proto__Milvus__ConnectResponse *cr = (void *)protobuf_c_message_unpack(
        &milvus__proto__milvus__connect_response__descriptor, NULL, r.body_len - 5, r.body + 5);
    ASSERT(cr);
    ASSERT_EQ_INT(cr->identifier, 7);
    protobuf_c_message_free_unpacked(&cr->base, NULL);
    grpc_reply_free(&r);

    dispatch("NoSuchRpc", empty, 5, &r);
    ASSERT_EQ_INT(r.grpc_status, GRPC_STATUS_UNIMPLEMENTED);
    ASSERT(r.body == NULL);
    const uint8_t compressed[5] = {1, 0, 0, 0, 0};
    dispatch("GetVersion", compressed, 5, &r);
    ASSERT_EQ_INT(r.grpc_status, GRPC_STATUS_UNIMPLEMENTED);
    dispatch("GetVersion", empty, 3, &r);
    ASSERT_EQ_INT(r.grpc_status, GRPC_STATUS_INTERNAL);
    const uint8_t too_big[5] = {0, 0, 0, 8, 0}; /* 2048 > max_recv_bytes 1024 */
    dispatch("GetVersion", too_big, 5, &r);
    ASSERT_EQ_INT(r.grpc_status, GRPC_STATUS_RESOURCE_EXHAUSTED);
    const uint8_t junk[9] = {0, 0, 0, 0, 4, 0x1a, 100, 'a', 'b'}; /* truncated field */
    dispatch("DescribeCollection", junk, 9, &r);
    ASSERT_EQ_INT(r.grpc_status, GRPC_STATUS_INTERNAL);
}
