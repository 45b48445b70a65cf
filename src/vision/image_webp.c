/*
 * image_webp.c — WebP (lossy, lossless, alpha; first frame of animations is
 * refused by WebPGetFeatures as it has no single bitstream) through libwebp.
 *
 * WebPGetFeatures parses only the header, so the caps are checked before
 * WebPDecodeRGBAInto writes into our buffer.
 */
#include <string.h>

#include <webp/decode.h>

#include "alloc.h"
#include "err.h"
#include "image_int.h"

int vimg_decode_webp(const uint8_t *data, size_t len, const kite_image_limits *lim,
                     kite_image **out, kite_err *err)
{
    WebPBitstreamFeatures f;
    VP8StatusCode st;
    uint8_t *rgba = NULL;
    kite_image *img = NULL;
    int rc;
    size_t n;

    st = WebPGetFeatures(data, len, &f);
    if (st != VP8_STATUS_OK)
        return kite_err_set(err, st == VP8_STATUS_UNSUPPORTED_FEATURE ? KITE_EUNSUPPORTED
                                                                      : KITE_ECORRUPT,
                            "WebP: cannot parse header (libwebp status %d)", (int)st);
    if (f.has_animation)
        return kite_err_set(err, KITE_EUNSUPPORTED, "WebP: animated WebP is not supported");
    rc = vimg_check_dims((uint64_t)(f.width > 0 ? f.width : 0),
                         (uint64_t)(f.height > 0 ? f.height : 0), lim, "WebP", err);
    if (rc != KITE_OK)
        return rc;
    n = (size_t)f.width * (size_t)f.height * 4;
    rgba = kite_malloc(n);
    if (!rgba)
        return kite_err_set(err, KITE_ENOMEM, "WebP: out of memory for %dx%d", f.width, f.height);
    if (!WebPDecodeRGBAInto(data, len, rgba, n, f.width * 4)) {
        rc = kite_err_set(err, KITE_ECORRUPT, "WebP: bitstream is corrupt or truncated");
        goto out_free;
    }
    rc = vimg_alloc((uint32_t)f.width, (uint32_t)f.height, KITE_IMAGE_WEBP, &img, err);
    if (rc != KITE_OK)
        goto out_free;
    for (size_t i = 0; i < (size_t)f.width * (size_t)f.height; i++)
        for (int c = 0; c < 3; c++)
            img->rgb[3 * i + c] = vimg_over_white(rgba[4 * i + c], rgba[4 * i + 3]);
    *out = img;
out_free:
    kite_free(rgba);
    return rc;
}
