/*
 * ops_basic.c — element-wise, shape and data-movement operators, and the op
 * table (name -> kernel).
 *
 * Every kernel validates its inputs (types, ranks, broadcastability, axis
 * ranges) and returns KITE_EINVAL with the reason; the graph executor adds the
 * node name.  Output dims are always computed; float data only when the
 * context is not shape-only (onnx_int.h invariant 3).
 */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "onnx_int.h"

#define F(t) ((float *)(t)->data)
#define I(t) ((int64_t *)(t)->data)

static size_t esize(int type)
{
    return type == VT_I64 ? 8 : 4;
}

static int norm_axis(struct vctx *c, int64_t axis, int rank, int64_t *out)
{
    if (axis < -rank || axis >= rank)
        return kite_err_set(c->err, KITE_EINVAL, "axis %lld out of range for rank %d",
                            (long long)axis, rank);
    *out = axis < 0 ? axis + rank : axis;
    return KITE_OK;
}

static bool need_data(const struct vt *t)
{
    return t->data != NULL;
}

/* ---------------------------------------------------------------- binary */

/* Same-shape float operands (residual adds): contiguous blocks of 16384, run on
 * the pool, one loop per op so each vectorises, with an optional Relu/Clip that
 * the loader fused into the op (pass_fuse_act). */
struct binary_job {
    const float *a, *b;
    float *y;
    size_t len;
    int op;
    bool clamp;
    float lo, hi;
};

static void binary_blocks(size_t begin, size_t end, int worker, void *ud)
{
    const struct binary_job *j = ud;
    size_t i0 = begin * 16384, i1 = end * 16384 < j->len ? end * 16384 : j->len;
    const float *restrict a = j->a, *restrict b = j->b;
    float *restrict y = j->y;
    (void)worker;
    switch (j->op) {
    case OP_ADD: for (size_t i = i0; i < i1; i++) y[i] = a[i] + b[i]; break;
    case OP_SUB: for (size_t i = i0; i < i1; i++) y[i] = a[i] - b[i]; break;
    case OP_MUL: for (size_t i = i0; i < i1; i++) y[i] = a[i] * b[i]; break;
    default: for (size_t i = i0; i < i1; i++) y[i] = a[i] / b[i]; break;
    }
    if (j->clamp)
        for (size_t i = i0; i < i1; i++)
            y[i] = y[i] < j->lo ? j->lo : y[i] > j->hi ? j->hi : y[i];
}

static bool same_shape(const struct vt *a, const struct vt *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return true;
}

static int op_binary(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    const struct vt *A = n->n_in > 0 ? in[0] : NULL, *B = n->n_in > 1 ? in[1] : NULL;
    int64_t od[VT_MAX_DIMS], sa[VT_MAX_DIMS], sb[VT_MAX_DIMS], idx[VT_MAX_DIMS];
    int r, rc;
    size_t inner, outer;
    bool clamp = n->a.has_min || n->a.has_max; /* Relu/Clip fused at load */
    if (!A || !B || A->type != B->type)
        return kite_err_set(c->err, KITE_EINVAL, "binary op needs two inputs of one type");
    r = A->ndim > B->ndim ? A->ndim : B->ndim;
    for (int i = r - 1; i >= 0; i--) {
        int ia = i - (r - A->ndim), ib = i - (r - B->ndim);
        int64_t da = ia >= 0 ? A->dims[ia] : 1, db = ib >= 0 ? B->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return kite_err_set(c->err, KITE_EINVAL,
                                "shapes do not broadcast: dim %d is %lld vs %lld", i,
                                (long long)da, (long long)db);
        od[i] = da == 1 ? db : da;
    }
    /* element strides of A and B per output dim; 0 where broadcast */
    {
        int64_t ea = 1, eb = 1;
        for (int i = r - 1; i >= 0; i--) {
            int ia = i - (r - A->ndim), ib = i - (r - B->ndim);
            int64_t da = ia >= 0 ? A->dims[ia] : 1, db = ib >= 0 ? B->dims[ib] : 1;
            sa[i] = da == 1 ? 0 : ea;
            sb[i] = db == 1 ? 0 : eb;
            ea *= da;
            eb *= db;
        }
    }
    if ((rc = vt_make(c, out[0], A->type, r, od)) != KITE_OK || !need_data(out[0]))
        return rc;
    if (!A->data || !B->data)
        return kite_err_set(c->err, KITE_EINTERNAL, "binary op input has no data");
    if (clamp && A->type != VT_F32)
        return kite_err_set(c->err, KITE_EINVAL, "fused Relu/Clip expects a float input");
    if (A->type == VT_F32 && same_shape(A, B)) {
        struct binary_job j = {F(A), F(B), F(out[0]), out[0]->len, n->op, clamp,
                               n->a.fmin, n->a.fmax};
        vpar(c, (j.len + 16383) / 16384, 1, binary_blocks, &j);
        return KITE_OK;
    }
    inner = r ? (size_t)od[r - 1] : 1;
    outer = inner ? out[0]->len / inner : 0;
    memset(idx, 0, sizeof(idx));
    for (size_t o = 0; o < outer; o++) {
        int64_t offa = 0, offb = 0, ia = r ? sa[r - 1] : 0, ib = r ? sb[r - 1] : 0;
        for (int d = 0; d < r - 1; d++) {
            offa += idx[d] * sa[d];
            offb += idx[d] * sb[d];
        }
        if (A->type == VT_F32) {
            const float *a = F(A) + offa, *b = F(B) + offb;
            float *y = F(out[0]) + o * inner;
            switch (n->op) {
            case OP_ADD: for (size_t k = 0; k < inner; k++) y[k] = a[k * ia] + b[k * ib]; break;
            case OP_SUB: for (size_t k = 0; k < inner; k++) y[k] = a[k * ia] - b[k * ib]; break;
            case OP_MUL: for (size_t k = 0; k < inner; k++) y[k] = a[k * ia] * b[k * ib]; break;
            default: for (size_t k = 0; k < inner; k++) y[k] = a[k * ia] / b[k * ib]; break;
            }
        } else {
            const int64_t *a = I(A) + offa, *b = I(B) + offb;
            int64_t *y = I(out[0]) + o * inner;
            for (size_t k = 0; k < inner; k++) {
                int64_t x = a[k * ia], z = b[k * ib];
                switch (n->op) {
                case OP_ADD: y[k] = (int64_t)((uint64_t)x + (uint64_t)z); break;
                case OP_SUB: y[k] = (int64_t)((uint64_t)x - (uint64_t)z); break;
                case OP_MUL: y[k] = (int64_t)((uint64_t)x * (uint64_t)z); break;
                default:
                    if (z == 0 || (z == -1 && x == INT64_MIN))
                        return kite_err_set(c->err, KITE_EINVAL, "integer division by zero");
                    y[k] = x / z;
                    break;
                }
            }
        }
        for (int d = r - 2; d >= 0; d--) {
            if (++idx[d] < od[d])
                break;
            idx[d] = 0;
        }
    }
    if (clamp) {
        float *y = F(out[0]), lo = n->a.fmin, hi = n->a.fmax;
        for (size_t i = 0; i < out[0]->len; i++)
            y[i] = y[i] < lo ? lo : y[i] > hi ? hi : y[i];
    }
    return KITE_OK;
}

/* ---------------------------------------------------------------- unary */

struct unary_job {
    const float *x;
    float *y;
    int op;
    float lo, hi;
    size_t len;
};

/* Blocks of 16384 elements; separate loops per op so each vectorises. */
static void unary_blocks(size_t begin, size_t end, int worker, void *ud)
{
    const struct unary_job *u = ud;
    size_t i0 = begin * 16384, i1 = end * 16384 < u->len ? end * 16384 : u->len;
    (void)worker;
    if (u->op == OP_RELU)
        for (size_t i = i0; i < i1; i++)
            u->y[i] = u->x[i] > 0 ? u->x[i] : 0;
    else if (u->op == OP_SIGMOID)
        for (size_t i = i0; i < i1; i++)
            u->y[i] = 1.0f / (1.0f + expf(-u->x[i]));
    else
        for (size_t i = i0; i < i1; i++)
            u->y[i] = u->x[i] < u->lo ? u->lo : u->x[i] > u->hi ? u->hi : u->x[i];
}

static int op_unary(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    const struct vt *X = n->n_in > 0 ? in[0] : NULL;
    float lo = n->a.fmin, hi = n->a.fmax;
    int rc;
    if (!X || X->type != VT_F32)
        return kite_err_set(c->err, KITE_EINVAL, "expects a float input");
    if (n->op == OP_CLIP && c->m->opset >= 11) {
        lo = -INFINITY;
        hi = INFINITY;
        for (int i = 1; i <= 2 && i < n->n_in; i++) {
            if (!in[i] || (c->shape_only && !in[i]->data))
                continue;
            if (in[i]->type != VT_F32 || in[i]->len != 1 || !in[i]->data)
                return kite_err_set(c->err, KITE_EINVAL, "Clip min/max must be float scalars");
            if (i == 1)
                lo = F(in[i])[0];
            else
                hi = F(in[i])[0];
        }
    }
    if ((rc = vt_make(c, out[0], VT_F32, X->ndim, X->dims)) != KITE_OK || !need_data(out[0]))
        return rc;
    {
        struct unary_job u = {F(X), F(out[0]), n->op, lo, hi, X->len};
        vpar(c, (X->len + 16383) / 16384, 1, unary_blocks, &u);
    }
    return KITE_OK;
}

/* ---------------------------------------------------------------- copies */

static int copy_with_dims(struct vctx *c, const struct vt *X, struct vt *out, int ndim,
                          const int64_t *dims)
{
    int rc;
    if (vt_count(ndim, dims) != X->len)
        return kite_err_set(c->err, KITE_EINVAL, "cannot reshape %zu elements to %zu", X->len,
                            vt_count(ndim, dims));
    if ((rc = vt_make(c, out, X->type, ndim, dims)) != KITE_OK || !need_data(out))
        return rc;
    if (X->data)
        memcpy(out->data, X->data, X->len * esize(X->type));
    return KITE_OK;
}

static int op_identity(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    if (n->n_in < 1 || !in[0])
        return kite_err_set(c->err, KITE_EINVAL, "needs an input");
    if (n->op == OP_DROPOUT && n->n_out > 1 && n->out[1] >= 0)
        return kite_err_set(c->err, KITE_EUNSUPPORTED, "Dropout mask output is not supported");
    return copy_with_dims(c, in[0], out[0], in[0]->ndim, in[0]->dims);
}

static int op_constant(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    (void)c;
    (void)in;
    vt_view(out[0], &n->a.value); /* the model outlives the run */
    return KITE_OK;
}

static int op_flatten(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    const struct vt *X = n->n_in > 0 ? in[0] : NULL;
    int64_t axis = n->a.has_axis ? n->a.axis : 1, d[2] = {1, 1};
    if (!X)
        return kite_err_set(c->err, KITE_EINVAL, "needs an input");
    if (axis < 0)
        axis += X->ndim;
    if (axis < 0 || axis > X->ndim)
        return kite_err_set(c->err, KITE_EINVAL, "Flatten axis %lld out of range for rank %d",
                            (long long)n->a.axis, X->ndim);
    for (int i = 0; i < X->ndim; i++)
        d[i < axis ? 0 : 1] *= X->dims[i];
    return copy_with_dims(c, X, out[0], 2, d);
}

static int op_reshape(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    const struct vt *X = n->n_in > 0 ? in[0] : NULL, *S = n->n_in > 1 ? in[1] : NULL;
    int64_t d[VT_MAX_DIMS];
    int r, neg = -1;
    size_t known = 1;
    if (!X || !S || S->type != VT_I64 || S->ndim != 1 || !S->data)
        return kite_err_set(c->err, KITE_EINVAL, "Reshape needs data and an int64 shape");
    if ((r = vt_ints(S, d, VT_MAX_DIMS)) < 0)
        return kite_err_set(c->err, KITE_EUNSUPPORTED, "Reshape target rank too large");
    for (int i = 0; i < r; i++) {
        if (d[i] == 0 && !n->a.allowzero) {
            if (i >= X->ndim)
                return kite_err_set(c->err, KITE_EINVAL, "Reshape: 0 at %d beyond input rank", i);
            d[i] = X->dims[i];
        }
        if (d[i] == -1) {
            if (neg >= 0)
                return kite_err_set(c->err, KITE_EINVAL, "Reshape: more than one -1");
            neg = i;
        } else if (d[i] < 0) {
            return kite_err_set(c->err, KITE_EINVAL, "Reshape: invalid dim %lld",
                                (long long)d[i]);
        } else {
            known *= (size_t)d[i];
        }
    }
    if (neg >= 0) {
        if (known == 0 || X->len % known)
            return kite_err_set(c->err, KITE_EINVAL, "Reshape: cannot infer -1 (%zu elements, %zu "
                                "known)", X->len, known);
        d[neg] = (int64_t)(X->len / known);
    }
    return copy_with_dims(c, X, out[0], r, d);
}

static int squeeze_axes(struct vctx *c, const struct vnode *n, struct vt **in, int64_t *axes,
                        int *n_axes)
{
    if (n->n_in > 1 && in[1]) {
        int k = vt_ints(in[1], axes, VT_MAX_DIMS + 1);
        if (k < 0)
            return kite_err_set(c->err, KITE_EINVAL, "axes must be an int64 tensor");
        *n_axes = k;
        return KITE_OK;
    }
    *n_axes = n->a.has_axes ? n->a.n_axes : -1;
    if (n->a.has_axes)
        memcpy(axes, n->a.axes, sizeof(int64_t) * (size_t)n->a.n_axes);
    return KITE_OK;
}

static int op_squeeze(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    const struct vt *X = n->n_in > 0 ? in[0] : NULL;
    int64_t axes[VT_MAX_DIMS + 1], d[VT_MAX_DIMS];
    bool drop[VT_MAX_DIMS] = {false};
    int k, r = 0, rc;
    if (!X)
        return kite_err_set(c->err, KITE_EINVAL, "needs an input");
    if ((rc = squeeze_axes(c, n, in, axes, &k)) != KITE_OK)
        return rc;
    if (k < 0) {
        for (int i = 0; i < X->ndim; i++)
            drop[i] = X->dims[i] == 1;
    } else {
        for (int i = 0; i < k; i++) {
            int64_t a = 0;
            if ((rc = norm_axis(c, axes[i], X->ndim, &a)) != KITE_OK)
                return rc;
            if (X->dims[a] != 1)
                return kite_err_set(c->err, KITE_EINVAL, "Squeeze axis %lld has size %lld",
                                    (long long)a, (long long)X->dims[a]);
            drop[a] = true;
        }
    }
    for (int i = 0; i < X->ndim; i++)
        if (!drop[i])
            d[r++] = X->dims[i];
    return copy_with_dims(c, X, out[0], r, d);
}

static int op_unsqueeze(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    const struct vt *X = n->n_in > 0 ? in[0] : NULL;
    int64_t axes[VT_MAX_DIMS + 1], d[VT_MAX_DIMS];
    bool ins[VT_MAX_DIMS] = {false};
    int k, r, rc, j = 0;
    if (!X)
        return kite_err_set(c->err, KITE_EINVAL, "needs an input");
    if ((rc = squeeze_axes(c, n, in, axes, &k)) != KITE_OK)
        return rc;
    if (k < 0)
        return kite_err_set(c->err, KITE_EINVAL, "Unsqueeze needs axes");
    r = X->ndim + k;
    if (r > VT_MAX_DIMS)
        return kite_err_set(c->err, KITE_EUNSUPPORTED, "Unsqueeze result rank %d too large", r);
    for (int i = 0; i < k; i++) {
        int64_t a = 0;
        if ((rc = norm_axis(c, axes[i], r, &a)) != KITE_OK)
            return rc;
        if (ins[a])
            return kite_err_set(c->err, KITE_EINVAL, "Unsqueeze: duplicate axis %lld",
                                (long long)a);
        ins[a] = true;
    }
    for (int i = 0; i < r; i++)
        d[i] = ins[i] ? 1 : X->dims[j++];
    return copy_with_dims(c, X, out[0], r, d);
}

static int op_shape(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    const struct vt *X = n->n_in > 0 ? in[0] : NULL;
    int64_t s, e, len;
    int rc;
    if (!X)
        return kite_err_set(c->err, KITE_EINVAL, "needs an input");
    s = n->a.start < 0 ? n->a.start + X->ndim : n->a.start;
    e = n->a.has_end ? (n->a.end < 0 ? n->a.end + X->ndim : n->a.end) : X->ndim;
    s = s < 0 ? 0 : s > X->ndim ? X->ndim : s;
    e = e < 0 ? 0 : e > X->ndim ? X->ndim : e;
    len = e > s ? e - s : 0;
    if ((rc = vt_make(c, out[0], VT_I64, 1, &len)) != KITE_OK)
        return rc;
    for (int64_t i = 0; i < len; i++)
        I(out[0])[i] = X->dims[s + i];
    return KITE_OK;
}

/* ---------------------------------------------------------------- Concat / Gather */

static int op_concat(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    const struct vt *X0 = n->n_in > 0 ? in[0] : NULL;
    int64_t axis = 0, d[VT_MAX_DIMS];
    size_t outer = 1, inner = 1, off = 0;
    int rc;
    if (!X0 || !n->a.has_axis)
        return kite_err_set(c->err, KITE_EINVAL, "Concat needs inputs and an axis");
    if (X0->ndim == 0)
        return kite_err_set(c->err, KITE_EINVAL, "Concat of scalars");
    if ((rc = norm_axis(c, n->a.axis, X0->ndim, &axis)) != KITE_OK)
        return rc;
    memcpy(d, X0->dims, sizeof(d));
    d[axis] = 0;
    for (int i = 0; i < n->n_in; i++) {
        const struct vt *X = in[i];
        if (!X || X->type != X0->type || X->ndim != X0->ndim)
            return kite_err_set(c->err, KITE_EINVAL, "Concat input %d has another type or rank",
                                i);
        for (int k = 0; k < X->ndim; k++)
            if (k != axis && X->dims[k] != X0->dims[k])
                return kite_err_set(c->err, KITE_EINVAL, "Concat input %d: dim %d is %lld, "
                                    "expected %lld", i, k, (long long)X->dims[k],
                                    (long long)X0->dims[k]);
        d[axis] += X->dims[axis];
    }
    if ((rc = vt_make(c, out[0], X0->type, X0->ndim, d)) != KITE_OK || !need_data(out[0]))
        return rc;
    for (int k = 0; k < axis; k++)
        outer *= (size_t)d[k];
    for (int k = (int)axis + 1; k < X0->ndim; k++)
        inner *= (size_t)d[k];
    for (int i = 0; i < n->n_in; i++) {
        size_t chunk = (size_t)in[i]->dims[axis] * inner * esize(X0->type);
        size_t ochunk = (size_t)d[axis] * inner * esize(X0->type);
        if (!in[i]->data)
            return kite_err_set(c->err, KITE_EINTERNAL, "Concat input has no data");
        for (size_t o = 0; o < outer; o++)
            memcpy((uint8_t *)out[0]->data + o * ochunk + off, (uint8_t *)in[i]->data + o * chunk,
                   chunk);
        off += chunk;
    }
    return KITE_OK;
}

static int op_gather(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    const struct vt *X = n->n_in > 0 ? in[0] : NULL, *Ix = n->n_in > 1 ? in[1] : NULL;
    int64_t axis = 0, d[VT_MAX_DIMS];
    size_t outer = 1, inner = 1, es;
    int r = 0, rc;
    if (!X || !Ix || Ix->type != VT_I64 || !Ix->data)
        return kite_err_set(c->err, KITE_EINVAL, "Gather needs data and int64 indices");
    if ((rc = norm_axis(c, n->a.axis, X->ndim, &axis)) != KITE_OK)
        return rc;
    if (X->ndim - 1 + Ix->ndim > VT_MAX_DIMS)
        return kite_err_set(c->err, KITE_EUNSUPPORTED, "Gather result rank too large");
    for (int k = 0; k < axis; k++)
        d[r++] = X->dims[k];
    for (int k = 0; k < Ix->ndim; k++)
        d[r++] = Ix->dims[k];
    for (int k = (int)axis + 1; k < X->ndim; k++)
        d[r++] = X->dims[k];
    for (size_t i = 0; i < Ix->len; i++) {
        int64_t v = I(Ix)[i];
        if (v < -X->dims[axis] || v >= X->dims[axis])
            return kite_err_set(c->err, KITE_EINVAL, "Gather index %lld out of range [-%lld, %lld)",
                                (long long)v, (long long)X->dims[axis], (long long)X->dims[axis]);
    }
    if ((rc = vt_make(c, out[0], X->type, r, d)) != KITE_OK || !need_data(out[0]))
        return rc;
    if (!X->data)
        return kite_err_set(c->err, KITE_EINTERNAL, "Gather data missing");
    for (int k = 0; k < axis; k++)
        outer *= (size_t)X->dims[k];
    for (int k = (int)axis + 1; k < X->ndim; k++)
        inner *= (size_t)X->dims[k];
    es = esize(X->type) * inner;
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < Ix->len; i++) {
            int64_t v = I(Ix)[i];
            if (v < 0)
                v += X->dims[axis];
            memcpy((uint8_t *)out[0]->data + (o * Ix->len + i) * es,
                   (uint8_t *)X->data + (o * (size_t)X->dims[axis] + (size_t)v) * es, es);
        }
    return KITE_OK;
}

/* ---------------------------------------------------------------- Transpose */

static int op_transpose(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    const struct vt *X = n->n_in > 0 ? in[0] : NULL;
    int64_t perm[VT_MAX_DIMS], d[VT_MAX_DIMS], st[VT_MAX_DIMS], ps[VT_MAX_DIMS],
        idx[VT_MAX_DIMS] = {0};
    bool seen[VT_MAX_DIMS] = {false};
    int r, rc;
    size_t es;
    if (!X)
        return kite_err_set(c->err, KITE_EINVAL, "needs an input");
    r = X->ndim;
    if (n->a.n_perm && n->a.n_perm != r)
        return kite_err_set(c->err, KITE_EINVAL, "perm has %d entries for rank %d", n->a.n_perm,
                            r);
    for (int i = 0; i < r; i++) {
        perm[i] = n->a.n_perm ? n->a.perm[i] : r - 1 - i;
        if (perm[i] < 0 || perm[i] >= r || seen[perm[i]])
            return kite_err_set(c->err, KITE_EINVAL, "perm is not a permutation");
        seen[perm[i]] = true;
        d[i] = X->dims[perm[i]];
    }
    if ((rc = vt_make(c, out[0], X->type, r, d)) != KITE_OK || !need_data(out[0]))
        return rc;
    {
        int64_t s = 1;
        for (int i = r - 1; i >= 0; i--) {
            st[i] = s;
            s *= X->dims[i];
        }
    }
    for (int i = 0; i < r; i++)
        ps[i] = st[perm[i]];
    es = esize(X->type);
    for (size_t o = 0; o < out[0]->len; o++) {
        int64_t off = 0;
        for (int i = 0; i < r; i++)
            off += idx[i] * ps[i];
        memcpy((uint8_t *)out[0]->data + o * es, (uint8_t *)X->data + (size_t)off * es, es);
        for (int i = r - 1; i >= 0; i--) {
            if (++idx[i] < d[i])
                break;
            idx[i] = 0;
        }
    }
    return KITE_OK;
}

/* ---------------------------------------------------------------- Pad */

static int64_t pad_src(int64_t o, int64_t in, int mode)
{
    if (o >= 0 && o < in)
        return o;
    if (mode == PADMODE_EDGE)
        return o < 0 ? 0 : in - 1;
    if (mode == PADMODE_REFLECT && in > 1) {
        int64_t period = 2 * (in - 1);
        o %= period;
        if (o < 0)
            o += period;
        return o < in ? o : period - o;
    }
    if (mode == PADMODE_REFLECT)
        return 0;
    return -1;
}

static int op_pad(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    const struct vt *X = n->n_in > 0 ? in[0] : NULL;
    int64_t pads[2 * VT_MAX_DIMS], d[VT_MAX_DIMS], idx[VT_MAX_DIMS] = {0}, st[VT_MAX_DIMS];
    float value = n->a.has_value ? n->a.alpha : 0.0f;
    int r, np, rc;
    if (!X)
        return kite_err_set(c->err, KITE_EINVAL, "needs an input");
    r = X->ndim;
    if (c->m->opset >= 11) {
        if (n->n_in < 2 || !in[1] || (np = vt_ints(in[1], pads, 2 * VT_MAX_DIMS)) < 0)
            return kite_err_set(c->err, KITE_EINVAL, "Pad needs an int64 pads input");
        if (n->n_in > 2 && in[2]) {
            if (in[2]->type != X->type || in[2]->len != 1 || !in[2]->data)
                return kite_err_set(c->err, KITE_EINVAL, "Pad constant_value must be a scalar");
            value = X->type == VT_F32 ? F(in[2])[0] : (float)I(in[2])[0];
        }
        if (n->n_in > 3 && in[3])
            return kite_err_set(c->err, KITE_EUNSUPPORTED, "Pad axes input is not supported");
    } else {
        np = n->a.n_pads;
        memcpy(pads, n->a.pads, sizeof(int64_t) * (size_t)np);
    }
    if (np != 2 * r)
        return kite_err_set(c->err, KITE_EINVAL, "Pad: %d pads for rank %d (expected %d)", np, r,
                            2 * r);
    for (int i = 0; i < r; i++) {
        /* Bounded first: fuzzed models carried pads near 2^62, whose sum overflowed. */
        if (pads[i] < -INT32_MAX || pads[i] > INT32_MAX || pads[i + r] < -INT32_MAX ||
            pads[i + r] > INT32_MAX)
            return kite_err_set(c->err, KITE_EINVAL, "Pad: pads %lld, %lld of axis %d out of range",
                                (long long)pads[i], (long long)pads[i + r], i);
        d[i] = X->dims[i] + pads[i] + pads[i + r];
        if (d[i] < 0)
            return kite_err_set(c->err, KITE_EINVAL, "Pad: negative output dim");
        if (n->a.pad_mode != PADMODE_CONSTANT && X->dims[i] == 0 && d[i] > 0)
            return kite_err_set(c->err, KITE_EINVAL, "Pad: cannot reflect/edge an empty axis");
    }
    if ((rc = vt_make(c, out[0], X->type, r, d)) != KITE_OK || !need_data(out[0]))
        return rc;
    {
        int64_t s = 1;
        for (int i = r - 1; i >= 0; i--) {
            st[i] = s;
            s *= X->dims[i];
        }
    }
    if (r == 0)
        return copy_with_dims(c, X, out[0], 0, d);
    /* row by row: the outer dims pick a source row (or padding), the last dim is
     * copied with memcpy in the middle and mapped element-wise at the edges */
    {
        size_t es = esize(X->type), inner = (size_t)d[r - 1], rows = inner ? out[0]->len / inner : 0;
        int64_t in_len = X->dims[r - 1], pb = pads[r - 1];
        int64_t lo = pb < 0 ? 0 : pb, hi = pb + in_len < (int64_t)inner ? pb + in_len : (int64_t)inner;
        for (size_t row = 0; row < rows; row++) {
            int64_t off = 0;
            bool inside = true;
            uint8_t *dst = (uint8_t *)out[0]->data + row * inner * es;
            for (int i = 0; i < r - 1 && inside; i++) {
                int64_t sidx = pad_src(idx[i] - pads[i], X->dims[i], n->a.pad_mode);
                if (sidx < 0)
                    inside = false;
                else
                    off += sidx * st[i];
            }
            for (int64_t o = 0; o < (int64_t)inner; o++) {
                int64_t sidx;
                if (inside && o == lo && hi > lo) {
                    memcpy(dst + (size_t)o * es, (uint8_t *)X->data + (size_t)(off + o - pb) * es,
                           (size_t)(hi - lo) * es);
                    o = hi - 1;
                    continue;
                }
                sidx = inside ? pad_src(o - pb, in_len, n->a.pad_mode) : -1;
                if (X->type == VT_F32)
                    ((float *)dst)[o] = sidx >= 0 ? F(X)[off + sidx] : value;
                else
                    ((int64_t *)dst)[o] = sidx >= 0 ? I(X)[off + sidx] : (int64_t)value;
            }
            for (int i = r - 2; i >= 0; i--) {
                if (++idx[i] < d[i])
                    break;
                idx[i] = 0;
            }
        }
    }
    return KITE_OK;
}

/* ---------------------------------------------------------------- Softmax / LpNormalization */

static int split_axis(struct vctx *c, const struct vt *X, int64_t axis, bool flatten_tail,
                      size_t *outer, size_t *mid, size_t *inner)
{
    int64_t a = 0;
    int rc = norm_axis(c, axis, X->ndim ? X->ndim : 1, &a);
    if (rc != KITE_OK)
        return rc;
    *outer = *mid = *inner = 1;
    for (int k = 0; k < X->ndim; k++) {
        if (k < a)
            *outer *= (size_t)X->dims[k];
        else if (k == a || flatten_tail)
            *mid *= (size_t)X->dims[k];
        else
            *inner *= (size_t)X->dims[k];
    }
    return KITE_OK;
}

static int op_softmax_lp(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out)
{
    const struct vt *X = n->n_in > 0 ? in[0] : NULL;
    bool legacy = n->op == OP_SOFTMAX && c->m->opset < 13;
    int64_t axis = n->a.has_axis ? n->a.axis : (legacy ? 1 : -1);
    size_t outer, mid, inner;
    int rc;
    if (!X || X->type != VT_F32)
        return kite_err_set(c->err, KITE_EINVAL, "expects a float input");
    if (n->op == OP_LPNORM && n->a.p != 1 && n->a.p != 2)
        return kite_err_set(c->err, KITE_EINVAL, "LpNormalization p must be 1 or 2");
    if ((rc = split_axis(c, X, axis, legacy, &outer, &mid, &inner)) != KITE_OK)
        return rc;
    if ((rc = vt_make(c, out[0], VT_F32, X->ndim, X->dims)) != KITE_OK || !need_data(out[0]))
        return rc;
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            const float *x = F(X) + o * mid * inner + i;
            float *y = F(out[0]) + o * mid * inner + i;
            if (n->op == OP_SOFTMAX) {
                float mx = -INFINITY;
                double sum = 0;
                for (size_t k = 0; k < mid; k++)
                    mx = x[k * inner] > mx ? x[k * inner] : mx;
                for (size_t k = 0; k < mid; k++) {
                    y[k * inner] = expf(x[k * inner] - mx);
                    sum += y[k * inner];
                }
                for (size_t k = 0; k < mid; k++)
                    y[k * inner] = (float)(y[k * inner] / sum);
            } else {
                double norm = 0;
                for (size_t k = 0; k < mid; k++)
                    norm += n->a.p == 1 ? fabs(x[k * inner]) : (double)x[k * inner] * x[k * inner];
                norm = n->a.p == 1 ? norm : sqrt(norm);
                for (size_t k = 0; k < mid; k++)
                    y[k * inner] = norm > 0 ? (float)(x[k * inner] / norm) : 0.0f;
            }
        }
    return KITE_OK;
}

/* ---------------------------------------------------------------- op table */

static const struct {
    const char *name;
    vop_fn fn;
} op_table[OP_COUNT] = {
    [OP_CONV] = {"Conv", vop_conv},
    [OP_GEMM] = {"Gemm", vop_gemm},
    [OP_MATMUL] = {"MatMul", vop_matmul},
    [OP_BN] = {"BatchNormalization", vop_bn},
    [OP_RELU] = {"Relu", op_unary},
    [OP_CLIP] = {"Clip", op_unary},
    [OP_SIGMOID] = {"Sigmoid", op_unary},
    [OP_MAXPOOL] = {"MaxPool", vop_pool},
    [OP_AVGPOOL] = {"AveragePool", vop_pool},
    [OP_GAP] = {"GlobalAveragePool", vop_global_pool},
    [OP_GMP] = {"GlobalMaxPool", vop_global_pool},
    [OP_ADD] = {"Add", op_binary},
    [OP_SUB] = {"Sub", op_binary},
    [OP_MUL] = {"Mul", op_binary},
    [OP_DIV] = {"Div", op_binary},
    [OP_CONCAT] = {"Concat", op_concat},
    [OP_FLATTEN] = {"Flatten", op_flatten},
    [OP_RESHAPE] = {"Reshape", op_reshape},
    [OP_PAD] = {"Pad", op_pad},
    [OP_IDENTITY] = {"Identity", op_identity},
    [OP_DROPOUT] = {"Dropout", op_identity},
    [OP_CONSTANT] = {"Constant", op_constant},
    [OP_SOFTMAX] = {"Softmax", op_softmax_lp},
    [OP_TRANSPOSE] = {"Transpose", op_transpose},
    [OP_SQUEEZE] = {"Squeeze", op_squeeze},
    [OP_UNSQUEEZE] = {"Unsqueeze", op_unsqueeze},
    [OP_SHAPE] = {"Shape", op_shape},
    [OP_GATHER] = {"Gather", op_gather},
    [OP_LPNORM] = {"LpNormalization", op_softmax_lp},
};

vop_fn vop_lookup(int op)
{
    return op >= 0 && op < OP_COUNT ? op_table[op].fn : NULL;
}

int vop_from_name(const char *name)
{
    for (int i = 0; i < OP_COUNT; i++)
        if (op_table[i].name && !strcmp(op_table[i].name, name))
            return i;
    return -1;
}

const char *vop_name(int op)
{
    return op >= 0 && op < OP_COUNT ? op_table[op].name : "?";
}
