/*
 * rest_rows.c — kite_result columns -> REST JSON rows (REST.md §3, §5).
 *
 * Encoding rules:
 *  1. Int64 values (pk "id" included) are numbers when the client allows Int64,
 *     strings otherwise (Accept-Type-Allow-Int64: false).
 *  2. A declared JSON field comes out as its JSON text in a string (what Milvus
 *     2.4/2.5 does); an Array field as a JSON array; a null (valid[i] == 0) as null.
 *  3. FloatVector as an array of numbers; Binary/Float16/BFloat16 vectors as base64
 *     of the raw bytes.
 *  4. The dynamic "$meta" column is flattened: its keys become top-level keys of the
 *     row unless a schema field of that name is already there.
 *  5. Search rows carry the pk under the literal key "id" and the score as "distance".
 * Threading: stateless.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "rest_internal.h"

json_t *rest_int64(const struct rest_ctx *c, int64_t v)
{
    if (c->allow_int64)
        return json_integer((json_int_t)v);
    char s[32];
    snprintf(s, sizeof(s), "%lld", (long long)v);
    return json_string(s);
}

static json_t *var_value(const kite_column *col, size_t i, const char **text, size_t *len)
{
    const uint8_t *base = col->data;
    uint64_t a = col->offsets[i], b = col->offsets[i + 1];
    if (b < a) {
        *text = "";
        *len = 0;
        return NULL;
    }
    *text = (const char *)base + a;
    *len = (size_t)(b - a);
    return NULL;
}

static json_t *float_vector(const kite_column *col, size_t i)
{
    json_t *arr = json_array();
    const float *v = (const float *)col->data + (size_t)col->dim * i;
    for (uint32_t d = 0; arr && d < col->dim; d++) {
        if (json_array_append_new(arr, rest_json_float(v[d])) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *bytes_base64(const uint8_t *p, size_t n)
{
    char *s = kite_base64_encode(p, n);
    if (!s)
        return NULL;
    json_t *v = json_string(s);
    kite_free(s);
    return v;
}

json_t *rest_column_value(const struct rest_ctx *c, const kite_column *col, size_t i)
{
    const char *text;
    size_t len;
    if (col->valid && !col->valid[i])
        return json_null();
    switch (col->dtype) {
    case KITE_DT_BOOL: return json_boolean(((const uint8_t *)col->data)[i] != 0);
    case KITE_DT_INT8: return json_integer(((const int8_t *)col->data)[i]);
    case KITE_DT_INT16: return json_integer(((const int16_t *)col->data)[i]);
    case KITE_DT_INT32: return json_integer(((const int32_t *)col->data)[i]);
    case KITE_DT_INT64: return rest_int64(c, ((const int64_t *)col->data)[i]);
    case KITE_DT_FLOAT: return rest_json_float(((const float *)col->data)[i]);
    case KITE_DT_DOUBLE: return json_real(((const double *)col->data)[i]);
    case KITE_DT_VARCHAR:
        var_value(col, i, &text, &len);
        return json_stringn(text, len);
    case KITE_DT_JSON:
        var_value(col, i, &text, &len);
        return json_stringn(text, len);
    case KITE_DT_ARRAY: {
        var_value(col, i, &text, &len);
        json_t *v = json_loadb(text, len, JSON_DECODE_ANY, NULL);
        return v ? v : json_stringn(text, len);
    }
    case KITE_DT_FLOAT_VECTOR: return float_vector(col, i);
    case KITE_DT_BINARY_VECTOR:
        return bytes_base64((const uint8_t *)col->data + (size_t)(col->dim / 8) * i, col->dim / 8);
    case KITE_DT_FLOAT16_VECTOR:
    case KITE_DT_BFLOAT16_VECTOR:
        return bytes_base64((const uint8_t *)col->data + (size_t)col->dim * 2 * i,
                            (size_t)col->dim * 2);
    default: return json_null();
    }
}

json_t *rest_ids_array(const struct rest_ctx *c, const kite_column *ids)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < ids->n; i++) {
        if (json_array_append_new(arr, rest_column_value(c, ids, i)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static bool is_meta(const kite_column *col)
{
    return col->name && strcmp(col->name, "$meta") == 0 && col->dtype == KITE_DT_JSON;
}

/* Merge the dynamic keys of row i into obj (existing keys win). */
static int flatten_meta(const kite_column *col, size_t i, json_t *obj)
{
    const char *text;
    size_t len;
    if (col->valid && !col->valid[i])
        return KITE_OK;
    var_value(col, i, &text, &len);
    if (len == 0)
        return KITE_OK;
    json_t *m = json_loadb(text, len, 0, NULL);
    if (!m)
        return KITE_OK; /* not an object: nothing to flatten */
    const char *key;
    json_t *val;
    json_object_foreach(m, key, val)
    {
        if (!json_object_get(obj, key) && json_object_set(obj, key, val) != 0) {
            json_decref(m);
            return KITE_ENOMEM;
        }
    }
    json_decref(m);
    return KITE_OK;
}

static json_t *one_row(const struct rest_ctx *c, const kite_result *r, size_t i, bool search)
{
    json_t *row = json_object();
    if (!row)
        return NULL;
    const char *pk_key = search ? "id" : (r->pk_name ? r->pk_name : r->ids.name);
    if (r->ids.dtype != KITE_DT_NONE && r->ids.n > i && pk_key &&
        json_object_set_new(row, pk_key, rest_column_value(c, &r->ids, i)) != 0)
        goto out_fail;
    if (search && r->scores &&
        json_object_set_new(row, "distance", rest_json_float(r->scores[i])) != 0)
        goto out_fail;
    for (size_t f = 0; f < r->n_fields; f++) {
        const kite_column *col = &r->fields[f];
        if (col->n <= i || !col->name)
            continue;
        if (is_meta(col))
            continue; /* after the declared fields, so they win */
        if (!search && r->pk_name && strcmp(col->name, r->pk_name) == 0 &&
            json_object_get(row, col->name))
            continue;
        if (json_object_set_new(row, col->name, rest_column_value(c, col, i)) != 0)
            goto out_fail;
    }
    for (size_t f = 0; f < r->n_fields; f++)
        if (r->fields[f].n > i && is_meta(&r->fields[f]) &&
            flatten_meta(&r->fields[f], i, row) != KITE_OK)
            goto out_fail;
    return row;
out_fail:
    json_decref(row);
    return NULL;
}

json_t *rest_result_rows(const struct rest_ctx *c, const kite_result *r, bool search)
{
    json_t *rows = json_array();
    if (!rows)
        return NULL;
    if (r->is_count) {
        json_t *row = json_object();
        int64_t n = 0;
        if (r->n_fields > 0 && r->fields[0].n > 0 && r->fields[0].dtype == KITE_DT_INT64)
            n = ((const int64_t *)r->fields[0].data)[0];
        if (!row || json_object_set_new(row, "count(*)", rest_int64(c, n)) != 0 ||
            json_array_append_new(rows, row) != 0) {
            json_decref(rows);
            return NULL;
        }
        return rows;
    }
    for (size_t i = 0; i < r->n_rows; i++) {
        json_t *row = one_row(c, r, i, search);
        if (!row || json_array_append_new(rows, row) != 0) {
            json_decref(rows);
            return NULL;
        }
    }
    return rows;
}
