/*
 * rest_json.c — JSON text out, depth pre-check in.
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

