/*
 * schema.c — collection schema validation (Milvus rules and error texts,
 * SEMANTICS.md §d), copying, comparison and the JSON form stored in the catalog.
 *
 * Invariants of a validated schema (schema_validate output):
 *  1. Exactly one primary field, Int64 or VarChar; auto_id only on it.
 *  2. Field ids are 100, 101, ... in field order; "$meta" (is_dynamic) is the
 *     last field when enable_dynamic_field, and only then.
 *  3. 1..4 vector fields, <= 64 fields, unique valid names.
 *
 * Threading model: pure functions over their arguments.
 */
#include <string.h>

#include "db.h"

static bool is_scalar_element(int t)
{
    return t == KITE_DT_BOOL || t == KITE_DT_INT8 || t == KITE_DT_INT16 || t == KITE_DT_INT32 ||
           t == KITE_DT_INT64 || t == KITE_DT_FLOAT || t == KITE_DT_DOUBLE ||
           t == KITE_DT_VARCHAR;
}

static int check_default(const kite_field_schema *f, kite_err *err)
{
    if (!f->default_json)
        return KITE_OK;
    json_error_t je;
    json_t *v = json_loads(f->default_json, JSON_DECODE_ANY, &je);
    int rc = KITE_OK;
    if (!v)
        return kite_err_set(err, KITE_EINVAL, "default value of field %s is not valid JSON: %s",
                            f->name, je.text);
    bool ok;
    switch (f->dtype) {
    case KITE_DT_BOOL:
        ok = json_is_boolean(v);
        break;
    case KITE_DT_INT8:
    case KITE_DT_INT16:
    case KITE_DT_INT32:
    case KITE_DT_INT64:
        ok = json_is_integer(v);
        break;
    case KITE_DT_FLOAT:
    case KITE_DT_DOUBLE:
        ok = json_is_number(v);
        break;
    case KITE_DT_VARCHAR:
        ok = json_is_string(v) && (int64_t)json_string_length(v) <= f->max_length;
        break;
    default:
        ok = false;
    }
    if (!ok || f->is_primary)
        rc = kite_err_set(err, KITE_EINVAL,
                          "type (%s) of field (%s) is not equal to the type of default value "
                          "or default value is not supported for this type",
                          kite_dtype_name(f->dtype), f->name);
    json_decref(v);
    return rc;
}

static int check_field(const kite_field_schema *f, kite_err *err)
{
    if (!db_name_valid(f->name, "field", err))
        return KITE_EINVAL;
    if (!kite_dtype_name(f->dtype))
        return kite_err_set(err, KITE_EINVAL, "field data type %d of field %s is not supported",
                            f->dtype, f->name);
    if (f->dtype == KITE_DT_FLOAT_VECTOR || f->dtype == KITE_DT_FLOAT16_VECTOR ||
        f->dtype == KITE_DT_BFLOAT16_VECTOR) {
        if (f->dim < 2 || f->dim > DB_MAX_DIM)
            return kite_err_set(err, KITE_EINVAL,
                                "invalid dimension: %lld of field %s. should be in range 2 ~ "
                                "32768",
                                (long long)f->dim, f->name);
    } else if (f->dtype == KITE_DT_BINARY_VECTOR) {
        if (f->dim <= 0 || f->dim % 8 != 0)
            return kite_err_set(err, KITE_EINVAL,
                                "binary vector dimension should be multiple of 8, got %lld "
                                "for field %s",
                                (long long)f->dim, f->name);
        if (f->dim > (int64_t)DB_MAX_DIM * 8)
            return kite_err_set(err, KITE_EINVAL,
                                "invalid dimension: %lld of field %s. should be in range 8 ~ "
                                "262144",
                                (long long)f->dim, f->name);
    }
    if (f->dtype == KITE_DT_VARCHAR ||
        (f->dtype == KITE_DT_ARRAY && f->element_type == KITE_DT_VARCHAR)) {
        if (f->max_length <= 0 || f->max_length > 65535)
            return kite_err_set(err, KITE_EINVAL,
                                "the maximum length specified for a VarChar field(%s) should "
                                "be in (0, 65535], but got %lld",
                                f->name, (long long)f->max_length);
    }
    if (f->dtype == KITE_DT_ARRAY) {
        if (!is_scalar_element(f->element_type))
            return kite_err_set(err, KITE_EINVAL,
                                "element type %d of array field %s is not supported: expected "
                                "Bool, Int8..Int64, Float, Double or VarChar",
                                f->element_type, f->name);
        if (f->max_capacity <= 0 || f->max_capacity > 4096)
            return kite_err_set(err, KITE_EINVAL,
                                "the maximum capacity specified for a Array should be in "
                                "(0, 4096], but got %lld for field %s",
                                (long long)f->max_capacity, f->name);
    }
    if (f->auto_id && !f->is_primary)
        return kite_err_set(err, KITE_EINVAL,
                            "only primary field can speficy AutoID with true, field name = %s",
                            f->name);
    if (f->is_primary && f->dtype != KITE_DT_INT64 && f->dtype != KITE_DT_VARCHAR)
        return kite_err_set(err, KITE_EINVAL,
                            "the data type of primary key should be Int64 or VarChar, field %s "
                            "is %s",
                            f->name, kite_dtype_name(f->dtype));
    if (f->is_primary && f->nullable)
        return kite_err_set(err, KITE_EINVAL, "primary field %s does not support nullable",
                            f->name);
    if (kite_dtype_is_vector(f->dtype) && (f->nullable || f->default_json))
        return kite_err_set(err, KITE_EINVAL,
                            "vector field %s does not support nullable or default value",
                            f->name);
    return check_default(f, err);
}

static int copy_field(const kite_field_schema *in, kite_field_schema *out)
{
    *out = *in;
    out->name = kite_strdup(in->name ? in->name : "");
    out->description = kite_strdup(in->description ? in->description : "");
    out->default_json = in->default_json ? kite_strdup(in->default_json) : NULL;
    if (!out->name || !out->description || (in->default_json && !out->default_json))
        return KITE_ENOMEM;
    return KITE_OK;
}

void schema_free(kite_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_fields; i++) {
        kite_free(s->fields[i].name);
        kite_free(s->fields[i].description);
        kite_free(s->fields[i].default_json);
    }
    kite_free(s->fields);
    kite_free(s->description);
    memset(s, 0, sizeof(*s));
}

int schema_copy(const kite_schema *in, kite_schema *out, bool with_meta)
{
    memset(out, 0, sizeof(*out));
    out->enable_dynamic_field = in->enable_dynamic_field;
    out->description = kite_strdup(in->description ? in->description : "");
    out->fields = kite_calloc(in->n_fields ? in->n_fields : 1, sizeof(kite_field_schema));
    if (!out->description || !out->fields) {
        schema_free(out);
        return KITE_ENOMEM;
    }
    for (size_t i = 0; i < in->n_fields; i++) {
        if (!with_meta && in->fields[i].is_dynamic)
            continue;
        if (copy_field(&in->fields[i], &out->fields[out->n_fields++]) != KITE_OK) {
            schema_free(out);
            return KITE_ENOMEM;
        }
    }
    return KITE_OK;
}

static int count_checks(const kite_schema *in, kite_err *err)
{
    size_t n_pk = 0, n_vec = 0, n_real = 0, n_pkey = 0;
    for (size_t i = 0; i < in->n_fields; i++) {
        const kite_field_schema *f = &in->fields[i];
        if (f->is_dynamic)
            continue;
        n_real++;
        n_pk += f->is_primary;
        n_pkey += f->is_partition_key;
        if (f->is_partition_key &&
            (f->is_primary || (f->dtype != KITE_DT_INT64 && f->dtype != KITE_DT_VARCHAR)))
            return kite_err_set(err, KITE_EINVAL,
                                "the data type of partition key should be Int64 or VarChar and "
                                "it cannot be the primary key (field %s)",
                                f->name ? f->name : "");
        n_vec += kite_dtype_is_vector(f->dtype);
        for (size_t j = 0; j < i; j++)
            if (!in->fields[j].is_dynamic && f->name && in->fields[j].name &&
                strcmp(f->name, in->fields[j].name) == 0)
                return kite_err_set(err, KITE_EINVAL, "duplicated field name %s found",
                                    f->name);
    }
    if (n_real > DB_MAX_FIELDS)
        return kite_err_set(err, KITE_EINVAL,
                            "maximum field's number should be limited to 64, got %zu", n_real);
    if (n_pkey > 1)
        return kite_err_set(err, KITE_EINVAL, "there are more than one partition key");
    if (n_pk > 1)
        return kite_err_set(err, KITE_EINVAL, "there are more than one primary key");
    if (n_pk == 0)
        return kite_err_set(err, KITE_EINVAL, "primary key is not specified");
    if (n_vec == 0)
        return kite_err_set(err, KITE_EINVAL, "schema does not contain vector field");
    if (n_vec > DB_MAX_VECTOR_FIELDS)
        return kite_err_set(err, KITE_EINVAL,
                            "maximum vector field's number should be limited to 4, got %zu",
                            n_vec);
    return KITE_OK;
}

int schema_validate(const kite_schema *in, kite_schema *out, kite_err *err)
{
    int rc;
    if (!in || !in->fields || in->n_fields == 0)
        return kite_err_set(err, KITE_EINVAL, "schema is empty: expected at least a primary "
                                              "key field and a vector field");
    rc = count_checks(in, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < in->n_fields; i++) {
        if (in->fields[i].is_dynamic)
            continue;
        if (in->fields[i].name && strcmp(in->fields[i].name, DB_META_FIELD) == 0)
            return kite_err_set(err, KITE_EINVAL, "field name $meta is reserved");
        rc = check_field(&in->fields[i], err);
        if (rc)
            return rc;
    }
    rc = schema_copy(in, out, false);
    if (rc)
        return kite_err_set(err, rc, "out of memory copying the schema");
    for (size_t i = 0; i < out->n_fields; i++) {
        kite_field_schema *f = &out->fields[i];
        f->field_id = 100 + (int64_t)i;
        f->is_dynamic = false;
        if (f->dtype != KITE_DT_ARRAY)
            f->element_type = KITE_DT_NONE;
        if (!kite_dtype_is_vector(f->dtype))
            f->dim = 0;
        if (f->dtype != KITE_DT_VARCHAR &&
            !(f->dtype == KITE_DT_ARRAY && f->element_type == KITE_DT_VARCHAR))
            f->max_length = 0;
        if (f->dtype != KITE_DT_ARRAY)
            f->max_capacity = 0;
    }
    if (out->enable_dynamic_field) {
        kite_field_schema *nf =
            kite_realloc(out->fields, (out->n_fields + 1) * sizeof(kite_field_schema));
        if (!nf) {
            schema_free(out);
            return kite_err_set(err, KITE_ENOMEM, "out of memory");
        }
        out->fields = nf;
        kite_field_schema *m = &nf[out->n_fields];
        memset(m, 0, sizeof(*m));
        m->name = kite_strdup(DB_META_FIELD);
        m->description = kite_strdup("dynamic schema");
        m->dtype = KITE_DT_JSON;
        m->is_dynamic = true;
        m->field_id = 100 + (int64_t)out->n_fields;
        out->n_fields++;
        if (!m->name || !m->description) {
            schema_free(out);
            return kite_err_set(err, KITE_ENOMEM, "out of memory");
        }
    }
    return KITE_OK;
}

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return (!a || !*a) && (!b || !*b);
    return strcmp(a, b) == 0;
}

/* Compare two validated schemas (create-if-identical semantics). */
bool schema_equal(const kite_schema *a, const kite_schema *b)
{
    if (a->n_fields != b->n_fields || a->enable_dynamic_field != b->enable_dynamic_field)
        return false;
    for (size_t i = 0; i < a->n_fields; i++) {
        const kite_field_schema *x = &a->fields[i], *y = &b->fields[i];
        if (!str_eq(x->name, y->name) || x->dtype != y->dtype ||
            x->element_type != y->element_type || x->dim != y->dim ||
            x->max_length != y->max_length || x->max_capacity != y->max_capacity ||
            x->is_primary != y->is_primary || x->auto_id != y->auto_id ||
            x->nullable != y->nullable || x->is_partition_key != y->is_partition_key ||
            !str_eq(x->default_json, y->default_json))
            return false;
    }
    return true;
}

int schema_field_index(const kite_schema *s, const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < s->n_fields; i++)
        if (strcmp(s->fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ============================================================ JSON form */

json_t *schema_to_json(const kite_schema *s)
{
    json_t *j = json_object();
    json_t *fs = json_array();
    json_object_set_new(j, "description", json_string(s->description ? s->description : ""));
    json_object_set_new(j, "enable_dynamic_field", json_boolean(s->enable_dynamic_field));
    for (size_t i = 0; i < s->n_fields; i++) {
        const kite_field_schema *f = &s->fields[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(f->name));
        json_object_set_new(o, "description", json_string(f->description ? f->description : ""));
        json_object_set_new(o, "dtype", json_integer(f->dtype));
        json_object_set_new(o, "element_type", json_integer(f->element_type));
        json_object_set_new(o, "dim", json_integer(f->dim));
        json_object_set_new(o, "max_length", json_integer(f->max_length));
        json_object_set_new(o, "max_capacity", json_integer(f->max_capacity));
        json_object_set_new(o, "is_primary", json_boolean(f->is_primary));
        json_object_set_new(o, "auto_id", json_boolean(f->auto_id));
        json_object_set_new(o, "is_partition_key", json_boolean(f->is_partition_key));
        json_object_set_new(o, "is_clustering_key", json_boolean(f->is_clustering_key));
        json_object_set_new(o, "nullable", json_boolean(f->nullable));
        json_object_set_new(o, "is_dynamic", json_boolean(f->is_dynamic));
        if (f->default_json)
            json_object_set_new(o, "default_json", json_string(f->default_json));
        json_object_set_new(o, "field_id", json_integer(f->field_id));
        json_array_append_new(fs, o);
    }
    json_object_set_new(j, "fields", fs);
    return j;
}

static char *jstrdup(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? kite_strdup(s) : NULL;
}

int schema_from_json(json_t *j, kite_schema *out, kite_err *err)
{
    memset(out, 0, sizeof(*out));
    json_t *fs = json_object_get(j, "fields");
    if (!json_is_object(j) || !json_is_array(fs) || json_array_size(fs) == 0 ||
        json_array_size(fs) > DB_MAX_FIELDS + 1)
        return kite_err_set(err, KITE_ECORRUPT, "catalog: schema has no valid field list");
    out->description = jstrdup(j, "description");
    out->enable_dynamic_field = json_is_true(json_object_get(j, "enable_dynamic_field"));
    out->fields = kite_calloc(json_array_size(fs), sizeof(kite_field_schema));
    if (!out->fields)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    for (size_t i = 0; i < json_array_size(fs); i++) {
        json_t *o = json_array_get(fs, i);
        kite_field_schema *f = &out->fields[out->n_fields++];
        f->name = jstrdup(o, "name");
        f->description = jstrdup(o, "description");
        f->default_json = jstrdup(o, "default_json");
        f->dtype = (int)json_integer_value(json_object_get(o, "dtype"));
        f->element_type = (int)json_integer_value(json_object_get(o, "element_type"));
        f->dim = json_integer_value(json_object_get(o, "dim"));
        f->max_length = json_integer_value(json_object_get(o, "max_length"));
        f->max_capacity = json_integer_value(json_object_get(o, "max_capacity"));
        f->is_primary = json_is_true(json_object_get(o, "is_primary"));
        f->auto_id = json_is_true(json_object_get(o, "auto_id"));
        f->is_partition_key = json_is_true(json_object_get(o, "is_partition_key"));
        f->is_clustering_key = json_is_true(json_object_get(o, "is_clustering_key"));
        f->nullable = json_is_true(json_object_get(o, "nullable"));
        f->is_dynamic = json_is_true(json_object_get(o, "is_dynamic"));
        f->field_id = json_integer_value(json_object_get(o, "field_id"));
        if (!f->name || !kite_dtype_name(f->dtype) || f->dim < 0 || f->dim > DB_MAX_DIM * 8) {
            schema_free(out);
            return kite_err_set(err, KITE_ECORRUPT, "catalog: field %zu is invalid", i);
        }
    }
    return KITE_OK;
}

/* Build the expr view of the schema (all fields incl. $meta, in column order). */
void coll_build_expr_schema(struct dcoll *c)
{
    kite_free(c->efields);
    c->efields = kite_calloc(c->schema.n_fields, sizeof(struct expr_field));
    c->eschema.fields = c->efields;
    c->eschema.n_fields = c->efields ? c->schema.n_fields : 0;
    c->eschema.dynamic_index = c->dyn_index;
    if (!c->efields)
        return;
    for (size_t i = 0; i < c->schema.n_fields; i++) {
        const kite_field_schema *f = &c->schema.fields[i];
        c->efields[i].name = f->name;
        c->efields[i].dtype = f->dtype;
        c->efields[i].element_type = f->element_type;
        c->efields[i].nullable = f->nullable;
        c->efields[i].is_primary = f->is_primary;
    }
}
