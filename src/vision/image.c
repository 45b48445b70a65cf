/*
 * image.c — format sniffing, limits, decode dispatch, file loading and the
 * EXIF orientation transform.
 *
 * Design:
 *   1. The format is chosen from magic bytes only; a file name never matters,
 *      so a PNG called x.jpg decodes and a text file called x.png is refused.
 *   2. Size caps (per side and total pixels) are enforced by every decoder
 *      through vimg_check_dims() right after its header parse, before pixel
 *      buffers exist (image_int.h invariant 1).
 *   3. kite_image is plain data; no global state, thread-safe.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "image_int.h"

void kite_image_limits_init(kite_image_limits *lim)
{
    memset(lim, 0, sizeof(*lim));
    lim->size = sizeof(*lim);
    lim->max_side = 8192;
    lim->max_pixels = 40000000ull;
    lim->max_bytes = 256ull << 20;
}

int kite_image_sniff(const void *data, size_t len)
{
    const uint8_t *p = data;
    if (!p)
        return KITE_IMAGE_UNKNOWN;
    if (len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return KITE_IMAGE_JPEG;
    if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        return KITE_IMAGE_PNG;
    if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return KITE_IMAGE_WEBP;
    if (len >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
        return KITE_IMAGE_GIF;
    if (len >= 2 && p[0] == 'B' && p[1] == 'M')
        return KITE_IMAGE_BMP;
    return KITE_IMAGE_UNKNOWN;
}

const char *kite_image_format_name(int format)
{
    switch (format) {
    case KITE_IMAGE_JPEG: return "JPEG";
    case KITE_IMAGE_PNG: return "PNG";
    case KITE_IMAGE_WEBP: return "WebP";
    case KITE_IMAGE_GIF: return "GIF";
    case KITE_IMAGE_BMP: return "BMP";
    default: return "unknown";
    }
}

int vimg_check_dims(uint64_t width, uint64_t height, const kite_image_limits *lim,
                    const char *fmt_name, kite_err *err)
{
    if (width == 0 || height == 0)
        return kite_err_set(err, KITE_ECORRUPT, "%s: image has zero size (%llux%llu)", fmt_name,
                            (unsigned long long)width, (unsigned long long)height);
    if (width > lim->max_side || height > lim->max_side)
        return kite_err_set(err, KITE_ELIMIT,
                            "%s: image is %llux%llu, larger than the %u pixel per side limit",
                            fmt_name, (unsigned long long)width, (unsigned long long)height,
                            lim->max_side);
    if (width * height > lim->max_pixels)
        return kite_err_set(err, KITE_ELIMIT,
                            "%s: image has %llu pixels, more than the limit of %llu", fmt_name,
                            (unsigned long long)(width * height),
                            (unsigned long long)lim->max_pixels);
    return KITE_OK;
}

int vimg_alloc(uint32_t width, uint32_t height, int format, kite_image **out, kite_err *err)
{
    size_t n;
    kite_image *img;
    *out = NULL;
    if (!kite_mul_size(width, height, &n) || !kite_mul_size(n, 3, &n))
        return kite_err_set(err, KITE_ELIMIT, "image %ux%u is too large", width, height);
    img = kite_calloc(1, sizeof(*img));
    if (!img)
        return kite_err_set(err, KITE_ENOMEM, "out of memory for an image header");
    img->rgb = kite_malloc(n ? n : 1);
    if (!img->rgb) {
        kite_free(img);
        return kite_err_set(err, KITE_ENOMEM, "out of memory for %ux%u pixels", width, height);
    }
    img->width = width;
    img->height = height;
    img->format = format;
    *out = img;
    return KITE_OK;
}

int kite_image_new(uint32_t width, uint32_t height, kite_image **out)
{
    int rc = vimg_alloc(width, height, KITE_IMAGE_UNKNOWN, out, NULL);
    if (rc == KITE_OK)
        memset((*out)->rgb, 0, (size_t)width * height * 3);
    return rc;
}

void kite_image_free(kite_image *img)
{
    if (!img)
        return;
    kite_free(img->rgb);
    kite_free(img);
}

int kite_image_decode(const void *data, size_t len, const kite_image_limits *lim,
                      kite_image **out, kite_err *err)
{
    kite_image_limits def;
    int fmt;
    if (!out)
        return kite_err_set(err, KITE_EINVAL, "kite_image_decode: out is NULL");
    *out = NULL;
    if (!data && len)
        return kite_err_set(err, KITE_EINVAL, "kite_image_decode: data is NULL");
    if (!lim) {
        kite_image_limits_init(&def);
        lim = &def;
    }
    fmt = kite_image_sniff(data, len);
    switch (fmt) {
    case KITE_IMAGE_JPEG: return vimg_decode_jpeg(data, len, lim, out, err);
    case KITE_IMAGE_PNG: return vimg_decode_png(data, len, lim, out, err);
    case KITE_IMAGE_WEBP: return vimg_decode_webp(data, len, lim, out, err);
    case KITE_IMAGE_GIF: return vimg_decode_gif(data, len, lim, out, err);
    case KITE_IMAGE_BMP: return vimg_decode_bmp(data, len, lim, out, err);
    default:
        return kite_err_set(err, KITE_EUNSUPPORTED,
                            "unrecognised image format (%zu bytes): expected JPEG, PNG, WebP, "
                            "GIF or BMP magic bytes",
                            len);
    }
}

int kite_image_load(const char *path, const kite_image_limits *lim, kite_image **out,
                    kite_err *err)
{
    int rc = KITE_OK;
    kite_image_limits def;
    FILE *f = NULL;
    uint8_t *buf = NULL;
    long sz;
    if (!out || !path)
        return kite_err_set(err, KITE_EINVAL, "kite_image_load: path and out are required");
    *out = NULL;
    if (!lim) {
        kite_image_limits_init(&def);
        lim = &def;
    }
    f = fopen(path, "rb");
    if (!f)
        return kite_err_set(err, KITE_EIO, "cannot open image '%s': %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = kite_err_set(err, KITE_EIO, "cannot size image '%s': %s", path, strerror(errno));
        goto out_close;
    }
    if ((uint64_t)sz > lim->max_bytes) {
        rc = kite_err_set(err, KITE_ELIMIT, "image '%s' is %ld bytes, over the %llu byte limit",
                          path, sz, (unsigned long long)lim->max_bytes);
        goto out_close;
    }
    buf = kite_malloc(sz ? (size_t)sz : 1);
    if (!buf) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory reading '%s'", path);
        goto out_close;
    }
    if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        rc = kite_err_set(err, KITE_EIO, "short read on image '%s'", path);
        goto out_free;
    }
    rc = kite_image_decode(buf, (size_t)sz, lim, out, err);
    if (rc != KITE_OK && err)
        kite_err_prefix(err, "%s", path);
out_free:
    kite_free(buf);
out_close:
    fclose(f);
    return rc;
}

/* ------------------------------------------------------------------ EXIF */

static uint32_t rd16(const uint8_t *p, int le)
{
    return le ? (uint32_t)(p[0] | p[1] << 8) : (uint32_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p, int le)
{
    return le ? ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24)
              : ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3]);
}

/*
 * TIFF header: "II*\0" or "MM\0*", u32 offset of IFD0.  IFD: u16 count, then
 * 12-byte entries (tag u16, type u16, count u32, value/offset u32).  Tag 0x0112
 * (Orientation) is type SHORT (3), count 1, value in the first 2 bytes of the
 * value field.  Every read is bounds-checked against len.
 */
int vimg_exif_orientation(const uint8_t *tiff, size_t len)
{
    int le;
    uint32_t ifd, n, i;
    if (len < 8)
        return 1;
    if (tiff[0] == 'I' && tiff[1] == 'I')
        le = 1;
    else if (tiff[0] == 'M' && tiff[1] == 'M')
        le = 0;
    else
        return 1;
    if (rd16(tiff + 2, le) != 42)
        return 1;
    ifd = rd32(tiff + 4, le);
    if (ifd > len || len - ifd < 2)
        return 1;
    n = rd16(tiff + ifd, le);
    if ((uint64_t)n * 12 > len - ifd - 2)
        return 1;
    for (i = 0; i < n; i++) {
        const uint8_t *e = tiff + ifd + 2 + 12 * i;
        if (rd16(e, le) == 0x0112) {
            uint32_t v;
            if (rd16(e + 2, le) != 3 || rd32(e + 4, le) != 1)
                return 1;
            v = rd16(e + 8, le);
            return (v >= 1 && v <= 8) ? (int)v : 1;
        }
    }
    return 1;
}

/*
 * Orientation o maps stored pixels to display: 2 mirror x, 3 rotate 180,
 * 4 mirror y, 5 transpose, 6 rotate 90 CW, 7 transverse, 8 rotate 90 CCW.
 * For each display pixel (dx, dy) we compute the stored source (sx, sy).
 */
int vimg_apply_orientation(kite_image **img, int o, kite_err *err)
{
    kite_image *src = *img, *dst = NULL;
    uint32_t W = src->width, H = src->height, dw, dh, dx, dy;
    int swap = o >= 5 && o <= 8;
    int rc;
    if (o < 2 || o > 8)
        return KITE_OK;
    dw = swap ? H : W;
    dh = swap ? W : H;
    rc = vimg_alloc(dw, dh, src->format, &dst, err);
    if (rc != KITE_OK)
        return rc;
    for (dy = 0; dy < dh; dy++) {
        for (dx = 0; dx < dw; dx++) {
            uint32_t sx, sy;
            switch (o) {
            case 2: sx = W - 1 - dx; sy = dy; break;
            case 3: sx = W - 1 - dx; sy = H - 1 - dy; break;
            case 4: sx = dx; sy = H - 1 - dy; break;
            case 5: sx = dy; sy = dx; break;
            case 6: sx = dy; sy = H - 1 - dx; break;
            case 7: sx = W - 1 - dy; sy = H - 1 - dx; break;
            default: sx = W - 1 - dy; sy = dx; break; /* 8 */
            }
            memcpy(dst->rgb + ((size_t)dy * dw + dx) * 3, src->rgb + ((size_t)sy * W + sx) * 3, 3);
        }
    }
    kite_image_free(src);
    *img = dst;
    return KITE_OK;
}
