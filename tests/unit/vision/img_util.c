/* img_util.c — test-only encoders (libpng, libjpeg, libwebp, giflib, hand-written BMP). */
#include "img_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>
#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>

void blob_free(struct blob *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

struct blob enc_png(const uint8_t *px, int w, int h, int channels)
{
    png_image img;
    struct blob b = {NULL, 0};
    png_alloc_size_t sz = 0;
    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
    png_image_write_to_memory(&img, NULL, &sz, 0, px, 0, NULL);
    b.data = malloc(sz);
    if (!png_image_write_to_memory(&img, b.data, &sz, 0, px, 0, NULL)) {
        free(b.data);
        b.data = NULL;
        return b;
    }
    b.len = sz;
    return b;
}

struct blob enc_jpeg(const uint8_t *rgb, int w, int h, int quality, int exif_orientation)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL;
    unsigned long len = 0;
    struct blob b;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    c.comp_info[0].h_samp_factor = c.comp_info[0].v_samp_factor = 1; /* 4:4:4 */
    jpeg_start_compress(&c, TRUE);
    if (exif_orientation) {
        /* "Exif\0\0" + little-endian TIFF: header, IFD0 with one entry 0x0112 SHORT 1 */
        uint8_t app1[6 + 8 + 2 + 12 + 4] = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0,
                                             1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0};
        app1[24] = (uint8_t)exif_orientation;
        jpeg_write_marker(&c, JPEG_APP0 + 1, app1, sizeof(app1));
    }
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)c.next_scanline * (size_t)w * 3);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    b.data = malloc(len);
    memcpy(b.data, out, len);
    b.len = len;
    free(out);
    return b;
}

struct blob enc_webp(const uint8_t *px, int w, int h, int lossy)
{
    uint8_t *out = NULL;
    size_t len = lossy ? WebPEncodeRGB(px, w, h, w * 3, 90, &out)
                       : WebPEncodeLosslessRGBA(px, w, h, w * 4, &out);
    struct blob b;
    b.data = malloc(len);
    memcpy(b.data, out, len);
    b.len = len;
    WebPFree(out);
    return b;
}

struct gif_out {
    uint8_t *data;
    size_t len, cap;
};

static int gif_write(GifFileType *g, const GifByteType *p, int n)
{
    struct gif_out *o = g->UserData;
    if (o->len + (size_t)n > o->cap) {
        o->cap = (o->len + (size_t)n) * 2;
        o->data = realloc(o->data, o->cap);
    }
    memcpy(o->data + o->len, p, (size_t)n);
    o->len += (size_t)n;
    return n;
}

struct blob enc_gif(const uint8_t *idx, int w, int h, const uint8_t *palette, int ncolors,
                    int transparent, int interlace)
{
    struct gif_out o = {NULL, 0, 0};
    struct blob b = {NULL, 0};
    int err = 0, size = 2;
    GifFileType *g = EGifOpen(&o, gif_write, &err);
    ColorMapObject *cm;
    while (size < ncolors)
        size *= 2;
    cm = GifMakeMapObject(size, NULL);
    for (int i = 0; i < ncolors; i++) {
        cm->Colors[i].Red = palette[3 * i];
        cm->Colors[i].Green = palette[3 * i + 1];
        cm->Colors[i].Blue = palette[3 * i + 2];
    }
    EGifSetGifVersion(g, true);
    EGifPutScreenDesc(g, w, h, 8, 0, cm);
    if (transparent >= 0) {
        uint8_t gce[4] = {1, 0, 0, (uint8_t)transparent};
        EGifPutExtension(g, GRAPHICS_EXT_FUNC_CODE, 4, gce);
    }
    EGifPutImageDesc(g, 0, 0, w, h, interlace, NULL);
    if (interlace) {
        static const int off[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
        for (int p = 0; p < 4; p++)
            for (int y = off[p]; y < h; y += step[p])
                EGifPutLine(g, (GifPixelType *)(idx + (size_t)y * (size_t)w), w);
    } else {
        for (int y = 0; y < h; y++)
            EGifPutLine(g, (GifPixelType *)(idx + (size_t)y * (size_t)w), w);
    }
    EGifCloseFile(g, &err);
    GifFreeMapObject(cm);
    b.data = o.data;
    b.len = o.len;
    return b;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

struct blob enc_bmp(const uint8_t *rgb, int w, int h, int bpp, int top_down)
{
    int ncol = bpp == 8 ? 256 : 0;
    size_t stride = (((size_t)w * (size_t)bpp + 31) / 32) * 4;
    size_t off = 14 + 40 + 4 * (size_t)ncol, len = off + stride * (size_t)h;
    struct blob b;
    uint8_t *d = calloc(1, len);
    d[0] = 'B';
    d[1] = 'M';
    put32(d + 2, (uint32_t)len);
    put32(d + 10, (uint32_t)off);
    put32(d + 14, 40);
    put32(d + 18, (uint32_t)w);
    put32(d + 22, (uint32_t)(top_down ? -h : h));
    d[26] = 1;
    d[28] = (uint8_t)bpp;
    put32(d + 46, (uint32_t)ncol);
    /* 8-bit: palette entry i = grey level i; pixels use the red channel as the index */
    for (int i = 0; i < ncol; i++)
        d[54 + 4 * i] = d[55 + 4 * i] = d[56 + 4 * i] = (uint8_t)i;
    for (int y = 0; y < h; y++) {
        int sy = top_down ? y : h - 1 - y;
        uint8_t *row = d + off + (size_t)y * stride;
        for (int x = 0; x < w; x++) {
            const uint8_t *p = rgb + ((size_t)sy * (size_t)w + (size_t)x) * 3;
            if (bpp == 8) {
                row[x] = p[0];
            } else {
                uint8_t *q = row + (size_t)x * (size_t)(bpp / 8);
                q[0] = p[2];
                q[1] = p[1];
                q[2] = p[0];
                if (bpp == 32)
                    q[3] = 0x11; /* BI_RGB: the fourth byte is unused */
            }
        }
    }
    b.data = d;
    b.len = len;
    return b;
}
