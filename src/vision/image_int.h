/*
 * image_int.h — private helpers shared by the image decoders (image_*.c).
 *
 * Invariants every decoder keeps:
 *   1. The header is parsed and vimg_check_dims() called BEFORE any allocation
 *      proportional to the image size.
 *   2. Every error returns KITE_ECORRUPT (malformed/truncated), KITE_ELIMIT
 *      (over the caps), KITE_EUNSUPPORTED (valid but unsupported variant) or
 *      KITE_ENOMEM, with a message naming the format; no decoder ever aborts.
 *   3. Output is 8-bit RGB; alpha is composited onto white with vimg_over_white().
 */
#ifndef KITE_VISION_IMAGE_INT_H
#define KITE_VISION_IMAGE_INT_H

#include <stdint.h>

#include "vision.h"

int vimg_check_dims(uint64_t width, uint64_t height, const kite_image_limits *lim,
                    const char *fmt_name, kite_err *err);
/* Allocate an image (uninitialised pixels).  Returns KITE_OK or KITE_ENOMEM. */
int vimg_alloc(uint32_t width, uint32_t height, int format, kite_image **out, kite_err *err);

/* c over white with alpha a, rounded. */
static inline uint8_t vimg_over_white(uint8_t c, uint8_t a)
{
    return (uint8_t)((c * (unsigned)a + 255u * (255u - a) + 127u) / 255u);
}

int vimg_decode_jpeg(const uint8_t *data, size_t len, const kite_image_limits *lim,
                     kite_image **out, kite_err *err);
int vimg_decode_png(const uint8_t *data, size_t len, const kite_image_limits *lim,
                    kite_image **out, kite_err *err);
int vimg_decode_webp(const uint8_t *data, size_t len, const kite_image_limits *lim,
                     kite_image **out, kite_err *err);
int vimg_decode_gif(const uint8_t *data, size_t len, const kite_image_limits *lim,
                    kite_image **out, kite_err *err);
int vimg_decode_bmp(const uint8_t *data, size_t len, const kite_image_limits *lim,
                    kite_image **out, kite_err *err);

/* EXIF: orientation 1..8 from a JPEG APP1 payload (after "Exif\0\0"); 1 if absent/invalid. */
int vimg_exif_orientation(const uint8_t *tiff, size_t len);
/* Apply an EXIF orientation (2..8) to *img, replacing it. */
int vimg_apply_orientation(kite_image **img, int orientation, kite_err *err);

#endif
