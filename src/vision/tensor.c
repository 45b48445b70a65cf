/*
 * tensor.c — dense tensors of the ONNX runtime and TensorProto decoding.
 *
 * TensorProto payloads are input (STYLE.md §5): the element count implied by
 * dims is computed with overflow checks and must match the payload exactly
 * (raw_data byte length or the typed repeated field), external data is refused.
 */
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "onnx.pb-c.h"
#include "onnx_int.h"

void vt_clear(struct vt *t)
{
    if (!t)
        return;
    if (t->owned)
        kite_free_aligned(t->data);
    memset(t, 0, sizeof(*t));
}

void vt_release(struct vctx *c, struct vt *t)
{
    if (c && t->owned && t->data && t->cap >= (64u << 10) && c->n_spares < VCTX_SPARES) {
        c->spares[c->n_spares++] = *t;
        memset(t, 0, sizeof(*t));
        return;
    }
    vt_clear(t);
}

void vctx_free_spares(struct vctx *c)
{
    for (int i = 0; i < c->n_spares; i++)
        vt_clear(&c->spares[i]);
    c->n_spares = 0;
}

void vctx_take_cache(struct vctx *c)
{
    struct vbufcache *bc = c->m ? c->m->cache : NULL;
    if (!bc || c->shape_only)
        return;
    pthread_mutex_lock(&bc->lock);
    while (bc->n > 0 && c->n_spares < VCTX_SPARES)
        c->spares[c->n_spares++] = bc->bufs[--bc->n];
    pthread_mutex_unlock(&bc->lock);
}

void vctx_return_cache(struct vctx *c)
{
    struct vbufcache *bc = c->m ? c->m->cache : NULL;
    if (bc && !c->shape_only) {
        pthread_mutex_lock(&bc->lock);
        while (c->n_spares > 0 && bc->n < VCTX_SPARES)
            bc->bufs[bc->n++] = c->spares[--c->n_spares];
        pthread_mutex_unlock(&bc->lock);
    }
    vctx_free_spares(c); /* what did not fit */
}

/* Take the smallest spare buffer that fits `bytes` without wasting more than half. */
static void *take_spare(struct vctx *c, size_t bytes, size_t *cap)
{
    int best = -1;
    void *p;
    for (int i = 0; i < c->n_spares; i++)
        if (c->spares[i].cap >= bytes && c->spares[i].cap / 2 <= bytes &&
            (best < 0 || c->spares[i].cap < c->spares[best].cap))
            best = i;
    if (best < 0)
        return NULL;
    p = c->spares[best].data;
    *cap = c->spares[best].cap;
    c->spares[best] = c->spares[--c->n_spares];
    return p;
}

size_t vt_count(int ndim, const int64_t *dims)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0 || !kite_mul_size(n, (size_t)dims[i], &n))
            return SIZE_MAX;
    }
    return n;
}

static size_t elem_size(int type)
{
    return type == VT_I64 ? sizeof(int64_t) : sizeof(float);
}

int vt_make(struct vctx *c, struct vt *out, int type, int ndim, const int64_t *dims)
{
    size_t n = vt_count(ndim, dims), bytes;
    kite_err *err = c ? c->err : NULL;
    if (ndim < 0 || ndim > VT_MAX_DIMS)
        return kite_err_set(err, KITE_EUNSUPPORTED, "tensor rank %d exceeds %d", ndim,
                            VT_MAX_DIMS);
    if (n == SIZE_MAX || !kite_mul_size(n, elem_size(type), &bytes) || bytes > (8ull << 30))
        return kite_err_set(err, KITE_ELIMIT, "tensor of rank %d is too large", ndim);
    vt_clear(out);
    out->type = type;
    out->ndim = ndim;
    if (ndim)
        memcpy(out->dims, dims, sizeof(int64_t) * (size_t)ndim);
    out->len = n;
    if (c && c->shape_only && type == VT_F32)
        return KITE_OK;
    out->owned = true;
    if (c && bytes >= (64u << 10) && (out->data = take_spare(c, bytes, &out->cap)))
        return KITE_OK;
    out->data = kite_malloc_aligned(bytes ? bytes : 1);
    out->cap = bytes;
    if (!out->data) {
        out->owned = false;
        return kite_err_set(err, KITE_ENOMEM, "out of memory for a %zu-byte tensor", bytes);
    }
    return KITE_OK;
}

void vt_view(struct vt *dst, const struct vt *src)
{
    *dst = *src;
    dst->owned = false;
}

int vt_copy(struct vt *dst, const struct vt *src)
{
    int rc;
    memset(dst, 0, sizeof(*dst));
    rc = vt_make(NULL, dst, src->type, src->ndim, src->dims);
    if (rc != KITE_OK)
        return rc;
    if (src->data)
        memcpy(dst->data, src->data, src->len * elem_size(src->type));
    return KITE_OK;
}

int vt_ints(const struct vt *t, int64_t *dst, int n)
{
    if (!t || t->type != VT_I64 || !t->data)
        return KITE_EINVAL;
    if (t->len > (size_t)n)
        return KITE_ELIMIT;
    memcpy(dst, t->data, t->len * sizeof(int64_t));
    return (int)t->len;
}

static int64_t rd_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return (int64_t)v;
}

static uint32_t rd_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float rd_lef(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &v, sizeof(f));
    return f;
}

int vt_from_proto(const Onnx__TensorProto *tp, struct vt *out, kite_err *err)
{
    int type, rc;
    size_t n;
    const char *nm = tp->name ? tp->name : "";
    memset(out, 0, sizeof(*out));
    if ((tp->has_data_location &&
         tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) ||
        tp->n_external_data)
        return kite_err_set(err, KITE_EUNSUPPORTED,
                            "tensor '%s' uses external data, which is not supported: save the "
                            "model with all weights inside the .onnx file",
                            nm);
    if (tp->segment)
        return kite_err_set(err, KITE_EUNSUPPORTED, "tensor '%s' is segmented", nm);
    switch (tp->data_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: type = VT_F32; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: type = VT_I64; break;
    default:
        return kite_err_set(err, KITE_EUNSUPPORTED,
                            "tensor '%s' has data type %d; supported: float32, int64, int32", nm,
                            (int)tp->data_type);
    }
    if (tp->n_dims > VT_MAX_DIMS)
        return kite_err_set(err, KITE_EUNSUPPORTED, "tensor '%s' has rank %zu (max %d)", nm,
                            tp->n_dims, VT_MAX_DIMS);
    n = vt_count((int)tp->n_dims, tp->dims);
    if (n == SIZE_MAX)
        return kite_err_set(err, KITE_ECORRUPT, "tensor '%s' has invalid dims", nm);
    if (tp->has_raw_data) {
        size_t es = tp->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ? 4
                    : type == VT_I64                                       ? 8
                                                                           : 4;
        if (n > tp->raw_data.len / es || n * es != tp->raw_data.len)
            return kite_err_set(err, KITE_ECORRUPT,
                                "tensor '%s': raw_data has %zu bytes, expected %zu elements of "
                                "%zu bytes",
                                nm, tp->raw_data.len, n, es);
    } else {
        size_t have = type == VT_F32 ? tp->n_float_data
                      : tp->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ? tp->n_int32_data
                                                                              : tp->n_int64_data;
        if (have != n)
            return kite_err_set(err, KITE_ECORRUPT,
                                "tensor '%s' holds %zu values, its dims say %zu", nm, have, n);
    }
    rc = vt_make(NULL, out, type, (int)tp->n_dims, tp->dims);
    if (rc != KITE_OK)
        return kite_err_set(err, rc, "tensor '%s': cannot allocate %zu elements", nm, n);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* raw_data is little-endian: on such hosts float and int64 payloads copy as is */
    if (tp->has_raw_data && tp->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT32) {
        if (n)
            memcpy(out->data, tp->raw_data.data, n * (type == VT_I64 ? 8 : 4));
        return KITE_OK;
    }
#endif
    for (size_t i = 0; i < n; i++) {
        if (type == VT_F32) {
            ((float *)out->data)[i] =
                tp->has_raw_data ? rd_lef(tp->raw_data.data + 4 * i) : tp->float_data[i];
        } else if (tp->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT32) {
            ((int64_t *)out->data)[i] =
                tp->has_raw_data ? (int32_t)rd_le32(tp->raw_data.data + 4 * i)
                                 : tp->int32_data[i];
        } else {
            ((int64_t *)out->data)[i] =
                tp->has_raw_data ? rd_le64(tp->raw_data.data + 8 * i) : tp->int64_data[i];
        }
    }
    return KITE_OK;
}

static void *pb_alloc(void *ud, size_t n)
{
    (void)ud;
    return kite_malloc(n);
}

static void pb_free(void *ud, void *p)
{
    (void)ud;
    kite_free(p);
}

ProtobufCAllocator vpb_allocator = {pb_alloc, pb_free, NULL};

int vt_from_proto_bytes(const void *data, size_t len, struct vt *out, kite_err *err)
{
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(&vpb_allocator, len, data);
    int rc;
    if (!tp)
        return kite_err_set(err, KITE_ECORRUPT, "cannot parse TensorProto (%zu bytes)", len);
    rc = vt_from_proto(tp, out, err);
    onnx__tensor_proto__free_unpacked(tp, &vpb_allocator);
    return rc;
}
