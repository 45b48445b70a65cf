/*
 * result.c — output-field selection and building kite_result tables from row
 * references (segment, row) of one collection.
 *
 * Output fields: "*" = every schema field (vectors included) plus all dynamic
 * keys; a schema field by name; "$meta" = all dynamic keys; any other name is
 * a dynamic key when the collection has a dynamic field ("field X not exist"
 * otherwise); "count(*)" (case-insensitive, trimmed) where allowed.  Dynamic
 * keys come back as one "$meta" JSON column holding only the requested keys
 * (all keys for "*").
 *
 * Threading model: called with the collection lock held (shared); reads
 * segment columns and copies values out, so the result outlives the lock.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "db.h"

kite_result *result_new(void)
{
    return kite_calloc(1, sizeof(kite_result));
}

void kite_result_free(kite_result *r)
{
    if (!r)
        return;
    kite_free(r->topks);
    db_column_free(&r->ids);
    kite_free(r->scores);
    for (size_t i = 0; i < r->n_fields; i++)
        db_column_free(&r->fields[i]);
    kite_free(r->fields);
    db_column_free(&r->group_values);
    kite_free(r->pk_name);
    kite_free(r);
}

void outsel_free(struct outsel *o)
{
    kite_free(o->fields);
    kite_strings_free(o->meta_keys, o->n_meta_keys);
    memset(o, 0, sizeof(*o));
}

static bool is_count(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return n == 8 && strncasecmp(s, "count(*)", 8) == 0;
}

static int add_field(struct outsel *o, int fi)
{
    for (size_t i = 0; i < o->n_fields; i++)
        if (o->fields[i] == fi)
            return KITE_OK;
    o->fields[o->n_fields++] = fi;
    return KITE_OK;
}

int outsel_resolve(struct dcoll *c, const char *const *names, size_t n, bool allow_count,
                   struct outsel *out, kite_err *err)
{
    memset(out, 0, sizeof(*out));
    out->fields = kite_calloc(c->schema.n_fields + 1, sizeof(int));
    if (!out->fields)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    for (size_t k = 0; k < n; k++) {
        const char *nm = names[k];
        if (!nm || !*nm)
            continue;
        if (strcmp(nm, "*") == 0) {
            for (size_t i = 0; i < c->schema.n_fields; i++)
                if (!c->schema.fields[i].is_dynamic)
                    add_field(out, (int)i);
            out->meta_all = c->dyn_index >= 0;
            continue;
        }
        if (allow_count && is_count(nm)) {
            out->count = true;
            continue;
        }
        int fi = schema_field_index(&c->schema, nm);
        if (fi >= 0 && c->schema.fields[fi].is_dynamic) {
            out->meta_all = true;
        } else if (fi >= 0) {
            add_field(out, fi);
        } else if (c->dyn_index >= 0) {
            bool dup = false;
            for (size_t i = 0; i < out->n_meta_keys; i++)
                dup |= strcmp(out->meta_keys[i], nm) == 0;
            if (!dup && db_strings_add(&out->meta_keys, &out->n_meta_keys, nm)) {
                outsel_free(out);
                return kite_err_set(err, KITE_ENOMEM, "out of memory");
            }
        } else {
            outsel_free(out);
            return kite_err_set(err, KITE_ENOFIELD, "field %s not exist", nm);
        }
    }
    return KITE_OK;
}

/* Append row's $meta restricted to the requested keys. */
static int append_meta(const struct outsel *o, const kite_column *src, size_t row,
                       struct colbuf *out)
{
    size_t len;
    const char *p = db_col_var(src, row, &len);
    if (o->meta_all)
        return colbuf_append_val(out, len ? p : "{}", len ? len : 2);
    json_t *obj = json_loadb(p, len, 0, NULL), *sel = json_object();
    for (size_t k = 0; obj && k < o->n_meta_keys; k++) {
        json_t *v = json_object_get(obj, o->meta_keys[k]);
        if (v)
            json_object_set(sel, o->meta_keys[k], v);
    }
    size_t tl;
    char *t = db_json_text(sel, &tl);
    int rc = t ? colbuf_append_val(out, t, tl) : KITE_ENOMEM;
    kite_free(t);
    json_decref(obj);
    json_decref(sel);
    return rc;
}

static int fill_column(struct dcoll *c, int fi, const struct outsel *o, const struct rowref *rows,
                       size_t n, kite_column *out)
{
    const kite_field_schema *f = &c->schema.fields[fi];
    struct colbuf b;
    int rc = KITE_OK;
    colbuf_init(&b, f->dtype, f->element_type, (uint32_t)f->dim, f->nullable);
    for (size_t i = 0; i < n && !rc; i++) {
        const kite_column *src = &c->segs[rows[i].seg]->cols[fi];
        if (o && f->is_dynamic)
            rc = append_meta(o, src, rows[i].row, &b);
        else
            rc = colbuf_append_row(&b, src, rows[i].row);
    }
    if (rc) {
        colbuf_free(&b);
        return rc;
    }
    colbuf_detach(&b, f->name, out);
    if (!out->name || (n && !out->data && b.width)) {
        db_column_free(out);
        return KITE_ENOMEM;
    }
    return KITE_OK;
}

int result_fill(struct dcoll *c, const struct outsel *o, const struct rowref *rows, size_t n,
                kite_result *r)
{
    int rc = fill_column(c, c->pk_index, NULL, rows, n, &r->ids);
    if (rc)
        return rc;
    r->pk_name = kite_strdup(c->schema.fields[c->pk_index].name);
    size_t nf = o->n_fields + ((o->meta_all || o->n_meta_keys) && c->dyn_index >= 0);
    r->fields = kite_calloc(nf ? nf : 1, sizeof(kite_column));
    if (!r->fields || !r->pk_name)
        return KITE_ENOMEM;
    for (size_t i = 0; i < o->n_fields; i++) {
        rc = fill_column(c, o->fields[i], NULL, rows, n, &r->fields[r->n_fields]);
        if (rc)
            return rc;
        r->n_fields++;
    }
    if (nf > o->n_fields) {
        rc = fill_column(c, c->dyn_index, o, rows, n, &r->fields[r->n_fields]);
        if (rc)
            return rc;
        r->n_fields++;
    }
    r->n_rows = n;
    return KITE_OK;
}
