/*
 * codec.h — small value codecs shared by the engine and the servers: base64 (standard and
 * URL-safe alphabets on input, standard on output) and IEEE half / bfloat16 conversions.
 *
 * Pure functions, no global state: safe from any thread.  Buffers returned are owned by the
 * caller and released with kite_free.
 */
#ifndef KITE_CORE_CODEC_H
#define KITE_CORE_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* NUL-terminated base64 text of p[0..n) (with '=' padding); NULL when out of memory. */
char *kite_base64_encode(const uint8_t *p, size_t n);
/*
 * Decode len characters of base64 ('=' padding optional; '-' and '_' accepted for '+' and
 * '/').  KITE_OK with *out (kite_free) and *out_len set; KITE_EINVAL for a character outside
 * the alphabet or a length no encoding produces; KITE_ENOMEM.
 */
int kite_base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len);

/* IEEE 754 binary16 <-> binary32; float -> half rounds to nearest even, keeps inf and NaN. */
float kite_f16_to_f32(uint16_t h);
uint16_t kite_f32_to_f16(float f);
/* bfloat16 <-> binary32; float -> bf16 rounds to nearest even, NaN stays a (quiet) NaN. */
float kite_bf16_to_f32(uint16_t h);
uint16_t kite_f32_to_bf16(float f);

#endif
