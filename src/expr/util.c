/*
 * util.c — arena allocator and small shared helpers of the expression module.
 *
 * Threading model: an arena belongs to one compile (or one plan) and is not
 * shared while being written; a finished plan's arena is read-only.
 */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "expr_int.h"

#define ARENA_BLOCK_BYTES 8192u

struct expr_arena_block {
    struct expr_arena_block *next;
    size_t used;
    size_t cap;
    max_align_t data[];
};

void *expr_arena_alloc(struct expr_arena *a, size_t n)
{
    size_t need = (n + 15u) & ~(size_t)15u;
    if (need < n)
        return NULL;
    struct expr_arena_block *b = a->head;
    if (!b || b->cap - b->used < need) {
        size_t cap = need > ARENA_BLOCK_BYTES ? need : ARENA_BLOCK_BYTES;
        size_t total;
        if (!kite_add_size(sizeof(*b), cap, &total))
            return NULL;
        b = kite_malloc(total);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        if (a->head && need > ARENA_BLOCK_BYTES) {
            /* A big one-off block goes behind the current one so the current
             * block's free space stays usable. */
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    char *p = (char *)b->data + b->used;
    b->used += need;
    memset(p, 0, n);
    return p;
}

char *expr_arena_strndup(struct expr_arena *a, const char *s, size_t n)
{
    size_t total;
    if (!kite_add_size(n, 1, &total))
        return NULL;
    char *p = expr_arena_alloc(a, total);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void expr_arena_free(struct expr_arena *a)
{
    struct expr_arena_block *b = a->head;
    while (b) {
        struct expr_arena_block *next = b->next;
        kite_free(b);
        b = next;
    }
    a->head = NULL;
}

int expr_cmp_int_double(int64_t i, double d)
{
    if (isnan(d))
        return -2;
    /* 2^63 as a double is exact; every int64 is below it. */
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    double t = trunc(d);
    int64_t ti = (int64_t)t;
    if (i < ti)
        return -1;
    if (i > ti)
        return 1;
    double frac = d - t;
    if (frac > 0)
        return -1;
    if (frac < 0)
        return 1;
    return 0;
}

/*
 * LIKE: `%` matches any run of bytes, `_` exactly one UTF-8 character, `\x`
 * the byte x literally.  Iterative with single-star backtracking (the classic
 * glob algorithm), so the cost is O(len(s) * len(pat)) worst case and there is
 * no recursion.
 */
static size_t utf8_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        return 2;
    if ((c & 0xF0) == 0xE0)
        return 3;
    if ((c & 0xF8) == 0xF0)
        return 4;
    return 1;
}

bool expr_like_match(const char *s, size_t slen, const char *pat, size_t plen)
{
    size_t si = 0, pi = 0;
    size_t star_p = SIZE_MAX, star_s = 0;
    while (si < slen) {
        if (pi < plen && pat[pi] == '%') {
            star_p = ++pi;
            star_s = si;
            continue;
        }
        if (pi < plen && pat[pi] == '_') {
            size_t cl = utf8_len((unsigned char)s[si]);
            if (si + cl > slen)
                cl = slen - si;
            si += cl;
            pi++;
            continue;
        }
        if (pi < plen) {
            size_t pc = pi;
            if (pat[pc] == '\\' && pc + 1 < plen)
                pc++;
            if (pat[pc] == s[si]) {
                si++;
                pi = pc + 1;
                continue;
            }
        }
        if (star_p == SIZE_MAX)
            return false;
        /* Backtrack: let the last % eat one more character. */
        star_s += utf8_len((unsigned char)s[star_s]);
        if (star_s > slen)
            star_s = slen;
        si = star_s;
        pi = star_p;
    }
    while (pi < plen && pat[pi] == '%')
        pi++;
    return pi == plen;
}
