/*
 * embed.c — the embedding pipeline: image -> fit -> normalise -> model ->
 * (optional spatial pooling) -> L2-normalised vector.
 *
 * Threading model: a kite_embed is immutable after kite_embed_open; calls may
 * run concurrently (each allocates its own batch tensor).  The pool is either
 * borrowed from the caller or owned (created at open, freed at close).
 *
 * Invariants:
 *   1. The model has one float input of rank 4 whose layout matches
 *      pre.layout; known spatial dims must equal pre.width/height.
 *   2. Every vector returned has unit L2 norm; an all-zero model output is an
 *      error (KITE_EDATA), never a silent zero vector.
 */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "onnx_int.h"
#include "pool.h"

struct kite_embed {
    kite_model *model;
    kite_preprocess pre;
    int pooling;
    int batch_max;
    struct kite_pool *pool;
    bool own_pool;
    kite_image_limits limits;
    int dim;
};

void kite_embed_opts_init(kite_embed_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->size = sizeof(*o);
    kite_preprocess_init(&o->pre);
    o->pooling = KITE_POOL_NONE;
    o->batch_max = 8;
    kite_image_limits_init(&o->limits);
}

/* Vector length after pooling/flattening for output dims d (batch first). */
static int out_dim(const struct vt *o, int pooling, kite_err *err)
{
    size_t n;
    if (o->ndim < 1)
        return kite_err_set(err, KITE_EINVAL, "model output is a scalar");
    if (pooling != KITE_POOL_NONE) {
        if (o->ndim != 4)
            return kite_err_set(err, KITE_EINVAL,
                                "pooling needs a 4-D NCHW model output, it has rank %d", o->ndim);
        n = (size_t)o->dims[1];
    } else {
        n = vt_count(o->ndim - 1, o->dims + 1);
    }
    if (n == 0 || n > (1u << 24))
        return kite_err_set(err, KITE_EINVAL, "model output gives a %zu-d vector", n);
    return (int)n;
}

int kite_embed_open(const kite_embed_opts *o, kite_embed **out, kite_err *err)
{
    kite_embed *e;
    struct vt in, res;
    const struct vdecl *d;
    int rc, c_ax, h_ax, w_ax;
    if (!o || !out || !o->model_path)
        return kite_err_set(err, KITE_EINVAL, "kite_embed_open: options with model_path needed");
    *out = NULL;
    e = kite_calloc(1, sizeof(*e));
    if (!e)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    e->pre = o->pre;
    e->pooling = o->pooling;
    e->batch_max = o->batch_max > 0 ? o->batch_max : 8;
    e->limits = o->limits;
    if (!e->limits.size)
        kite_image_limits_init(&e->limits);
    if (o->pool) {
        e->pool = o->pool;
    } else {
        rc = kite_pool_new(o->n_threads, &e->pool);
        if (rc != KITE_OK) {
            kite_err_set(err, rc, "cannot start the inference pool");
            goto out_fail;
        }
        e->own_pool = true;
    }
    rc = kite_model_load(o->model_path, e->pool, &e->model, err);
    if (rc != KITE_OK)
        goto out_fail;
    if (e->model->n_inputs != 1 || e->model->in_decl[0].type != VT_F32 ||
        e->model->in_decl[0].ndim != 4) {
        rc = kite_err_set(err, KITE_EINVAL,
                          "embedding model must have one float input of rank 4 (NCHW or NHWC)");
        goto out_fail;
    }
    d = &e->model->in_decl[0];
    c_ax = e->pre.layout == KITE_NHWC ? 3 : 1;
    h_ax = e->pre.layout == KITE_NHWC ? 1 : 2;
    w_ax = h_ax + 1;
    if ((d->dims[c_ax] >= 0 && d->dims[c_ax] != 3) ||
        (d->dims[h_ax] >= 0 && d->dims[h_ax] != e->pre.height) ||
        (d->dims[w_ax] >= 0 && d->dims[w_ax] != e->pre.width)) {
        rc = kite_err_set(err, KITE_EINVAL,
                          "model input is [%lld,%lld,%lld,%lld]; preprocessing gives 3 channels "
                          "of %ux%u in %s layout",
                          (long long)d->dims[0], (long long)d->dims[1], (long long)d->dims[2],
                          (long long)d->dims[3], e->pre.width, e->pre.height,
                          e->pre.layout == KITE_NHWC ? "NHWC" : "NCHW");
        goto out_fail;
    }
    if (d->dims[0] == 0 || d->dims[0] > 4096) {
        rc = kite_err_set(err, KITE_EINVAL, "model input has a fixed batch of %lld",
                          (long long)d->dims[0]);
        goto out_fail;
    }
    if (d->dims[0] > 0)
        e->batch_max = (int)d->dims[0]; /* fixed batch: run exactly that many */
    memset(&in, 0, sizeof(in));
    memset(&res, 0, sizeof(res));
    in.type = VT_F32;
    in.ndim = 4;
    in.dims[0] = d->dims[0] > 0 ? d->dims[0] : 1;
    in.dims[c_ax] = 3;
    in.dims[h_ax] = e->pre.height;
    in.dims[w_ax] = e->pre.width;
    in.len = vt_count(4, in.dims);
    rc = vmodel_run(e->model, &in, 1, &res, 1, true, err);
    if (rc != KITE_OK)
        goto out_fail;
    rc = out_dim(&res, e->pooling, err);
    vt_clear(&res);
    if (rc < 0)
        goto out_fail;
    e->dim = rc;
    *out = e;
    return KITE_OK;
out_fail:
    kite_embed_close(e);
    return rc;
}

void kite_embed_close(kite_embed *e)
{
    if (!e)
        return;
    kite_model_free(e->model);
    if (e->own_pool)
        kite_pool_free(e->pool);
    kite_free(e);
}

int kite_embed_dim(const kite_embed *e)
{
    return e ? e->dim : 0;
}

static int finish_vector(const kite_embed *e, const float *src, size_t plane, float *dst,
                         kite_err *err)
{
    double norm = 0;
    for (int k = 0; k < e->dim; k++) {
        float v;
        if (e->pooling == KITE_POOL_NONE) {
            v = src[k];
        } else {
            const float *p = src + (size_t)k * plane;
            double acc = e->pooling == KITE_POOL_MAX ? -INFINITY : 0.0;
            for (size_t i = 0; i < plane; i++)
                acc = e->pooling == KITE_POOL_MAX ? (p[i] > acc ? p[i] : acc) : acc + p[i];
            v = (float)(e->pooling == KITE_POOL_MAX ? acc : acc / (double)plane);
        }
        dst[k] = v;
        norm += (double)v * v;
    }
    if (!(norm > 0) || !isfinite(norm))
        return kite_err_set(err, KITE_EDATA, "model produced a %s embedding",
                            norm > 0 ? "non-finite" : "zero");
    norm = sqrt(norm);
    for (int k = 0; k < e->dim; k++)
        dst[k] = (float)(dst[k] / norm);
    return KITE_OK;
}

/*
 * Embed nb images (nb <= batch_max) through one model run.  A model with a fixed
 * batch B > nb gets the last image repeated in the spare slots; only the first
 * nb outputs are used.
 */
static int run_batch(kite_embed *e, const kite_image *const *imgs, size_t nb, float *batch,
                     float *out, kite_err *err)
{
    size_t per = (size_t)e->pre.width * e->pre.height * 3, run_n = nb, stride, plane;
    int64_t fixed = e->model->in_decl[0].dims[0];
    struct vt in, res;
    int rc = KITE_OK;
    memset(&in, 0, sizeof(in));
    memset(&res, 0, sizeof(res));
    if (fixed > 0)
        run_n = (size_t)fixed;
    for (size_t i = 0; i < nb; i++) {
        kite_image *fit = NULL;
        rc = kite_image_fit(imgs[i], &e->pre, &fit, err);
        if (rc == KITE_OK)
            rc = kite_image_to_tensor(fit, &e->pre, batch + i * per, err);
        kite_image_free(fit);
        if (rc != KITE_OK)
            return rc;
    }
    for (size_t i = nb; i < run_n; i++)
        memcpy(batch + i * per, batch + (nb - 1) * per, per * sizeof(float));
    in.type = VT_F32;
    in.ndim = 4;
    in.dims[0] = (int64_t)run_n;
    in.dims[e->pre.layout == KITE_NHWC ? 3 : 1] = 3;
    in.dims[e->pre.layout == KITE_NHWC ? 1 : 2] = e->pre.height;
    in.dims[e->pre.layout == KITE_NHWC ? 2 : 3] = e->pre.width;
    in.len = per * run_n;
    in.data = batch;
    rc = vmodel_run(e->model, &in, 1, &res, 1, false, err);
    if (rc != KITE_OK)
        return rc;
    if (res.type != VT_F32 || res.ndim < 1 || res.dims[0] != (int64_t)run_n) {
        vt_clear(&res);
        return kite_err_set(err, KITE_EINVAL, "model output batch does not match its input");
    }
    stride = res.len / run_n;
    plane = e->pooling == KITE_POOL_NONE ? 1 : (size_t)(res.dims[2] * res.dims[3]);
    for (size_t i = 0; i < nb && rc == KITE_OK; i++)
        rc = finish_vector(e, (const float *)res.data + i * stride, plane, out + i * (size_t)e->dim,
                           err);
    vt_clear(&res);
    return rc;
}

int kite_embed_images(kite_embed *e, const kite_image *const *imgs, size_t n, float *out,
                      kite_err *err)
{
    float *batch;
    int rc = KITE_OK;
    if (!e || (!imgs && n) || (!out && n))
        return kite_err_set(err, KITE_EINVAL, "kite_embed_images: bad arguments");
    batch = kite_malloc((size_t)e->pre.width * e->pre.height * 3 * (size_t)e->batch_max *
                        sizeof(float));
    if (!batch)
        return kite_err_set(err, KITE_ENOMEM, "out of memory for an input batch");
    for (size_t b0 = 0; b0 < n && rc == KITE_OK; b0 += (size_t)e->batch_max) {
        size_t nb = n - b0 < (size_t)e->batch_max ? n - b0 : (size_t)e->batch_max;
        rc = run_batch(e, imgs + b0, nb, batch, out + b0 * (size_t)e->dim, err);
        if (rc != KITE_OK && err)
            kite_err_prefix(err, "images %zu..%zu", b0, b0 + nb - 1);
    }
    kite_free(batch);
    return rc;
}

int kite_embed_image(kite_embed *e, const kite_image *img, float *out, kite_err *err)
{
    return kite_embed_images(e, &img, 1, out, err);
}

int kite_embed_buffer(kite_embed *e, const void *data, size_t len, float *out, kite_err *err)
{
    kite_image *img = NULL;
    int rc;
    if (!e)
        return kite_err_set(err, KITE_EINVAL, "kite_embed_buffer: no embedder");
    rc = kite_image_decode(data, len, &e->limits, &img, err);
    if (rc != KITE_OK)
        return rc;
    rc = kite_embed_image(e, img, out, err);
    kite_image_free(img);
    return rc;
}

int kite_embed_file(kite_embed *e, const char *path, float *out, kite_err *err)
{
    kite_image *img = NULL;
    int rc;
    if (!e)
        return kite_err_set(err, KITE_EINVAL, "kite_embed_file: no embedder");
    rc = kite_image_load(path, &e->limits, &img, err);
    if (rc != KITE_OK)
        return rc;
    rc = kite_embed_image(e, img, out, err);
    kite_image_free(img);
    return rc;
}
