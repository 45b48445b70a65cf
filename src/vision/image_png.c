/*
 * image_png.c — PNG through libpng, read from memory.
 *
 * Design:
 *   1. libpng errors longjmp to png_jmpbuf; our error callback copies the
 *      message first.  Warnings are ignored (ancillary-chunk CRC etc.), errors
 *      (critical CRC, truncation, bad zlib stream) are KITE_ECORRUPT.
 *   2. The caps are checked on the raw IHDR bytes before libpng starts (clear
 *      KITE_ELIMIT), png_set_user_limits() makes libpng refuse over-wide
 *      headers too, and the caps are checked again after png_read_info,
 *      before the RGBA buffer is allocated.
 *   3. Every colour type is expanded to 8-bit RGBA (palette, grey, tRNS,
 *      16-bit strip), interlacing handled by libpng, then alpha composited onto
 *      white into the RGB output.
 */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <png.h>

#include "alloc.h"
#include "err.h"
#include "image_int.h"

struct png_state {
    const uint8_t *data;
    size_t len, pos;
    char msg[256];
    uint8_t *rgba;
    png_bytep *rows;
    kite_image *img;
    size_t max_alloc; /* largest single allocation libpng may make */
};

static void on_png_error(png_structp png, png_const_charp msg)
{
    struct png_state *st = png_get_error_ptr(png);
    snprintf(st->msg, sizeof(st->msg), "%s", msg ? msg : "error");
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void on_png_read(png_structp png, png_bytep out, size_t n)
{
    struct png_state *st = png_get_io_ptr(png);
    if (n > st->len - st->pos)
        png_error(png, "file is truncated");
    memcpy(out, st->data + st->pos, n);
    st->pos += n;
}

static png_voidp on_png_malloc(png_structp png, png_alloc_size_t n)
{
    /* libpng allocates some chunks (sPLT...) at their declared length before checking
     * them; refusing oversize requests turns a 1 KiB file asking for gigabytes into a
     * clean "out of memory" error (found by fuzz_image). */
    const struct png_state *st = png_get_error_ptr(png);
    if (st && st->max_alloc && n > st->max_alloc)
        return NULL;
    return kite_malloc(n);
}

static void on_png_free(png_structp png, png_voidp p)
{
    (void)png;
    kite_free(p);
}

int vimg_decode_png(const uint8_t *data, size_t len, const kite_image_limits *lim,
                    kite_image **out, kite_err *err)
{
    struct png_state st;
    png_structp png = NULL;
    png_infop info = NULL;
    int rc = KITE_OK;
    uint32_t w, h;

    /* Our own caps first, from the IHDR bytes (signature 8, length 4, "IHDR" 4, w, h),
     * so over-large images get KITE_ELIMIT rather than libpng's generic IHDR error. */
    if (len >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        uint32_t hw = (uint32_t)data[16] << 24 | (uint32_t)data[17] << 16 |
                      (uint32_t)data[18] << 8 | data[19];
        uint32_t hh = (uint32_t)data[20] << 24 | (uint32_t)data[21] << 16 |
                      (uint32_t)data[22] << 8 | data[23];
        rc = vimg_check_dims(hw, hh, lim, "PNG", err);
        if (rc != KITE_OK)
            return rc;
    }
    memset(&st, 0, sizeof(st));
    st.data = data;
    st.len = len;
    st.max_alloc = (size_t)(lim->max_pixels < (64u << 20) ? lim->max_pixels : (64u << 20)) * 4 +
                   (1u << 20);
    png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &st, on_png_error, on_png_warning,
                                   NULL, on_png_malloc, on_png_free);
    if (!png)
        return kite_err_set(err, KITE_ENOMEM, "PNG: cannot create decoder");
    info = png_create_info_struct(png);
    if (!info) {
        rc = kite_err_set(err, KITE_ENOMEM, "PNG: cannot create decoder");
        goto out_destroy;
    }
    if (setjmp(png_jmpbuf(png))) {
        rc = kite_err_set(err, KITE_ECORRUPT, "PNG: %s", st.msg);
        goto out_destroy;
    }
    png_set_user_limits(png, lim->max_side, lim->max_side);
    /* Ancillary chunks (sPLT, iCCP, text...) are allocated at their declared length:
     * cap that too, or a 1 KiB file can ask for gigabytes (found by fuzz_image). */
    png_set_chunk_malloc_max(png, 8u << 20);
    png_set_chunk_malloc_max(png, 64u << 20);
    png_set_read_fn(png, &st, on_png_read);
    png_read_info(png, info);
    w = png_get_image_width(png, info);
    h = png_get_image_height(png, info);
    rc = vimg_check_dims(w, h, lim, "PNG", err);
    if (rc != KITE_OK)
        goto out_destroy;
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_gray_to_rgb(png);
    png_set_add_alpha(png, 0xFF, PNG_FILLER_AFTER);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 4) {
        rc = kite_err_set(err, KITE_EUNSUPPORTED, "PNG: unexpected row layout after expansion");
        goto out_destroy;
    }
    st.rgba = kite_malloc((size_t)w * h * 4);
    st.rows = kite_malloc(sizeof(png_bytep) * h);
    if (!st.rgba || !st.rows) {
        rc = kite_err_set(err, KITE_ENOMEM, "PNG: out of memory for %ux%u pixels", w, h);
        goto out_destroy;
    }
    for (uint32_t y = 0; y < h; y++)
        st.rows[y] = st.rgba + (size_t)y * w * 4;
    png_read_image(png, st.rows);
    rc = vimg_alloc(w, h, KITE_IMAGE_PNG, &st.img, err);
    if (rc != KITE_OK)
        goto out_destroy;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        const uint8_t *s = st.rgba + 4 * i;
        for (int c = 0; c < 3; c++)
            st.img->rgb[3 * i + c] = vimg_over_white(s[c], s[3]);
    }
    *out = st.img;
    st.img = NULL;
out_destroy:
    png_destroy_read_struct(&png, info ? &info : NULL, NULL);
    kite_free(st.rows);
    kite_free(st.rgba);
    kite_image_free(st.img);
    return rc;
}
