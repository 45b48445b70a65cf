/*
 * images_thumb.c — the small JPEG thumbnail stored with every indexed image.
 *
 * Made at index time from the already decoded image (no second decode), scaled so
 * the longer side is `side` px (never enlarged), quality 82: 4-12 KB for 160 px,
 * which keeps the base64 text well under the VarChar cap.  libjpeg's compressor
 * writes into a memory buffer (jpeg_mem_dest); its error manager is replaced so a
 * failure longjmps back here instead of calling exit().
 *
 * Threading model: no shared state; each call owns its compressor.
 */
#include <stdio.h> /* before jpeglib.h, which needs FILE and size_t */

#include <jpeglib.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "images_app.h"
#include "vision.h"

struct jerr {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
};

static void on_jpeg_error(j_common_ptr cinfo)
{
    struct jerr *e = (struct jerr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

/* Compress an RGB image; *out is malloc'ed by libjpeg and copied into kite memory. */
static int compress_rgb(const kite_image *img, uint8_t **jpeg, size_t *jpeg_len, kite_err *err)
{
    struct jpeg_compress_struct c;
    struct jerr je;
    unsigned char *mem = NULL;
    unsigned long mem_len = 0;
    volatile int rc = KITE_OK; /* set after setjmp: must survive the longjmp */

    memset(&c, 0, sizeof(c));
    c.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = on_jpeg_error;
    if (setjmp(je.jump)) {
        rc = kite_err_set(err, KITE_EINTERNAL, "JPEG thumbnail encoder failed: %s", je.msg);
        goto out_destroy;
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &mem, &mem_len);
    c.image_width = img->width;
    c.image_height = img->height;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 82, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = img->rgb + (size_t)c.next_scanline * img->width * 3;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    *jpeg = kite_malloc(mem_len ? mem_len : 1);
    if (!*jpeg) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory copying a %lu-byte thumbnail",
                          mem_len);
        goto out_destroy;
    }
    memcpy(*jpeg, mem, mem_len);
    *jpeg_len = mem_len;
out_destroy:
    jpeg_destroy_compress(&c);
    free(mem); /* allocated by libjpeg with malloc */
    return rc;
}

int images_thumb_jpeg(const kite_image *img, uint32_t side, uint8_t **jpeg, size_t *jpeg_len,
                      kite_err *err)
{
    *jpeg = NULL;
    *jpeg_len = 0;
    if (!img || img->width == 0 || img->height == 0 || side == 0)
        return kite_err_set(err, KITE_EINVAL, "thumbnail needs a non-empty image and side > 0");
    uint32_t w = img->width, h = img->height;
    if (w > side || h > side) {
        if (w >= h) {
            h = (uint32_t)((uint64_t)h * side / w);
            w = side;
        } else {
            w = (uint32_t)((uint64_t)w * side / h);
            h = side;
        }
        if (w == 0)
            w = 1;
        if (h == 0)
            h = 1;
    }
    if (w == img->width && h == img->height)
        return compress_rgb(img, jpeg, jpeg_len, err);
    kite_image *small = NULL;
    int rc = kite_image_resize(img, w, h, &small, err);
    if (rc != KITE_OK)
        return rc;
    rc = compress_rgb(small, jpeg, jpeg_len, err);
    kite_image_free(small);
    return rc;
}
