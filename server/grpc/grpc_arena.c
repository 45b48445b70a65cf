/*
 * grpc_arena.c — the per-call arena that holds a response message (STYLE.md §6:
 * arenas for phase lifetimes).
 *
 * A response is a tree of small protobuf-c structs, strings and arrays that all die
 * together once the message is packed, so they are bump-allocated from chunks and
 * released by one grpc_arena_free().  Large requests (one Search result column of
 * millions of floats) get a chunk of their own.
 *
 * Invariants:
 *  1. Every pointer returned is 16-byte aligned and zero-filled.
 *  2. A failed allocation returns NULL and sets a->oom; the arena stays usable.
 *
 * Threading: an arena belongs to one call on one thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "grpc_internal.h"

#define ARENA_CHUNK_BYTES (64u * 1024u)
#define ARENA_ALIGN 16u

struct grpc_arena_chunk {
    struct grpc_arena_chunk *next;
    size_t used;
    size_t cap;
    _Alignas(16) unsigned char data[];
};

void grpc_arena_init(struct grpc_arena *a)
{
    a->head = NULL;
    a->oom = false;
}

static struct grpc_arena_chunk *chunk_new(size_t cap)
{
    size_t total;
    if (!kite_add_size(sizeof(struct grpc_arena_chunk), cap, &total))
        return NULL;
    struct grpc_arena_chunk *ch = kite_malloc(total);
    if (!ch)
        return NULL;
    ch->next = NULL;
    ch->used = 0;
    ch->cap = cap;
    return ch;
}

void *grpc_arena_alloc(struct grpc_arena *a, size_t n)
{
    size_t need;
    if (n == 0)
        n = 1;
    if (!kite_add_size(n, ARENA_ALIGN - 1, &need)) {
        a->oom = true;
        return NULL;
    }
    need &= ~(size_t)(ARENA_ALIGN - 1);
    struct grpc_arena_chunk *ch = a->head;
    if (!ch || ch->cap - ch->used < need) {
        if (need > ARENA_CHUNK_BYTES / 4) {
            /* Big block: its own chunk, linked behind the current one so the
             * current chunk's free space stays available. */
            struct grpc_arena_chunk *big = chunk_new(need);
            if (!big) {
                a->oom = true;
                return NULL;
            }
            big->used = need;
            if (a->head) {
                big->next = a->head->next;
                a->head->next = big;
            } else {
                a->head = big;
            }
            memset(big->data, 0, need);
            return big->data;
        }
        ch = chunk_new(ARENA_CHUNK_BYTES);
        if (!ch) {
            a->oom = true;
            return NULL;
        }
        ch->next = a->head;
        a->head = ch;
    }
    void *p = ch->data + ch->used;
    ch->used += need;
    memset(p, 0, need);
    return p;
}

void *grpc_arena_array(struct grpc_arena *a, size_t n, size_t size)
{
    size_t total;
    if (!kite_mul_size(n, size, &total)) {
        a->oom = true;
        return NULL;
    }
    return grpc_arena_alloc(a, total);
}

char *grpc_arena_strndup(struct grpc_arena *a, const char *s, size_t n)
{
    size_t total;
    if (!kite_add_size(n, 1, &total)) {
        a->oom = true;
        return NULL;
    }
    char *p = grpc_arena_alloc(a, total);
    if (p && n)
        memcpy(p, s, n);
    return p;
}

char *grpc_arena_strdup(struct grpc_arena *a, const char *s)
{
    return grpc_arena_strndup(a, s ? s : "", s ? strlen(s) : 0);
}

char *grpc_arena_printf(struct grpc_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        a->oom = true;
        return NULL;
    }
    char *p = grpc_arena_alloc(a, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void grpc_arena_free(struct grpc_arena *a)
{
    struct grpc_arena_chunk *ch = a->head;
    while (ch) {
        struct grpc_arena_chunk *next = ch->next;
        kite_free(ch);
        ch = next;
    }
    a->head = NULL;
}

/* ------------------------------------------------ protobuf-c allocator */

static void *pb_alloc(void *udata, size_t size)
{
    (void)udata;
    return kite_malloc(size);
}

static void pb_free(void *udata, void *p)
{
    (void)udata;
    kite_free(p);
}

ProtobufCAllocator grpc_pb_allocator = {pb_alloc, pb_free, NULL};
