/* endian.h — explicit little-endian encode/decode for everything persisted or sent. */
#ifndef KITE_CORE_ENDIAN_H
#define KITE_CORE_ENDIAN_H

#include <stdint.h>
#include <string.h>

static inline void kite_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void kite_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void kite_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t kite_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t kite_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t kite_get_u64(const uint8_t *p)
{
    return (uint64_t)kite_get_u32(p) | (uint64_t)kite_get_u32(p + 4) << 32;
}
static inline void kite_put_f32(uint8_t *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    kite_put_u32(p, v);
}
static inline float kite_get_f32(const uint8_t *p)
{
    uint32_t v = kite_get_u32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

#endif
