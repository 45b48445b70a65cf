/*
 * resize.c — antialiased resize, fit (shorter-side resize + centre crop/pad)
 * and normalisation into model input tensors.
 *
 * Design:
 *   1. Resampling is separable: a horizontal pass into a float buffer, then a
 *      vertical pass that rounds to 8 bits.  Each axis picks its own filter.
 *   2. Shrinking uses exact area averaging: output pixel i covers source
 *      interval [i*s, (i+1)*s) with s = in/out, each source pixel weighted by
 *      its overlap.  This is the antialiasing filter (no aliasing of fine
 *      patterns); integer factors reduce to plain box averages.
 *   3. Growing (or same size) uses bilinear interpolation with pixel centres at
 *      i + 0.5 (align_corners = false) and edge clamping, so same-size resize
 *      is the identity.
 *   Rejected: a Lanczos/bicubic kernel — sharper, but overshoots (ringing) and
 *   the models we run (torchvision/Keras) were trained on bilinear/area input.
 */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "image_int.h"

struct taps {
    uint32_t *start; /* first source index per output */
    uint32_t *count; /* number of taps per output */
    float *w;        /* weights, max_taps per output */
    uint32_t max_taps;
};

static void taps_free(struct taps *t)
{
    kite_free(t->start);
    kite_free(t->count);
    kite_free(t->w);
}

static int taps_build(uint32_t in, uint32_t out, struct taps *t)
{
    memset(t, 0, sizeof(*t));
    t->max_taps = out < in ? (uint32_t)ceil((double)in / out) + 1 : 2;
    t->start = kite_calloc(out, sizeof(uint32_t));
    t->count = kite_calloc(out, sizeof(uint32_t));
    t->w = kite_calloc((size_t)out * t->max_taps, sizeof(float));
    if (!t->start || !t->count || !t->w) {
        taps_free(t);
        return KITE_ENOMEM;
    }
    for (uint32_t i = 0; i < out; i++) {
        float *w = t->w + (size_t)i * t->max_taps;
        if (out < in) {
            double s = (double)in / out, a = i * s, b = (i + 1) * s;
            uint32_t j0 = (uint32_t)floor(a), j1 = (uint32_t)ceil(b);
            if (j1 > in)
                j1 = in;
            t->start[i] = j0;
            for (uint32_t j = j0; j < j1 && j - j0 < t->max_taps; j++) {
                double lo = j > a ? j : a, hi = j + 1.0 < b ? j + 1.0 : b;
                w[j - j0] = (float)((hi - lo) / s);
                t->count[i] = j - j0 + 1;
            }
        } else {
            double x = (i + 0.5) * in / out - 0.5;
            uint32_t x0;
            double f;
            if (x < 0)
                x = 0;
            if (x > in - 1)
                x = in - 1;
            x0 = (uint32_t)floor(x);
            f = x - x0;
            t->start[i] = x0;
            t->count[i] = (x0 + 1 < in && f > 0) ? 2 : 1;
            w[0] = (float)(1.0 - f);
            if (t->count[i] == 2)
                w[1] = (float)f;
            else
                w[0] = 1.0f;
        }
    }
    return KITE_OK;
}

int kite_image_resize(const kite_image *src, uint32_t width, uint32_t height, kite_image **out,
                      kite_err *err)
{
    struct taps tx, ty;
    float *tmp = NULL;
    kite_image *dst = NULL;
    int rc;
    uint32_t W = src->width, H = src->height;

    if (!out)
        return kite_err_set(err, KITE_EINVAL, "kite_image_resize: out is NULL");
    *out = NULL;
    if (!src || !src->rgb || W == 0 || H == 0 || width == 0 || height == 0)
        return kite_err_set(err, KITE_EINVAL, "resize: empty source or target (%ux%u -> %ux%u)",
                            W, H, width, height);
    if ((uint64_t)width * height > 400000000ull)
        return kite_err_set(err, KITE_ELIMIT, "resize: target %ux%u is too large", width,
                            height);
    if (taps_build(W, width, &tx) != KITE_OK)
        return kite_err_set(err, KITE_ENOMEM, "resize: out of memory");
    if (taps_build(H, height, &ty) != KITE_OK) {
        taps_free(&tx);
        return kite_err_set(err, KITE_ENOMEM, "resize: out of memory");
    }
    tmp = kite_malloc((size_t)H * width * 3 * sizeof(float));
    if (!tmp) {
        rc = kite_err_set(err, KITE_ENOMEM, "resize: out of memory");
        goto out_free;
    }
    rc = vimg_alloc(width, height, src->format, &dst, err);
    if (rc != KITE_OK)
        goto out_free;
    for (uint32_t y = 0; y < H; y++) {
        const uint8_t *row = src->rgb + (size_t)y * W * 3;
        float *o = tmp + (size_t)y * width * 3;
        for (uint32_t x = 0; x < width; x++) {
            const float *w = tx.w + (size_t)x * tx.max_taps;
            float acc[3] = {0, 0, 0};
            for (uint32_t k = 0; k < tx.count[x]; k++) {
                const uint8_t *p = row + (size_t)(tx.start[x] + k) * 3;
                acc[0] += w[k] * p[0];
                acc[1] += w[k] * p[1];
                acc[2] += w[k] * p[2];
            }
            memcpy(o + 3 * (size_t)x, acc, sizeof(acc));
        }
    }
    for (uint32_t y = 0; y < height; y++) {
        const float *w = ty.w + (size_t)y * ty.max_taps;
        uint8_t *o = dst->rgb + (size_t)y * width * 3;
        for (size_t i = 0; i < (size_t)width * 3; i++) {
            float acc = 0;
            for (uint32_t k = 0; k < ty.count[y]; k++)
                acc += w[k] * tmp[(size_t)(ty.start[y] + k) * width * 3 + i];
            acc = acc < 0 ? 0 : acc > 255 ? 255 : acc;
            o[i] = (uint8_t)lrintf(acc);
        }
    }
    *out = dst;
out_free:
    kite_free(tmp);
    taps_free(&tx);
    taps_free(&ty);
    return rc;
}

void kite_preprocess_init(kite_preprocess *pp)
{
    memset(pp, 0, sizeof(*pp));
    pp->size = sizeof(*pp);
    pp->width = pp->height = 224;
    pp->fit = KITE_FIT_CROP;
    pp->scale = 1.0f / 255.0f;
    for (int c = 0; c < 3; c++)
        pp->std[c] = 1.0f;
    pp->channel_order = KITE_RGB;
    pp->layout = KITE_NCHW;
}

void kite_preprocess_init_imagenet(kite_preprocess *pp)
{
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    kite_preprocess_init(pp);
    pp->resize_shorter = 256;
    memcpy(pp->mean, mean, sizeof(mean));
    memcpy(pp->std, std, sizeof(std));
}

static uint32_t scaled(uint32_t v, double s)
{
    double r = floor(v * s + 0.5);
    return r < 1 ? 1 : (uint32_t)r;
}

int kite_image_fit(const kite_image *src, const kite_preprocess *pp, kite_image **out,
                   kite_err *err)
{
    kite_image *tmp = NULL, *dst = NULL;
    uint32_t W = pp->width, H = pp->height, rw, rh, x0, y0;
    double s;
    int rc;

    if (!out)
        return kite_err_set(err, KITE_EINVAL, "kite_image_fit: out is NULL");
    *out = NULL;
    if (!src || src->width == 0 || src->height == 0 || W == 0 || H == 0)
        return kite_err_set(err, KITE_EINVAL, "fit: empty source or target");
    if (pp->fit == KITE_FIT_STRETCH)
        return kite_image_resize(src, W, H, out, err);
    if (pp->fit == KITE_FIT_CROP) {
        double cover = fmax((double)W / src->width, (double)H / src->height);
        s = pp->resize_shorter
                ? (double)pp->resize_shorter / (src->width < src->height ? src->width : src->height)
                : cover;
        if (s < cover) /* never crop a region larger than the resized image */
            s = cover;
        rw = scaled(src->width, s);
        rh = scaled(src->height, s);
        if (rw < W)
            rw = W;
        if (rh < H)
            rh = H;
        rc = kite_image_resize(src, rw, rh, &tmp, err);
        if (rc != KITE_OK)
            return rc;
        rc = vimg_alloc(W, H, src->format, &dst, err);
        if (rc != KITE_OK)
            goto out_free;
        x0 = (rw - W) / 2;
        y0 = (rh - H) / 2;
        for (uint32_t y = 0; y < H; y++)
            memcpy(dst->rgb + (size_t)y * W * 3, tmp->rgb + ((size_t)(y0 + y) * rw + x0) * 3,
                   (size_t)W * 3);
    } else if (pp->fit == KITE_FIT_PAD) {
        s = fmin((double)W / src->width, (double)H / src->height);
        rw = scaled(src->width, s);
        rh = scaled(src->height, s);
        if (rw > W)
            rw = W;
        if (rh > H)
            rh = H;
        rc = kite_image_resize(src, rw, rh, &tmp, err);
        if (rc != KITE_OK)
            return rc;
        rc = vimg_alloc(W, H, src->format, &dst, err);
        if (rc != KITE_OK)
            goto out_free;
        for (size_t i = 0; i < (size_t)W * H; i++)
            memcpy(dst->rgb + 3 * i, pp->pad_rgb, 3);
        x0 = (W - rw) / 2;
        y0 = (H - rh) / 2;
        for (uint32_t y = 0; y < rh; y++)
            memcpy(dst->rgb + ((size_t)(y0 + y) * W + x0) * 3, tmp->rgb + (size_t)y * rw * 3,
                   (size_t)rw * 3);
    } else {
        return kite_err_set(err, KITE_EINVAL, "fit: unknown mode %d (expected CROP, PAD or "
                            "STRETCH)", pp->fit);
    }
    *out = dst;
    rc = KITE_OK;
out_free:
    kite_image_free(tmp);
    return rc;
}

int kite_image_to_tensor(const kite_image *img, const kite_preprocess *pp, float *out,
                         kite_err *err)
{
    size_t n;
    if (!img || !pp || !out)
        return kite_err_set(err, KITE_EINVAL, "to_tensor: image, preprocess and out required");
    if (img->width != pp->width || img->height != pp->height)
        return kite_err_set(err, KITE_EINVAL, "to_tensor: image is %ux%u, expected %ux%u",
                            img->width, img->height, pp->width, pp->height);
    for (int c = 0; c < 3; c++)
        if (pp->std[c] == 0.0f)
            return kite_err_set(err, KITE_EINVAL, "to_tensor: std[%d] is zero", c);
    n = (size_t)img->width * img->height;
    for (int oc = 0; oc < 3; oc++) {
        int ic = pp->channel_order == KITE_BGR ? 2 - oc : oc;
        float sc = pp->scale / pp->std[oc], off = pp->mean[oc] / pp->std[oc];
        for (size_t i = 0; i < n; i++) {
            float v = img->rgb[3 * i + (size_t)ic] * sc - off;
            if (pp->layout == KITE_NHWC)
                out[3 * i + (size_t)oc] = v;
            else
                out[(size_t)oc * n + i] = v;
        }
    }
    return KITE_OK;
}
