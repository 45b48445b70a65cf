/*
 * image_bmp.c — our own small BMP reader.
 *
 * Supported: BITMAPINFOHEADER and later (header size 40..124), 8-bit palette,
 * 24-bit BGR and 32-bit (BI_RGB = BGRX, or BI_BITFIELDS with explicit masks,
 * alpha used when an alpha mask is given), bottom-up (height > 0) and top-down
 * (height < 0).  Refused: RLE, 1/4/16-bit, OS/2 headers (KITE_EUNSUPPORTED).
 *
 * Strict bounds (layout, little-endian):
 *   0  "BM"  2 u32 file size (ignored)  6 u32 reserved  10 u32 pixel offset
 *   14 u32 header size, i32 width, i32 height, u16 planes, u16 bpp,
 *      u32 compression, u32 image size, i32 xppm, i32 ypm, u32 colours used, ...
 *   palette (8-bit): colours-used x 4 bytes BGRx right after the header;
 *   rows padded to 4 bytes.  Every offset and the full pixel array must lie
 *   inside the buffer; palette indices must be < colours used.
 */
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "image_int.h"

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* Extract a masked channel and scale it to 0..255. */
static uint8_t mask_get(uint32_t v, uint32_t mask)
{
    unsigned shift = 0, bits = 0;
    uint32_t x;
    if (!mask)
        return 0;
    while (!((mask >> shift) & 1))
        shift++;
    while (shift + bits < 32 && ((mask >> (shift + bits)) & 1))
        bits++;
    x = (v & mask) >> shift;
    if (bits >= 8)
        return (uint8_t)(x >> (bits - 8));
    return (uint8_t)((x * 255u + ((1u << bits) - 1) / 2) / ((1u << bits) - 1));
}

struct bmp_hdr {
    uint32_t offset, hsize, compression, n_colors;
    int32_t width, height;
    uint16_t bpp;
    uint32_t mask[4]; /* r g b a */
    const uint8_t *palette;
};

static int bmp_parse(const uint8_t *d, size_t len, struct bmp_hdr *h, kite_err *err)
{
    memset(h, 0, sizeof(*h));
    if (len < 14 + 40)
        return kite_err_set(err, KITE_ECORRUPT, "BMP: %zu bytes is too short for the headers",
                            len);
    h->offset = le32(d + 10);
    h->hsize = le32(d + 14);
    if (h->hsize < 40 || h->hsize > 124)
        return kite_err_set(err, KITE_EUNSUPPORTED,
                            "BMP: header size %u unsupported (expected 40..124)", h->hsize);
    if (14 + (size_t)h->hsize > len)
        return kite_err_set(err, KITE_ECORRUPT, "BMP: truncated info header");
    h->width = (int32_t)le32(d + 18);
    h->height = (int32_t)le32(d + 22);
    h->bpp = le16(d + 28);
    h->compression = le32(d + 30);
    h->n_colors = le32(d + 46);
    if (le16(d + 26) != 1)
        return kite_err_set(err, KITE_ECORRUPT, "BMP: planes must be 1, not %u", le16(d + 26));
    if (h->width <= 0 || h->height == 0 || h->height == INT32_MIN)
        return kite_err_set(err, KITE_ECORRUPT, "BMP: invalid size %dx%d", h->width, h->height);
    if (h->bpp != 8 && h->bpp != 24 && h->bpp != 32)
        return kite_err_set(err, KITE_EUNSUPPORTED,
                            "BMP: %u bits per pixel unsupported (expected 8, 24 or 32)", h->bpp);
    if (h->compression == 3 && h->bpp == 32) {
        size_t mo = 14 + 40; /* masks follow a 40-byte header, or are inside V2+ headers */
        if (mo + 12 > len)
            return kite_err_set(err, KITE_ECORRUPT, "BMP: truncated bit masks");
        for (int i = 0; i < 3; i++)
            h->mask[i] = le32(d + mo + 4 * i);
        if (h->hsize >= 56 && mo + 16 <= len)
            h->mask[3] = le32(d + mo + 12);
    } else if (h->compression == 0) {
        h->mask[0] = 0x00FF0000u;
        h->mask[1] = 0x0000FF00u;
        h->mask[2] = 0x000000FFu;
    } else {
        return kite_err_set(err, KITE_EUNSUPPORTED,
                            "BMP: compression %u unsupported (expected BI_RGB, or BI_BITFIELDS "
                            "at 32 bits)",
                            h->compression);
    }
    if (h->bpp == 8) {
        size_t po = 14 + (size_t)h->hsize;
        if (h->n_colors == 0)
            h->n_colors = 256;
        if (h->n_colors > 256)
            return kite_err_set(err, KITE_ECORRUPT, "BMP: %u palette colours (max 256)",
                                h->n_colors);
        if (po + 4 * (size_t)h->n_colors > len)
            return kite_err_set(err, KITE_ECORRUPT, "BMP: truncated palette");
        h->palette = d + po;
    }
    return KITE_OK;
}

int vimg_decode_bmp(const uint8_t *d, size_t len, const kite_image_limits *lim, kite_image **out,
                    kite_err *err)
{
    struct bmp_hdr h;
    kite_image *img = NULL;
    uint32_t w, hh;
    size_t stride, need;
    int rc = bmp_parse(d, len, &h, err);
    if (rc != KITE_OK)
        return rc;
    w = (uint32_t)h.width;
    hh = h.height < 0 ? (uint32_t)(-(int64_t)h.height) : (uint32_t)h.height;
    rc = vimg_check_dims(w, hh, lim, "BMP", err);
    if (rc != KITE_OK)
        return rc;
    stride = (((size_t)w * h.bpp + 31) / 32) * 4;
    if (!kite_mul_size(stride, hh, &need) || !kite_add_size(need, h.offset, &need) || need > len)
        return kite_err_set(err, KITE_ECORRUPT,
                            "BMP: pixel data truncated (need %zu bytes from offset %u, have %zu)",
                            stride * hh, h.offset, len);
    rc = vimg_alloc(w, hh, KITE_IMAGE_BMP, &img, err);
    if (rc != KITE_OK)
        return rc;
    for (uint32_t y = 0; y < hh; y++) {
        uint32_t sy = h.height < 0 ? y : hh - 1 - y;
        const uint8_t *row = d + h.offset + (size_t)sy * stride;
        uint8_t *dst = img->rgb + (size_t)y * w * 3;
        for (uint32_t x = 0; x < w; x++, dst += 3) {
            if (h.bpp == 8) {
                const uint8_t *c;
                if (row[x] >= h.n_colors) {
                    kite_image_free(img);
                    return kite_err_set(err, KITE_ECORRUPT,
                                        "BMP: palette index %u out of range (%u colours)", row[x],
                                        h.n_colors);
                }
                c = h.palette + 4 * (size_t)row[x];
                dst[0] = c[2];
                dst[1] = c[1];
                dst[2] = c[0];
            } else if (h.bpp == 24) {
                dst[0] = row[3 * x + 2];
                dst[1] = row[3 * x + 1];
                dst[2] = row[3 * x];
            } else {
                uint32_t v = le32(row + 4 * (size_t)x);
                uint8_t a = h.mask[3] ? mask_get(v, h.mask[3]) : 255;
                for (int c = 0; c < 3; c++)
                    dst[c] = vimg_over_white(mask_get(v, h.mask[c]), a);
            }
        }
    }
    *out = img;
    return KITE_OK;
}
