/*
 * grpc_convert.c — protobuf <-> kite.h conversions shared by the gRPC handlers:
 * CollectionSchema/FieldSchema <-> kite_schema, FieldData <-> kite_column, IDs, and
 * expression template values -> JSON.
 *
 * Wire layouts (GRPC.md §4):
 *  - FieldData is columnar.  Bool -> BoolArray, Int8/16/32 -> IntArray (int32),
 *    Int64 -> LongArray, Float/Double, VarChar -> StringArray, JSON -> JSONArray
 *    (bytes of JSON text per row), Array -> ArrayArray (one ScalarField per row) which
 *    kite.h carries as the JSON text of an array.  Vectors are flat: n*dim floats,
 *    n*dim/8 bytes (binary), n*dim*2 bytes (float16/bfloat16).
 *  - Dynamic keys travel in one JSON column "$meta" with is_dynamic = true.
 *  - Nullable columns: requests may carry only the non-null values plus valid_data
 *    with one flag per row (pymilvus) or full-length values (both accepted);
 *    kite.h and responses use full-length columns plus valid flags.
 *
 * Invariants:
 *  1. Request bytes are input: every count is checked against dim and row counts,
 *     and a mismatch is KITE_EINVAL with a message naming the field.
 *  2. Everything allocated here lives in the call's arena; columns of requests may
 *     point into the unpacked request, columns of responses into kept results.
 *
 * Threading: stateless.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "buf.h"
#include "err.h"
#include "grpc_internal.h"

typedef Milvus__Proto__Schema__FieldData FieldData;
typedef Milvus__Proto__Schema__ScalarField ScalarField;
typedef Milvus__Proto__Schema__VectorField VectorField;
typedef Milvus__Proto__Schema__FieldSchema FieldSchema;
typedef Milvus__Proto__Common__KeyValuePair KeyValuePair;

#define ARENA(c) (&(c)->arena)

/* Free text from json_dumps with whatever allocator jansson was given. */
static void json_text_free(char *txt)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    f(txt);
}

/* =================================================================== schema */

static int parse_type_param(const char *field, const KeyValuePair *kv, int64_t *out,
                            kite_err *err)
{
    if (grpc_parse_i64(kv->value, out) != KITE_OK || *out < 0)
        return kite_err_set(err, KITE_EINVAL,
                            "type param %s of field %s must be a non-negative integer, not '%s'",
                            kv->key, field, kv->value ? kv->value : "");
    return KITE_OK;
}

/* Default value (ValueField) -> JSON text in the arena; NULL when none. */
static char *default_to_json(struct grpc_call *c, const Milvus__Proto__Schema__ValueField *v)
{
    if (!v)
        return NULL;
    switch (v->data_case) {
    case MILVUS__PROTO__SCHEMA__VALUE_FIELD__DATA_BOOL_DATA:
        return grpc_arena_strdup(ARENA(c), v->bool_data ? "true" : "false");
    case MILVUS__PROTO__SCHEMA__VALUE_FIELD__DATA_INT_DATA:
        return grpc_arena_printf(ARENA(c), "%" PRId32, v->int_data);
    case MILVUS__PROTO__SCHEMA__VALUE_FIELD__DATA_LONG_DATA:
        return grpc_arena_printf(ARENA(c), "%" PRId64, v->long_data);
    case MILVUS__PROTO__SCHEMA__VALUE_FIELD__DATA_FLOAT_DATA:
        return grpc_arena_printf(ARENA(c), "%.9g", (double)v->float_data);
    case MILVUS__PROTO__SCHEMA__VALUE_FIELD__DATA_DOUBLE_DATA:
        return grpc_arena_printf(ARENA(c), "%.17g", v->double_data);
    case MILVUS__PROTO__SCHEMA__VALUE_FIELD__DATA_STRING_DATA: {
        json_t *s = json_string(v->string_data ? v->string_data : "");
        char *txt = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
        char *out = txt ? grpc_arena_strdup(ARENA(c), txt) : NULL;
        json_text_free(txt);
        json_decref(s);
        return out;
    }
    default:
        return NULL;
    }
}

int grpc_schema_from_pb(struct grpc_call *c, const Milvus__Proto__Schema__CollectionSchema *pb,
                        kite_schema *out, kite_err *err)
{
    memset(out, 0, sizeof(*out));
    out->description = pb->description;
    out->enable_dynamic_field = pb->enable_dynamic_field;
    out->fields = grpc_arena_array(ARENA(c), pb->n_fields ? pb->n_fields : 1,
                                   sizeof(kite_field_schema));
    if (!out->fields)
        return kite_err_set(err, KITE_ENOMEM, "out of memory converting the schema");
    for (size_t i = 0; i < pb->n_fields; i++) {
        const FieldSchema *f = pb->fields[i];
        if (f->is_dynamic)
            continue; /* "$meta" is Kite's to create */
        kite_field_schema *kf = &out->fields[out->n_fields++];
        kf->name = f->name;
        kf->description = f->description;
        kf->dtype = f->data_type;
        kf->element_type = f->element_type;
        kf->is_primary = f->is_primary_key;
        kf->auto_id = f->autoid || (f->is_primary_key && pb->autoid);
        kf->is_partition_key = f->is_partition_key;
        kf->is_clustering_key = f->is_clustering_key;
        kf->nullable = f->nullable;
        for (size_t k = 0; k < f->n_type_params; k++) {
            const KeyValuePair *kv = f->type_params[k];
            int64_t *dst = NULL;
            if (strcmp(kv->key, "dim") == 0)
                dst = &kf->dim;
            else if (strcmp(kv->key, "max_length") == 0)
                dst = &kf->max_length;
            else if (strcmp(kv->key, "max_capacity") == 0)
                dst = &kf->max_capacity;
            if (dst) {
                int rc = parse_type_param(f->name, kv, dst, err);
                if (rc != KITE_OK)
                    return rc;
            }
        }
        kf->default_json = default_to_json(c, f->default_value);
        if (ARENA(c)->oom)
            return kite_err_set(err, KITE_ENOMEM, "out of memory converting the schema");
    }
    return KITE_OK;
}

static KeyValuePair *kv_new(struct grpc_call *c, const char *key, const char *value)
{
    KeyValuePair *kv = grpc_arena_alloc(ARENA(c), sizeof(*kv));
    if (!kv)
        return NULL;
    milvus__proto__common__key_value_pair__init(kv);
    kv->key = grpc_arena_strdup(ARENA(c), key);
    kv->value = grpc_arena_strdup(ARENA(c), value);
    return kv;
}

/* Default JSON text -> ValueField of the field's type (NULL if none or unparsable). */
static Milvus__Proto__Schema__ValueField *default_from_json(struct grpc_call *c,
                                                            const kite_field_schema *f)
{
    if (!f->default_json)
        return NULL;
    json_t *j = json_loads(f->default_json, JSON_DECODE_ANY, NULL);
    if (!j || json_is_null(j)) {
        json_decref(j);
        return NULL;
    }
    Milvus__Proto__Schema__ValueField *v = grpc_arena_alloc(ARENA(c), sizeof(*v));
    if (!v) {
        json_decref(j);
        return NULL;
    }
    milvus__proto__schema__value_field__init(v);
    switch (f->dtype) {
    case KITE_DT_BOOL:
        v->data_case = MILVUS__PROTO__SCHEMA__VALUE_FIELD__DATA_BOOL_DATA;
        v->bool_data = json_is_true(j);
        break;
    case KITE_DT_INT8:
    case KITE_DT_INT16:
    case KITE_DT_INT32:
        v->data_case = MILVUS__PROTO__SCHEMA__VALUE_FIELD__DATA_INT_DATA;
        v->int_data = (int32_t)json_integer_value(j);
        break;
    case KITE_DT_INT64:
        v->data_case = MILVUS__PROTO__SCHEMA__VALUE_FIELD__DATA_LONG_DATA;
        v->long_data = json_integer_value(j);
        break;
    case KITE_DT_FLOAT:
        v->data_case = MILVUS__PROTO__SCHEMA__VALUE_FIELD__DATA_FLOAT_DATA;
        v->float_data = (float)json_number_value(j);
        break;
    case KITE_DT_DOUBLE:
        v->data_case = MILVUS__PROTO__SCHEMA__VALUE_FIELD__DATA_DOUBLE_DATA;
        v->double_data = json_number_value(j);
        break;
    case KITE_DT_VARCHAR:
        v->data_case = MILVUS__PROTO__SCHEMA__VALUE_FIELD__DATA_STRING_DATA;
        v->string_data = grpc_arena_strdup(ARENA(c), json_is_string(j) ? json_string_value(j)
                                                                       : "");
        break;
    default:
        v = NULL;
        break;
    }
    json_decref(j);
    return v;
}

static FieldSchema *field_to_pb(struct grpc_call *c, const kite_field_schema *f)
{
    FieldSchema *p = grpc_arena_alloc(ARENA(c), sizeof(*p));
    KeyValuePair **tp = grpc_arena_array(ARENA(c), 3, sizeof(*tp));
    if (!p || !tp)
        return NULL;
    milvus__proto__schema__field_schema__init(p);
    p->fieldid = f->field_id;
    p->name = grpc_arena_strdup(ARENA(c), f->name);
    p->description = grpc_arena_strdup(ARENA(c), f->description);
    p->data_type = (Milvus__Proto__Schema__DataType)f->dtype;
    p->element_type = (Milvus__Proto__Schema__DataType)f->element_type;
    p->is_primary_key = f->is_primary;
    p->autoid = f->auto_id;
    p->is_partition_key = f->is_partition_key;
    p->is_clustering_key = f->is_clustering_key;
    p->nullable = f->nullable;
    p->is_dynamic = f->is_dynamic;
    char num[32];
    if (kite_dtype_is_vector(f->dtype) && f->dim > 0) {
        snprintf(num, sizeof(num), "%" PRId64, f->dim);
        tp[p->n_type_params++] = kv_new(c, "dim", num);
    }
    if ((f->dtype == KITE_DT_VARCHAR ||
         (f->dtype == KITE_DT_ARRAY && f->element_type == KITE_DT_VARCHAR)) &&
        f->max_length > 0) {
        snprintf(num, sizeof(num), "%" PRId64, f->max_length);
        tp[p->n_type_params++] = kv_new(c, "max_length", num);
    }
    if (f->dtype == KITE_DT_ARRAY && f->max_capacity > 0) {
        snprintf(num, sizeof(num), "%" PRId64, f->max_capacity);
        tp[p->n_type_params++] = kv_new(c, "max_capacity", num);
    }
    p->type_params = tp;
    p->default_value = default_from_json(c, f);
    return ARENA(c)->oom ? NULL : p;
}

Milvus__Proto__Schema__CollectionSchema *grpc_schema_to_pb(struct grpc_call *c,
                                                           const kite_collection_info *info)
{
    const kite_schema *s = &info->schema;
    Milvus__Proto__Schema__CollectionSchema *p = grpc_arena_alloc(ARENA(c), sizeof(*p));
    FieldSchema **fields = grpc_arena_array(ARENA(c), s->n_fields + 1, sizeof(*fields));
    if (!p || !fields)
        return NULL;
    milvus__proto__schema__collection_schema__init(p);
    p->name = grpc_arena_strdup(ARENA(c), info->name);
    p->description = grpc_arena_strdup(ARENA(c), s->description);
    p->enable_dynamic_field = s->enable_dynamic_field;
    p->dbname = grpc_arena_strdup(ARENA(c), info->db_name);
    int64_t max_id = 99;
    for (size_t i = 0; i < s->n_fields; i++) {
        if (s->fields[i].is_dynamic)
            continue; /* added below, once */
        fields[p->n_fields] = field_to_pb(c, &s->fields[i]);
        if (!fields[p->n_fields])
            return NULL;
        if (s->fields[i].is_primary)
            p->autoid = s->fields[i].auto_id;
        if (s->fields[i].field_id > max_id)
            max_id = s->fields[i].field_id;
        p->n_fields++;
    }
    if (s->enable_dynamic_field) {
        kite_field_schema meta = {
            .name = "$meta",
            .description = "",
            .dtype = KITE_DT_JSON,
            .is_dynamic = true,
            .field_id = max_id + 1,
        };
        fields[p->n_fields] = field_to_pb(c, &meta);
        if (!fields[p->n_fields])
            return NULL;
        p->n_fields++;
    }
    p->fields = fields;
    return p;
}

/* ============================================================ request columns */

/* Concatenate n byte strings into data + n+1 offsets. */
static int concat_bytes(struct grpc_call *c, size_t n, const uint8_t *const *ptrs,
                        const size_t *lens, kite_column *col)
{
    uint64_t *off = grpc_arena_array(ARENA(c), n + 1, sizeof(uint64_t));
    if (!off)
        return KITE_ENOMEM;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        off[i] = total;
        if (!kite_add_size(total, lens[i], &total))
            return KITE_ENOMEM;
    }
    off[n] = total;
    uint8_t *data = grpc_arena_alloc(ARENA(c), total);
    if (!data)
        return KITE_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (lens[i])
            memcpy(data + off[i], ptrs[i], lens[i]);
    col->data = data;
    col->offsets = off;
    col->n = n;
    return KITE_OK;
}

static int strings_col(struct grpc_call *c, size_t n, char *const *strs, kite_column *col)
{
    const uint8_t **ptrs = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*ptrs));
    size_t *lens = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*lens));
    if (!ptrs || !lens)
        return KITE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = (const uint8_t *)(strs[i] ? strs[i] : "");
        lens[i] = strs[i] ? strlen(strs[i]) : 0;
    }
    return concat_bytes(c, n, ptrs, lens, col);
}

static int binaries_col(struct grpc_call *c, size_t n, const ProtobufCBinaryData *bins,
                        kite_column *col)
{
    const uint8_t **ptrs = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*ptrs));
    size_t *lens = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*lens));
    if (!ptrs || !lens)
        return KITE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = bins[i].data;
        lens[i] = bins[i].len;
    }
    return concat_bytes(c, n, ptrs, lens, col);
}

/* One ScalarField (a row of an Array column) -> jansson array. */
static json_t *scalar_to_json(const ScalarField *sf)
{
    json_t *a = json_array();
    if (!a || !sf)
        return a;
    switch (sf->data_case) {
    case MILVUS__PROTO__SCHEMA__SCALAR_FIELD__DATA_BOOL_DATA:
        for (size_t i = 0; i < sf->bool_data->n_data; i++)
            json_array_append_new(a, json_boolean(sf->bool_data->data[i]));
        break;
    case MILVUS__PROTO__SCHEMA__SCALAR_FIELD__DATA_INT_DATA:
        for (size_t i = 0; i < sf->int_data->n_data; i++)
            json_array_append_new(a, json_integer(sf->int_data->data[i]));
        break;
    case MILVUS__PROTO__SCHEMA__SCALAR_FIELD__DATA_LONG_DATA:
        for (size_t i = 0; i < sf->long_data->n_data; i++)
            json_array_append_new(a, json_integer(sf->long_data->data[i]));
        break;
    case MILVUS__PROTO__SCHEMA__SCALAR_FIELD__DATA_FLOAT_DATA:
        for (size_t i = 0; i < sf->float_data->n_data; i++)
            json_array_append_new(a, json_real(sf->float_data->data[i]));
        break;
    case MILVUS__PROTO__SCHEMA__SCALAR_FIELD__DATA_DOUBLE_DATA:
        for (size_t i = 0; i < sf->double_data->n_data; i++)
            json_array_append_new(a, json_real(sf->double_data->data[i]));
        break;
    case MILVUS__PROTO__SCHEMA__SCALAR_FIELD__DATA_STRING_DATA:
        for (size_t i = 0; i < sf->string_data->n_data; i++)
            json_array_append_new(a, json_string(sf->string_data->data[i]));
        break;
    default:
        break;
    }
    return a;
}

static int array_col(struct grpc_call *c, const Milvus__Proto__Schema__ArrayArray *aa,
                     kite_column *col)
{
    size_t n = aa->n_data;
    const uint8_t **ptrs = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*ptrs));
    size_t *lens = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*lens));
    if (!ptrs || !lens)
        return KITE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *a = scalar_to_json(aa->data[i]);
        char *txt = a ? json_dumps(a, JSON_COMPACT) : NULL;
        json_decref(a);
        if (!txt)
            return KITE_ENOMEM;
        ptrs[i] = (const uint8_t *)grpc_arena_strdup(ARENA(c), txt);
        lens[i] = strlen(txt);
        json_text_free(txt);
        if (!ptrs[i])
            return KITE_ENOMEM;
    }
    col->element_type = aa->element_type;
    return concat_bytes(c, n, ptrs, lens, col);
}

/* Narrow int32 values to the column's width. */
static int ints_col(struct grpc_call *c, const Milvus__Proto__Schema__IntArray *ia,
                    kite_column *col)
{
    size_t n = ia->n_data;
    col->n = n;
    if (col->dtype == KITE_DT_INT32) {
        col->data = ia->data;
        return KITE_OK;
    }
    size_t w = col->dtype == KITE_DT_INT8 ? 1 : 2;
    void *d = grpc_arena_array(ARENA(c), n ? n : 1, w);
    if (!d)
        return KITE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (w == 1)
            ((int8_t *)d)[i] = (int8_t)ia->data[i];
        else
            ((int16_t *)d)[i] = (int16_t)ia->data[i];
    }
    col->data = d;
    return KITE_OK;
}

#define SCALAR_CASE(x) MILVUS__PROTO__SCHEMA__SCALAR_FIELD__DATA_##x

static int scalar_col(struct grpc_call *c, const FieldData *fd, kite_column *col, kite_err *err)
{
    const ScalarField *sf = fd->scalars;
    int want;
    switch (col->dtype) {
    case KITE_DT_BOOL: want = SCALAR_CASE(BOOL_DATA); break;
    case KITE_DT_INT8:
    case KITE_DT_INT16:
    case KITE_DT_INT32: want = SCALAR_CASE(INT_DATA); break;
    case KITE_DT_INT64: want = SCALAR_CASE(LONG_DATA); break;
    case KITE_DT_FLOAT: want = SCALAR_CASE(FLOAT_DATA); break;
    case KITE_DT_DOUBLE: want = SCALAR_CASE(DOUBLE_DATA); break;
    case 20: /* String */
    case KITE_DT_VARCHAR: want = SCALAR_CASE(STRING_DATA); break;
    case KITE_DT_JSON: want = SCALAR_CASE(JSON_DATA); break;
    case KITE_DT_ARRAY: want = SCALAR_CASE(ARRAY_DATA); break;
    default:
        return kite_err_set(err, KITE_EINVAL, "field %s: data type %d is not supported",
                            col->name, col->dtype);
    }
    if (!sf || (int)sf->data_case != want)
        return kite_err_set(err, KITE_EINVAL,
                            "field %s: the data does not match its type %s (scalar slot %d, "
                            "expected %d)",
                            col->name, kite_dtype_name(col->dtype) ? kite_dtype_name(col->dtype)
                                                                   : "?",
                            sf ? (int)sf->data_case : 0, want);
    int rc = KITE_OK;
    switch (want) {
    case SCALAR_CASE(BOOL_DATA): {
        size_t n = sf->bool_data->n_data;
        uint8_t *d = grpc_arena_alloc(ARENA(c), n ? n : 1);
        if (!d)
            return KITE_ENOMEM;
        for (size_t i = 0; i < n; i++)
            d[i] = sf->bool_data->data[i] ? 1 : 0;
        col->data = d;
        col->n = n;
        break;
    }
    case SCALAR_CASE(INT_DATA): rc = ints_col(c, sf->int_data, col); break;
    case SCALAR_CASE(LONG_DATA):
        col->data = sf->long_data->data;
        col->n = sf->long_data->n_data;
        break;
    case SCALAR_CASE(FLOAT_DATA):
        col->data = sf->float_data->data;
        col->n = sf->float_data->n_data;
        break;
    case SCALAR_CASE(DOUBLE_DATA):
        col->data = sf->double_data->data;
        col->n = sf->double_data->n_data;
        break;
    case SCALAR_CASE(STRING_DATA):
        col->dtype = KITE_DT_VARCHAR;
        rc = strings_col(c, sf->string_data->n_data, sf->string_data->data, col);
        break;
    case SCALAR_CASE(JSON_DATA):
        rc = binaries_col(c, sf->json_data->n_data, sf->json_data->data, col);
        break;
    case SCALAR_CASE(ARRAY_DATA): rc = array_col(c, sf->array_data, col); break;
    }
    if (rc != KITE_OK)
        return kite_err_set(err, rc, "out of memory converting field %s", col->name);
    return KITE_OK;
}

static int vector_col(const FieldData *fd, kite_column *col, kite_err *err)
{
    const VectorField *vf = fd->vectors;
    if (!vf || vf->dim <= 0 || vf->dim > INT32_MAX)
        return kite_err_set(err, KITE_EINVAL, "field %s: vector data needs a positive dim, not %"
                            PRId64, col->name, vf ? vf->dim : 0);
    col->dim = (uint32_t)vf->dim;
    size_t count = 0, per_row = 0;
    switch (vf->data_case) {
    case MILVUS__PROTO__SCHEMA__VECTOR_FIELD__DATA_FLOAT_VECTOR:
        if (col->dtype != KITE_DT_FLOAT_VECTOR)
            goto mismatch;
        col->data = vf->float_vector->data;
        count = vf->float_vector->n_data;
        per_row = col->dim;
        break;
    case MILVUS__PROTO__SCHEMA__VECTOR_FIELD__DATA_BINARY_VECTOR:
        if (col->dtype != KITE_DT_BINARY_VECTOR)
            goto mismatch;
        if (col->dim % 8)
            return kite_err_set(err, KITE_EINVAL,
                                "field %s: binary vector dimension should be multiple of 8, "
                                "not %u", col->name, col->dim);
        col->data = vf->binary_vector.data;
        count = vf->binary_vector.len;
        per_row = col->dim / 8;
        break;
    case MILVUS__PROTO__SCHEMA__VECTOR_FIELD__DATA_FLOAT16_VECTOR:
    case MILVUS__PROTO__SCHEMA__VECTOR_FIELD__DATA_BFLOAT16_VECTOR:
        if (col->dtype != KITE_DT_FLOAT16_VECTOR && col->dtype != KITE_DT_BFLOAT16_VECTOR)
            goto mismatch;
        /* binary_vector, float16_vector and bfloat16_vector share the union slot */
        col->data = vf->float16_vector.data;
        count = vf->float16_vector.len;
        per_row = (size_t)col->dim * 2;
        break;
    case MILVUS__PROTO__SCHEMA__VECTOR_FIELD__DATA_SPARSE_FLOAT_VECTOR:
        return kite_err_set(err, KITE_EUNSUPPORTED,
                            "field %s: sparse float vectors are not supported by Kite",
                            col->name);
    default:
        goto mismatch;
    }
    if (count % per_row)
        return kite_err_set(err, KITE_EINVAL,
                            "field %s: vector data of %zu values is not a whole number of rows "
                            "of dim %u", col->name, count, col->dim);
    col->n = count / per_row;
    return KITE_OK;
mismatch:
    return kite_err_set(err, KITE_EINVAL, "field %s: the vector data does not match type %s",
                        col->name, kite_dtype_name(col->dtype) ? kite_dtype_name(col->dtype)
                                                               : "?");
}

/* Spread compact (non-null only) values over n rows according to valid. */
static int expand_nullable(struct grpc_call *c, kite_column *col, const uint8_t *valid,
                           size_t n)
{
    if (col->offsets) {
        uint64_t *off = grpc_arena_array(ARENA(c), n + 1, sizeof(uint64_t));
        if (!off)
            return KITE_ENOMEM;
        size_t k = 0;
        off[0] = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t len = valid[i] ? col->offsets[k + 1] - col->offsets[k] : 0;
            if (valid[i])
                k++;
            off[i + 1] = off[i] + len;
        }
        col->offsets = off; /* the data bytes are already in order */
    } else {
        size_t w = kite_dtype_row_bytes(col->dtype, col->dim);
        uint8_t *d = grpc_arena_array(ARENA(c), n ? n : 1, w);
        if (!d)
            return KITE_ENOMEM;
        const uint8_t *src = col->data;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (valid[i])
                memcpy(d + i * w, src + (k++) * w, w);
        col->data = d;
    }
    col->n = n;
    return KITE_OK;
}

static int column_from_pb(struct grpc_call *c, const FieldData *fd, kite_column *col,
                          kite_err *err)
{
    memset(col, 0, sizeof(*col));
    col->name = fd->field_name && fd->field_name[0] ? fd->field_name : "";
    col->dtype = fd->type;
    if (fd->is_dynamic) {
        col->name = "$meta";
        col->dtype = KITE_DT_JSON;
    }
    int rc;
    if (fd->field_case == MILVUS__PROTO__SCHEMA__FIELD_DATA__FIELD_VECTORS)
        rc = kite_dtype_is_vector(col->dtype)
                 ? vector_col(fd, col, err)
                 : kite_err_set(err, KITE_EINVAL, "field %s: vector data for a %s field",
                                col->name, kite_dtype_name(col->dtype) ? kite_dtype_name(col->dtype)
                                                                       : "non-vector");
    else if (fd->field_case == MILVUS__PROTO__SCHEMA__FIELD_DATA__FIELD_SCALARS)
        rc = kite_dtype_is_vector(col->dtype)
                 ? kite_err_set(err, KITE_EINVAL, "field %s: scalar data for a vector field",
                                col->name)
                 : scalar_col(c, fd, col, err);
    else
        rc = kite_err_set(err, KITE_EINVAL, "field %s carries no data", col->name);
    if (rc != KITE_OK || fd->n_valid_data == 0)
        return rc;

    size_t n = fd->n_valid_data, n_set = 0;
    uint8_t *valid = grpc_arena_alloc(ARENA(c), n);
    if (!valid)
        return kite_err_set(err, KITE_ENOMEM, "out of memory converting field %s", col->name);
    for (size_t i = 0; i < n; i++)
        n_set += (valid[i] = fd->valid_data[i] ? 1 : 0);
    col->valid = valid;
    if (col->n == n)
        return KITE_OK;
    if (col->n != n_set)
        return kite_err_set(err, KITE_EINVAL,
                            "field %s: %zu values for %zu rows of which %zu are not null",
                            col->name, col->n, n, n_set);
    if (expand_nullable(c, col, valid, n) != KITE_OK)
        return kite_err_set(err, KITE_ENOMEM, "out of memory converting field %s", col->name);
    return KITE_OK;
}

int grpc_columns_from_pb(struct grpc_call *c, Milvus__Proto__Schema__FieldData *const *fds,
                         size_t n_fds, kite_column **out, size_t *n_out, kite_err *err)
{
    kite_column *cols = grpc_arena_array(ARENA(c), n_fds ? n_fds : 1, sizeof(*cols));
    if (!cols)
        return kite_err_set(err, KITE_ENOMEM, "out of memory converting the columns");
    for (size_t i = 0; i < n_fds; i++) {
        int rc = column_from_pb(c, fds[i], &cols[i], err);
        if (rc != KITE_OK)
            return rc;
    }
    *out = cols;
    *n_out = n_fds;
    return KITE_OK;
}

/* =========================================================== response columns */

static ScalarField *scalar_new(struct grpc_call *c)
{
    ScalarField *sf = grpc_arena_alloc(ARENA(c), sizeof(*sf));
    if (sf)
        milvus__proto__schema__scalar_field__init(sf);
    return sf;
}

/* A jansson array -> ScalarField of elem_type (one row of an Array column). */
static ScalarField *scalar_from_json(struct grpc_call *c, const json_t *a, int elem)
{
    ScalarField *sf = scalar_new(c);
    if (!sf)
        return NULL;
    size_t n = json_is_array(a) ? json_array_size(a) : 0;
    switch (elem) {
    case KITE_DT_BOOL: {
        Milvus__Proto__Schema__BoolArray *x = grpc_arena_alloc(ARENA(c), sizeof(*x));
        protobuf_c_boolean *d = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*d));
        if (!x || !d)
            return NULL;
        milvus__proto__schema__bool_array__init(x);
        for (size_t i = 0; i < n; i++)
            d[i] = json_is_true(json_array_get(a, i));
        x->data = d;
        x->n_data = n;
        sf->data_case = SCALAR_CASE(BOOL_DATA);
        sf->bool_data = x;
        break;
    }
    case KITE_DT_INT8:
    case KITE_DT_INT16:
    case KITE_DT_INT32: {
        Milvus__Proto__Schema__IntArray *x = grpc_arena_alloc(ARENA(c), sizeof(*x));
        int32_t *d = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*d));
        if (!x || !d)
            return NULL;
        milvus__proto__schema__int_array__init(x);
        for (size_t i = 0; i < n; i++)
            d[i] = (int32_t)json_integer_value(json_array_get(a, i));
        x->data = d;
        x->n_data = n;
        sf->data_case = SCALAR_CASE(INT_DATA);
        sf->int_data = x;
        break;
    }
    case KITE_DT_INT64: {
        Milvus__Proto__Schema__LongArray *x = grpc_arena_alloc(ARENA(c), sizeof(*x));
        int64_t *d = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*d));
        if (!x || !d)
            return NULL;
        milvus__proto__schema__long_array__init(x);
        for (size_t i = 0; i < n; i++)
            d[i] = json_integer_value(json_array_get(a, i));
        x->data = d;
        x->n_data = n;
        sf->data_case = SCALAR_CASE(LONG_DATA);
        sf->long_data = x;
        break;
    }
    case KITE_DT_FLOAT: {
        Milvus__Proto__Schema__FloatArray *x = grpc_arena_alloc(ARENA(c), sizeof(*x));
        float *d = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*d));
        if (!x || !d)
            return NULL;
        milvus__proto__schema__float_array__init(x);
        for (size_t i = 0; i < n; i++)
            d[i] = (float)json_number_value(json_array_get(a, i));
        x->data = d;
        x->n_data = n;
        sf->data_case = SCALAR_CASE(FLOAT_DATA);
        sf->float_data = x;
        break;
    }
    case KITE_DT_DOUBLE: {
        Milvus__Proto__Schema__DoubleArray *x = grpc_arena_alloc(ARENA(c), sizeof(*x));
        double *d = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*d));
        if (!x || !d)
            return NULL;
        milvus__proto__schema__double_array__init(x);
        for (size_t i = 0; i < n; i++)
            d[i] = json_number_value(json_array_get(a, i));
        x->data = d;
        x->n_data = n;
        sf->data_case = SCALAR_CASE(DOUBLE_DATA);
        sf->double_data = x;
        break;
    }
    case KITE_DT_VARCHAR: {
        Milvus__Proto__Schema__StringArray *x = grpc_arena_alloc(ARENA(c), sizeof(*x));
        char **d = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*d));
        if (!x || !d)
            return NULL;
        milvus__proto__schema__string_array__init(x);
        for (size_t i = 0; i < n; i++) {
            const json_t *e = json_array_get(a, i);
            d[i] = grpc_arena_strdup(ARENA(c), json_is_string(e) ? json_string_value(e) : "");
            if (!d[i])
                return NULL;
        }
        x->data = d;
        x->n_data = n;
        sf->data_case = SCALAR_CASE(STRING_DATA);
        sf->string_data = x;
        break;
    }
    default:
        break; /* unknown element type: an empty row */
    }
    return sf;
}

static bool row_valid(const kite_column *col, size_t i)
{
    return !col->valid || col->valid[i];
}

static int fill_array_rows(struct grpc_call *c, const kite_column *col, size_t from, size_t n,
                           ScalarField *sf)
{
    Milvus__Proto__Schema__ArrayArray *aa = grpc_arena_alloc(ARENA(c), sizeof(*aa));
    ScalarField **rows = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*rows));
    if (!aa || !rows)
        return KITE_ENOMEM;
    milvus__proto__schema__array_array__init(aa);
    aa->element_type = (Milvus__Proto__Schema__DataType)col->element_type;
    const char *bytes = col->data;
    for (size_t i = 0; i < n; i++) {
        size_t r = from + i;
        json_t *j = NULL;
        if (row_valid(col, r) && col->offsets[r + 1] > col->offsets[r])
            j = json_loadb(bytes + col->offsets[r], col->offsets[r + 1] - col->offsets[r], 0,
                           NULL);
        rows[i] = scalar_from_json(c, j, col->element_type);
        json_decref(j);
        if (!rows[i])
            return KITE_ENOMEM;
    }
    aa->data = rows;
    aa->n_data = n;
    sf->data_case = SCALAR_CASE(ARRAY_DATA);
    sf->array_data = aa;
    return KITE_OK;
}

/* Fill sf with rows [from, from+n) of a scalar column. */
static int fill_scalar(struct grpc_call *c, const kite_column *col, size_t from, size_t n,
                       ScalarField *sf)
{
    switch (col->dtype) {
    case KITE_DT_BOOL: {
        Milvus__Proto__Schema__BoolArray *x = grpc_arena_alloc(ARENA(c), sizeof(*x));
        protobuf_c_boolean *d = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*d));
        if (!x || !d)
            return KITE_ENOMEM;
        milvus__proto__schema__bool_array__init(x);
        for (size_t i = 0; i < n; i++)
            d[i] = ((const uint8_t *)col->data)[from + i] != 0;
        x->data = d;
        x->n_data = n;
        sf->data_case = SCALAR_CASE(BOOL_DATA);
        sf->bool_data = x;
        return KITE_OK;
    }
    case KITE_DT_INT8:
    case KITE_DT_INT16:
    case KITE_DT_INT32: {
        Milvus__Proto__Schema__IntArray *x = grpc_arena_alloc(ARENA(c), sizeof(*x));
        int32_t *d = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*d));
        if (!x || !d)
            return KITE_ENOMEM;
        milvus__proto__schema__int_array__init(x);
        for (size_t i = 0; i < n; i++) {
            size_t r = from + i;
            d[i] = col->dtype == KITE_DT_INT8    ? ((const int8_t *)col->data)[r]
                   : col->dtype == KITE_DT_INT16 ? ((const int16_t *)col->data)[r]
                                                 : ((const int32_t *)col->data)[r];
        }
        x->data = d;
        x->n_data = n;
        sf->data_case = SCALAR_CASE(INT_DATA);
        sf->int_data = x;
        return KITE_OK;
    }
    case KITE_DT_INT64: {
        Milvus__Proto__Schema__LongArray *x = grpc_arena_alloc(ARENA(c), sizeof(*x));
        if (!x)
            return KITE_ENOMEM;
        milvus__proto__schema__long_array__init(x);
        x->data = col->data ? (int64_t *)col->data + from : NULL; /* kept result (grpc_call_keep) */
        x->n_data = n;
        sf->data_case = SCALAR_CASE(LONG_DATA);
        sf->long_data = x;
        return KITE_OK;
    }
    case KITE_DT_FLOAT: {
        Milvus__Proto__Schema__FloatArray *x = grpc_arena_alloc(ARENA(c), sizeof(*x));
        if (!x)
            return KITE_ENOMEM;
        milvus__proto__schema__float_array__init(x);
        x->data = col->data ? (float *)col->data + from : NULL;
        x->n_data = n;
        sf->data_case = SCALAR_CASE(FLOAT_DATA);
        sf->float_data = x;
        return KITE_OK;
    }
    case KITE_DT_DOUBLE: {
        Milvus__Proto__Schema__DoubleArray *x = grpc_arena_alloc(ARENA(c), sizeof(*x));
        if (!x)
            return KITE_ENOMEM;
        milvus__proto__schema__double_array__init(x);
        x->data = col->data ? (double *)col->data + from : NULL;
        x->n_data = n;
        sf->data_case = SCALAR_CASE(DOUBLE_DATA);
        sf->double_data = x;
        return KITE_OK;
    }
    case KITE_DT_VARCHAR: {
        Milvus__Proto__Schema__StringArray *x = grpc_arena_alloc(ARENA(c), sizeof(*x));
        char **d = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*d));
        if (!x || !d)
            return KITE_ENOMEM;
        milvus__proto__schema__string_array__init(x);
        for (size_t i = 0; i < n; i++) {
            size_t r = from + i;
            /* All-empty values may come with no data buffer at all. */
            const char *vbase = col->data ? (const char *)col->data : "";
            d[i] = grpc_arena_strndup(ARENA(c), vbase + col->offsets[r],
                                      col->offsets[r + 1] - col->offsets[r]);
            if (!d[i])
                return KITE_ENOMEM;
        }
        x->data = d;
        x->n_data = n;
        sf->data_case = SCALAR_CASE(STRING_DATA);
        sf->string_data = x;
        return KITE_OK;
    }
    case KITE_DT_JSON: {
        Milvus__Proto__Schema__JSONArray *x = grpc_arena_alloc(ARENA(c), sizeof(*x));
        ProtobufCBinaryData *d = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*d));
        if (!x || !d)
            return KITE_ENOMEM;
        milvus__proto__schema__jsonarray__init(x);
        for (size_t i = 0; i < n; i++) {
            size_t r = from + i;
            d[i].data = col->data ? (uint8_t *)col->data + col->offsets[r] : NULL;
            d[i].len = col->offsets[r + 1] - col->offsets[r];
        }
        x->data = d;
        x->n_data = n;
        sf->data_case = SCALAR_CASE(JSON_DATA);
        sf->json_data = x;
        return KITE_OK;
    }
    case KITE_DT_ARRAY:
        return fill_array_rows(c, col, from, n, sf);
    default:
        return KITE_OK; /* unknown type: an empty column */
    }
}

static int fill_vector(struct grpc_call *c, const kite_column *col, size_t from, size_t n,
                       VectorField *vf)
{
    vf->dim = col->dim;
    size_t row = kite_dtype_row_bytes(col->dtype, col->dim);
    uint8_t *base = col->data ? (uint8_t *)col->data + from * row : NULL; /* kept result */
    switch (col->dtype) {
    case KITE_DT_FLOAT_VECTOR: {
        Milvus__Proto__Schema__FloatArray *x = grpc_arena_alloc(ARENA(c), sizeof(*x));
        if (!x)
            return KITE_ENOMEM;
        milvus__proto__schema__float_array__init(x);
        x->data = (float *)(void *)base;
        x->n_data = n * col->dim;
        vf->data_case = MILVUS__PROTO__SCHEMA__VECTOR_FIELD__DATA_FLOAT_VECTOR;
        vf->float_vector = x;
        return KITE_OK;
    }
    case KITE_DT_BINARY_VECTOR:
        vf->data_case = MILVUS__PROTO__SCHEMA__VECTOR_FIELD__DATA_BINARY_VECTOR;
        break;
    case KITE_DT_FLOAT16_VECTOR:
        vf->data_case = MILVUS__PROTO__SCHEMA__VECTOR_FIELD__DATA_FLOAT16_VECTOR;
        break;
    case KITE_DT_BFLOAT16_VECTOR:
        vf->data_case = MILVUS__PROTO__SCHEMA__VECTOR_FIELD__DATA_BFLOAT16_VECTOR;
        break;
    default:
        return KITE_OK;
    }
    vf->binary_vector.data = base; /* the three bytes slots share the union */
    vf->binary_vector.len = n * row;
    return KITE_OK;
}

FieldData *grpc_column_to_pb(struct grpc_call *c, const kite_column *col, size_t from, size_t n)
{
    FieldData *fd = grpc_arena_alloc(ARENA(c), sizeof(*fd));
    if (!fd)
        return NULL;
    milvus__proto__schema__field_data__init(fd);
    fd->type = (Milvus__Proto__Schema__DataType)col->dtype;
    fd->field_name = grpc_arena_strdup(ARENA(c), col->name);
    fd->is_dynamic = col->name && strcmp(col->name, "$meta") == 0;
    int rc;
    if (kite_dtype_is_vector(col->dtype)) {
        VectorField *vf = grpc_arena_alloc(ARENA(c), sizeof(*vf));
        if (!vf)
            return NULL;
        milvus__proto__schema__vector_field__init(vf);
        rc = fill_vector(c, col, from, n, vf);
        fd->field_case = MILVUS__PROTO__SCHEMA__FIELD_DATA__FIELD_VECTORS;
        fd->vectors = vf;
    } else {
        ScalarField *sf = scalar_new(c);
        if (!sf)
            return NULL;
        rc = fill_scalar(c, col, from, n, sf);
        fd->field_case = MILVUS__PROTO__SCHEMA__FIELD_DATA__FIELD_SCALARS;
        fd->scalars = sf;
    }
    if (rc != KITE_OK || !fd->field_name)
        return NULL;
    if (col->valid) {
        protobuf_c_boolean *v = grpc_arena_array(ARENA(c), n ? n : 1, sizeof(*v));
        if (!v)
            return NULL;
        for (size_t i = 0; i < n; i++)
            v[i] = col->valid[from + i] != 0;
        fd->valid_data = v;
        fd->n_valid_data = n;
    }
    return fd;
}

Milvus__Proto__Schema__IDs *grpc_ids_to_pb(struct grpc_call *c, const kite_column *ids)
{
    Milvus__Proto__Schema__IDs *p = grpc_arena_alloc(ARENA(c), sizeof(*p));
    if (!p)
        return NULL;
    milvus__proto__schema__ids__init(p);
    if (ids->dtype == KITE_DT_NONE || ids->n == 0) {
        /* No rows: still name the Int64 slot, clients read ids.int_id/str_id blindly. */
        Milvus__Proto__Schema__LongArray *la = grpc_arena_alloc(ARENA(c), sizeof(*la));
        if (!la)
            return NULL;
        milvus__proto__schema__long_array__init(la);
        if (ids->dtype == KITE_DT_VARCHAR) {
            Milvus__Proto__Schema__StringArray *sa = grpc_arena_alloc(ARENA(c), sizeof(*sa));
            if (!sa)
                return NULL;
            milvus__proto__schema__string_array__init(sa);
            p->id_field_case = MILVUS__PROTO__SCHEMA__IDS__ID_FIELD_STR_ID;
            p->str_id = sa;
        } else {
            p->id_field_case = MILVUS__PROTO__SCHEMA__IDS__ID_FIELD_INT_ID;
            p->int_id = la;
        }
        return p;
    }
    ScalarField tmp;
    milvus__proto__schema__scalar_field__init(&tmp);
    if (fill_scalar(c, ids, 0, ids->n, &tmp) != KITE_OK)
        return NULL;
    if (ids->dtype == KITE_DT_VARCHAR) {
        p->id_field_case = MILVUS__PROTO__SCHEMA__IDS__ID_FIELD_STR_ID;
        p->str_id = tmp.string_data;
    } else if (ids->dtype == KITE_DT_INT64) {
        /* Copied: write results are freed before the response is packed. */
        int64_t *copy = grpc_arena_array(ARENA(c), ids->n ? ids->n : 1, sizeof(int64_t));
        if (!copy)
            return NULL;
        if (ids->n)
            memcpy(copy, ids->data, ids->n * sizeof(int64_t));
        tmp.long_data->data = copy;
        p->id_field_case = MILVUS__PROTO__SCHEMA__IDS__ID_FIELD_INT_ID;
        p->int_id = tmp.long_data;
    }
    return p;
}

/* ================================================================= templates */

static json_t *template_array_to_json(const Milvus__Proto__Schema__TemplateArrayValue *a)
{
    json_t *j = json_array();
    if (!j || !a)
        return j;
    switch (a->data_case) {
    case MILVUS__PROTO__SCHEMA__TEMPLATE_ARRAY_VALUE__DATA_BOOL_DATA:
        for (size_t i = 0; i < a->bool_data->n_data; i++)
            json_array_append_new(j, json_boolean(a->bool_data->data[i]));
        break;
    case MILVUS__PROTO__SCHEMA__TEMPLATE_ARRAY_VALUE__DATA_LONG_DATA:
        for (size_t i = 0; i < a->long_data->n_data; i++)
            json_array_append_new(j, json_integer(a->long_data->data[i]));
        break;
    case MILVUS__PROTO__SCHEMA__TEMPLATE_ARRAY_VALUE__DATA_DOUBLE_DATA:
        for (size_t i = 0; i < a->double_data->n_data; i++)
            json_array_append_new(j, json_real(a->double_data->data[i]));
        break;
    case MILVUS__PROTO__SCHEMA__TEMPLATE_ARRAY_VALUE__DATA_STRING_DATA:
        for (size_t i = 0; i < a->string_data->n_data; i++)
            json_array_append_new(j, json_string(a->string_data->data[i]));
        break;
    case MILVUS__PROTO__SCHEMA__TEMPLATE_ARRAY_VALUE__DATA_ARRAY_DATA:
        for (size_t i = 0; i < a->array_data->n_data; i++)
            json_array_append_new(j, template_array_to_json(a->array_data->data[i]));
        break;
    case MILVUS__PROTO__SCHEMA__TEMPLATE_ARRAY_VALUE__DATA_JSON_DATA:
        for (size_t i = 0; i < a->json_data->n_data; i++) {
            const ProtobufCBinaryData *b = &a->json_data->data[i];
            json_t *e = json_loadb((const char *)b->data, b->len, JSON_DECODE_ANY, NULL);
            json_array_append_new(j, e ? e : json_null());
        }
        break;
    default:
        break;
    }
    return j;
}

static json_t *template_to_json(const Milvus__Proto__Schema__TemplateValue *v)
{
    if (!v)
        return json_null();
    switch (v->val_case) {
    case MILVUS__PROTO__SCHEMA__TEMPLATE_VALUE__VAL_BOOL_VAL: return json_boolean(v->bool_val);
    case MILVUS__PROTO__SCHEMA__TEMPLATE_VALUE__VAL_INT64_VAL: return json_integer(v->int64_val);
    case MILVUS__PROTO__SCHEMA__TEMPLATE_VALUE__VAL_FLOAT_VAL: return json_real(v->float_val);
    case MILVUS__PROTO__SCHEMA__TEMPLATE_VALUE__VAL_STRING_VAL:
        return json_string(v->string_val ? v->string_val : "");
    case MILVUS__PROTO__SCHEMA__TEMPLATE_VALUE__VAL_ARRAY_VAL:
        return template_array_to_json(v->array_val);
    default:
        return json_null();
    }
}

int grpc_templates_to_json(struct grpc_call *c, void *const *entries, size_t n,
                           const char **out, kite_err *err)
{
    *out = NULL;
    if (n == 0)
        return KITE_OK;
    json_t *obj = json_object();
    if (!obj)
        return kite_err_set(err, KITE_ENOMEM, "out of memory converting template values");
    for (size_t i = 0; i < n; i++) {
        /* Every *__ExprTemplateValuesEntry has this layout (see grpc_internal.h). */
        const Milvus__Proto__Milvus__DeleteRequest__ExprTemplateValuesEntry *e = entries[i];
        if (e && e->key)
            json_object_set_new(obj, e->key, template_to_json(e->value));
    }
    char *txt = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!txt)
        return kite_err_set(err, KITE_ENOMEM, "out of memory converting template values");
    *out = grpc_arena_strdup(ARENA(c), txt);
    json_text_free(txt);
    return *out ? KITE_OK : kite_err_set(err, KITE_ENOMEM, "out of memory");
}
