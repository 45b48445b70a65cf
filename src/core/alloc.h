/*
 * alloc.h — the one allocation seam of Kite (STYLE.md §6).
 *
 * All library allocations go through kite_malloc & co.  Tests can make the
 * Nth allocation fail (once or from then on) to drive OOM loops.
 */
#ifndef KITE_CORE_ALLOC_H
#define KITE_CORE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *kite_malloc(size_t n);
void *kite_calloc(size_t count, size_t size);
void *kite_realloc(void *p, size_t n);
void kite_free(void *p);
char *kite_strdup(const char *s);
char *kite_strndup(const char *s, size_t n);
/* 64-byte aligned allocation; free with kite_free_aligned. */
void *kite_malloc_aligned(size_t n);
void kite_free_aligned(void *p);

/* Checked size arithmetic: return false on overflow. */
bool kite_mul_size(size_t a, size_t b, size_t *out);
bool kite_add_size(size_t a, size_t b, size_t *out);

/*
 * Fault injection for tests: fail the allocation number `nth` (1-based,
 * counted from this call); persistent = every allocation from then on fails.
 * nth = 0 disables.  kite_alloc_count() returns allocations since the last arm.
 */
void kite_alloc_fail_at(uint64_t nth, bool persistent);
uint64_t kite_alloc_count(void);

#endif
