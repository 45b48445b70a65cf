/*
 * rest_json.c — JSON text out, depth pre-check in, base64 and half-float helpers.
 *
 * Why our own emitter instead of json_dumps: jansson prints reals with "%.17g",
 * so a float32 distance 0.1f comes out as 0.10000000149011612 and a double 0.1 as
 * 0.10000000000000001.  Milvus (Go) prints the shortest text that round-trips.
 * rest_json_dump walks the jansson tree and prints each real with the fewest
 * significant digits (1..17) that strtod reads back to the same double; floats are
 * first narrowed to their own shortest decimal by rest_json_float.
 *
 * Invariants:
 *  1. Output is compact (no spaces), keys in insertion order (jansson keeps it).
 *  2. NaN and infinities, which JSON cannot carry, are written as null.
 *  3. Recursion depth is bounded by the tree: request trees are depth-checked by
 *     rest_json_depth_ok before parsing, and replies nest at most a few levels
 *     plus user JSON values that were depth-checked on insert.
 * Threading: stateless.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "rest_internal.h"

/* ============================================================ emitter */

static int put_str(struct kite_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = kite_buf_append_u8(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n && rc == KITE_OK; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *esc = NULL;
        char ubuf[7];
        switch (ch) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (ch < 0x20) {
                memcpy(ubuf, "\\u00", 4);
                ubuf[4] = hex[ch >> 4];
                ubuf[5] = hex[ch & 15];
                ubuf[6] = '\0';
                esc = ubuf;
            }
        }
        if (esc) {
            if (run)
                rc = kite_buf_append(b, s + i - run, run);
            run = 0;
            if (rc == KITE_OK)
                rc = kite_buf_append(b, esc, strlen(esc));
        } else {
            run++;
        }
    }
    if (rc == KITE_OK && run)
        rc = kite_buf_append(b, s + n - run, run);
    if (rc == KITE_OK)
        rc = kite_buf_append_u8(b, '"');
    return rc;
}

/* Shortest "%.Ng" text of d that reads back as d. */
static void shortest_double(double d, char *out, size_t cap)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

static int put_value(struct kite_buf *b, const json_t *v)
{
    char num[64];
    int rc = KITE_OK;
    switch (json_typeof(v)) {
    case JSON_NULL: return kite_buf_append(b, "null", 4);
    case JSON_TRUE: return kite_buf_append(b, "true", 4);
    case JSON_FALSE: return kite_buf_append(b, "false", 5);
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return kite_buf_append(b, num, strlen(num));
    case JSON_REAL: {
        double d = json_real_value(v);
        if (!isfinite(d))
            return kite_buf_append(b, "null", 4);
        shortest_double(d, num, sizeof(num));
        return kite_buf_append(b, num, strlen(num));
    }
    case JSON_STRING: return put_str(b, json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
        rc = kite_buf_append_u8(b, '[');
        for (size_t i = 0; rc == KITE_OK && i < json_array_size(v); i++) {
            if (i)
                rc = kite_buf_append_u8(b, ',');
            if (rc == KITE_OK)
                rc = put_value(b, json_array_get(v, i));
        }
        return rc == KITE_OK ? kite_buf_append_u8(b, ']') : rc;
    }
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        bool first = true;
        rc = kite_buf_append_u8(b, '{');
        json_object_foreach((json_t *)v, key, val)
        {
            if (rc != KITE_OK)
                break;
            if (!first)
                rc = kite_buf_append_u8(b, ',');
            first = false;
            if (rc == KITE_OK)
                rc = put_str(b, key, strlen(key));
            if (rc == KITE_OK)
                rc = kite_buf_append_u8(b, ':');
            if (rc == KITE_OK)
                rc = put_value(b, val);
        }
        return rc == KITE_OK ? kite_buf_append_u8(b, '}') : rc;
    }
    }
    return KITE_EINVAL;
}

char *rest_json_dump(const json_t *v, size_t *len)
{
    struct kite_buf b;
    kite_buf_init(&b, 0);
    if (put_value(&b, v) != KITE_OK || kite_buf_append_u8(&b, '\0') != KITE_OK) {
        kite_buf_free(&b);
        return NULL;
    }
    size_t n = 0;
    char *text = (char *)kite_buf_detach(&b, &n);
    if (len)
        *len = n ? n - 1 : 0;
    return text;
}

json_t *rest_json_float(float f)
{
    if (!isfinite(f))
        return json_null();
    char s[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(s, sizeof(s), "%.*g", prec, (double)f);
        if (strtof(s, NULL) == f)
            break;
    }
    return json_real(strtod(s, NULL));
}

/* ========================================================= depth check */

bool rest_json_depth_ok(const char *s, size_t len, int max_depth)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = false;
            continue;
        }
        if (ch == '"') {
            in_str = true;
        } else if (ch == '[' || ch == '{') {
            if (++depth > max_depth)
                return false;
        } else if ((ch == ']' || ch == '}') && depth > 0) {
            depth--;
        }
    }
    return true;
}

/* ============================================================= base64 */

static const char g_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *rest_base64_encode(const uint8_t *p, size_t n)
{
    size_t out_len;
    if (!kite_mul_size((n + 2) / 3, 4, &out_len) || !kite_add_size(out_len, 1, &out_len))
        return NULL;
    char *out = kite_malloc(out_len);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = g_b64[(v >> 18) & 63];
        out[o++] = g_b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? g_b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? g_b64[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static int b64_val(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

int rest_base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len)
{
    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return KITE_EINVAL;
    uint8_t *buf = kite_malloc(len / 4 * 3 + 3);
    if (!buf)
        return KITE_ENOMEM;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_val(s[i]);
        if (v < 0) {
            kite_free(buf);
            return KITE_EINVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out = buf;
    *out_len = o;
    return KITE_OK;
}

/* ====================================================== half precision */

uint16_t rest_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffffu;
    if (((x >> 23) & 0xff) == 0xff) /* inf / nan */
        return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0));
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (exp <= 0) {
        if (exp < -10)
            return (uint16_t)sign;
        mant |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1)))
        half++; /* may carry into the exponent, which is the correct rounding */
    return (uint16_t)half;
}

uint16_t rest_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* nan: keep it a nan */
        return (uint16_t)((x >> 16) | 0x40u);
    uint32_t lsb = (x >> 16) & 1u;
    x += 0x7fffu + lsb; /* round to nearest even */
    return (uint16_t)(x >> 16);
}
