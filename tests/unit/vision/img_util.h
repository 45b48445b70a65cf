/* img_util.h — encoders for the vision tests: every test image is generated here. */
#ifndef KITE_TEST_VISION_IMG_UTIL_H
#define KITE_TEST_VISION_IMG_UTIL_H

#include <stddef.h>
#include <stdint.h>

struct blob {
    uint8_t *data;
    size_t len;
};

/* channels 1 (grey), 3 (RGB) or 4 (RGBA), 8-bit. */
struct blob enc_png(const uint8_t *px, int w, int h, int channels);
/* RGB; exif_orientation 0 = no APP1. */
struct blob enc_jpeg(const uint8_t *rgb, int w, int h, int quality, int exif_orientation);
/* RGBA lossless, or RGB lossy when lossy != 0. */
struct blob enc_webp(const uint8_t *px, int w, int h, int lossy);
/* Palette indices (ncolors <= 256, palette RGB), transparent index or -1. */
struct blob enc_gif(const uint8_t *idx, int w, int h, const uint8_t *palette, int ncolors,
                    int transparent, int interlace);
/* bpp 24 / 32 (BGRA via BI_RGB, alpha ignored) / 8 (palette); top_down flips row order. */
struct blob enc_bmp(const uint8_t *rgb, int w, int h, int bpp, int top_down);
void blob_free(struct blob *b);

#endif
