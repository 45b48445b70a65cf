/*
 * test_image.c — decoders (every format generated in the test), EXIF rotation,
 * alpha compositing, size caps before allocation, truncated and bit-flipped
 * inputs, resize exactness, fit and normalisation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "img_util.h"
#include "test.h"
#include "vision.h"

/* A w x h RGB pattern with distinct values everywhere. */
static uint8_t *pattern(int w, int h)
{
    uint8_t *p = malloc((size_t)w * (size_t)h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * (size_t)w + (size_t)x) * 3;
            q[0] = (uint8_t)(x * 17 + y * 3);
            q[1] = (uint8_t)(y * 29 + 7);
            q[2] = (uint8_t)(x * 5 + y * 11 + 100);
        }
    return p;
}

static kite_image *decode_ok(const struct blob *b, int fmt)
{
    kite_image *img = NULL;
    kite_err err;
    kite_err_clear(&err);
    ASSERT(b->data != NULL);
    ASSERT_EQ_INT(kite_image_sniff(b->data, b->len), fmt);
    if (kite_image_decode(b->data, b->len, NULL, &img, &err) != KITE_OK)
        TEST_FAIL_("decode %s failed: %s", kite_image_format_name(fmt), err.message);
    ASSERT_EQ_INT(img->format, fmt);
    return img;
}

static void assert_pixels(const kite_image *img, const uint8_t *rgb, int w, int h, int tol)
{
    ASSERT_EQ_INT(img->width, w);
    ASSERT_EQ_INT(img->height, h);
    for (size_t i = 0; i < (size_t)w * (size_t)h * 3; i++)
        if (abs((int)img->rgb[i] - (int)rgb[i]) > tol)
            TEST_FAIL_("pixel byte %zu: %u vs expected %u (tol %d)", i, img->rgb[i], rgb[i], tol);
}

TEST(sniff_magic_bytes)
{
    ASSERT_EQ_INT(kite_image_sniff("\xff\xd8\xff\xe0", 4), KITE_IMAGE_JPEG);
    ASSERT_EQ_INT(kite_image_sniff("\x89PNG\r\n\x1a\n", 8), KITE_IMAGE_PNG);
    ASSERT_EQ_INT(kite_image_sniff("RIFF\0\0\0\0WEBP", 12), KITE_IMAGE_WEBP);
    ASSERT_EQ_INT(kite_image_sniff("GIF89a", 6), KITE_IMAGE_GIF);
    ASSERT_EQ_INT(kite_image_sniff("BM", 2), KITE_IMAGE_BMP);
    ASSERT_EQ_INT(kite_image_sniff("hello", 5), KITE_IMAGE_UNKNOWN);
    ASSERT_EQ_INT(kite_image_sniff("\x89PN", 3), KITE_IMAGE_UNKNOWN);
}

TEST(unknown_format_refused)
{
    kite_image *img = NULL;
    kite_err err;
    kite_err_clear(&err);
    ASSERT_EQ_INT(kite_image_decode("not an image", 12, NULL, &img, &err), KITE_EUNSUPPORTED);
    ASSERT(img == NULL);
    ASSERT_CONTAINS(err.message, "unrecognised image format");
    ASSERT_EQ_INT(kite_image_decode(NULL, 0, NULL, &img, &err), KITE_EUNSUPPORTED);
}

TEST(png_rgb_grey_exact)
{
    uint8_t *p = pattern(13, 7), grey[13 * 7], grey_rgb[13 * 7 * 3];
    struct blob b = enc_png(p, 13, 7, 3);
    kite_image *img = decode_ok(&b, KITE_IMAGE_PNG);
    assert_pixels(img, p, 13, 7, 0);
    kite_image_free(img);
    blob_free(&b);
    for (int i = 0; i < 13 * 7; i++) {
        grey[i] = (uint8_t)(i * 3);
        grey_rgb[3 * i] = grey_rgb[3 * i + 1] = grey_rgb[3 * i + 2] = grey[i];
    }
    b = enc_png(grey, 13, 7, 1);
    img = decode_ok(&b, KITE_IMAGE_PNG);
    assert_pixels(img, grey_rgb, 13, 7, 0);
    kite_image_free(img);
    blob_free(&b);
    free(p);
}

TEST(png_alpha_composited_on_white)
{
    /* opaque red, fully transparent blue, half-transparent black */
    uint8_t rgba[3 * 4] = {255, 0, 0, 255, 0, 0, 255, 0, 0, 0, 0, 128};
    uint8_t want[9] = {255, 0, 0, 255, 255, 255, 127, 127, 127};
    struct blob b = enc_png(rgba, 3, 1, 4);
    kite_image *img = decode_ok(&b, KITE_IMAGE_PNG);
    assert_pixels(img, want, 3, 1, 0);
    kite_image_free(img);
    blob_free(&b);
}

TEST(jpeg_decodes_close)
{
    /* flat 8x8 blocks survive quality-100 JPEG almost exactly */
    int w = 32, h = 16;
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)((x / 8) * 60);
            q[1] = (uint8_t)((y / 8) * 200);
            q[2] = 90;
        }
    struct blob b = enc_jpeg(p, w, h, 100, 0);
    kite_image *img = decode_ok(&b, KITE_IMAGE_JPEG);
    assert_pixels(img, p, w, h, 6);
    kite_image_free(img);
    blob_free(&b);
    free(p);
}

/* Quadrants: TL red, TR green, BL blue, BR white; each 16x16 so JPEG keeps them flat. */
static void quad_color(int qx, int qy, uint8_t *c)
{
    static const uint8_t cols[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};
    memcpy(c, cols[qy * 2 + qx], 3);
}

TEST(jpeg_exif_orientation_all)
{
    int w = 32, h = 32 + 16; /* 32 wide, 48 tall: quadrants 16x24 */
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            quad_color(x >= 16, y >= 24, p + ((size_t)y * w + x) * 3);
    for (int o = 1; o <= 8; o++) {
        struct blob b = enc_jpeg(p, w, h, 95, o);
        kite_image *img = decode_ok(&b, KITE_IMAGE_JPEG);
        bool swap = o >= 5;
        ASSERT_EQ_INT(img->width, swap ? h : w);
        ASSERT_EQ_INT(img->height, swap ? w : h);
        /* for each display quadrant centre, find which stored quadrant it shows */
        for (int dy = 0; dy < 2; dy++)
            for (int dx = 0; dx < 2; dx++) {
                uint32_t cx = img->width / 4 + (uint32_t)dx * img->width / 2;
                uint32_t cy = img->height / 4 + (uint32_t)dy * img->height / 2;
                const uint8_t *px = img->rgb + ((size_t)cy * img->width + cx) * 3;
                int sx = dx, sy = dy; /* stored quadrant for this orientation */
                uint8_t want[3];
                switch (o) {
                case 2: sx = 1 - dx; break;
                case 3: sx = 1 - dx; sy = 1 - dy; break;
                case 4: sy = 1 - dy; break;
                case 5: sx = dy; sy = dx; break;
                case 6: sx = dy; sy = 1 - dx; break;
                case 7: sx = 1 - dy; sy = 1 - dx; break;
                case 8: sx = 1 - dy; sy = dx; break;
                default: break;
                }
                quad_color(sx, sy, want);
                for (int c = 0; c < 3; c++)
                    if (abs(px[c] - want[c]) > 12)
                        TEST_FAIL_("orientation %d quadrant (%d,%d) channel %d: %u vs %u", o, dx,
                                   dy, c, px[c], want[c]);
            }
        kite_image_free(img);
        blob_free(&b);
    }
    free(p);
}

TEST(webp_lossless_and_alpha)
{
    uint8_t rgba[4 * 4 * 4], want[4 * 4 * 3];
    for (int i = 0; i < 16; i++) {
        rgba[4 * i] = (uint8_t)(i * 16);
        rgba[4 * i + 1] = (uint8_t)(255 - i * 16);
        rgba[4 * i + 2] = 7;
        rgba[4 * i + 3] = i == 5 ? 0 : 255;
        for (int c = 0; c < 3; c++)
            want[3 * i + c] = i == 5 ? 255 : rgba[4 * i + c];
    }
    struct blob b = enc_webp(rgba, 4, 4, 0);
    kite_image *img = decode_ok(&b, KITE_IMAGE_WEBP);
    assert_pixels(img, want, 4, 4, 0);
    kite_image_free(img);
    blob_free(&b);
    {
        uint8_t flat[16 * 16 * 3];
        memset(flat, 120, sizeof(flat));
        b = enc_webp(flat, 16, 16, 1);
        img = decode_ok(&b, KITE_IMAGE_WEBP);
        assert_pixels(img, flat, 16, 16, 4);
        kite_image_free(img);
        blob_free(&b);
    }
}

TEST(gif_first_frame_transparency_interlace)
{
    uint8_t pal[4 * 3] = {10, 20, 30, 200, 100, 0, 0, 0, 0, 1, 2, 3};
    uint8_t idx[5 * 9], want[5 * 9 * 3];
    for (int i = 0; i < 45; i++) {
        idx[i] = (uint8_t)(i % 4);
        for (int c = 0; c < 3; c++)
            want[3 * i + c] = idx[i] == 2 ? 255 : pal[3 * idx[i] + c];
    }
    for (int il = 0; il < 2; il++) {
        struct blob b = enc_gif(idx, 5, 9, pal, 4, 2, il);
        kite_image *img = decode_ok(&b, KITE_IMAGE_GIF);
        assert_pixels(img, want, 5, 9, 0);
        kite_image_free(img);
        blob_free(&b);
    }
}

TEST(bmp_24_32_8_bit_both_directions)
{
    uint8_t *p = pattern(5, 3), grey[5 * 3 * 3];
    for (int td = 0; td < 2; td++) {
        for (int bpp = 24; bpp <= 32; bpp += 8) {
            struct blob b = enc_bmp(p, 5, 3, bpp, td);
            kite_image *img = decode_ok(&b, KITE_IMAGE_BMP);
            assert_pixels(img, p, 5, 3, 0);
            kite_image_free(img);
            blob_free(&b);
        }
        for (int i = 0; i < 15; i++)
            grey[3 * i] = grey[3 * i + 1] = grey[3 * i + 2] = p[3 * i];
        struct blob b = enc_bmp(p, 5, 3, 8, td);
        kite_image *img = decode_ok(&b, KITE_IMAGE_BMP);
        assert_pixels(img, grey, 5, 3, 0);
        kite_image_free(img);
        blob_free(&b);
    }
    free(p);
}

TEST(bmp_strict_bounds)
{
    uint8_t *p = pattern(4, 4);
    struct blob b = enc_bmp(p, 4, 4, 8, 0);
    kite_image *img = NULL;
    kite_err err;
    kite_err_clear(&err);
    /* palette of 2 colours but pixel indices up to 255 */
    b.data[46] = 2;
    b.data[47] = 0;
    ASSERT_EQ_INT(kite_image_decode(b.data, b.len, NULL, &img, &err), KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "palette index");
    blob_free(&b);
    b = enc_bmp(p, 4, 4, 24, 0);
    b.data[28] = 16; /* 16 bpp unsupported */
    ASSERT_EQ_INT(kite_image_decode(b.data, b.len, NULL, &img, &err), KITE_EUNSUPPORTED);
    b.data[28] = 24;
    ASSERT_EQ_INT(kite_image_decode(b.data, b.len - 1, NULL, &img, &err), KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "truncated");
    ASSERT(img == NULL);
    blob_free(&b);
    free(p);
}

TEST(load_sniffs_not_file_name)
{
    char path[512];
    uint8_t *p = pattern(6, 6);
    struct blob b = enc_png(p, 6, 6, 3);
    FILE *f;
    kite_image *img = NULL;
    kite_err err;
    snprintf(path, sizeof(path), "%s/photo.jpg", kite_test_tmpdir());
    f = fopen(path, "wb");
    fwrite(b.data, 1, b.len, f);
    fclose(f);
    ASSERT_OK(kite_image_load(path, NULL, &img, &err));
    ASSERT_EQ_INT(img->format, KITE_IMAGE_PNG);
    assert_pixels(img, p, 6, 6, 0);
    kite_image_free(img);
    snprintf(path, sizeof(path), "%s/missing.png", kite_test_tmpdir());
    ASSERT_EQ_INT(kite_image_load(path, NULL, &img, &err), KITE_EIO);
    blob_free(&b);
    free(p);
}

/* Patch a header to claim 60000 x 60000 pixels: must be refused before allocation. */
static void expect_limit(struct blob *b, const char *what)
{
    kite_image *img = NULL;
    kite_err err;
    uint64_t before;
    kite_err_clear(&err);
    kite_alloc_fail_at(1000000, false);
    before = kite_alloc_count();
    if (kite_image_decode(b->data, b->len, NULL, &img, &err) != KITE_ELIMIT)
        TEST_FAIL_("%s: expected KITE_ELIMIT, got '%s'", what, err.message);
    ASSERT(img == NULL);
    ASSERT_CONTAINS(err.message, "60000");
    /* at most a handful of small decoder-state allocations happened */
    ASSERT(kite_alloc_count() - before < 16);
    kite_alloc_fail_at(0, false);
}

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void be16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

TEST(size_cap_refused_before_allocation)
{
    uint8_t *p = pattern(16, 16), idx[256], pal[6] = {0, 0, 0, 255, 255, 255};
    struct blob b;
    memset(idx, 1, sizeof(idx));
    /* PNG: IHDR width/height at 16/20, CRC over type+data at 29 */
    b = enc_png(p, 16, 16, 3);
    b.data[16] = 0; b.data[17] = 0; be16(b.data + 18, 60000);
    b.data[20] = 0; b.data[21] = 0; be16(b.data + 22, 60000);
    {
        uint32_t crc = crc32_png(b.data + 12, 17);
        b.data[29] = (uint8_t)(crc >> 24); b.data[30] = (uint8_t)(crc >> 16);
        b.data[31] = (uint8_t)(crc >> 8); b.data[32] = (uint8_t)crc;
    }
    expect_limit(&b, "PNG");
    blob_free(&b);
    /* JPEG: SOF0 marker FF C0, height at +5, width at +7 */
    b = enc_jpeg(p, 16, 16, 90, 0);
    for (size_t i = 2; i + 9 < b.len; i++)
        if (b.data[i] == 0xFF && b.data[i + 1] == 0xC0) {
            be16(b.data + i + 5, 60000);
            be16(b.data + i + 7, 60000);
            break;
        }
    expect_limit(&b, "JPEG");
    blob_free(&b);
    /* BMP */
    b = enc_bmp(p, 16, 16, 24, 0);
    b.data[18] = 0x60; b.data[19] = 0xEA; b.data[22] = 0x60; b.data[23] = 0xEA; /* 60000 */
    expect_limit(&b, "BMP");
    blob_free(&b);
    /* GIF: logical screen at 6..9 */
    b = enc_gif(idx, 16, 16, pal, 2, -1, 0);
    b.data[6] = 0x60; b.data[7] = 0xEA; b.data[8] = 0x60; b.data[9] = 0xEA;
    expect_limit(&b, "GIF");
    blob_free(&b);
    free(p);
}

TEST(configurable_caps)
{
    uint8_t *p = pattern(20, 10);
    struct blob b = enc_png(p, 20, 10, 3);
    kite_image_limits lim;
    kite_image *img = NULL;
    kite_err err;
    kite_image_limits_init(&lim);
    ASSERT_EQ_INT(lim.max_side, 8192);
    ASSERT_EQ_INT(lim.max_pixels, 40000000);
    lim.max_side = 19;
    ASSERT_EQ_INT(kite_image_decode(b.data, b.len, &lim, &img, &err), KITE_ELIMIT);
    ASSERT_CONTAINS(err.message, "per side");
    lim.max_side = 20;
    lim.max_pixels = 199;
    ASSERT_EQ_INT(kite_image_decode(b.data, b.len, &lim, &img, &err), KITE_ELIMIT);
    lim.max_pixels = 200;
    ASSERT_OK(kite_image_decode(b.data, b.len, &lim, &img, &err));
    kite_image_free(img);
    blob_free(&b);
    free(p);
}

/* Every prefix and many random bit flips: never crash, always a clean result. */
static void mutate_all(struct blob *b, const char *what)
{
    kite_image_limits lim;
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    int errors = 0;
    kite_image_limits_init(&lim);
    lim.max_pixels = 1 << 20;
    lim.max_side = 2048;
    for (size_t n = 0; n < b->len; n += (b->len > 600 ? 3 : 1)) {
        kite_image *img = NULL;
        kite_err err;
        kite_err_clear(&err);
        int rc = kite_image_decode(b->data, n, &lim, &img, &err);
        if (rc == KITE_OK) {
            ASSERT(img && img->width && img->height);
        } else {
            ASSERT(img == NULL);
            ASSERT(err.message[0] != 0);
            errors++;
        }
        kite_image_free(img);
    }
    for (int t = 0; t < 400; t++) {
        uint8_t *copy = malloc(b->len);
        kite_image *img = NULL;
        kite_err err;
        memcpy(copy, b->data, b->len);
        for (int k = 0; k < 1 + t % 4; k++) {
            seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
            copy[seed % b->len] ^= (uint8_t)(1u << (seed >> 32) % 8);
        }
        kite_err_clear(&err);
        if (kite_image_decode(copy, b->len, &lim, &img, &err) != KITE_OK)
            ASSERT(err.message[0] != 0 && img == NULL);
        kite_image_free(img);
        free(copy);
    }
    ASSERT(errors > 0);
    (void)what;
}

TEST_TIMEOUT(truncated_and_bitflipped_never_crash, 120)
{
    uint8_t *p = pattern(24, 20), pal[6] = {0, 0, 0, 255, 255, 255}, idx[24 * 20];
    uint8_t rgba[24 * 20 * 4];
    struct blob b;
    for (int i = 0; i < 24 * 20; i++) {
        idx[i] = (uint8_t)(i & 1);
        memcpy(rgba + 4 * i, p + 3 * i, 3);
        rgba[4 * i + 3] = (uint8_t)(i * 7);
    }
    b = enc_png(rgba, 24, 20, 4); mutate_all(&b, "png"); blob_free(&b);
    b = enc_jpeg(p, 24, 20, 80, 6); mutate_all(&b, "jpeg"); blob_free(&b);
    b = enc_webp(rgba, 24, 20, 0); mutate_all(&b, "webp-lossless"); blob_free(&b);
    b = enc_webp(p, 24, 20, 1); mutate_all(&b, "webp-lossy"); blob_free(&b);
    b = enc_gif(idx, 24, 20, pal, 2, 1, 1); mutate_all(&b, "gif"); blob_free(&b);
    b = enc_bmp(p, 24, 20, 24, 0); mutate_all(&b, "bmp24"); blob_free(&b);
    b = enc_bmp(p, 24, 20, 8, 1); mutate_all(&b, "bmp8"); blob_free(&b);
    free(p);
}

/* ------------------------------------------------------------------ resize */

static kite_image *make(int w, int h, const uint8_t *grey)
{
    kite_image *img = NULL;
    ASSERT_OK(kite_image_new((uint32_t)w, (uint32_t)h, &img));
    for (int i = 0; i < w * h; i++)
        img->rgb[3 * i] = img->rgb[3 * i + 1] = img->rgb[3 * i + 2] = grey[i];
    return img;
}

TEST(resize_exact_patterns)
{
    kite_err err;
    kite_image *src, *dst = NULL;
    /* uniform stays uniform at any size */
    uint8_t flat[35];
    memset(flat, 77, sizeof(flat));
    src = make(7, 5, flat);
    ASSERT_OK(kite_image_resize(src, 3, 11, &dst, &err));
    for (size_t i = 0; i < 3 * 11 * 3; i++)
        ASSERT_EQ_INT(dst->rgb[i], 77);
    kite_image_free(dst);
    kite_image_free(src);
    /* 4x4 -> 2x2 is an exact 2x2 box average */
    {
        uint8_t g[16] = {0, 100, 10, 20, 200, 100, 30, 40, 1, 3, 50, 50, 5, 7, 50, 54};
        src = make(4, 4, g);
        ASSERT_OK(kite_image_resize(src, 2, 2, &dst, &err));
        ASSERT_EQ_INT(dst->rgb[0], 100);
        ASSERT_EQ_INT(dst->rgb[3], 25);
        ASSERT_EQ_INT(dst->rgb[6], 4);
        ASSERT_EQ_INT(dst->rgb[9], 51);
        kite_image_free(dst);
        kite_image_free(src);
    }
    /* 3 -> 2: fractional area weights (1, .5)/1.5 and (.5, 1)/1.5 */
    {
        uint8_t g[3] = {0, 90, 180};
        src = make(3, 1, g);
        ASSERT_OK(kite_image_resize(src, 2, 1, &dst, &err));
        ASSERT_EQ_INT(dst->rgb[0], 30);
        ASSERT_EQ_INT(dst->rgb[3], 150);
        kite_image_free(dst);
        kite_image_free(src);
    }
    /* 2 -> 4 bilinear, half-pixel centres: 0,100 -> 0,25,75,100 */
    {
        uint8_t g[2] = {0, 100};
        src = make(2, 1, g);
        ASSERT_OK(kite_image_resize(src, 4, 1, &dst, &err));
        ASSERT_EQ_INT(dst->rgb[0], 0);
        ASSERT_EQ_INT(dst->rgb[3], 25);
        ASSERT_EQ_INT(dst->rgb[6], 75);
        ASSERT_EQ_INT(dst->rgb[9], 100);
        kite_image_free(dst);
        kite_image_free(src);
    }
    /* same size is the identity; a 1-pixel checkerboard shrinks to flat grey (antialiased) */
    {
        uint8_t g[64];
        for (int i = 0; i < 64; i++)
            g[i] = ((i % 8) + (i / 8)) % 2 ? 255 : 0;
        src = make(8, 8, g);
        ASSERT_OK(kite_image_resize(src, 8, 8, &dst, &err));
        ASSERT(memcmp(dst->rgb, src->rgb, 8 * 8 * 3) == 0);
        kite_image_free(dst);
        ASSERT_OK(kite_image_resize(src, 3, 3, &dst, &err));
        for (int i = 0; i < 27; i++)
            ASSERT(abs(dst->rgb[i] - 128) <= 15);
        kite_image_free(dst);
        kite_image_free(src);
    }
}

TEST(fit_crop_pad_and_tensor)
{
    kite_err err;
    kite_image *src = NULL, *dst = NULL;
    kite_preprocess pp;
    float t[4 * 4 * 3];
    /* 8x4 image: left half red, right half blue */
    ASSERT_OK(kite_image_new(8, 4, &src));
    for (int i = 0; i < 32; i++) {
        src->rgb[3 * i] = (i % 8) < 4 ? 255 : 0;
        src->rgb[3 * i + 2] = (i % 8) < 4 ? 0 : 255;
    }
    kite_preprocess_init(&pp);
    pp.width = pp.height = 4;
    ASSERT_OK(kite_image_fit(src, &pp, &dst, &err)); /* centre crop of the 8x4 */
    ASSERT_EQ_INT(dst->width, 4);
    ASSERT_EQ_INT(dst->rgb[0], 255);      /* column 2 of the source: red */
    ASSERT_EQ_INT(dst->rgb[3 * 3 + 2], 255); /* column 5: blue */
    kite_image_free(dst);
    pp.fit = KITE_FIT_PAD;
    pp.pad_rgb[1] = 9;
    ASSERT_OK(kite_image_fit(src, &pp, &dst, &err)); /* 4x2 centred, rows 0 and 3 padding */
    ASSERT_EQ_INT(dst->rgb[1], 9);
    ASSERT_EQ_INT(dst->rgb[(3 * 4) * 3 + 1], 9);
    ASSERT_EQ_INT(dst->rgb[(1 * 4) * 3], 255);
    ASSERT_EQ_INT(dst->rgb[(1 * 4 + 3) * 3 + 2], 255);
    /* normalisation, channel order and layout */
    pp.mean[0] = 0.5f;
    pp.std[0] = 0.5f;
    ASSERT_OK(kite_image_to_tensor(dst, &pp, t, &err));
    ASSERT_NEAR(t[4], (1.0 - 0.5) / 0.5, 1e-6);         /* NCHW: R plane, pixel (1,0) */
    ASSERT_NEAR(t[16 + 0], 9 / 255.0, 1e-6);            /* G plane pixel 0 */
    pp.channel_order = KITE_BGR;
    pp.layout = KITE_NHWC;
    pp.mean[0] = 0;
    pp.std[0] = 1;
    ASSERT_OK(kite_image_to_tensor(dst, &pp, t, &err));
    ASSERT_NEAR(t[4 * 3 + 2], 1.0, 1e-6); /* pixel 4 (red), last channel is R */
    ASSERT_NEAR(t[4 * 3 + 0], 0.0, 1e-6);
    pp.width = 5;
    ASSERT_EQ_INT(kite_image_to_tensor(dst, &pp, t, &err), KITE_EINVAL);
    kite_image_free(dst);
    kite_image_free(src);
}
