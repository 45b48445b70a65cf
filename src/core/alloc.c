/*
 * alloc.c — allocation seam with fail-at-N fault injection.
 *
 * Threading: the fault counters are atomics; allocation itself is libc's.
 */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t g_count;
static _Atomic uint64_t g_fail_at;
static _Atomic bool g_persistent;

static bool should_fail(void)
{
    uint64_t at = atomic_load_explicit(&g_fail_at, memory_order_relaxed);
    uint64_t n = atomic_fetch_add_explicit(&g_count, 1, memory_order_relaxed) + 1;
    if (at == 0)
        return false;
    if (n == at)
        return true;
    return n > at && atomic_load_explicit(&g_persistent, memory_order_relaxed);
}

void kite_alloc_fail_at(uint64_t nth, bool persistent)
{
    atomic_store(&g_count, 0);
    atomic_store(&g_persistent, persistent);
    atomic_store(&g_fail_at, nth);
}

uint64_t kite_alloc_count(void)
{
    return atomic_load(&g_count);
}

void *kite_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *kite_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *kite_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void kite_free(void *p)
{
    free(p);
}

char *kite_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = kite_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *kite_strdup(const char *s)
{
    return s ? kite_strndup(s, strlen(s)) : NULL;
}

void *kite_malloc_aligned(size_t n)
{
    if (should_fail())
        return NULL;
    void *p = NULL;
    size_t rounded = (n + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0)
        return NULL;
    return p;
}

void kite_free_aligned(void *p)
{
    free(p);
}

bool kite_mul_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

bool kite_add_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}
