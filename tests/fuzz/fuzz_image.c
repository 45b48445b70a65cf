/*
 * fuzz_image.c — arbitrary bytes through the sniffing image decoder
 * (JPEG/PNG/WebP/GIF/BMP) with small caps, then a resize of whatever decoded.
 * Seed corpus: tests/fuzz/corpus/image (tiny valid files of every format).
 * Links: kite_vision, kite_core (+ libjpeg, libpng, libwebp, libgif, protobuf-c, openblas).
 */
#include <stddef.h>
#include <stdint.h>

#include "vision.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kite_image_limits lim;
    kite_image *img = NULL, *small = NULL;
    kite_err err;
    kite_image_limits_init(&lim);
    lim.max_side = 1024;
    lim.max_pixels = 1 << 18;
    if (kite_image_decode(data, size, &lim, &img, &err) == KITE_OK) {
        if (kite_image_resize(img, 7, 5, &small, &err) == KITE_OK)
            kite_image_free(small);
        kite_image_free(img);
    }
    return 0;
}
