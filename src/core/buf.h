/*
 * buf.h — growable byte buffer with a hard cap (Anchor: curl dynbuf).
 * Network-fed buffers are created with a cap; growth past it fails with KITE_ELIMIT.
 */
#ifndef KITE_CORE_BUF_H
#define KITE_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct kite_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* 0 = SIZE_MAX */
};

void kite_buf_init(struct kite_buf *b, size_t max);
void kite_buf_free(struct kite_buf *b);
void kite_buf_reset(struct kite_buf *b);
int kite_buf_reserve(struct kite_buf *b, size_t extra);
int kite_buf_append(struct kite_buf *b, const void *p, size_t n);
int kite_buf_append_u8(struct kite_buf *b, uint8_t v);
int kite_buf_append_u32(struct kite_buf *b, uint32_t v);
int kite_buf_append_u64(struct kite_buf *b, uint64_t v);
int kite_buf_printf(struct kite_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Transfer ownership of the bytes to the caller (kite_free); the buffer is reset. */
uint8_t *kite_buf_detach(struct kite_buf *b, size_t *len);

#endif
