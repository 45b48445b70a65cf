/*
 * image_jpeg.c — JPEG through libjpeg-turbo, with EXIF orientation.
 *
 * Design:
 *   1. libjpeg reports fatal errors through error_exit, which must not return:
 *      ours longjmps back to vimg_decode_jpeg (the standard libjpeg pattern).
 *      Everything touched after setjmp lives in a struct jpeg_state so no local
 *      needs `volatile`.
 *   2. Warnings (corrupt data, premature end of file) are treated as errors: a
 *      truncated JPEG must be reported, not silently grey-filled.
 *   3. The header (and the APP1 marker, saved with jpeg_save_markers) is read
 *      first; the size caps are checked before the pixel buffer exists.
 *   4. CMYK/YCCK (Adobe) files are decoded to CMYK and converted with the
 *      inverted-Adobe convention R = C*K/255.
 */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>

#include "alloc.h"
#include "err.h"
#include "image_int.h"

struct jpeg_state {
    struct jpeg_error_mgr pub;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
    kite_image *img;
    uint8_t *row;
};

static void on_error_exit(j_common_ptr cinfo)
{
    struct jpeg_state *st = (struct jpeg_state *)cinfo->err;
    st->pub.format_message(cinfo, st->msg);
    longjmp(st->jmp, 1);
}

static void on_emit_message(j_common_ptr cinfo, int level)
{
    struct jpeg_state *st = (struct jpeg_state *)cinfo->err;
    if (level < 0) { /* warning: corrupt data; refuse (design rule 2) */
        st->pub.format_message(cinfo, st->msg);
        longjmp(st->jmp, 1);
    }
}

static void on_output_message(j_common_ptr cinfo)
{
    (void)cinfo; /* library code never prints */
}

static int exif_orientation(struct jpeg_decompress_struct *cinfo)
{
    jpeg_saved_marker_ptr m;
    for (m = cinfo->marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
            memcmp(m->data, "Exif\0\0", 6) == 0)
            return vimg_exif_orientation(m->data + 6, m->data_length - 6);
    }
    return 1;
}

int vimg_decode_jpeg(const uint8_t *data, size_t len, const kite_image_limits *lim,
                     kite_image **out, kite_err *err)
{
    struct jpeg_decompress_struct cinfo;
    struct jpeg_state st;
    int rc = KITE_OK, orientation;
    uint32_t w, h;

    memset(&st, 0, sizeof(st));
    cinfo.err = jpeg_std_error(&st.pub);
    st.pub.error_exit = on_error_exit;
    st.pub.emit_message = on_emit_message;
    st.pub.output_message = on_output_message;
    if (setjmp(st.jmp)) {
        rc = kite_err_set(err, KITE_ECORRUPT, "JPEG: %s", st.msg);
        goto out_destroy;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);
    rc = vimg_check_dims(cinfo.image_width, cinfo.image_height, lim, "JPEG", err);
    if (rc != KITE_OK)
        goto out_destroy;
    orientation = exif_orientation(&cinfo);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK)
        cinfo.out_color_space = JCS_CMYK;
    else
        cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    w = cinfo.output_width;
    h = cinfo.output_height;
    rc = vimg_check_dims(w, h, lim, "JPEG", err);
    if (rc != KITE_OK)
        goto out_destroy;
    rc = vimg_alloc(w, h, KITE_IMAGE_JPEG, &st.img, err);
    if (rc != KITE_OK)
        goto out_destroy;
    if (cinfo.out_color_space == JCS_CMYK) {
        st.row = kite_malloc((size_t)w * 4);
        if (!st.row) {
            rc = kite_err_set(err, KITE_ENOMEM, "JPEG: out of memory for a CMYK row");
            goto out_destroy;
        }
    }
    while (cinfo.output_scanline < h) {
        uint32_t y = cinfo.output_scanline;
        uint8_t *dst = st.img->rgb + (size_t)y * w * 3;
        JSAMPROW rowp = st.row ? st.row : dst;
        if (jpeg_read_scanlines(&cinfo, &rowp, 1) != 1) {
            rc = kite_err_set(err, KITE_ECORRUPT, "JPEG: truncated at row %u of %u", y, h);
            goto out_destroy;
        }
        if (st.row) {
            for (uint32_t x = 0; x < w; x++) {
                unsigned k = st.row[4 * x + 3];
                for (int c = 0; c < 3; c++)
                    dst[3 * x + c] = (uint8_t)((st.row[4 * x + c] * k + 127) / 255);
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    if (orientation != 1) {
        rc = vimg_apply_orientation(&st.img, orientation, err);
        if (rc != KITE_OK)
            goto out_destroy;
    }
    *out = st.img;
    st.img = NULL;
out_destroy:
    jpeg_destroy_decompress(&cinfo);
    kite_free(st.row);
    kite_image_free(st.img);
    return rc;
}
