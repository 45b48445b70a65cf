/*
 * tfjs_import.c — converts a TensorFlow.js "layers" model (the Keras
 * MobileNetV2 shipped by the npm package nsfwjs@4.4.0, MIT licence) into an
 * ONNX file our runtime loads.  Entry point: kite_model_import_tfjs().
 *
 * Input files (in `dir`):
 *   model.min.js   a UMD bundle whose module exports a JS object literal
 *                  {modelTopology: {...Keras config...}, weightsManifest: [...]}
 *                  (unquoted keys, !0/!1 booleans, .5 numbers: not JSON, so we
 *                  parse it with a small tolerant JS-literal reader below);
 *                  model.json (plain JSON) is accepted too.
 *   <path>.min.js  per weightsManifest path: a bundle holding one base64 string
 *                  (the longest string literal in the file); a raw binary file
 *                  named <path> is used instead when present.
 * Weights: packed in manifest order; quantized ones are uint8 with
 * w = q * scale + min (per tensor), the rest float32 little-endian.
 *
 * Graph mapping (Keras NHWC -> ONNX NCHW, opset 13):
 *   ZeroPadding2D [[t,b],[l,r]]  -> Pad (constant 0)
 *   Conv2D kernel [kh,kw,ci,co]  -> Conv W [co,ci,kh,kw]; "same" -> auto_pad
 *                                   SAME_UPPER, which is TensorFlow's rule
 *                                   (extra padding at the end), "valid" -> VALID
 *   DepthwiseConv2D [kh,kw,c,m]  -> Conv group=c, W [c*m,1,kh,kw]
 *   BatchNormalization (axis -1) -> BatchNormalization on axis 1, Keras epsilon
 *   ReLU(max_value 6)            -> Clip(0, 6);  ReLU() -> Relu
 *   Add                          -> Add;  Dropout -> Identity
 * Only ancestors of `cut_layer` are converted; the output is then
 * GlobalAveragePool -> Flatten -> LpNormalization(p=2) named "embedding".
 * Input "input" is [N,3,H,W] RGB in [0,1] (what the nsfwjs model expects).
 *
 * Invariants: every length, count, shape and index from the files is checked;
 * the bytes consumed by the manifest must equal the shard size exactly.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "onnx.pb-c.h"
#include "onnx_int.h"

/* =================================================================== JS literal reader */

enum { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ };

struct jv {
    int kind;
    double num;
    char *str;         /* JV_STR */
    int n, cap;        /* JV_ARR / JV_OBJ */
    struct jv **items;
    char **keys;       /* JV_OBJ */
};

struct jp {
    const char *s;
    size_t len, pos;
    int depth;
    kite_err *err;
};

static void jv_free(struct jv *v)
{
    if (!v)
        return;
    for (int i = 0; i < v->n; i++) {
        jv_free(v->items[i]);
        if (v->keys)
            kite_free(v->keys[i]);
    }
    kite_free(v->items);
    kite_free(v->keys);
    kite_free(v->str);
    kite_free(v);
}

static void jp_ws(struct jp *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\n' ||
                               p->s[p->pos] == '\t' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int jp_fail(struct jp *p, const char *what)
{
    return kite_err_set_at(p->err, KITE_ECORRUPT, (int64_t)p->pos,
                           "model topology: %s at byte %zu", what, p->pos);
}

static int jv_push(struct jv *v, struct jv *item, char *key)
{
    if (v->n == v->cap) {
        int nc = v->cap ? v->cap * 2 : 8;
        struct jv **ni = kite_realloc(v->items, sizeof(*ni) * (size_t)nc);
        if (!ni)
            return KITE_ENOMEM;
        v->items = ni;
        if (v->kind == JV_OBJ) {
            char **nk = kite_realloc(v->keys, sizeof(*nk) * (size_t)nc);
            if (!nk)
                return KITE_ENOMEM;
            v->keys = nk;
        }
        v->cap = nc;
    }
    v->items[v->n] = item;
    if (v->kind == JV_OBJ)
        v->keys[v->n] = key;
    v->n++;
    return KITE_OK;
}

static int is_ident(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' ||
           (!first && c >= '0' && c <= '9');
}

static char *jp_string(struct jp *p)
{
    char q = p->s[p->pos++], *out;
    size_t start = p->pos, o = 0;
    while (p->pos < p->len && p->s[p->pos] != q)
        p->pos += p->s[p->pos] == '\\' ? 2 : 1;
    if (p->pos >= p->len)
        return NULL;
    out = kite_malloc(p->pos - start + 1);
    if (!out)
        return NULL;
    for (size_t i = start; i < p->pos; i++) {
        if (p->s[i] == '\\' && i + 1 < p->pos) {
            i++;
            out[o++] = p->s[i] == 'n' ? '\n' : p->s[i] == 't' ? '\t' : p->s[i];
        } else {
            out[o++] = p->s[i];
        }
    }
    out[o] = 0;
    p->pos++;
    return out;
}

static int jp_value(struct jp *p, struct jv **out);

static int jp_container(struct jp *p, struct jv *v, char close)
{
    int rc;
    p->pos++;
    for (;;) {
        char *key = NULL;
        struct jv *item = NULL;
        jp_ws(p);
        if (p->pos >= p->len)
            return jp_fail(p, "unterminated object or array");
        if (p->s[p->pos] == close) {
            p->pos++;
            return KITE_OK;
        }
        if (v->kind == JV_OBJ) {
            char c = p->s[p->pos];
            if (c == '"' || c == '\'') {
                if (!(key = jp_string(p)))
                    return jp_fail(p, "bad key string");
            } else if (is_ident(c, true) || (c >= '0' && c <= '9')) {
                size_t st = p->pos;
                while (p->pos < p->len && is_ident(p->s[p->pos], false))
                    p->pos++;
                if (!(key = kite_strndup(p->s + st, p->pos - st)))
                    return KITE_ENOMEM;
            } else {
                return jp_fail(p, "expected a key");
            }
            jp_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                kite_free(key);
                return jp_fail(p, "expected ':'");
            }
            p->pos++;
        }
        rc = jp_value(p, &item);
        if (rc == KITE_OK && (rc = jv_push(v, item, key)) != KITE_OK)
            jv_free(item);
        if (rc != KITE_OK) {
            kite_free(key);
            return rc;
        }
        jp_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',')
            p->pos++;
        else if (p->pos < p->len && p->s[p->pos] != close)
            return jp_fail(p, "expected ',' or a closing bracket");
    }
}

static int jp_value(struct jp *p, struct jv **out)
{
    struct jv *v;
    int rc = KITE_OK;
    char c;
    *out = NULL;
    jp_ws(p);
    if (p->pos >= p->len)
        return jp_fail(p, "unexpected end");
    if (++p->depth > 64)
        return jp_fail(p, "nesting deeper than 64");
    v = kite_calloc(1, sizeof(*v));
    if (!v)
        return KITE_ENOMEM;
    c = p->s[p->pos];
    if (c == '{' || c == '[') {
        v->kind = c == '{' ? JV_OBJ : JV_ARR;
        rc = jp_container(p, v, c == '{' ? '}' : ']');
    } else if (c == '"' || c == '\'') {
        v->kind = JV_STR;
        if (!(v->str = jp_string(p)))
            rc = jp_fail(p, "bad string");
    } else if (c == '!' && p->pos + 1 < p->len && (p->s[p->pos + 1] == '0' ||
                                                   p->s[p->pos + 1] == '1')) {
        v->kind = JV_BOOL;
        v->num = p->s[p->pos + 1] == '0';
        p->pos += 2;
    } else if ((c >= '0' && c <= '9') || c == '-' || c == '.' || c == '+') {
        char buf[64];
        size_t st = p->pos, n;
        while (p->pos < p->len && strchr("0123456789+-.eE", p->s[p->pos]))
            p->pos++;
        n = p->pos - st < sizeof(buf) - 1 ? p->pos - st : sizeof(buf) - 1;
        memcpy(buf, p->s + st, n);
        buf[n] = 0;
        v->kind = JV_NUM;
        v->num = strtod(buf, NULL);
    } else if (is_ident(c, true)) {
        size_t st = p->pos;
        while (p->pos < p->len && is_ident(p->s[p->pos], false))
            p->pos++;
        if (p->pos - st == 4 && !memcmp(p->s + st, "true", 4)) {
            v->kind = JV_BOOL;
            v->num = 1;
        } else if (p->pos - st == 5 && !memcmp(p->s + st, "false", 5)) {
            v->kind = JV_BOOL;
        } else if (p->pos - st == 4 && !memcmp(p->s + st, "void", 4)) {
            jp_ws(p);
            while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
                p->pos++;
        } /* null, undefined, NaN: null */
    } else {
        rc = jp_fail(p, "unexpected character");
    }
    p->depth--;
    if (rc != KITE_OK) {
        jv_free(v);
        return rc;
    }
    *out = v;
    return KITE_OK;
}

static const struct jv *jv_get(const struct jv *o, const char *key)
{
    if (!o || o->kind != JV_OBJ)
        return NULL;
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key))
            return o->items[i];
    return NULL;
}

static const char *jv_str(const struct jv *v)
{
    return v && v->kind == JV_STR ? v->str : NULL;
}

static bool jv_int(const struct jv *v, int64_t *out)
{
    if (!v || v->kind != JV_NUM || v->num != floor(v->num) || fabs(v->num) > 1e12)
        return false;
    *out = (int64_t)v->num;
    return true;
}

/* Read an array of n small integers. */
static bool jv_ints(const struct jv *v, int64_t *out, int n)
{
    if (!v || v->kind != JV_ARR || v->n != n)
        return false;
    for (int i = 0; i < n; i++)
        if (!jv_int(v->items[i], &out[i]))
            return false;
    return true;
}

/* =================================================================== files */

static int read_file(const char *path, char **out, size_t *len, kite_err *err)
{
    FILE *f = fopen(path, "rb");
    long sz;
    *out = NULL;
    if (!f)
        return kite_err_set(err, KITE_EIO, "cannot open '%s': %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
        sz > (512l << 20)) {
        fclose(f);
        return kite_err_set(err, KITE_EIO, "cannot size '%s' (or over 512 MiB)", path);
    }
    *out = kite_malloc((size_t)sz + 1);
    if (!*out) {
        fclose(f);
        return kite_err_set(err, KITE_ENOMEM, "out of memory reading '%s'", path);
    }
    if (fread(*out, 1, (size_t)sz, f) != (size_t)sz) {
        fclose(f);
        kite_free(*out);
        *out = NULL;
        return kite_err_set(err, KITE_EIO, "short read on '%s'", path);
    }
    (*out)[sz] = 0;
    *len = (size_t)sz;
    fclose(f);
    return KITE_OK;
}

static int b64v(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* The longest "..." literal in a JS bundle, base64-decoded. */
static int shard_from_js(const char *s, size_t len, uint8_t **out, size_t *out_len,
                         kite_err *err)
{
    size_t best = 0, best_len = 0, i = 0, o = 0;
    uint32_t acc = 0;
    int bits = 0;
    uint8_t *buf;
    while (i < len) {
        if (s[i] == '"') {
            size_t st = ++i;
            while (i < len && s[i] != '"')
                i += s[i] == '\\' ? 2 : 1;
            if (i <= len && i - st > best_len) {
                best = st;
                best_len = i - st;
            }
        }
        i++;
    }
    if (best_len < 4)
        return kite_err_set(err, KITE_ECORRUPT, "weight shard: no base64 string found");
    buf = kite_malloc(best_len / 4 * 3 + 3);
    if (!buf)
        return kite_err_set(err, KITE_ENOMEM, "out of memory for weights");
    for (i = best; i < best + best_len; i++) {
        int v = b64v(s[i]);
        if (s[i] == '=')
            break;
        if (v < 0) {
            kite_free(buf);
            return kite_err_set(err, KITE_ECORRUPT, "weight shard: invalid base64 at byte %zu",
                                i);
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out = buf;
    *out_len = o;
    return KITE_OK;
}

/* =================================================================== ONNX builder */

struct ob {
    void **ptrs;
    size_t n, cap;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    bool oom;
};

static void *ob_alloc(struct ob *b, size_t sz)
{
    void *p;
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        void **np = kite_realloc(b->ptrs, nc * sizeof(void *));
        if (!np) {
            b->oom = true;
            return NULL;
        }
        b->ptrs = np;
        b->cap = nc;
    }
    p = kite_calloc(1, sz ? sz : 1);
    if (!p) {
        b->oom = true;
        return NULL;
    }
    b->ptrs[b->n++] = p;
    return p;
}

static char *ob_str(struct ob *b, const char *s)
{
    char *d = ob_alloc(b, strlen(s) + 1);
    if (d)
        memcpy(d, s, strlen(s) + 1);
    return d;
}

static void ob_free(struct ob *b)
{
    for (size_t i = 0; i < b->n; i++)
        kite_free(b->ptrs[i]);
    kite_free(b->ptrs);
    kite_free(b->nodes);
    kite_free(b->inits);
}

static bool ob_grow(struct ob *b, void ***arr, size_t *n, size_t *cap)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        void **np = kite_realloc(*arr, nc * sizeof(void *));
        if (!np) {
            b->oom = true;
            return false;
        }
        *arr = np;
        *cap = nc;
    }
    return true;
}

static Onnx__AttributeProto *ob_attr(struct ob *b, const char *name)
{
    Onnx__AttributeProto *a = ob_alloc(b, sizeof(*a));
    if (!a)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = ob_str(b, name);
    a->has_type = 1;
    return a;
}

static Onnx__AttributeProto *ob_attr_ints(struct ob *b, const char *name, const int64_t *v, int n)
{
    Onnx__AttributeProto *a = ob_attr(b, name);
    if (!a)
        return NULL;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->ints = ob_alloc(b, sizeof(int64_t) * (size_t)n);
    if (a->ints)
        memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
    a->n_ints = (size_t)n;
    return a;
}

static Onnx__AttributeProto *ob_attr_int(struct ob *b, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = ob_attr(b, name);
    if (!a)
        return NULL;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
    return a;
}

static Onnx__AttributeProto *ob_attr_float(struct ob *b, const char *name, float v)
{
    Onnx__AttributeProto *a = ob_attr(b, name);
    if (!a)
        return NULL;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->has_f = 1;
    a->f = v;
    return a;
}

static Onnx__AttributeProto *ob_attr_str(struct ob *b, const char *name, const char *v)
{
    Onnx__AttributeProto *a = ob_attr(b, name);
    if (!a)
        return NULL;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    a->has_s = 1;
    a->s.data = (uint8_t *)ob_str(b, v);
    a->s.len = strlen(v);
    return a;
}

/* Add a node; inputs/outputs NULL-terminated lists, attrs n_attrs entries. */
static Onnx__NodeProto *ob_node(struct ob *b, const char *op, const char *name,
                                const char *const *ins, const char *out,
                                Onnx__AttributeProto **attrs, int n_attrs)
{
    Onnx__NodeProto *nd = ob_alloc(b, sizeof(*nd));
    int ni = 0;
    if (!nd)
        return NULL;
    onnx__node_proto__init(nd);
    nd->op_type = ob_str(b, op);
    nd->name = ob_str(b, name);
    while (ins[ni])
        ni++;
    nd->input = ob_alloc(b, sizeof(char *) * (size_t)ni);
    for (int i = 0; nd->input && i < ni; i++)
        nd->input[i] = ob_str(b, ins[i]);
    nd->n_input = (size_t)ni;
    nd->output = ob_alloc(b, sizeof(char *));
    if (nd->output)
        nd->output[0] = ob_str(b, out);
    nd->n_output = 1;
    nd->attribute = ob_alloc(b, sizeof(void *) * (size_t)(n_attrs ? n_attrs : 1));
    for (int i = 0; nd->attribute && i < n_attrs; i++) {
        if (!attrs[i])
            b->oom = true;
        nd->attribute[i] = attrs[i];
    }
    nd->n_attribute = (size_t)n_attrs;
    if (b->oom || !ob_grow(b, (void ***)&b->nodes, &b->n_nodes, &b->cap_nodes))
        return NULL;
    b->nodes[b->n_nodes++] = nd;
    return nd;
}

/* Initializer from float (or int64) data; the data is copied. */
static bool ob_init(struct ob *b, const char *name, int type, const int64_t *dims, int ndim,
                    const void *data)
{
    Onnx__TensorProto *t = ob_alloc(b, sizeof(*t));
    size_t n = vt_count(ndim, dims), es = type == VT_I64 ? 8 : 4;
    if (!t)
        return false;
    onnx__tensor_proto__init(t);
    t->name = ob_str(b, name);
    t->has_data_type = 1;
    t->data_type = type == VT_I64 ? ONNX__TENSOR_PROTO__DATA_TYPE__INT64
                                  : ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->dims = ob_alloc(b, sizeof(int64_t) * (size_t)(ndim ? ndim : 1));
    if (t->dims && ndim)
        memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
    t->n_dims = (size_t)ndim;
    t->has_raw_data = 1;
    t->raw_data.len = n * es;
    t->raw_data.data = ob_alloc(b, n * es);
    if (t->raw_data.data) /* little-endian host assumed (x86-64, aarch64) */
        memcpy(t->raw_data.data, data, n * es);
    if (b->oom || !ob_grow(b, (void ***)&b->inits, &b->n_inits, &b->cap_inits))
        return false;
    b->inits[b->n_inits++] = t;
    return true;
}

/* =================================================================== weights */

struct wt {
    const char *name;
    int ndim;
    int64_t dims[4];
    size_t count;
    float *data; /* dequantized, owned */
};

struct weights {
    struct wt *w;
    int n;
};

static void weights_free(struct weights *ws)
{
    for (int i = 0; i < ws->n; i++)
        kite_free(ws->w[i].data);
    kite_free(ws->w);
}

static int load_shards(const char *dir, const struct jv *group, uint8_t **out, size_t *out_len,
                       kite_err *err)
{
    const struct jv *paths = jv_get(group, "paths");
    uint8_t *all = NULL;
    size_t total = 0;
    int rc = KITE_OK;
    if (!paths || paths->kind != JV_ARR || paths->n < 1)
        return kite_err_set(err, KITE_ECORRUPT, "weightsManifest group has no paths");
    for (int i = 0; i < paths->n; i++) {
        char path[4096];
        char *txt = NULL;
        size_t len = 0, blen = 0;
        uint8_t *bin = NULL, *na;
        const char *p = jv_str(paths->items[i]);
        if (!p || strstr(p, "..") || strchr(p, '/'))
            return kite_err_set(err, KITE_ECORRUPT, "weight path %d is invalid", i);
        snprintf(path, sizeof(path), "%s/%s", dir, p);
        if (read_file(path, &txt, &len, NULL) == KITE_OK) {
            bin = (uint8_t *)txt;
            blen = len;
        } else {
            snprintf(path, sizeof(path), "%s/%s.min.js", dir, p);
            if ((rc = read_file(path, &txt, &len, err)) != KITE_OK)
                break;
            rc = shard_from_js(txt, len, &bin, &blen, err);
            kite_free(txt);
            if (rc != KITE_OK)
                break;
        }
        na = kite_realloc(all, total + blen + 1);
        if (!na) {
            kite_free(bin);
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory for weights");
            break;
        }
        all = na;
        memcpy(all + total, bin, blen);
        total += blen;
        kite_free(bin);
    }
    if (rc != KITE_OK) {
        kite_free(all);
        return rc;
    }
    *out = all;
    *out_len = total;
    return KITE_OK;
}

static int load_weights(const char *dir, const struct jv *manifest, struct weights *ws,
                        kite_err *err)
{
    int rc = KITE_OK, total_n = 0;
    if (!manifest || manifest->kind != JV_ARR || manifest->n < 1)
        return kite_err_set(err, KITE_ECORRUPT, "weightsManifest missing");
    for (int g = 0; g < manifest->n; g++) {
        const struct jv *list = jv_get(manifest->items[g], "weights");
        if (!list || list->kind != JV_ARR)
            return kite_err_set(err, KITE_ECORRUPT, "weightsManifest group %d has no weights", g);
        total_n += list->n;
    }
    ws->w = kite_calloc((size_t)total_n + 1, sizeof(struct wt));
    if (!ws->w)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    for (int g = 0; g < manifest->n && rc == KITE_OK; g++) {
        const struct jv *list = jv_get(manifest->items[g], "weights");
        uint8_t *bytes = NULL;
        size_t blen = 0, off = 0;
        if ((rc = load_shards(dir, manifest->items[g], &bytes, &blen, err)) != KITE_OK)
            break;
        for (int i = 0; i < list->n && rc == KITE_OK; i++) {
            const struct jv *e = list->items[i], *shape = jv_get(e, "shape");
            const struct jv *q = jv_get(e, "quantization");
            struct wt *w = &ws->w[ws->n];
            const char *qd = jv_str(jv_get(q, "dtype")), *dt = jv_str(jv_get(e, "dtype"));
            size_t es;
            w->name = jv_str(jv_get(e, "name"));
            if (!w->name || !shape || shape->kind != JV_ARR || shape->n > 4 ||
                !jv_ints(shape, w->dims, shape->n) || (dt && strcmp(dt, "float32"))) {
                rc = kite_err_set(err, KITE_ECORRUPT, "weight entry %d is malformed", i);
                break;
            }
            w->ndim = shape->n;
            w->count = vt_count(w->ndim, w->dims);
            es = q ? 1 : 4;
            if (q && (!qd || strcmp(qd, "uint8"))) {
                rc = kite_err_set(err, KITE_EUNSUPPORTED,
                                  "weight '%s': quantization '%s' unsupported (uint8 only)",
                                  w->name, qd ? qd : "?");
                break;
            }
            if (w->count == SIZE_MAX || w->count > (blen - off) / es) {
                rc = kite_err_set(err, KITE_ECORRUPT,
                                  "weight '%s' needs %zu bytes at offset %zu; shard has %zu",
                                  w->name, w->count * es, off, blen);
                break;
            }
            w->data = kite_malloc(w->count * sizeof(float) + 1);
            if (!w->data) {
                rc = kite_err_set(err, KITE_ENOMEM, "out of memory for weights");
                break;
            }
            if (q) {
                const struct jv *mn = jv_get(q, "min"), *sc = jv_get(q, "scale");
                double vmin = mn && mn->kind == JV_NUM ? mn->num : NAN;
                double vsc = sc && sc->kind == JV_NUM ? sc->num : NAN;
                if (!isfinite(vmin) || !isfinite(vsc)) {
                    rc = kite_err_set(err, KITE_ECORRUPT, "weight '%s': bad min/scale", w->name);
                    break;
                }
                for (size_t k = 0; k < w->count; k++)
                    w->data[k] = (float)(bytes[off + k] * vsc + vmin);
            } else {
                memcpy(w->data, bytes + off, w->count * 4);
            }
            off += w->count * es;
            ws->n++;
        }
        if (rc == KITE_OK && off != blen)
            rc = kite_err_set(err, KITE_ECORRUPT,
                              "weights use %zu bytes but the shards hold %zu", off, blen);
        kite_free(bytes);
    }
    return rc;
}

static const struct wt *weight(const struct weights *ws, const char *layer, const char *suffix)
{
    char name[512];
    snprintf(name, sizeof(name), "%s/%s", layer, suffix);
    for (int i = 0; i < ws->n; i++)
        if (!strcmp(ws->w[i].name, name))
            return &ws->w[i];
    return NULL;
}

/* =================================================================== layer conversion */

struct conv_state {
    struct ob *b;
    const struct weights *ws;
    kite_err *err;
};

static const char *inbound(const struct jv *layer, int k)
{
    const struct jv *in = jv_get(layer, "inbound_nodes");
    const struct jv *first = in && in->kind == JV_ARR && in->n > 0 ? in->items[0] : NULL;
    const struct jv *item;
    if (!first || first->kind != JV_ARR || k >= first->n)
        return NULL;
    item = first->items[k];
    return item && item->kind == JV_ARR && item->n > 0 ? jv_str(item->items[0]) : NULL;
}

static int n_inbound(const struct jv *layer)
{
    const struct jv *in = jv_get(layer, "inbound_nodes");
    const struct jv *first = in && in->kind == JV_ARR && in->n > 0 ? in->items[0] : NULL;
    return first && first->kind == JV_ARR ? first->n : 0;
}

/* Conv2D / DepthwiseConv2D: transposed weights, bias, activation. */
static int emit_conv(struct conv_state *s, const char *name, const struct jv *cfg, const char *in,
                     bool depthwise)
{
    const struct wt *k = weight(s->ws, name, depthwise ? "depthwise_kernel" : "kernel");
    const struct wt *bias = weight(s->ws, name, "bias");
    const struct jv *ub = jv_get(cfg, "use_bias");
    const char *pad = jv_str(jv_get(cfg, "padding")), *act = jv_str(jv_get(cfg, "activation"));
    int64_t st[2] = {1, 1}, dl[2] = {1, 1}, wd[4], kh, kw, ci, co;
    char wname[600], bname[600], cname[600];
    const char *ins[4];
    Onnx__AttributeProto *attrs[5];
    float *w;
    int na = 0;
    bool ok;
    if (!k || k->ndim != 4)
        return kite_err_set(s->err, KITE_ECORRUPT, "layer '%s': kernel weights missing", name);
    if (!jv_ints(jv_get(cfg, "strides"), st, 2) || !jv_ints(jv_get(cfg, "dilation_rate"), dl, 2))
        return kite_err_set(s->err, KITE_ECORRUPT, "layer '%s': bad strides/dilation", name);
    if (!pad || (strcmp(pad, "same") && strcmp(pad, "valid")))
        return kite_err_set(s->err, KITE_EUNSUPPORTED, "layer '%s': padding '%s'", name,
                            pad ? pad : "?");
    if (act && strcmp(act, "linear"))
        return kite_err_set(s->err, KITE_EUNSUPPORTED, "layer '%s': activation '%s'", name, act);
    kh = k->dims[0];
    kw = k->dims[1];
    ci = k->dims[2];
    co = depthwise ? k->dims[2] * k->dims[3] : k->dims[3];
    wd[0] = co;
    wd[1] = depthwise ? 1 : ci;
    wd[2] = kh;
    wd[3] = kw;
    w = kite_malloc(k->count * sizeof(float));
    if (!w)
        return kite_err_set(s->err, KITE_ENOMEM, "out of memory");
    for (int64_t y = 0; y < kh; y++)
        for (int64_t x = 0; x < kw; x++)
            for (int64_t c = 0; c < ci; c++)
                for (int64_t m = 0; m < k->dims[3]; m++) {
                    float v = k->data[((y * kw + x) * ci + c) * k->dims[3] + m];
                    size_t o = depthwise ? (size_t)((((c * k->dims[3] + m) * kh + y) * kw) + x)
                                         : (size_t)((((m * ci + c) * kh + y) * kw) + x);
                    w[o] = v;
                }
    snprintf(wname, sizeof(wname), "%s/W", name);
    ok = ob_init(s->b, wname, VT_F32, wd, 4, w);
    kite_free(w);
    if (!ok)
        return kite_err_set(s->err, KITE_ENOMEM, "out of memory");
    ins[0] = in;
    ins[1] = wname;
    ins[2] = NULL;
    ins[3] = NULL;
    if (ub && ub->kind == JV_BOOL && ub->num) {
        if (!bias || bias->count != (size_t)co)
            return kite_err_set(s->err, KITE_ECORRUPT, "layer '%s': bias missing", name);
        snprintf(bname, sizeof(bname), "%s/B", name);
        if (!ob_init(s->b, bname, VT_F32, &co, 1, bias->data))
            return kite_err_set(s->err, KITE_ENOMEM, "out of memory");
        ins[2] = bname;
    }
    attrs[na++] = ob_attr_ints(s->b, "strides", st, 2);
    attrs[na++] = ob_attr_ints(s->b, "dilations", dl, 2);
    attrs[na++] = ob_attr_str(s->b, "auto_pad", !strcmp(pad, "same") ? "SAME_UPPER" : "VALID");
    attrs[na++] = ob_attr_int(s->b, "group", depthwise ? ci : 1);
    snprintf(cname, sizeof(cname), "%s", name);
    if (!ob_node(s->b, "Conv", name, ins, cname, attrs, na))
        return kite_err_set(s->err, KITE_ENOMEM, "out of memory");
    return KITE_OK;
}

static int emit_bn(struct conv_state *s, const char *name, const struct jv *cfg, const char *in)
{
    const struct wt *g = weight(s->ws, name, "gamma"), *be = weight(s->ws, name, "beta");
    const struct wt *mu = weight(s->ws, name, "moving_mean");
    const struct wt *var = weight(s->ws, name, "moving_variance");
    const struct jv *eps = jv_get(cfg, "epsilon"), *axis = jv_get(cfg, "axis");
    int64_t C;
    float *ones = NULL;
    char nm[4][600];
    const char *ins[6];
    Onnx__AttributeProto *attrs[1];
    const struct wt *parts[4];
    if (!mu || !var || mu->ndim != 1)
        return kite_err_set(s->err, KITE_ECORRUPT, "layer '%s': moving statistics missing", name);
    if (axis && axis->kind == JV_NUM && axis->num != -1 && axis->num != 3)
        return kite_err_set(s->err, KITE_EUNSUPPORTED, "layer '%s': BN axis must be channels",
                            name);
    C = mu->dims[0];
    parts[0] = g;
    parts[1] = be;
    parts[2] = mu;
    parts[3] = var;
    ones = kite_calloc((size_t)C * 2 + 1, sizeof(float));
    if (!ones)
        return kite_err_set(s->err, KITE_ENOMEM, "out of memory");
    for (int64_t i = 0; i < C; i++)
        ones[i] = 1.0f; /* gamma when scale=False; the second half is beta = 0 */
    ins[0] = in;
    for (int i = 0; i < 4; i++) {
        const float *data = parts[i] ? parts[i]->data : (i == 0 ? ones : ones + C);
        if (parts[i] && parts[i]->count != (size_t)C) {
            kite_free(ones);
            return kite_err_set(s->err, KITE_ECORRUPT, "layer '%s': BN sizes differ", name);
        }
        snprintf(nm[i], sizeof(nm[i]), "%s/bn%d", name, i);
        if (!ob_init(s->b, nm[i], VT_F32, &C, 1, data)) {
            kite_free(ones);
            return kite_err_set(s->err, KITE_ENOMEM, "out of memory");
        }
        ins[i + 1] = nm[i];
    }
    ins[5] = NULL;
    kite_free(ones);
    attrs[0] = ob_attr_float(s->b, "epsilon",
                             eps && eps->kind == JV_NUM ? (float)eps->num : 1e-3f);
    if (!ob_node(s->b, "BatchNormalization", name, ins, name, attrs, 1))
        return kite_err_set(s->err, KITE_ENOMEM, "out of memory");
    return KITE_OK;
}

static int emit_layer(struct conv_state *s, const struct jv *layer, const char *input_name)
{
    const char *cls = jv_str(jv_get(layer, "class_name"));
    const char *name = jv_str(jv_get(layer, "name"));
    const struct jv *cfg = jv_get(layer, "config");
    const char *in0 = inbound(layer, 0);
    const char *ins[4] = {in0, NULL, NULL, NULL};
    char tmp[2][600];
    if (!cls || !name)
        return kite_err_set(s->err, KITE_ECORRUPT, "layer without name/class_name");
    if (!strcmp(cls, "InputLayer"))
        return ob_node(s->b, "Identity", name, (const char *const[]){input_name, NULL}, name, NULL,
                       0)
                   ? KITE_OK
                   : kite_err_set(s->err, KITE_ENOMEM, "out of memory");
    if (!in0)
        return kite_err_set(s->err, KITE_ECORRUPT, "layer '%s' has no inbound node", name);
    if (!strcmp(cls, "Conv2D"))
        return emit_conv(s, name, cfg, in0, false);
    if (!strcmp(cls, "DepthwiseConv2D"))
        return emit_conv(s, name, cfg, in0, true);
    if (!strcmp(cls, "BatchNormalization"))
        return emit_bn(s, name, cfg, in0);
    if (!strcmp(cls, "ZeroPadding2D")) {
        int64_t p[2][2], pads[8], eight = 8;
        const struct jv *pv = jv_get(cfg, "padding");
        if (!pv || pv->kind != JV_ARR || pv->n != 2 || !jv_ints(pv->items[0], p[0], 2) ||
            !jv_ints(pv->items[1], p[1], 2))
            return kite_err_set(s->err, KITE_ECORRUPT, "layer '%s': bad padding", name);
        pads[0] = pads[1] = pads[4] = pads[5] = 0;
        pads[2] = p[0][0];
        pads[3] = p[1][0];
        pads[6] = p[0][1];
        pads[7] = p[1][1];
        snprintf(tmp[0], sizeof(tmp[0]), "%s/pads", name);
        if (!ob_init(s->b, tmp[0], VT_I64, &eight, 1, pads))
            return kite_err_set(s->err, KITE_ENOMEM, "out of memory");
        ins[1] = tmp[0];
        return ob_node(s->b, "Pad", name, ins, name, NULL, 0)
                   ? KITE_OK
                   : kite_err_set(s->err, KITE_ENOMEM, "out of memory");
    }
    if (!strcmp(cls, "ReLU")) {
        const struct jv *mx = jv_get(cfg, "max_value"), *ns = jv_get(cfg, "negative_slope");
        const struct jv *th = jv_get(cfg, "threshold");
        if ((ns && ns->kind == JV_NUM && ns->num != 0) || (th && th->kind == JV_NUM && th->num != 0))
            return kite_err_set(s->err, KITE_EUNSUPPORTED, "layer '%s': leaky/threshold ReLU",
                                name);
        if (mx && mx->kind == JV_NUM) {
            int64_t none = 0;
            float lo = 0.0f, hi = (float)mx->num;
            snprintf(tmp[0], sizeof(tmp[0]), "%s/min", name);
            snprintf(tmp[1], sizeof(tmp[1]), "%s/max", name);
            if (!ob_init(s->b, tmp[0], VT_F32, &none, 0, &lo) ||
                !ob_init(s->b, tmp[1], VT_F32, &none, 0, &hi))
                return kite_err_set(s->err, KITE_ENOMEM, "out of memory");
            ins[1] = tmp[0];
            ins[2] = tmp[1];
            return ob_node(s->b, "Clip", name, ins, name, NULL, 0)
                       ? KITE_OK
                       : kite_err_set(s->err, KITE_ENOMEM, "out of memory");
        }
        return ob_node(s->b, "Relu", name, ins, name, NULL, 0)
                   ? KITE_OK
                   : kite_err_set(s->err, KITE_ENOMEM, "out of memory");
    }
    if (!strcmp(cls, "Add")) {
        int n = n_inbound(layer);
        const char *prev = in0;
        if (n < 2)
            return kite_err_set(s->err, KITE_ECORRUPT, "layer '%s': Add needs 2 inputs", name);
        for (int i = 1; i < n; i++) {
            const char *out = i == n - 1 ? name : tmp[i & 1];
            const char *pair[3] = {prev, inbound(layer, i), NULL};
            if (!pair[1])
                return kite_err_set(s->err, KITE_ECORRUPT, "layer '%s': bad inbound", name);
            if (i != n - 1)
                snprintf(tmp[i & 1], sizeof(tmp[0]), "%s/add%d", name, i);
            if (!ob_node(s->b, "Add", out, pair, out, NULL, 0))
                return kite_err_set(s->err, KITE_ENOMEM, "out of memory");
            prev = out;
        }
        return KITE_OK;
    }
    if (!strcmp(cls, "Dropout"))
        return ob_node(s->b, "Identity", name, ins, name, NULL, 0)
                   ? KITE_OK
                   : kite_err_set(s->err, KITE_ENOMEM, "out of memory");
    return kite_err_set(s->err, KITE_EUNSUPPORTED,
                        "layer '%s' of class %s is not supported by the importer", name, cls);
}

/* Mark the ancestors of the cut layer; layers are listed in topological order. */
static int mark_needed(const struct jv *layers, const char *cut, bool *need, kite_err *err)
{
    int cut_idx = -1;
    for (int i = 0; i < layers->n; i++)
        if (jv_str(jv_get(layers->items[i], "name")) &&
            !strcmp(jv_str(jv_get(layers->items[i], "name")), cut))
            cut_idx = i;
    if (cut_idx < 0)
        return kite_err_set(err, KITE_ENOTFOUND, "layer '%s' not found in the model", cut);
    need[cut_idx] = true;
    for (int i = cut_idx; i >= 0; i--) {
        if (!need[i])
            continue;
        for (int k = 0; k < n_inbound(layers->items[i]); k++) {
            const char *src = inbound(layers->items[i], k);
            for (int j = 0; src && j < i; j++)
                if (jv_str(jv_get(layers->items[j], "name")) &&
                    !strcmp(jv_str(jv_get(layers->items[j], "name")), src))
                    need[j] = true;
        }
    }
    return KITE_OK;
}

static Onnx__ValueInfoProto *value_info(struct ob *b, const char *name, const int64_t *dims,
                                        int ndim)
{
    Onnx__ValueInfoProto *vi = ob_alloc(b, sizeof(*vi));
    Onnx__TypeProto *tp = ob_alloc(b, sizeof(*tp));
    Onnx__TypeProto__Tensor *tt = ob_alloc(b, sizeof(*tt));
    Onnx__TensorShapeProto *sp = ob_alloc(b, sizeof(*sp));
    Onnx__TensorShapeProto__Dimension **dm = ob_alloc(b, sizeof(void *) * (size_t)ndim);
    if (!vi || !tp || !tt || !sp || !dm)
        return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sp);
    for (int i = 0; i < ndim; i++) {
        dm[i] = ob_alloc(b, sizeof(**dm));
        if (!dm[i])
            return NULL;
        onnx__tensor_shape_proto__dimension__init(dm[i]);
        if (dims[i] < 0) {
            dm[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dm[i]->dim_param = ob_str(b, "N");
        } else {
            dm[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dm[i]->dim_value = dims[i];
        }
    }
    sp->dim = dm;
    sp->n_dim = (size_t)ndim;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = ob_str(b, name);
    vi->type = tp;
    return vi;
}

static int write_model(struct ob *b, const char *cut, const int64_t *in_dims, int64_t out_dim,
                       const char *out_path, kite_err *err)
{
    Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    Onnx__OperatorSetIdProto ops = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *opsp = &ops;
    Onnx__ValueInfoProto *in_vi, *out_vi;
    Onnx__AttributeProto *attrs[2];
    int64_t od[2] = {-1, out_dim};
    uint8_t *buf;
    size_t len;
    FILE *f;
    int rc = KITE_OK;

    if (!ob_node(b, "GlobalAveragePool", "embed/gap", (const char *const[]){cut, NULL},
                 "embed/gap", NULL, 0))
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    attrs[0] = ob_attr_int(b, "axis", 1);
    if (!ob_node(b, "Flatten", "embed/flatten", (const char *const[]){"embed/gap", NULL},
                 "embed/flat", attrs, 1))
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    attrs[0] = ob_attr_int(b, "axis", 1);
    attrs[1] = ob_attr_int(b, "p", 2);
    if (!ob_node(b, "LpNormalization", "embed/l2", (const char *const[]){"embed/flat", NULL},
                 "embedding", attrs, 2))
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    in_vi = value_info(b, "input", in_dims, 4);
    out_vi = value_info(b, "embedding", od, 2);
    if (!in_vi || !out_vi || b->oom)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    g.name = "kite_tfjs_import";
    g.node = b->nodes;
    g.n_node = b->n_nodes;
    g.initializer = b->inits;
    g.n_initializer = b->n_inits;
    g.input = &in_vi;
    g.n_input = 1;
    g.output = &out_vi;
    g.n_output = 1;
    ops.domain = "";
    ops.has_version = 1;
    ops.version = 13;
    mp.has_ir_version = 1;
    mp.ir_version = 7;
    mp.producer_name = "kite kite_model_import_tfjs";
    mp.opset_import = &opsp;
    mp.n_opset_import = 1;
    mp.graph = &g;
    len = onnx__model_proto__get_packed_size(&mp);
    buf = kite_malloc(len ? len : 1);
    if (!buf)
        return kite_err_set(err, KITE_ENOMEM, "out of memory packing the model");
    onnx__model_proto__pack(&mp, buf);
    f = fopen(out_path, "wb");
    if (!f) {
        rc = kite_err_set(err, KITE_EIO, "cannot create '%s': %s", out_path, strerror(errno));
    } else {
        if (fwrite(buf, 1, len, f) != len)
            rc = kite_err_set(err, KITE_EIO, "short write on '%s'", out_path);
        if (fclose(f) != 0 && rc == KITE_OK)
            rc = kite_err_set(err, KITE_EIO, "cannot close '%s': %s", out_path, strerror(errno));
    }
    kite_free(buf);
    return rc;
}

/* Find the object literal that holds modelTopology and parse it. */
static int parse_topology(const char *txt, size_t len, struct jv **root, kite_err *err)
{
    const char *mt = strstr(txt, "modelTopology");
    struct jp p;
    size_t pos;
    if (!mt)
        return kite_err_set(err, KITE_ECORRUPT, "model file has no modelTopology");
    pos = (size_t)(mt - txt);
    while (pos > 0 && txt[pos] != '{')
        pos--;
    if (txt[pos] != '{')
        return kite_err_set(err, KITE_ECORRUPT, "modelTopology is not inside an object");
    memset(&p, 0, sizeof(p));
    p.s = txt;
    p.len = len;
    p.pos = pos;
    p.err = err;
    return jp_value(&p, root);
}

int kite_model_import_tfjs(const char *dir, const char *out_path, const char *cut_layer,
                           kite_err *err)
{
    char path[4096], *txt = NULL;
    size_t len = 0;
    struct jv *root = NULL;
    struct weights ws = {NULL, 0};
    struct ob b;
    struct conv_state cs;
    const struct jv *layers, *shape;
    bool *need = NULL;
    int64_t in_dims[4] = {-1, 3, 224, 224}, bis[4], out_dim = -1;
    int rc;

    memset(&b, 0, sizeof(b));
    if (!dir || !out_path || !cut_layer)
        return kite_err_set(err, KITE_EINVAL, "import_tfjs: dir, out_path and cut_layer needed");
    snprintf(path, sizeof(path), "%s/model.json", dir);
    if (read_file(path, &txt, &len, NULL) != KITE_OK) {
        snprintf(path, sizeof(path), "%s/model.min.js", dir);
        if ((rc = read_file(path, &txt, &len, err)) != KITE_OK)
            return rc;
    }
    if ((rc = parse_topology(txt, len, &root, err)) != KITE_OK)
        goto out_free;
    layers = jv_get(jv_get(jv_get(jv_get(root, "modelTopology"), "model_config"), "config"),
                    "layers");
    if (!layers || layers->kind != JV_ARR || layers->n < 2) {
        rc = kite_err_set(err, KITE_ECORRUPT, "modelTopology has no layer list");
        goto out_free;
    }
    shape = jv_get(jv_get(layers->items[0], "config"), "batch_input_shape");
    if (shape && shape->kind == JV_ARR && shape->n == 4 && jv_ints(shape, bis, 4) == false) {
        if (jv_int(shape->items[1], &bis[1]) && jv_int(shape->items[2], &bis[2]) &&
            jv_int(shape->items[3], &bis[3]) && bis[3] == 3) {
            in_dims[2] = bis[1];
            in_dims[3] = bis[2];
        }
    }
    if ((rc = load_weights(dir, jv_get(root, "weightsManifest"), &ws, err)) != KITE_OK)
        goto out_free;
    need = kite_calloc((size_t)layers->n, sizeof(bool));
    if (!need) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out_free;
    }
    if ((rc = mark_needed(layers, cut_layer, need, err)) != KITE_OK)
        goto out_free;
    cs.b = &b;
    cs.ws = &ws;
    cs.err = err;
    for (int i = 0; i < layers->n; i++) {
        const char *cls = jv_str(jv_get(layers->items[i], "class_name"));
        if (!need[i])
            continue;
        if ((rc = emit_layer(&cs, layers->items[i], "input")) != KITE_OK)
            goto out_free;
        if (cls && (!strcmp(cls, "Conv2D") || !strcmp(cls, "DepthwiseConv2D")))
            out_dim = b.inits[b.n_inits - 1]->dims[0];
        if (cls && !strcmp(cls, "BatchNormalization"))
            out_dim = b.inits[b.n_inits - 1]->dims[0];
    }
    if (out_dim <= 0) {
        rc = kite_err_set(err, KITE_ECORRUPT, "cannot tell the channel count at '%s'", cut_layer);
        goto out_free;
    }
    rc = write_model(&b, cut_layer, in_dims, out_dim, out_path, err);
out_free:
    if (rc != KITE_OK && err)
        kite_err_prefix(err, "import %s", dir);
    kite_free(need);
    ob_free(&b);
    weights_free(&ws);
    jv_free(root);
    kite_free(txt);
    return rc;
}
