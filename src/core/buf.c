/* buf.c — capped growable buffer. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "endian.h"
#include "kite/errors.h"

void kite_buf_init(struct kite_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : SIZE_MAX;
}

void kite_buf_free(struct kite_buf *b)
{
    kite_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void kite_buf_reset(struct kite_buf *b)
{
    b->len = 0;
}

int kite_buf_reserve(struct kite_buf *b, size_t extra)
{
    size_t need;
    if (!kite_add_size(b->len, extra, &need) || need > b->max)
        return KITE_ELIMIT;
    if (need <= b->cap)
        return KITE_OK;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (ncap > b->max)
        ncap = b->max;
    uint8_t *p = kite_realloc(b->data, ncap + 1);
    if (!p)
        return KITE_ENOMEM;
    b->data = p;
    b->cap = ncap;
    return KITE_OK;
}

int kite_buf_append(struct kite_buf *b, const void *p, size_t n)
{
    int rc = kite_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    if (b->data) /* an empty append to a never-grown buffer has no storage yet */
        b->data[b->len] = '\0';
    return KITE_OK;
}

int kite_buf_append_u8(struct kite_buf *b, uint8_t v)
{
    return kite_buf_append(b, &v, 1);
}

int kite_buf_append_u32(struct kite_buf *b, uint32_t v)
{
    uint8_t t[4];
    kite_put_u32(t, v);
    return kite_buf_append(b, t, 4);
}

int kite_buf_append_u64(struct kite_buf *b, uint64_t v)
{
    uint8_t t[8];
    kite_put_u64(t, v);
    return kite_buf_append(b, t, 8);
}

int kite_buf_printf(struct kite_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return KITE_EINVAL;
    int rc = kite_buf_reserve(b, (size_t)n + 1);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return KITE_OK;
}

uint8_t *kite_buf_detach(struct kite_buf *b, size_t *len)
{
    uint8_t *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
