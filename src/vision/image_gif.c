/*
 * image_gif.c — GIF, first frame only, through giflib's record API.
 *
 * Design:
 *   1. We do not use DGifSlurp: it decodes every frame of an animation and
 *      sizes rasters from frame descriptors before we could check them.  We
 *      walk records until the first image, check the logical screen and the
 *      frame against the caps, then decode that frame line by line.
 *   2. The canvas is the logical screen (or the frame if the screen is 0x0);
 *      pixels outside the frame and transparent pixels (Graphic Control
 *      Extension) are white, as if composited onto white.
 *   3. Colour indices outside the colour map decode as black (what browsers do).
 */
#include <string.h>

#include <gif_lib.h>

#include "alloc.h"
#include "err.h"
#include "image_int.h"

struct gif_src {
    const uint8_t *data;
    size_t len, pos;
};

static int on_gif_read(GifFileType *g, GifByteType *out, int n)
{
    struct gif_src *s = g->UserData;
    size_t avail = s->len - s->pos;
    size_t take = n < 0 ? 0 : (size_t)n;
    if (take > avail)
        take = avail;
    memcpy(out, s->data + s->pos, take);
    s->pos += take;
    return (int)take;
}

static int gif_fail(kite_err *err, GifFileType *g, const char *what)
{
    const char *why = g ? GifErrorString(g->Error) : NULL;
    return kite_err_set(err, KITE_ECORRUPT, "GIF: %s (%s)", what, why ? why : "truncated");
}

static int gif_read_frame(GifFileType *g, int transparent, const kite_image_limits *lim,
                          kite_image **out, kite_err *err)
{
    static const int ioff[4] = {0, 4, 2, 1}, istep[4] = {8, 8, 4, 2};
    const GifImageDesc *d = &g->Image;
    const ColorMapObject *cm = d->ColorMap ? d->ColorMap : g->SColorMap;
    uint32_t cw = (uint32_t)g->SWidth, ch = (uint32_t)g->SHeight;
    uint8_t *line = NULL;
    kite_image *img = NULL;
    int rc;

    if (d->Width <= 0 || d->Height <= 0 || d->Left < 0 || d->Top < 0)
        return kite_err_set(err, KITE_ECORRUPT, "GIF: invalid frame geometry");
    if (cw == 0 || ch == 0) {
        cw = (uint32_t)d->Width;
        ch = (uint32_t)d->Height;
    }
    rc = vimg_check_dims(cw, ch, lim, "GIF", err);
    if (rc == KITE_OK)
        rc = vimg_check_dims((uint32_t)d->Width, (uint32_t)d->Height, lim, "GIF frame", err);
    if (rc != KITE_OK)
        return rc;
    if (!cm || cm->ColorCount <= 0 || !cm->Colors)
        return kite_err_set(err, KITE_ECORRUPT, "GIF: frame has no colour map");
    rc = vimg_alloc(cw, ch, KITE_IMAGE_GIF, &img, err);
    if (rc != KITE_OK)
        return rc;
    memset(img->rgb, 255, (size_t)cw * ch * 3);
    line = kite_malloc((size_t)d->Width);
    if (!line) {
        rc = kite_err_set(err, KITE_ENOMEM, "GIF: out of memory for a line");
        goto out_free;
    }
    for (int pass = 0; pass < (d->Interlace ? 4 : 1); pass++) {
        int start = d->Interlace ? ioff[pass] : 0, step = d->Interlace ? istep[pass] : 1;
        for (int y = start; y < d->Height; y += step) {
            uint32_t cy = (uint32_t)d->Top + (uint32_t)y;
            if (DGifGetLine(g, line, d->Width) != GIF_OK) {
                rc = gif_fail(err, g, "cannot decode image data");
                goto out_free;
            }
            if (cy >= ch)
                continue;
            for (int x = 0; x < d->Width; x++) {
                uint32_t cx = (uint32_t)d->Left + (uint32_t)x;
                uint8_t *px;
                if (cx >= cw || line[x] == transparent)
                    continue;
                px = img->rgb + ((size_t)cy * cw + cx) * 3;
                if (line[x] < cm->ColorCount) {
                    px[0] = cm->Colors[line[x]].Red;
                    px[1] = cm->Colors[line[x]].Green;
                    px[2] = cm->Colors[line[x]].Blue;
                } else {
                    px[0] = px[1] = px[2] = 0;
                }
            }
        }
    }
    *out = img;
    img = NULL;
out_free:
    kite_free(line);
    kite_image_free(img);
    return rc;
}

int vimg_decode_gif(const uint8_t *data, size_t len, const kite_image_limits *lim,
                    kite_image **out, kite_err *err)
{
    struct gif_src src = {data, len, 0};
    int gerr = 0, rc = KITE_OK, transparent = -1;
    GifFileType *g = DGifOpen(&src, on_gif_read, &gerr);
    if (!g)
        return kite_err_set(err, KITE_ECORRUPT, "GIF: cannot read header (%s)",
                            GifErrorString(gerr) ? GifErrorString(gerr) : "unknown");
    if (g->SWidth > 0 && g->SHeight > 0) {
        rc = vimg_check_dims((uint32_t)g->SWidth, (uint32_t)g->SHeight, lim, "GIF", err);
        if (rc != KITE_OK)
            goto out_close;
    }
    for (;;) {
        GifRecordType type;
        if (DGifGetRecordType(g, &type) != GIF_OK) {
            rc = gif_fail(err, g, "cannot read record");
            goto out_close;
        }
        if (type == IMAGE_DESC_RECORD_TYPE) {
            if (DGifGetImageDesc(g) != GIF_OK) {
                rc = gif_fail(err, g, "cannot read image descriptor");
                goto out_close;
            }
            rc = gif_read_frame(g, transparent, lim, out, err);
            goto out_close;
        } else if (type == EXTENSION_RECORD_TYPE) {
            int code;
            GifByteType *ext;
            if (DGifGetExtension(g, &code, &ext) != GIF_OK) {
                rc = gif_fail(err, g, "cannot read extension");
                goto out_close;
            }
            if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4)
                transparent = (ext[1] & 1) ? ext[4] : -1;
            while (ext) {
                if (DGifGetExtensionNext(g, &ext) != GIF_OK) {
                    rc = gif_fail(err, g, "cannot read extension block");
                    goto out_close;
                }
            }
        } else if (type == TERMINATE_RECORD_TYPE) {
            rc = kite_err_set(err, KITE_ECORRUPT, "GIF: file has no image");
            goto out_close;
        } else {
            rc = kite_err_set(err, KITE_ECORRUPT, "GIF: unknown record type %d", (int)type);
            goto out_close;
        }
    }
out_close:
    DGifCloseFile(g, &gerr);
    return rc;
}
