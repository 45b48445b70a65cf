/*
 * vindex.c — the ANN index dispatcher: Milvus-compatible validation of build
 * and search parameters, AUTOINDEX resolution, and one method table per index
 * type behind the opaque struct vindex of index.h.  Also the shared distance
 * "space", top-k heap and exact fallback scan of vindex_int.h.
 *
 * Design and invariants:
 *  1. Index type names are matched case-insensitively and reported in Milvus'
 *     canonical spelling (resolved_type is a static string).  An unknown name is
 *     KITE_EINVAL "invalid index type: X" (Milvus 1100); a name Milvus knows but
 *     Kite does not implement is KITE_EINDEXTYPE "index type not supported: X"
 *     (Milvus 701).  No type is accepted that cannot be built and searched.
 *  2. Parameter values may arrive as JSON numbers or as numeric strings (the REST
 *     layer stringifies); anything else is a type error.  Error texts follow
 *     knowhere 2.5: "Out of range in json: param 'nlist' (0) should be in range
 *     [1, 65536]" and "Type conflict in json: param 'M' ("x") should be integer".
 *  3. Keys the chosen type does not use are ignored, as knowhere does.  A nested
 *     {"params": {...}} object (pymilvus search_params shape) is merged in, inner
 *     keys winning.
 *  4. vindex_validate_build's normalized JSON holds exactly the build params the
 *     type uses, defaults filled in, keys sorted; vindex_build reads only that.
 *
 * Threading: every function here is reentrant; a built vindex may be searched by
 * many threads at once (each index keeps per-thread scratch of its own).
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "annoy.h"
#include "err.h"
#include "hnsw.h"
#include "ivf.h"
#include "index.h"
#include "vindex_int.h"

/* ================================================================ type table */

enum vclass { VC_FLOAT = 1, VC_BINARY = 2, VC_SPARSE = 4 };

#define MBIT(m) (1u << (m))
#define M_FLOAT (MBIT(KITE_METRIC_L2) | MBIT(KITE_METRIC_IP) | MBIT(KITE_METRIC_COSINE))
#define M_BIN2 (MBIT(KITE_METRIC_HAMMING) | MBIT(KITE_METRIC_JACCARD))
#define M_BINALL                                                                               \
    (M_BIN2 | MBIT(KITE_METRIC_SUBSTRUCTURE) | MBIT(KITE_METRIC_SUPERSTRUCTURE) |             \
     MBIT(KITE_METRIC_TANIMOTO))

enum vparams_kind {
    VP_NONE = 0,
    VP_HNSW,
    VP_IVF,     /* nlist */
    VP_IVF_SQ8, /* nlist (+ nbits must be 8 if given) */
    VP_IVF_PQ,  /* nlist, m, nbits */
    VP_SCANN,
    VP_ANNOY,
    VP_OTHER,   /* known to Milvus, never implemented here */
};

struct vindex_ops;

struct vtype {
    const char *name;
    int classes;           /* enum vclass bits of vector dtypes it accepts */
    unsigned metrics;      /* metrics accepted (float and binary masks are disjoint) */
    int params;            /* enum vparams_kind */
    bool flat;
    const struct vindex_ops *ops; /* NULL = not implemented (KITE_EINDEXTYPE) */
};

struct vindex_ops {
    int (*build)(const struct vindex_build_params *p, json_t *params, const struct vec_view *v,
                 void **impl, kite_err *err);
    int (*search)(const void *impl, const struct vec_view *v, const struct vsearch_req *req,
                  struct vsearch_out *out, kite_err *err);
    int (*serialize)(const void *impl, struct kite_buf *out);
    int (*deserialize)(int metric, const struct vec_view *v, const uint8_t *data, size_t len,
                       void **impl, kite_err *err);
    size_t (*memory_bytes)(const void *impl);
    void (*free)(void *impl);
};

static const struct vindex_ops hnsw_vops;
static const struct vindex_ops ivf_vops;
static const struct vindex_ops annoy_vops;

struct vindex {
    const struct vtype *type;
    int metric;
    void *impl;
};


static const struct vtype g_types[] = {
    {"FLAT", VC_FLOAT, M_FLOAT, VP_NONE, true, NULL},
    {"BIN_FLAT", VC_BINARY, M_BINALL, VP_NONE, true, NULL},
    {"HNSW", VC_FLOAT | VC_BINARY, M_FLOAT | M_BIN2, VP_HNSW, false, &hnsw_vops},
    {"IVF_FLAT", VC_FLOAT, M_FLOAT, VP_IVF, false, &ivf_vops},
    {"IVF_SQ8", VC_FLOAT, M_FLOAT, VP_IVF_SQ8, false, &ivf_vops},
    {"IVF_PQ", VC_FLOAT, M_FLOAT, VP_IVF_PQ, false, &ivf_vops},
    {"BIN_IVF_FLAT", VC_BINARY, M_BIN2, VP_IVF, false, &ivf_vops},
    {"SCANN", VC_FLOAT, M_FLOAT, VP_SCANN, false, &ivf_vops},
    {"ANNOY", VC_FLOAT, MBIT(KITE_METRIC_L2) | MBIT(KITE_METRIC_IP), VP_ANNOY, false, &annoy_vops},
    {"DISKANN", VC_FLOAT, M_FLOAT, VP_OTHER, false, NULL},
    {"SPARSE_INVERTED_INDEX", VC_SPARSE, MBIT(KITE_METRIC_IP), VP_OTHER, false, NULL},
    {"SPARSE_WAND", VC_SPARSE, MBIT(KITE_METRIC_IP), VP_OTHER, false, NULL},
    {"GPU_IVF_FLAT", VC_FLOAT, M_FLOAT, VP_OTHER, false, NULL},
    {"GPU_IVF_PQ", VC_FLOAT, M_FLOAT, VP_OTHER, false, NULL},
    {"GPU_CAGRA", VC_FLOAT, M_FLOAT, VP_OTHER, false, NULL},
    {"GPU_BRUTE_FORCE", VC_FLOAT, M_FLOAT, VP_OTHER, false, NULL},
};

/*
 * Names of metrics and dtypes for messages.  Kept here rather than calling
 * kite_metric_name(): that lives in the db layer, which index must not link.
 */
static const char *mname(int metric)
{
    static const char *const names[] = {"NONE",    "L2",       "IP",           "COSINE",
                                        "HAMMING", "JACCARD",  "TANIMOTO",     "SUBSTRUCTURE",
                                        "SUPERSTRUCTURE"};
    if (metric < 0 || metric >= (int)(sizeof(names) / sizeof(names[0])))
        return "UNKNOWN";
    return names[metric];
}

static const char *dname(int dtype)
{
    switch (dtype) {
    case KITE_DT_BINARY_VECTOR:
        return "BinaryVector";
    case KITE_DT_FLOAT_VECTOR:
        return "FloatVector";
    case KITE_DT_FLOAT16_VECTOR:
        return "Float16Vector";
    case KITE_DT_BFLOAT16_VECTOR:
        return "BFloat16Vector";
    default:
        return "non-vector";
    }
}

static const struct vtype *find_type(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof(g_types) / sizeof(g_types[0]); i++)
        if (strcasecmp(g_types[i].name, name) == 0)
            return &g_types[i];
    return NULL;
}

static int dtype_class(int dtype)
{
    switch (dtype) {
    case KITE_DT_FLOAT_VECTOR:
    case KITE_DT_FLOAT16_VECTOR:
    case KITE_DT_BFLOAT16_VECTOR:
        return VC_FLOAT;
    case KITE_DT_BINARY_VECTOR:
        return VC_BINARY;
    default:
        return 0;
    }
}

bool vindex_is_flat(const char *index_type)
{
    if (!index_type || !*index_type)
        return false;
    const struct vtype *t = find_type(index_type);
    return t && t->flat;
}

/* ============================================================ JSON params */

/* Parse params text into an object; NULL/"" is an empty object.  Merges "params". */
static int params_load(const char *text, json_t **out, kite_err *err)
{
    json_error_t jerr;
    json_t *root;
    *out = NULL;
    if (!text || !*text) {
        root = json_object();
        if (!root)
            return kite_err_set(err, KITE_ENOMEM, "out of memory parsing index params");
        *out = root;
        return KITE_OK;
    }
    root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return kite_err_set_at(err, KITE_EINVAL, jerr.position,
                               "invalid params JSON: %s (expected a JSON object such as "
                               "{\"M\": 16})",
                               jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return kite_err_set(err, KITE_EINVAL,
                            "invalid params JSON: expected a JSON object, not %s", text);
    }
    json_t *inner = json_object_get(root, "params");
    if (json_is_object(inner)) {
        json_incref(inner);
        json_object_del(root, "params");
        if (json_object_update(root, inner) != 0) {
            json_decref(inner);
            json_decref(root);
            return kite_err_set(err, KITE_ENOMEM, "out of memory parsing index params");
        }
        json_decref(inner);
    } else if (json_is_string(inner)) {
        /* REST clients sometimes send "params" as JSON text. */
        json_t *sub = json_loads(json_string_value(inner), 0, &jerr);
        if (json_is_object(sub)) {
            json_object_del(root, "params");
            json_object_update(root, sub);
        }
        json_decref(sub);
    }
    *out = root;
    return KITE_OK;
}

static void json_text(const json_t *v, char *buf, size_t n)
{
    if (json_is_string(v))
        snprintf(buf, n, "\"%s\"", json_string_value(v));
    else if (json_is_true(v))
        snprintf(buf, n, "true");
    else if (json_is_false(v))
        snprintf(buf, n, "false");
    else if (json_is_null(v))
        snprintf(buf, n, "null");
    else if (json_is_object(v))
        snprintf(buf, n, "{...}");
    else if (json_is_array(v))
        snprintf(buf, n, "[...]");
    else
        snprintf(buf, n, "%g", json_number_value(v));
}

/*
 * Read integer param `key` into *out: absent -> def (and *present false).
 * Accepts JSON integers, integral reals and numeric strings.
 */
static int param_int(json_t *obj, const char *key, int64_t lo, int64_t hi, int64_t def,
                     int64_t *out, bool *present, kite_err *err)
{
    json_t *v = json_object_get(obj, key);
    int64_t x;
    if (present)
        *present = v != NULL;
    if (!v) {
        *out = def;
        return KITE_OK;
    }
    if (json_is_integer(v)) {
        x = (int64_t)json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == (double)(int64_t)json_real_value(v)) {
        x = (int64_t)json_real_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long long ll = strtoll(s, &end, 10);
        while (end && isspace((unsigned char)*end))
            end++;
        if (errno || end == s || *end)
            goto type_error;
        x = ll;
    } else {
        goto type_error;
    }
    if (x < lo || x > hi)
        return kite_err_set(err, KITE_EINVAL,
                            "Out of range in json: param '%s' (%lld) should be in range "
                            "[%lld, %lld]",
                            key, (long long)x, (long long)lo, (long long)hi);
    *out = x;
    return KITE_OK;
type_error: {
    char t[96];
    json_text(v, t, sizeof(t));
    return kite_err_set(err, KITE_EINVAL,
                        "Type conflict in json: param '%s' (%s) should be integer", key, t);
}
}

/* Float param (radius, range_filter): numbers or numeric strings. */
static int param_float(json_t *obj, const char *key, float *out, bool *present, kite_err *err)
{
    json_t *v = json_object_get(obj, key);
    *present = v != NULL;
    if (!v)
        return KITE_OK;
    if (json_is_number(v)) {
        *out = (float)json_number_value(v);
        return KITE_OK;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        while (end && isspace((unsigned char)*end))
            end++;
        if (!errno && end != s && !*end && isfinite(d)) {
            *out = (float)d;
            return KITE_OK;
        }
    }
    char t[96];
    json_text(v, t, sizeof(t));
    return kite_err_set(err, KITE_EINVAL, "Type conflict in json: param '%s' (%s) should be "
                                          "a number", key, t);
}

static int param_bool(json_t *obj, const char *key, bool def, bool *out, kite_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = def;
        return KITE_OK;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return KITE_OK;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0) {
            *out = strcasecmp(s, "true") == 0;
            return KITE_OK;
        }
    }
    char t[96];
    json_text(v, t, sizeof(t));
    return kite_err_set(err, KITE_EINVAL,
                        "Type conflict in json: param '%s' (%s) should be boolean", key, t);
}

/*
 * HNSW `walk` (Kite's own; docs/INDEXES.md): "bf16" (default: the split walk,
 * whose planes hold the rows losslessly, so memory is the float rows' plus
 * the graph's), "int8" (8-bit codes beside the rows: faster, +dim bytes a
 * row) or "float".  quantizedWalk is the older spelling: true = "int8",
 * false = "float"; given with a walk, the two must agree.
 */
static int param_walk(json_t *obj, int *out, kite_err *err)
{
    static const char *const names[] = {"int8", "float", "bf16"}; /* enum hnsw_walk order */
    bool legacy = json_object_get(obj, "quantizedWalk") != NULL, quantized = true;
    int rc = param_bool(obj, "quantizedWalk", true, &quantized, err);
    if (rc != KITE_OK)
        return rc;
    json_t *v = json_object_get(obj, "walk");
    *out = !legacy ? HNSW_WALK_SPLIT : quantized ? HNSW_WALK_CODES : HNSW_WALK_FLOAT;
    if (!v)
        return KITE_OK;
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    int w = -1;
    for (int i = 0; s && i < 3; i++)
        if (strcasecmp(s, names[i]) == 0)
            w = i;
    char t[96];
    json_text(v, t, sizeof(t));
    if (w < 0)
        return kite_err_set(err, KITE_EINVAL,
                            "Invalid value in json: param 'walk' (%s) should be one of \"bf16\", "
                            "\"int8\", \"float\"", t);
    if (legacy && w != *out)
        return kite_err_set(err, KITE_EINVAL,
                            "Conflict in json: param 'quantizedWalk' (%s) and param 'walk' (%s)",
                            quantized ? "true" : "false", t);
    *out = w;
    return KITE_OK;
}

/* ====================================================== build validation */

static const char *metric_list(unsigned mask, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = '\0';
    off += (size_t)snprintf(buf, n, "[");
    bool first = true;
    for (int m = KITE_METRIC_L2; m <= KITE_METRIC_SUPERSTRUCTURE && off < n; m++) {
        if (!(mask & MBIT(m)))
            continue;
        off += (size_t)snprintf(buf + off, n - off, "%s%s", first ? "" : " ",
                                mname(m));
        first = false;
    }
    if (off < n)
        snprintf(buf + off, n - off, "]");
    return buf;
}

static int default_metric(int cls)
{
    return cls == VC_BINARY ? KITE_METRIC_HAMMING : KITE_METRIC_COSINE;
}

/* Build params of a type into normalised JSON text (owned). */
static int build_params_normalise(const struct vtype *t, json_t *in, uint32_t dim, bool is_auto,
                                  struct kite_buf *out, kite_err *err)
{
    int rc;
    int64_t a, b, c;
    bool present;
    int walk;
    switch (t->params) {
    case VP_NONE:
        return kite_buf_printf(out, "{}");
    case VP_HNSW:
        if ((rc = param_int(in, "M", HNSW_MIN_M, HNSW_MAX_M, is_auto ? 18 : HNSW_DEFAULT_M, &a,
                            NULL, err)) ||
            (rc = param_int(in, "efConstruction", 1, INT32_MAX,
                            is_auto ? 240 : HNSW_DEFAULT_EF_CONSTRUCTION, &b, NULL, err)) ||
            (rc = param_walk(in, &walk, err)))
            return rc;
        /* The walk (Kite's own) is written only when not the default split walk. */
        return kite_buf_printf(out, "{\"M\":%lld,\"efConstruction\":%lld%s}", (long long)a,
                               (long long)b,
                               walk == HNSW_WALK_FLOAT   ? ",\"walk\":\"float\""
                               : walk == HNSW_WALK_CODES ? ",\"walk\":\"int8\""
                                                         : "");
    case VP_IVF:
    case VP_IVF_SQ8:
        if ((rc = param_int(in, "nlist", 1, 65536, is_auto ? 1024 : 128, &a, NULL, err)))
            return rc;
        if (t->params == VP_IVF_SQ8 &&
            (rc = param_int(in, "nbits", 8, 8, 8, &b, NULL, err)))
            return rc;
        return kite_buf_printf(out, "{\"nlist\":%lld}", (long long)a);
    case VP_IVF_PQ:
        if ((rc = param_int(in, "nlist", 1, 65536, 128, &a, NULL, err)) ||
            (rc = param_int(in, "m", 1, 65536, 0, &b, &present, err)) ||
            (rc = param_int(in, "nbits", 1, IVF_PQ_MAX_NBITS, 8, &c, NULL, err)))
            return rc;
        if (!present)
            return kite_err_set(err, KITE_EINVAL,
                                "param 'm' is required for IVF_PQ: the number of sub-quantizers, "
                                "a divisor of the dimension %u",
                                dim);
        if (dim % (uint32_t)b != 0)
            return kite_err_set(err, KITE_EINVAL,
                                "dimension must be able to be divided by `m`, dimension: %u, "
                                "m: %lld",
                                dim, (long long)b);
        return kite_buf_printf(out, "{\"m\":%lld,\"nbits\":%lld,\"nlist\":%lld}", (long long)b,
                               (long long)c, (long long)a);
    case VP_SCANN: {
        bool raw = true;
        if ((rc = param_int(in, "nlist", 1, 65536, 128, &a, NULL, err)) ||
            (rc = param_bool(in, "with_raw_data", true, &raw, err)))
            return rc;
        if (dim % 2 != 0)
            return kite_err_set(err, KITE_EINVAL,
                                "dimension must be able to be divided by 2, dimension: %u", dim);
        return kite_buf_printf(out, "{\"nlist\":%lld,\"with_raw_data\":%s}", (long long)a,
                               raw ? "true" : "false");
    }
    case VP_ANNOY:
        if ((rc = param_int(in, "n_trees", 1, 1024, 8, &a, NULL, err)))
            return rc;
        return kite_buf_printf(out, "{\"n_trees\":%lld}", (long long)a);
    default:
        return kite_buf_printf(out, "{}");
    }
}

int vindex_validate_build(const char *index_type, int metric, int dtype, uint32_t dim,
                          const char *params_json, const char **resolved_type,
                          char **normalized_json, kite_err *err)
{
    int rc = KITE_OK;
    json_t *params = NULL;
    struct kite_buf buf;
    char mbuf[128];
    bool is_auto = false;
    int cls = dtype_class(dtype);
    const struct vtype *t;

    kite_buf_init(&buf, 0);
    if (resolved_type)
        *resolved_type = NULL;
    if (normalized_json)
        *normalized_json = NULL;

    if (!index_type || !*index_type || strcasecmp(index_type, "AUTOINDEX") == 0) {
        is_auto = true;
        if (cls == VC_BINARY)
            index_type = "BIN_IVF_FLAT";
        else if (cls == VC_FLOAT)
            index_type = "HNSW";
        else
            return kite_err_set(err, KITE_EINDEXTYPE,
                                "index type not supported: AUTOINDEX on a %s field",
                                dname(dtype));
    }
    t = find_type(index_type);
    if (!t)
        return kite_err_set(err, KITE_EINVAL, "invalid index type: %s", index_type);
    if (!t->flat && !t->ops)
        return kite_err_set(err, KITE_EINDEXTYPE, "index type not supported: %s", t->name);
    if (!cls || !(t->classes & cls)) {
        const char *dn = dname(dtype);
        if (t->classes == VC_BINARY)
            return kite_err_set(err, KITE_EINVAL,
                                "binary vector is only supported: index %s cannot be built on "
                                "a %s field",
                                t->name, dn);
        return kite_err_set(err, KITE_EINVAL,
                            "float or float16 vector are only supported: index %s cannot be "
                            "built on a %s field",
                            t->name, dn);
    }
    if (metric == KITE_METRIC_NONE)
        metric = default_metric(cls);
    {
        unsigned allowed = t->metrics & (cls == VC_BINARY ? M_BINALL : M_FLOAT);
        if (metric < 0 || metric > 31 || !(allowed & MBIT(metric)))
            return kite_err_set(err, KITE_EINVAL,
                                "metric type %s not found or not supported, supported: %s",
                                mname(metric),
                                metric_list(allowed, mbuf, sizeof(mbuf)));
    }
    if (cls == VC_BINARY && (dim == 0 || dim % 8 != 0))
        return kite_err_set(err, KITE_EINVAL,
                            "binary vector dimension should be multiple of 8, not %u", dim);
    if (dim == 0)
        return kite_err_set(err, KITE_EINVAL, "invalid dimension: 0, expected at least 1");

    if ((rc = params_load(params_json, &params, err)))
        goto out;
    if ((rc = build_params_normalise(t, params, dim, is_auto, &buf, err)))
        goto out;
    if (normalized_json) {
        size_t len;
        if (KITE_NEVER(kite_buf_append_u8(&buf, 0) != KITE_OK)) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory normalising index params");
            goto out;
        }
        *normalized_json = (char *)kite_buf_detach(&buf, &len);
    }
    if (resolved_type)
        *resolved_type = t->name;
out:
    if (rc == KITE_ENOMEM && err && !err->message[0])
        kite_err_set(err, rc, "out of memory normalising index params");
    json_decref(params);
    kite_buf_free(&buf);
    return rc;
}

/* ====================================================== search params */

int vindex_parse_search_params(const char *index_type, const char *params_json, int64_t k,
                               struct vsearch_params *out, kite_err *err)
{
    int rc;
    json_t *obj = NULL;
    int64_t x;
    bool present;
    const struct vtype *t = NULL;
    int kind = VP_NONE;

    memset(out, 0, sizeof(*out));
    out->k = k;
    out->search_k = -1;
    out->reorder_k = (int)(k > INT32_MAX ? INT32_MAX : k);
    out->max_empty_result_buckets = 2;
    out->nprobe = 8;
    out->ef = (int)(k > 16 ? (k > INT32_MAX ? INT32_MAX : k) : 16);

    if (index_type && *index_type) {
        if (strcasecmp(index_type, "AUTOINDEX") == 0) {
            kind = -1; /* any of the ANN keys */
        } else {
            t = find_type(index_type);
            if (!t)
                return kite_err_set(err, KITE_EINVAL, "invalid index type: %s", index_type);
            kind = t->params;
        }
    }
    if (k < 1)
        return kite_err_set(err, KITE_EINVAL,
                            "topk [%lld] is invalid, it should be in range [1, 16384], but got "
                            "%lld",
                            (long long)k, (long long)k);
    if ((rc = params_load(params_json, &obj, err)))
        return rc;

    if ((rc = param_float(obj, "radius", &out->radius, &out->has_radius, err)) ||
        (rc = param_float(obj, "range_filter", &out->range_filter, &out->has_range_filter, err)))
        goto out;
    if (out->has_range_filter && !out->has_radius) {
        rc = kite_err_set(err, KITE_EINVAL,
                          "range_filter (%g) requires radius: set params.radius as well",
                          (double)out->range_filter);
        goto out;
    }
    if (kind == VP_HNSW || kind == -1) {
        int64_t def = out->has_radius ? (k > 512 ? k : 512) : out->ef;
        if ((rc = param_int(obj, "ef", 1, INT32_MAX, def, &x, &present, err)))
            goto out;
        if (present && x < k && !out->has_radius) {
            rc = kite_err_set(err, KITE_EINVAL, "ef(%lld) should be larger than k(%lld)",
                              (long long)x, (long long)k);
            goto out;
        }
        out->ef = (int)x;
    }
    if (kind == VP_IVF || kind == VP_IVF_SQ8 || kind == VP_IVF_PQ || kind == VP_SCANN ||
        kind == -1) {
        if ((rc = param_int(obj, "nprobe", 1, 65536, 8, &x, NULL, err)))
            goto out;
        out->nprobe = (int)x;
        if ((rc = param_int(obj, "max_empty_result_buckets", 1, 65536, 2, &x, NULL, err)))
            goto out;
        out->max_empty_result_buckets = (int)x;
    }
    if (kind == VP_SCANN || kind == -1) {
        if ((rc = param_int(obj, "reorder_k", 1, INT32_MAX, out->reorder_k, &x, &present, err)))
            goto out;
        if (present && x < k) {
            rc = kite_err_set(err, KITE_EINVAL, "reorder_k(%lld) should be larger than k(%lld)",
                              (long long)x, (long long)k);
            goto out;
        }
        out->reorder_k = (int)x;
    }
    if (kind == VP_ANNOY || kind == -1) {
        if ((rc = param_int(obj, "search_k", -1, INT32_MAX, -1, &x, NULL, err)))
            goto out;
        if (x != -1 && x < k) {
            rc = kite_err_set(err, KITE_EINVAL,
                              "search_k(%lld) should be -1 or at least k(%lld)", (long long)x,
                              (long long)k);
            goto out;
        }
        out->search_k = (int)x;
    }
out:
    json_decref(obj);
    return rc;
}

/* ============================================================ dispatch */

int vindex_build(const struct vindex_build_params *p, const struct vec_view *v,
                 struct vindex **out, kite_err *err)
{
    int rc = KITE_OK;
    json_t *params = NULL;
    struct vindex *ix = NULL;
    const struct vtype *t = find_type(p->index_type);

    *out = NULL;
    if (!t)
        return kite_err_set(err, KITE_EINVAL, "invalid index type: %s",
                            p->index_type ? p->index_type : "(null)");
    if (t->flat)
        return kite_err_set(err, KITE_EINVAL,
                            "index type %s needs no build: search it with flat_search", t->name);
    if (!t->ops)
        return kite_err_set(err, KITE_EINDEXTYPE, "index type not supported: %s", t->name);
    if (!(t->classes & dtype_class(v->dtype)))
        return kite_err_set(err, KITE_EINVAL, "index %s cannot be built on vectors of dtype %d",
                            t->name, v->dtype);
    if ((rc = params_load(p->params_json, &params, err)))
        return rc;
    ix = kite_calloc(1, sizeof(*ix));
    if (!ix) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory building %s", t->name);
        goto out;
    }
    ix->type = t;
    ix->metric = p->metric;
    if ((rc = t->ops->build(p, params, v, &ix->impl, err)))
        goto out_free;
    *out = ix;
    goto out;
out_free:
    kite_free(ix);
out:
    json_decref(params);
    return rc;
}

int vindex_search(const struct vindex *ix, const struct vec_view *v, const struct vsearch_req *req,
                  struct vsearch_out *out, kite_err *err)
{
    if (!ix)
        return kite_err_set(err, KITE_EINVAL, "no index to search");
    if (req->params && req->params->metric != KITE_METRIC_NONE &&
        req->params->metric != ix->metric)
        return kite_err_set(err, KITE_EINVAL,
                            "metric type not match: invalid parameter[expected=%s][actual=%s]",
                            mname(ix->metric),
                            mname(req->params->metric));
    return ix->type->ops->search(ix->impl, v, req, out, err);
}

int vindex_serialize(const struct vindex *ix, struct kite_buf *out)
{
    if (!ix)
        return KITE_EINVAL;
    return ix->type->ops->serialize(ix->impl, out);
}

int vindex_deserialize(const char *index_type, int metric, const struct vec_view *v,
                       const uint8_t *data, size_t len, struct vindex **out, kite_err *err)
{
    int rc;
    const struct vtype *t = find_type(index_type);
    struct vindex *ix;

    *out = NULL;
    if (!t)
        return kite_err_set(err, KITE_EINVAL, "invalid index type: %s",
                            index_type ? index_type : "(null)");
    if (t->flat || !t->ops)
        return kite_err_set(err, KITE_EINDEXTYPE, "index type not supported: %s", t->name);
    ix = kite_calloc(1, sizeof(*ix));
    if (!ix)
        return kite_err_set(err, KITE_ENOMEM, "out of memory loading %s", t->name);
    ix->type = t;
    ix->metric = metric;
    if ((rc = t->ops->deserialize(metric, v, data, len, &ix->impl, err))) {
        kite_free(ix);
        return rc;
    }
    *out = ix;
    return KITE_OK;
}

size_t vindex_memory_bytes(const struct vindex *ix)
{
    return ix ? sizeof(*ix) + ix->type->ops->memory_bytes(ix->impl) : 0;
}

bool vindex_reads_rows(const struct vindex *ix)
{
    if (!ix)
        return false;
    switch (ix->type->params) {
    case VP_HNSW:
        return hnsw_reads_rows((const struct hnsw *)ix->impl);
    case VP_ANNOY:
        return true;
    case VP_SCANN:
        return (((const struct ivf *)ix->impl)->flags & IVF_FLAG_RAW_DATA) != 0;
    default:
        return false;
    }
}

void vindex_free(struct vindex *ix)
{
    if (!ix)
        return;
    ix->type->ops->free(ix->impl);
    kite_free(ix);
}

/* -------------------------------------------------------------- adapters */

static int json_get_int(json_t *o, const char *key, int64_t def)
{
    int64_t x = def;
    if (param_int(o, key, INT32_MIN, INT32_MAX, def, &x, NULL, NULL) != KITE_OK)
        return (int)def;
    return (int)x;
}

static int hnsw_vbuild(const struct vindex_build_params *p, json_t *params,
                       const struct vec_view *v, void **impl, kite_err *err)
{
    struct hnsw_config cfg = {
        .metric = p->metric,
        .m = json_get_int(params, "M", HNSW_DEFAULT_M),
        .ef_construction = json_get_int(params, "efConstruction", HNSW_DEFAULT_EF_CONSTRUCTION),
        .seed = p->seed,
        .pool = p->pool,
    };
    if (param_walk(params, &cfg.walk, err) != KITE_OK)
        return KITE_EINVAL;
    if (cfg.m < HNSW_MIN_M || cfg.m > HNSW_MAX_M)
        return kite_err_set(err, KITE_EINVAL,
                            "Out of range in json: param 'M' (%d) should be in range [%d, %d]",
                            cfg.m, HNSW_MIN_M, HNSW_MAX_M);
    if (cfg.ef_construction < 1)
        cfg.ef_construction = 1;
    return hnsw_build(&cfg, v, (struct hnsw **)impl, err);
}

static int hnsw_vsearch(const void *impl, const struct vec_view *v, const struct vsearch_req *req,
                        struct vsearch_out *out, kite_err *err)
{
    return hnsw_search((const struct hnsw *)impl, v, req, out, err);
}

static int hnsw_vserialize(const void *impl, struct kite_buf *out)
{
    return hnsw_serialize((const struct hnsw *)impl, out);
}

static int hnsw_vdeserialize(int metric, const struct vec_view *v, const uint8_t *data,
                             size_t len, void **impl, kite_err *err)
{
    return hnsw_deserialize(metric, v, data, len, (struct hnsw **)impl, err);
}

static size_t hnsw_vmemory(const void *impl)
{
    return hnsw_memory_bytes((const struct hnsw *)impl);
}

static void hnsw_vfree(void *impl)
{
    hnsw_free((struct hnsw *)impl);
}

static const struct vindex_ops hnsw_vops = {
    hnsw_vbuild, hnsw_vsearch, hnsw_vserialize, hnsw_vdeserialize, hnsw_vmemory, hnsw_vfree,
};

static int ivf_vbuild(const struct vindex_build_params *p, json_t *params,
                      const struct vec_view *v, void **impl, kite_err *err)
{
    const struct vtype *t = find_type(p->index_type);
    struct ivf_config cfg = {
        .metric = p->metric,
        .nlist = json_get_int(params, "nlist", 128),
        .pq_m = json_get_int(params, "m", 0),
        .pq_nbits = json_get_int(params, "nbits", 8),
        .seed = p->seed,
        .pool = p->pool,
    };
    switch (t->params) {
    case VP_IVF_SQ8:
        cfg.kind = IVF_KIND_SQ8;
        break;
    case VP_IVF_PQ:
        cfg.kind = IVF_KIND_PQ;
        break;
    case VP_SCANN: {
        bool raw = true;
        cfg.kind = IVF_KIND_SCANN;
        if (param_bool(params, "with_raw_data", true, &raw, err) != KITE_OK)
            return KITE_EINVAL;
        cfg.with_raw_data = raw;
        break;
    }
    default:
        cfg.kind = v->dtype == KITE_DT_BINARY_VECTOR ? IVF_KIND_BIN : IVF_KIND_FLAT;
        break;
    }
    return ivf_build(&cfg, v, (struct ivf **)impl, err);
}

static int ivf_vsearch(const void *impl, const struct vec_view *v, const struct vsearch_req *req,
                       struct vsearch_out *out, kite_err *err)
{
    return ivf_search((const struct ivf *)impl, v, req, out, err);
}

static int ivf_vserialize(const void *impl, struct kite_buf *out)
{
    return ivf_serialize((const struct ivf *)impl, out);
}

static int ivf_vdeserialize(int metric, const struct vec_view *v, const uint8_t *data,
                            size_t len, void **impl, kite_err *err)
{
    return ivf_deserialize(metric, v, data, len, (struct ivf **)impl, err);
}

static size_t ivf_vmemory(const void *impl)
{
    return ivf_memory_bytes((const struct ivf *)impl);
}

static void ivf_vfree(void *impl)
{
    ivf_free((struct ivf *)impl);
}

static const struct vindex_ops ivf_vops = {
    ivf_vbuild, ivf_vsearch, ivf_vserialize, ivf_vdeserialize, ivf_vmemory, ivf_vfree,
};

static int annoy_vbuild(const struct vindex_build_params *p, json_t *params,
                        const struct vec_view *v, void **impl, kite_err *err)
{
    return annoy_build(p->metric, json_get_int(params, "n_trees", 8), p->seed, v,
                       (struct annoy **)impl, err);
}

static int annoy_vsearch(const void *impl, const struct vec_view *v,
                         const struct vsearch_req *req, struct vsearch_out *out, kite_err *err)
{
    return annoy_search((const struct annoy *)impl, v, req, out, err);
}

static int annoy_vserialize(const void *impl, struct kite_buf *out)
{
    return annoy_serialize((const struct annoy *)impl, out);
}

static int annoy_vdeserialize(int metric, const struct vec_view *v, const uint8_t *data,
                              size_t len, void **impl, kite_err *err)
{
    return annoy_deserialize(metric, v, data, len, (struct annoy **)impl, err);
}

static size_t annoy_vmemory(const void *impl)
{
    return annoy_memory_bytes((const struct annoy *)impl);
}

static void annoy_vfree(void *impl)
{
    annoy_free((struct annoy *)impl);
}

static const struct vindex_ops annoy_vops = {
    annoy_vbuild, annoy_vsearch, annoy_vserialize, annoy_vdeserialize, annoy_vmemory, annoy_vfree,
};

/* ======================================================== distance space */

bool vspace_is_binary(const struct vspace *s)
{
    return s->kind == VSP_HAM || s->kind == VSP_JAC;
}

size_t vspace_query_bytes(const struct vspace *s)
{
    return vspace_is_binary(s) ? s->dim / 8 : (size_t)s->dim * sizeof(float);
}

int vspace_init(struct vspace *s, const struct vec_view *v, int metric, kite_err *err)
{
    int rc = KITE_OK;
    bool bin = v->dtype == KITE_DT_BINARY_VECTOR;
    memset(s, 0, sizeof(*s));
    s->metric = metric;
    s->dtype = v->dtype;
    s->dim = v->dim;
    s->n = v->n;
    s->ops = kite_simd();
    if (v->n > UINT32_MAX - 1)
        return kite_err_set(err, KITE_ELIMIT, "segment has %zu rows; an index holds at most %u",
                            v->n, UINT32_MAX - 1);
    if (v->dim == 0 || (bin && v->dim % 8))
        return kite_err_set(err, KITE_EINVAL, "invalid vector dimension %u for an index", v->dim);
    switch (metric) {
    case KITE_METRIC_L2:
        s->kind = VSP_L2;
        break;
    case KITE_METRIC_IP:
        s->kind = VSP_IP;
        break;
    case KITE_METRIC_COSINE:
        s->kind = VSP_COS;
        break;
    case KITE_METRIC_HAMMING:
        s->kind = VSP_HAM;
        break;
    case KITE_METRIC_JACCARD:
        s->kind = VSP_JAC;
        break;
    default:
        return kite_err_set(err, KITE_EINVAL, "metric %s is not supported by ANN indexes",
                            mname(metric));
    }
    if (bin != vspace_is_binary(s))
        return kite_err_set(err, KITE_EINVAL, "metric %s does not apply to %s vectors",
                            mname(metric), bin ? "binary" : "float");
    s->row_bytes = bin ? v->dim / 8 : (size_t)v->dim * sizeof(float);
    s->data = v->data;
    if (v->dtype == KITE_DT_FLOAT16_VECTOR || v->dtype == KITE_DT_BFLOAT16_VECTOR) {
        size_t cnt;
        if (!kite_mul_size(v->n ? v->n : 1, v->dim, &cnt) ||
            !kite_mul_size(cnt, sizeof(float), &cnt))
            return kite_err_set(err, KITE_ELIMIT, "segment too large to index");
        s->owned = kite_malloc_aligned(cnt);
        if (!s->owned)
            return kite_err_set(err, KITE_ENOMEM, "out of memory converting half vectors");
        if (v->dtype == KITE_DT_FLOAT16_VECTOR)
            s->ops->f16_to_f32(v->data, s->owned, v->n * v->dim);
        else
            s->ops->bf16_to_f32(v->data, s->owned, v->n * v->dim);
        s->data = (const uint8_t *)s->owned;
    } else if (!bin && v->dtype != KITE_DT_FLOAT_VECTOR) {
        return kite_err_set(err, KITE_EINVAL, "dtype %d cannot be indexed", v->dtype);
    }
    if (s->kind == VSP_COS) {
        s->inv_norm = kite_malloc((v->n ? v->n : 1) * sizeof(float));
        if (!s->inv_norm) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory for vector norms");
            goto fail;
        }
        for (size_t i = 0; i < v->n; i++) {
            const float *x = (const float *)(const void *)vspace_row(s, i);
            float nn = v->norms && !s->owned ? v->norms[i] : sqrtf(s->ops->ip_f32(x, x, v->dim));
            s->inv_norm[i] = nn > 0.0f ? 1.0f / nn : 0.0f;
        }
    }
    return KITE_OK;
fail:
    vspace_free(s);
    return rc;
}

void vspace_free(struct vspace *s)
{
    if (!s)
        return;
    kite_free_aligned(s->owned);
    kite_free(s->inv_norm);
    s->owned = NULL;
    s->inv_norm = NULL;
}

int vspace_rebind(struct vspace *s, const struct vec_view *v, kite_err *err)
{
    if (!v || v->n != s->n || v->dim != s->dim || v->dtype != s->dtype)
        return kite_err_set(err, KITE_EINVAL,
                            "index was built for %zu rows of dim %u, not %zu rows of dim %u",
                            s->n, s->dim, v ? v->n : 0, v ? v->dim : 0);
    if (!s->owned)
        s->data = v->data;
    return KITE_OK;
}

const void *vspace_prep_query(const struct vspace *s, const void *q, float *buf)
{
    if (s->kind != VSP_COS)
        return q;
    const float *f = q;
    float nn = sqrtf(s->ops->ip_f32(f, f, s->dim));
    float inv = nn > 0.0f ? 1.0f / nn : 0.0f;
    for (uint32_t i = 0; i < s->dim; i++)
        buf[i] = f[i] * inv;
    return buf;
}

float vspace_score(const struct vspace *s, float dist)
{
    return (s->kind == VSP_IP || s->kind == VSP_COS) ? -dist : dist;
}

float vspace_dist_rows(const struct vspace *s, size_t a, size_t b)
{
    const uint8_t *x = vspace_row(s, a);
    switch (s->kind) {
    case VSP_COS:
        return -s->ops->ip_f32((const float *)(const void *)x,
                               (const float *)(const void *)vspace_row(s, b), s->dim) *
               s->inv_norm[a] * s->inv_norm[b];
    default:
        return vspace_dist(s, x, b);
    }
}

void vrange_init(struct vrange *r, const struct vspace *s, const struct vsearch_params *p)
{
    r->active = p && p->has_radius;
    r->lo = -INFINITY;
    r->hi = INFINITY;
    if (!r->active)
        return;
    if (s->kind == VSP_IP || s->kind == VSP_COS) {
        /* keep radius < score <= range_filter  <=>  -range_filter <= dist < -radius */
        r->hi = -p->radius;
        if (p->has_range_filter)
            r->lo = -p->range_filter;
    } else {
        r->hi = p->radius;
        if (p->has_range_filter)
            r->lo = p->range_filter;
    }
}

static int vpair_cmp(const void *a, const void *b)
{
    const struct vpair *x = a, *y = b;
    if (x->d < y->d)
        return -1;
    if (x->d > y->d)
        return 1;
    return (x->id > y->id) - (x->id < y->id);
}

void vtopk_sort(struct vtopk *h)
{
    qsort(h->a, h->n, sizeof(*h->a), vpair_cmp);
}

size_t vtopk_emit(struct vtopk *h, const struct vspace *s, struct kite_hit *hits)
{
    vtopk_sort(h);
    for (size_t i = 0; i < h->n; i++)
        hits[i] = (struct kite_hit){vspace_score(s, h->a[i].d), h->a[i].id};
    return h->n;
}

size_t vbits_count(const uint64_t *allow, size_t n)
{
    size_t c = 0;
    if (!allow)
        return n;
    for (size_t w = 0; w < n / 64; w++)
        c += (size_t)__builtin_popcountll(allow[w]);
    if (n % 64)
        c += (size_t)__builtin_popcountll(allow[n / 64] & ((1ull << (n % 64)) - 1));
    return c;
}

void vspace_exact_scan(const struct vspace *s, const void *q, const uint64_t *allow,
                       const struct vrange *r, struct vtopk *heap)
{
    for (size_t w = 0; w * 64 < s->n; w++) {
        uint64_t bits = allow ? allow[w] : ~0ull;
        size_t base = w * 64;
        if (base + 64 > s->n)
            bits &= (s->n - base == 64) ? ~0ull : ((1ull << (s->n - base)) - 1);
        while (bits) {
            size_t i = base + (size_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            float d = vspace_dist(s, q, i);
            if (vrange_keep(r, d))
                vtopk_push(heap, d, (uint32_t)i);
        }
    }
}
