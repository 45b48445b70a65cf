/*
 * onnx_load.c — ONNX ModelProto (protobuf-c over Debian's onnx.proto) to our
 * immutable graph (onnx_int.h).
 *
 * Load steps, each a pass:
 *   1. unpack the protobuf (kite_malloc allocator), check the default-domain
 *      opset and refuse sub-graphs' owners, training info and external data;
 *   2. name -> value index for graph inputs, initializers and node outputs
 *      (each value produced once: SSA);
 *   3. nodes: op type lookup (ALL unsupported op types are listed in one error),
 *      attributes into struct vattr;
 *   4. topological sort (Kahn), refusing cycles and dangling inputs;
 *   5. BatchNormalization folded into the preceding Conv where legal (pass_fold_bn),
 *      then Relu/Clip fused into the Conv's epilogue or the Add's loop
 *      (pass_fuse_act);
 *   6. liveness (last reader of each value) so a run frees activations early;
 *   7. shape inference: the graph is executed in shape-only mode (onnx_int.h
 *      invariant 3) with the declared input shapes (symbolic dims = 1), so a
 *      model whose shapes do not line up is refused at load, with the node named.
 *
 * Threading model: loading is single-threaded; the result is immutable
 * except for its mutex-guarded buffer cache (onnx_int.h invariant 4).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "onnx.pb-c.h"
#include "onnx_int.h"

/* ---------------------------------------------------------------- name map */

struct name_map {
    size_t cap;
    const char **keys;
    int *vals;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 1099511628211ull;
    return h;
}

static int map_init(struct name_map *m, size_t n)
{
    m->cap = 16;
    while (m->cap < 2 * n + 16)
        m->cap *= 2;
    m->keys = kite_calloc(m->cap, sizeof(*m->keys));
    m->vals = kite_calloc(m->cap, sizeof(*m->vals));
    return (m->keys && m->vals) ? KITE_OK : KITE_ENOMEM;
}

static void map_free(struct name_map *m)
{
    kite_free(m->keys);
    kite_free(m->vals);
}

/* Index of key, or -1; with insert_val >= 0 insert if absent (capacity sized for all). */
static int map_get(struct name_map *m, const char *key, int insert_val)
{
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0)
            return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    if (insert_val >= 0) {
        m->keys[i] = key;
        m->vals[i] = insert_val;
    }
    return -1;
}

/* ---------------------------------------------------------------- loader state */

struct loader {
    kite_model *m;
    Onnx__ModelProto *mp;
    struct name_map map;
    int cap_values;
    kite_err *err;
};

static int add_value(struct loader *L, const char *name, int *idx)
{
    int i = map_get(&L->map, name, L->m->n_values);
    if (i >= 0) {
        *idx = i;
        return 1; /* existed */
    }
    if (L->m->n_values >= L->cap_values)
        return kite_err_set(L->err, KITE_EINTERNAL, "value table overflow");
    L->m->names[L->m->n_values] = kite_strdup(name);
    if (!L->m->names[L->m->n_values])
        return kite_err_set(L->err, KITE_ENOMEM, "out of memory for value names");
    *idx = L->m->n_values++;
    return 0;
}

static int copy_ints(const Onnx__AttributeProto *at, int64_t *dst, int cap, int *n,
                     kite_err *err)
{
    if ((int64_t)at->n_ints > cap)
        return kite_err_set(err, KITE_EUNSUPPORTED, "attribute '%s' has %zu values (max %d)",
                            at->name, at->n_ints, cap);
    if (at->n_ints)
        memcpy(dst, at->ints, at->n_ints * sizeof(int64_t));
    *n = (int)at->n_ints;
    return KITE_OK;
}

static int attr_str_is(const Onnx__AttributeProto *at, const char *s)
{
    return at->has_s && at->s.len == strlen(s) && memcmp(at->s.data, s, at->s.len) == 0;
}

static int parse_constant_attr(const Onnx__AttributeProto *at, struct vattr *a, kite_err *err)
{
    int64_t one = 1, n;
    int rc;
    if (strcmp(at->name, "value") == 0 && at->t) {
        rc = vt_from_proto(at->t, &a->value, err);
    } else if (strcmp(at->name, "value_float") == 0 || strcmp(at->name, "value_int") == 0) {
        bool f = at->name[6] == 'f';
        rc = vt_make(NULL, &a->value, f ? VT_F32 : VT_I64, 0, &one);
        if (rc == KITE_OK && f)
            ((float *)a->value.data)[0] = at->f;
        else if (rc == KITE_OK)
            ((int64_t *)a->value.data)[0] = at->i;
    } else if (strcmp(at->name, "value_floats") == 0 || strcmp(at->name, "value_ints") == 0) {
        bool f = at->name[6] == 'f';
        n = f ? (int64_t)at->n_floats : (int64_t)at->n_ints;
        rc = vt_make(NULL, &a->value, f ? VT_F32 : VT_I64, 1, &n);
        if (rc == KITE_OK && n)
            memcpy(a->value.data, f ? (void *)at->floats : (void *)at->ints,
                   (size_t)n * (f ? sizeof(float) : sizeof(int64_t)));
    } else {
        return kite_err_set(err, KITE_EUNSUPPORTED,
                            "Constant attribute '%s' is not supported (value, value_float(s), "
                            "value_int(s) are)",
                            at->name);
    }
    if (rc == KITE_OK)
        a->has_value = true;
    return rc;
}

static int parse_attrs(const Onnx__NodeProto *np, struct vnode *n, kite_err *err)
{
    struct vattr *a = &n->a;
    int rc = KITE_OK;
    a->group = 1;
    a->alpha = a->beta = 1.0f;
    a->epsilon = 1e-5f;
    a->fmin = -INFINITY;
    a->fmax = INFINITY;
    a->p = 2;
    for (size_t i = 0; i < np->n_attribute && rc == KITE_OK; i++) {
        const Onnx__AttributeProto *at = np->attribute[i];
        const char *nm = at->name ? at->name : "";
        if (n->op == OP_CONSTANT) {
            rc = parse_constant_attr(at, a, err);
        } else if (!strcmp(nm, "kernel_shape")) {
            rc = copy_ints(at, a->kernel, 4, &a->n_kernel, err);
        } else if (!strcmp(nm, "strides")) {
            rc = copy_ints(at, a->strides, 4, &a->n_strides, err);
        } else if (!strcmp(nm, "dilations")) {
            rc = copy_ints(at, a->dilations, 4, &a->n_dilations, err);
        } else if (!strcmp(nm, "pads")) {
            rc = copy_ints(at, a->pads, 8, &a->n_pads, err);
        } else if (!strcmp(nm, "perm")) {
            rc = copy_ints(at, a->perm, VT_MAX_DIMS, &a->n_perm, err);
        } else if (!strcmp(nm, "axes")) {
            rc = copy_ints(at, a->axes, VT_MAX_DIMS, &a->n_axes, err);
            a->has_axes = true;
        } else if (!strcmp(nm, "group")) {
            a->group = at->i;
        } else if (!strcmp(nm, "auto_pad")) {
            a->auto_pad = attr_str_is(at, "SAME_UPPER")   ? AUTOPAD_SAME_UPPER
                          : attr_str_is(at, "SAME_LOWER") ? AUTOPAD_SAME_LOWER
                          : attr_str_is(at, "VALID")      ? AUTOPAD_VALID
                                                          : AUTOPAD_NOTSET;
        } else if (!strcmp(nm, "mode")) {
            a->pad_mode = attr_str_is(at, "reflect") ? PADMODE_REFLECT
                          : attr_str_is(at, "edge")  ? PADMODE_EDGE
                                                     : PADMODE_CONSTANT;
            if (!attr_str_is(at, "reflect") && !attr_str_is(at, "edge") &&
                !attr_str_is(at, "constant"))
                rc = kite_err_set(err, KITE_EUNSUPPORTED, "Pad mode '%.*s' is not supported",
                                  (int)at->s.len, (const char *)at->s.data);
        } else if (!strcmp(nm, "ceil_mode")) {
            a->ceil_mode = (int)at->i;
        } else if (!strcmp(nm, "count_include_pad")) {
            a->count_include_pad = (int)at->i;
        } else if (!strcmp(nm, "alpha")) {
            a->alpha = at->f;
        } else if (!strcmp(nm, "beta")) {
            a->beta = at->f;
        } else if (!strcmp(nm, "epsilon")) {
            a->epsilon = at->f;
        } else if (!strcmp(nm, "min")) {
            a->fmin = at->f;
        } else if (!strcmp(nm, "max")) {
            a->fmax = at->f;
        } else if (!strcmp(nm, "value")) { /* Pad-2 constant */
            a->alpha = at->f;
            a->has_value = true;
        } else if (!strcmp(nm, "transA")) {
            a->trans_a = (int)at->i;
        } else if (!strcmp(nm, "transB")) {
            a->trans_b = (int)at->i;
        } else if (!strcmp(nm, "axis")) {
            a->axis = at->i;
            a->has_axis = true;
        } else if (!strcmp(nm, "p")) {
            a->p = at->i;
        } else if (!strcmp(nm, "allowzero")) {
            a->allowzero = (int)at->i;
        } else if (!strcmp(nm, "start")) {
            a->start = at->i;
        } else if (!strcmp(nm, "end")) {
            a->end = at->i;
            a->has_end = true;
        } else if (!strcmp(nm, "training_mode") || !strcmp(nm, "storage_order") ||
                   !strcmp(nm, "spatial")) {
            if (at->i != (!strcmp(nm, "spatial") ? 1 : 0))
                rc = kite_err_set(err, KITE_EUNSUPPORTED, "%s: attribute %s=%lld unsupported",
                                  np->op_type, nm, (long long)at->i);
        }
        /* Others (momentum, seed, ratio, consumed_inputs, ...) do not change inference. */
    }
    if (rc == KITE_OK && n->op == OP_CONSTANT && !a->has_value)
        rc = kite_err_set(err, KITE_ECORRUPT, "Constant node has no value");
    return rc;
}

static int decl_from_value_info(const Onnx__ValueInfoProto *vi, struct vdecl *d, kite_err *err)
{
    const Onnx__TypeProto *tp = vi->type;
    memset(d, 0, sizeof(*d));
    d->ndim = -1;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return kite_err_set(err, KITE_EUNSUPPORTED, "value '%s' is not a tensor", vi->name);
    switch (tp->tensor_type->elem_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: d->type = VT_F32; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: d->type = VT_I64; break;
    default:
        return kite_err_set(err, KITE_EUNSUPPORTED,
                            "value '%s' has element type %d (float32/int64 supported)", vi->name,
                            (int)tp->tensor_type->elem_type);
    }
    if (tp->tensor_type->shape) {
        const Onnx__TensorShapeProto *sp = tp->tensor_type->shape;
        if (sp->n_dim > VT_MAX_DIMS)
            return kite_err_set(err, KITE_EUNSUPPORTED, "value '%s' has rank %zu", vi->name,
                                sp->n_dim);
        d->ndim = (int)sp->n_dim;
        for (size_t i = 0; i < sp->n_dim; i++) {
            const Onnx__TensorShapeProto__Dimension *dm = sp->dim[i];
            d->dims[i] = (dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                          dm->dim_value >= 0)
                             ? dm->dim_value
                             : -1;
        }
    }
    return KITE_OK;
}

/* ---------------------------------------------------------------- passes */

static int pass_check_model(struct loader *L)
{
    Onnx__ModelProto *mp = L->mp;
    L->m->opset = -1;
    if (!mp->graph)
        return kite_err_set(L->err, KITE_ECORRUPT, "ONNX model has no graph");
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (!o->domain || !o->domain[0] || !strcmp(o->domain, "ai.onnx"))
            L->m->opset = o->has_version ? o->version : 1;
    }
    if (L->m->opset < 0)
        L->m->opset = mp->n_opset_import ? 1 : 13;
    if (mp->graph->n_sparse_initializer)
        return kite_err_set(L->err, KITE_EUNSUPPORTED, "sparse initializers are not supported");
    return KITE_OK;
}

static int pass_values(struct loader *L)
{
    Onnx__GraphProto *g = L->mp->graph;
    kite_model *m = L->m;
    size_t total = g->n_input + g->n_initializer;
    int rc, idx;
    for (size_t i = 0; i < g->n_node; i++)
        total += g->node[i]->n_output + g->node[i]->n_input;
    if (total > 10000000)
        return kite_err_set(L->err, KITE_ELIMIT, "graph is too large (%zu names)", total);
    L->cap_values = (int)total + 1;
    if (map_init(&L->map, total) != KITE_OK ||
        !(m->names = kite_calloc((size_t)L->cap_values, sizeof(char *))) ||
        !(m->consts = kite_calloc((size_t)L->cap_values, sizeof(struct vt))))
        return kite_err_set(L->err, KITE_ENOMEM, "out of memory for the value table");
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *tp = g->initializer[i];
        if (!tp->name || !tp->name[0])
            return kite_err_set(L->err, KITE_ECORRUPT, "initializer %zu has no name", i);
        rc = add_value(L, tp->name, &idx);
        if (rc < 0)
            return rc;
        if (rc == 1)
            return kite_err_set(L->err, KITE_ECORRUPT, "initializer '%s' defined twice",
                                tp->name);
        rc = vt_from_proto(tp, &m->consts[idx], L->err);
        if (rc != KITE_OK)
            return rc;
    }
    m->inputs = kite_calloc(g->n_input + 1, sizeof(int));
    m->in_decl = kite_calloc(g->n_input + 1, sizeof(struct vdecl));
    if (!m->inputs || !m->in_decl)
        return kite_err_set(L->err, KITE_ENOMEM, "out of memory");
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (!vi->name || !vi->name[0])
            return kite_err_set(L->err, KITE_ECORRUPT, "graph input %zu has no name", i);
        rc = add_value(L, vi->name, &idx);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            if (m->consts[idx].type)
                continue; /* IR < 4: initializers are also listed as inputs */
            return kite_err_set(L->err, KITE_ECORRUPT, "graph input '%s' listed twice",
                                vi->name);
        }
        rc = decl_from_value_info(vi, &m->in_decl[m->n_inputs], L->err);
        if (rc != KITE_OK)
            return rc;
        m->inputs[m->n_inputs++] = idx;
    }
    return KITE_OK;
}

static int pass_nodes(struct loader *L)
{
    Onnx__GraphProto *g = L->mp->graph;
    kite_model *m = L->m;
    char unsupported[400] = "";
    size_t ulen = 0, n_unsupported = 0;
    int rc, idx;
    m->nodes = kite_calloc(g->n_node + 1, sizeof(struct vnode));
    if (!m->nodes)
        return kite_err_set(L->err, KITE_ENOMEM, "out of memory for nodes");
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *np = g->node[i];
        int op = np->op_type ? vop_from_name(np->op_type) : -1;
        if (np->domain && np->domain[0] && strcmp(np->domain, "ai.onnx"))
            op = -1;
        if (op < 0) {
            const char *t = np->op_type && np->op_type[0] ? np->op_type : "(empty)";
            n_unsupported++;
            if (!strstr(unsupported, t) && ulen + strlen(t) + 3 < sizeof(unsupported))
                ulen += (size_t)snprintf(unsupported + ulen, sizeof(unsupported) - ulen, "%s%s",
                                         ulen ? ", " : "", t);
        }
    }
    if (n_unsupported)
        return kite_err_set(L->err, KITE_EUNSUPPORTED,
                            "model uses unsupported operators: %s (see docs/VISION.md for the "
                            "supported list)",
                            unsupported);
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *np = g->node[i];
        struct vnode *n = &m->nodes[m->n_nodes++];
        n->op = vop_from_name(np->op_type);
        n->name = kite_strdup(np->name ? np->name : "");
        n->in = kite_calloc(np->n_input + 1, sizeof(int));
        n->out = kite_calloc(np->n_output + 1, sizeof(int));
        if (!n->name || !n->in || !n->out)
            return kite_err_set(L->err, KITE_ENOMEM, "out of memory for nodes");
        if (np->n_output < 1 || !np->output[0][0] || np->n_output > 8 || np->n_input > 16) {
            return kite_err_set(L->err, KITE_ECORRUPT,
                                "node '%s' (%s) has %zu inputs and %zu outputs; expected 1..8 "
                                "outputs (the first named) and at most 16 inputs",
                                n->name, np->op_type, np->n_input, np->n_output);
        }
        rc = parse_attrs(np, n, L->err);
        if (rc != KITE_OK) {
            kite_err_prefix(L->err, "node '%s' (%s)", n->name, np->op_type);
            return rc;
        }
        for (size_t j = 0; j < np->n_output; j++) {
            if (!np->output[j][0]) {
                n->out[n->n_out++] = -1;
                continue;
            }
            rc = add_value(L, np->output[j], &idx);
            if (rc < 0)
                return rc;
            if (rc == 1)
                return kite_err_set(L->err, KITE_ECORRUPT,
                                    "value '%s' is produced twice (node '%s')", np->output[j],
                                    n->name);
            n->out[n->n_out++] = idx;
        }
    }
    /* Inputs after all outputs are known (nodes may be listed out of order). */
    for (int i = 0; i < m->n_nodes; i++) {
        const Onnx__NodeProto *np = g->node[i];
        struct vnode *n = &m->nodes[i];
        for (size_t j = 0; j < np->n_input; j++) {
            idx = np->input[j][0] ? map_get(&L->map, np->input[j], -1) : -1;
            if (np->input[j][0] && idx < 0)
                return kite_err_set(L->err, KITE_ECORRUPT,
                                    "node '%s' (%s) reads '%s', which nothing produces", n->name,
                                    vop_name(n->op), np->input[j]);
            n->in[n->n_in++] = idx;
        }
    }
    return KITE_OK;
}

static int pass_outputs(struct loader *L)
{
    Onnx__GraphProto *g = L->mp->graph;
    kite_model *m = L->m;
    int rc;
    if (!g->n_output)
        return kite_err_set(L->err, KITE_ECORRUPT, "graph has no outputs");
    m->outputs = kite_calloc(g->n_output, sizeof(int));
    m->out_decl = kite_calloc(g->n_output, sizeof(struct vdecl));
    if (!m->outputs || !m->out_decl)
        return kite_err_set(L->err, KITE_ENOMEM, "out of memory");
    for (size_t i = 0; i < g->n_output; i++) {
        int idx = g->output[i]->name ? map_get(&L->map, g->output[i]->name, -1) : -1;
        if (idx < 0)
            return kite_err_set(L->err, KITE_ECORRUPT, "graph output '%s' is never produced",
                                g->output[i]->name ? g->output[i]->name : "");
        rc = decl_from_value_info(g->output[i], &m->out_decl[i], L->err);
        if (rc != KITE_OK)
            return rc;
        m->outputs[m->n_outputs++] = idx;
    }
    return KITE_OK;
}

/* Kahn's algorithm over node -> node edges; stable (keeps file order among ready nodes). */
static int pass_toposort(struct loader *L)
{
    kite_model *m = L->m;
    int *producer = NULL, *indeg = NULL, *order = NULL, head = 0, tail = 0, rc = KITE_OK;
    struct vnode *sorted = NULL;
    producer = kite_malloc(sizeof(int) * (size_t)(m->n_values + 1));
    indeg = kite_calloc((size_t)m->n_nodes + 1, sizeof(int));
    order = kite_malloc(sizeof(int) * (size_t)(m->n_nodes + 1));
    sorted = kite_calloc((size_t)m->n_nodes + 1, sizeof(struct vnode));
    if (!producer || !indeg || !order || !sorted) {
        rc = kite_err_set(L->err, KITE_ENOMEM, "out of memory sorting the graph");
        goto out_free;
    }
    for (int v = 0; v < m->n_values; v++)
        producer[v] = -1;
    for (int i = 0; i < m->n_nodes; i++)
        for (int j = 0; j < m->nodes[i].n_out; j++)
            if (m->nodes[i].out[j] >= 0)
                producer[m->nodes[i].out[j]] = i;
    for (int i = 0; i < m->n_nodes; i++)
        for (int j = 0; j < m->nodes[i].n_in; j++) {
            int v = m->nodes[i].in[j];
            if (v >= 0 && producer[v] >= 0)
                indeg[i]++;
        }
    for (int i = 0; i < m->n_nodes; i++)
        if (!indeg[i])
            order[tail++] = i;
    while (head < tail) {
        int i = order[head++];
        /* Release consumers of i's outputs (quadratic only in pathological graphs). */
        for (int k = 0; k < m->n_nodes; k++)
            for (int j = 0; j < m->nodes[k].n_in; j++) {
                int v = m->nodes[k].in[j];
                if (v >= 0 && producer[v] == i && --indeg[k] == 0)
                    order[tail++] = k;
            }
    }
    if (tail != m->n_nodes) {
        rc = kite_err_set(L->err, KITE_ECORRUPT, "graph has a cycle (%d of %d nodes sortable)",
                          tail, m->n_nodes);
        goto out_free;
    }
    for (int i = 0; i < m->n_nodes; i++)
        sorted[i] = m->nodes[order[i]];
    kite_free(m->nodes);
    m->nodes = sorted;
    sorted = NULL;
out_free:
    kite_free(producer);
    kite_free(indeg);
    kite_free(order);
    kite_free(sorted);
    return rc;
}

/* Append a new constant value (takes ownership of *t); returns its index or a negative error. */
static int add_const(struct loader *L, const char *base, const char *suffix, struct vt *t)
{
    kite_model *m = L->m;
    char **names = kite_realloc(m->names, sizeof(char *) * (size_t)(m->n_values + 1));
    struct vt *consts;
    size_t len = strlen(base) + strlen(suffix) + 1;
    if (!names)
        return kite_err_set(L->err, KITE_ENOMEM, "out of memory folding BatchNormalization");
    m->names = names;
    consts = kite_realloc(m->consts, sizeof(struct vt) * (size_t)(m->n_values + 1));
    if (!consts)
        return kite_err_set(L->err, KITE_ENOMEM, "out of memory folding BatchNormalization");
    m->consts = consts;
    m->names[m->n_values] = kite_malloc(len);
    if (!m->names[m->n_values])
        return kite_err_set(L->err, KITE_ENOMEM, "out of memory folding BatchNormalization");
    snprintf(m->names[m->n_values], len, "%s%s", base, suffix);
    m->consts[m->n_values] = *t;
    memset(t, 0, sizeof(*t));
    return m->n_values++;
}

static bool is_f32_const(const kite_model *m, int v, int ndim)
{
    return v >= 0 && m->consts[v].type == VT_F32 && m->consts[v].ndim == ndim;
}

/* Conv p has constant float weights with M output channels and a constant or no bias. */
static bool conv_foldable(const kite_model *m, const struct vnode *p, int64_t M)
{
    const struct vt *W = &m->consts[p->in[1]];
    if (W->type != VT_F32 || W->ndim < 3 || W->dims[0] != M)
        return false;
    return p->n_in < 3 || p->in[2] < 0 ||
           (is_f32_const(m, p->in[2], 1) && m->consts[p->in[2]].len == (size_t)M);
}

/* Fold BN node b into conv node p (p's output read only by b); see pass_fold_bn. */
static int fold_one(struct loader *L, struct vnode *p, struct vnode *b)
{
    kite_model *m = L->m;
    const struct vt *W = &m->consts[p->in[1]];
    const struct vt *Bc = p->n_in > 2 && p->in[2] >= 0 ? &m->consts[p->in[2]] : NULL;
    const float *sc = m->consts[b->in[1]].data, *bb = m->consts[b->in[2]].data;
    const float *mu = m->consts[b->in[3]].data, *var = m->consts[b->in[4]].data;
    int64_t M = W->dims[0];
    size_t per = M ? W->len / (size_t)M : 0;
    struct vt nw, nb;
    int iw, ib, rc;
    memset(&nw, 0, sizeof(nw));
    memset(&nb, 0, sizeof(nb));
    if ((rc = vt_copy(&nw, W)) != KITE_OK || (rc = vt_make(NULL, &nb, VT_F32, 1, &M)) != KITE_OK) {
        vt_clear(&nw);
        return kite_err_set(L->err, KITE_ENOMEM, "out of memory folding BatchNormalization");
    }
    for (int64_t k = 0; k < M; k++) {
        double f = sc[k] / sqrt((double)var[k] + b->a.epsilon);
        for (size_t i = 0; i < per; i++)
            ((float *)nw.data)[(size_t)k * per + i] =
                (float)(((const float *)W->data)[(size_t)k * per + i] * f);
        ((float *)nb.data)[k] =
            (float)(((Bc ? ((const float *)Bc->data)[k] : 0.0f) - mu[k]) * f + bb[k]);
    }
    if ((iw = add_const(L, m->names[p->in[1]], "/bn_folded", &nw)) < 0) {
        vt_clear(&nw);
        vt_clear(&nb);
        return iw;
    }
    if ((ib = add_const(L, m->names[p->in[1]], "/bn_folded_bias", &nb)) < 0) {
        vt_clear(&nb);
        return ib;
    }
    p->in[1] = iw;
    p->in[2] = ib;
    p->n_in = 3;
    p->out[0] = b->out[0];
    return KITE_OK;
}

/*
 * Inference-time BatchNormalization folding: Conv -> BN, where the conv output
 * has no other reader and is not a graph output, and W, bias and all BN
 * parameters are constants, becomes one Conv with W' = W * s and
 * b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps).  It removes a full
 * memory pass per conv (MobileNetV2 has 52 of them).  Runs after the topological
 * sort, so the BN's producer is found among earlier nodes.
 */
int vmodel_fold_bn = 1;

static int pass_fold_bn(struct loader *L)
{
    kite_model *m = L->m;
    int *readers = kite_calloc((size_t)m->n_values + 1, sizeof(int));
    int *producer = kite_malloc(sizeof(int) * (size_t)(m->n_values + 1));
    int rc = KITE_OK, w = 0;
    if (!vmodel_fold_bn)
        goto out_free;
    if (!readers || !producer) {
        rc = kite_err_set(L->err, KITE_ENOMEM, "out of memory");
        goto out_free;
    }
    for (int v = 0; v < m->n_values; v++)
        producer[v] = -1;
    for (int i = 0; i < m->n_nodes; i++) {
        for (int j = 0; j < m->nodes[i].n_in; j++)
            if (m->nodes[i].in[j] >= 0)
                readers[m->nodes[i].in[j]]++;
        producer[m->nodes[i].out[0]] = i;
    }
    for (int i = 0; i < m->n_outputs; i++)
        readers[m->outputs[i]] += 2; /* never fold away a graph output */
    for (int i = 0; i < m->n_nodes; i++) {
        struct vnode *b = &m->nodes[i], *p;
        int x = b->n_in == 5 ? b->in[0] : -1;
        bool ok = b->op == OP_BN && x >= 0 && producer[x] >= 0 && readers[x] == 1 &&
                  (b->n_out == 1 || b->out[1] < 0);
        for (int k = 1; ok && k < 5; k++)
            ok = is_f32_const(m, b->in[k], 1) &&
                 m->consts[b->in[k]].len == m->consts[b->in[1]].len;
        p = ok ? &m->nodes[producer[x]] : NULL;
        ok = ok && p->op == OP_CONV && p->n_out == 1 && p->n_in >= 2 && p->in[1] >= 0 &&
             conv_foldable(m, p, (int64_t)m->consts[b->in[1]].len);
        if (ok) {
            if ((rc = fold_one(L, p, b)) != KITE_OK)
                goto out_free;
            b->op = -1; /* dropped below; indices must stay stable until then */
        }
    }
    for (int i = 0; i < m->n_nodes; i++) {
        struct vnode *b = &m->nodes[i];
        if (b->op < 0) {
            kite_free(b->name);
            kite_free(b->in);
            kite_free(b->out);
            vt_clear(&b->a.value);
            continue;
        }
        m->nodes[w++] = *b;
    }
    m->n_nodes = w;
out_free:
    kite_free(readers);
    kite_free(producer);
    return rc;
}

/* Scalar float constant at value v (Clip min/max inputs), or false. */
static bool const_scalar(const kite_model *m, int v, float *out)
{
    if (v < 0 || m->consts[v].type != VT_F32 || m->consts[v].len != 1)
        return false;
    *out = ((const float *)m->consts[v].data)[0];
    return true;
}

/*
 * Relu / Clip (constant bounds) right after a Conv or an Add whose output has
 * no other reader and is not a graph output is applied in the Conv's epilogue
 * or the Add's loop (attrs fmin/fmax with has_min/has_max); the activation
 * node is dropped.  Saves one memory pass per activation (35 Clips in the
 * nsfwjs model; the 16 residual Add + Relu pairs of ResNet-50).
 */
static int pass_fuse_act(struct loader *L)
{
    kite_model *m = L->m;
    int *readers = kite_calloc((size_t)m->n_values + 1, sizeof(int));
    int *producer = kite_malloc(sizeof(int) * (size_t)(m->n_values + 1));
    int rc = KITE_OK, w = 0;
    if (!vmodel_fold_bn)
        goto out_free;
    if (!readers || !producer) {
        rc = kite_err_set(L->err, KITE_ENOMEM, "out of memory");
        goto out_free;
    }
    for (int v = 0; v < m->n_values; v++)
        producer[v] = -1;
    for (int i = 0; i < m->n_nodes; i++) {
        for (int j = 0; j < m->nodes[i].n_in; j++)
            if (m->nodes[i].in[j] >= 0)
                readers[m->nodes[i].in[j]]++;
        producer[m->nodes[i].out[0]] = i;
    }
    for (int i = 0; i < m->n_outputs; i++)
        readers[m->outputs[i]] += 2;
    for (int i = 0; i < m->n_nodes; i++) {
        struct vnode *a = &m->nodes[i], *p;
        float lo = -INFINITY, hi = INFINITY;
        int x = a->n_in >= 1 ? a->in[0] : -1;
        bool ok = (a->op == OP_RELU || a->op == OP_CLIP) && x >= 0 && producer[x] >= 0 &&
                  readers[x] == 1 && a->n_out == 1;
        if (ok && a->op == OP_RELU) {
            lo = 0.0f;
        } else if (ok && m->opset < 11) {
            lo = a->a.fmin;
            hi = a->a.fmax;
        } else if (ok) {
            ok = (a->n_in < 2 || a->in[1] < 0 || const_scalar(m, a->in[1], &lo)) &&
                 (a->n_in < 3 || a->in[2] < 0 || const_scalar(m, a->in[2], &hi));
        }
        p = ok ? &m->nodes[producer[x]] : NULL;
        /* Conv applies it in its epilogue, Add (residual + Relu) in its loop */
        if (!p || (p->op != OP_CONV && p->op != OP_ADD) || p->n_out != 1 || p->a.has_min ||
            p->a.has_max)
            continue;
        p->a.fmin = lo;
        p->a.fmax = hi;
        p->a.has_min = p->a.has_max = true;
        p->out[0] = a->out[0];
        a->op = -1;
    }
    for (int i = 0; i < m->n_nodes; i++) {
        struct vnode *a = &m->nodes[i];
        if (a->op < 0) {
            kite_free(a->name);
            kite_free(a->in);
            kite_free(a->out);
            vt_clear(&a->a.value);
            continue;
        }
        m->nodes[w++] = *a;
    }
    m->n_nodes = w;
out_free:
    kite_free(readers);
    kite_free(producer);
    return rc;
}

static int pass_liveness(struct loader *L)
{
    kite_model *m = L->m;
    m->last_use = kite_malloc(sizeof(int) * (size_t)(m->n_values + 1));
    m->keep = kite_calloc((size_t)m->n_values + 1, sizeof(bool));
    if (!m->last_use || !m->keep)
        return kite_err_set(L->err, KITE_ENOMEM, "out of memory");
    for (int v = 0; v < m->n_values; v++) {
        m->last_use[v] = -1;
        m->keep[v] = m->consts[v].type != 0;
    }
    for (int i = 0; i < m->n_outputs; i++)
        m->keep[m->outputs[i]] = true;
    for (int i = 0; i < m->n_nodes; i++)
        for (int j = 0; j < m->nodes[i].n_in; j++)
            if (m->nodes[i].in[j] >= 0)
                m->last_use[m->nodes[i].in[j]] = i;
    return KITE_OK;
}

/* Shape inference by a shape-only run; skipped when an input is int64 or of unknown rank. */
static int pass_shapes(struct loader *L)
{
    kite_model *m = L->m;
    struct vt *in = NULL, *out = NULL;
    int rc = KITE_OK;
    for (int i = 0; i < m->n_inputs; i++)
        if (m->in_decl[i].type != VT_F32 || m->in_decl[i].ndim < 0)
            return KITE_OK;
    in = kite_calloc((size_t)m->n_inputs + 1, sizeof(struct vt));
    out = kite_calloc((size_t)m->n_outputs + 1, sizeof(struct vt));
    if (!in || !out) {
        rc = kite_err_set(L->err, KITE_ENOMEM, "out of memory");
        goto out_free;
    }
    for (int i = 0; i < m->n_inputs; i++) {
        in[i].type = VT_F32;
        in[i].ndim = m->in_decl[i].ndim;
        for (int d = 0; d < in[i].ndim; d++)
            in[i].dims[d] = m->in_decl[i].dims[d] < 0 ? 1 : m->in_decl[i].dims[d];
        in[i].len = vt_count(in[i].ndim, in[i].dims);
    }
    rc = vmodel_run(m, in, m->n_inputs, out, m->n_outputs, true, L->err);
    if (rc != KITE_OK)
        kite_err_prefix(L->err, "shape inference");
    for (int i = 0; i < m->n_outputs; i++)
        vt_clear(&out[i]);
out_free:
    kite_free(in);
    kite_free(out);
    return rc;
}

/*
 * Winograd weights: every 3x3 / stride 1 / dilation 1 / group 1 Conv with
 * constant weights and at least 16 input and output channels gets its
 * transformed weights U (36 x M x C floats, 4x the 3x3 weights) computed once
 * here; vop_conv then picks Winograd or im2col per call by vwino_use (the
 * spatial size is known only then).  Runs after BN folding, so U includes it.
 */
static int pass_winograd(struct loader *L)
{
    kite_model *m = L->m;
    for (int i = 0; i < m->n_nodes; i++) {
        struct vnode *n = &m->nodes[i];
        const struct vt *W;
        bool ok = n->op == OP_CONV && n->n_in >= 2 && n->in[1] >= 0 && n->a.group == 1;
        for (int k = 0; ok && k < n->a.n_strides; k++)
            ok = n->a.strides[k] == 1;
        for (int k = 0; ok && k < n->a.n_dilations; k++)
            ok = n->a.dilations[k] == 1;
        if (!ok || !is_f32_const(m, n->in[1], 4))
            continue;
        W = &m->consts[n->in[1]];
        if (W->dims[2] != 3 || W->dims[3] != 3 || W->dims[0] < 16 || W->dims[1] < 16 ||
            !W->data)
            continue;
        n->wino_u = vwino_weights(W->data, W->dims[0], W->dims[1]);
        if (!n->wino_u)
            return kite_err_set(L->err, KITE_ENOMEM,
                                "out of memory for the Winograd weights of node '%s'", n->name);
    }
    return KITE_OK;
}

/* ---------------------------------------------------------------- API */

void kite_model_free(kite_model *m)
{
    if (!m)
        return;
    for (int v = 0; v < m->n_values; v++) {
        kite_free(m->names[v]);
        vt_clear(&m->consts[v]);
    }
    for (int i = 0; i < m->n_nodes; i++) {
        kite_free(m->nodes[i].name);
        kite_free(m->nodes[i].in);
        kite_free(m->nodes[i].out);
        vt_clear(&m->nodes[i].a.value);
        kite_free(m->nodes[i].wino_u);
    }
    kite_free(m->names);
    kite_free(m->consts);
    kite_free(m->nodes);
    kite_free(m->inputs);
    kite_free(m->outputs);
    kite_free(m->in_decl);
    kite_free(m->out_decl);
    kite_free(m->last_use);
    kite_free(m->keep);
    if (m->cache) {
        for (int i = 0; i < m->cache->n; i++)
            vt_clear(&m->cache->bufs[i]);
        pthread_mutex_destroy(&m->cache->lock);
        kite_free(m->cache);
    }
    kite_free(m);
}

int kite_model_load_buffer(const void *data, size_t len, struct kite_pool *pool,
                           kite_model **out, kite_err *err)
{
    struct loader L;
    int rc;
    if (!out)
        return kite_err_set(err, KITE_EINVAL, "kite_model_load_buffer: out is NULL");
    *out = NULL;
    memset(&L, 0, sizeof(L));
    L.err = err;
    L.m = kite_calloc(1, sizeof(kite_model));
    if (!L.m)
        return kite_err_set(err, KITE_ENOMEM, "out of memory for a model");
    L.m->pool = pool;
    L.m->cache = kite_calloc(1, sizeof(*L.m->cache));
    if (L.m->cache && pthread_mutex_init(&L.m->cache->lock, NULL) != 0) {
        kite_free(L.m->cache);
        L.m->cache = NULL; /* runs still work, just without buffer reuse across runs */
    }
    L.mp = onnx__model_proto__unpack(&vpb_allocator, len, data);
    if (!L.mp) {
        rc = kite_err_set(err, KITE_ECORRUPT,
                          "not a valid ONNX model: protobuf ModelProto does not parse (%zu bytes)",
                          len);
        goto out_fail;
    }
    if ((rc = pass_check_model(&L)) != KITE_OK || (rc = pass_values(&L)) != KITE_OK ||
        (rc = pass_nodes(&L)) != KITE_OK || (rc = pass_outputs(&L)) != KITE_OK ||
        (rc = pass_toposort(&L)) != KITE_OK || (rc = pass_fold_bn(&L)) != KITE_OK ||
        (rc = pass_fuse_act(&L)) != KITE_OK || (rc = pass_liveness(&L)) != KITE_OK ||
        (rc = pass_winograd(&L)) != KITE_OK)
        goto out_fail;
    onnx__model_proto__free_unpacked(L.mp, &vpb_allocator);
    L.mp = NULL;
    map_free(&L.map);
    memset(&L.map, 0, sizeof(L.map));
    rc = pass_shapes(&L);
    if (rc != KITE_OK)
        goto out_fail;
    L.m->batch_split = vmodel_batch_separable(L.m);
    *out = L.m;
    return KITE_OK;
out_fail:
    if (L.mp)
        onnx__model_proto__free_unpacked(L.mp, &vpb_allocator);
    map_free(&L.map);
    kite_model_free(L.m);
    return rc;
}

int kite_model_load(const char *path, struct kite_pool *pool, kite_model **out, kite_err *err)
{
    FILE *f;
    uint8_t *buf = NULL;
    long sz;
    int rc;
    if (!path || !out)
        return kite_err_set(err, KITE_EINVAL, "kite_model_load: path and out are required");
    *out = NULL;
    f = fopen(path, "rb");
    if (!f)
        return kite_err_set(err, KITE_EIO, "cannot open model '%s': %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return kite_err_set(err, KITE_EIO, "cannot size model '%s'", path);
    }
    if (sz > (2l << 30)) {
        fclose(f);
        return kite_err_set(err, KITE_ELIMIT, "model '%s' is %ld bytes (max 2 GiB)", path, sz);
    }
    buf = kite_malloc(sz ? (size_t)sz : 1);
    if (!buf) {
        fclose(f);
        return kite_err_set(err, KITE_ENOMEM, "out of memory reading '%s'", path);
    }
    if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        rc = kite_err_set(err, KITE_EIO, "short read on model '%s'", path);
    } else {
        rc = kite_model_load_buffer(buf, (size_t)sz, pool, out, err);
        if (rc != KITE_OK && err)
            kite_err_prefix(err, "%s", path);
    }
    kite_free(buf);
    fclose(f);
    return rc;
}

int kite_model_input_count(const kite_model *m)
{
    return m ? m->n_inputs : 0;
}

int kite_model_output_count(const kite_model *m)
{
    return m ? m->n_outputs : 0;
}

static int info(const kite_model *m, int i, bool is_in, const char **name, int *ndim,
                int64_t *dims)
{
    const struct vdecl *d;
    if (!m || i < 0 || i >= (is_in ? m->n_inputs : m->n_outputs))
        return KITE_EINVAL;
    d = is_in ? &m->in_decl[i] : &m->out_decl[i];
    if (name)
        *name = m->names[is_in ? m->inputs[i] : m->outputs[i]];
    if (ndim)
        *ndim = d->ndim;
    if (dims && d->ndim > 0)
        memcpy(dims, d->dims, sizeof(int64_t) * (size_t)d->ndim);
    return KITE_OK;
}

int kite_model_input_info(const kite_model *m, int i, const char **name, int *ndim,
                          int64_t dims[KITE_MODEL_MAX_DIMS])
{
    return info(m, i, true, name, ndim, dims);
}

int kite_model_output_info(const kite_model *m, int i, const char **name, int *ndim,
                           int64_t dims[KITE_MODEL_MAX_DIMS])
{
    return info(m, i, false, name, ndim, dims);
}
