/*
 * topk.h — a bounded heap that keeps the best k hits of a stream of
 * (score, row) pairs, for exact and ANN search.
 *
 * Usage:
 *     struct topk t;
 *     topk_init(&t, storage, k, larger_is_better);   // storage: k kite_hits
 *     for (...) if (topk_admits(&t, s)) topk_push(&t, s, row);
 *     size_t n = topk_sort(&t);                      // storage[0..n) best first
 *
 * Invariants:
 *  1. The heap root h[0] is the WORST kept hit, so one comparison against it
 *     decides whether a new hit can enter once the heap is full.
 *  2. Order is total and deterministic: a better score wins; among equal
 *     scores the smaller row wins ("ties: smaller row first").  Hence the kept
 *     set and its sorted order do not depend on the push order, which lets
 *     per-thread heaps be merged in any order (topk_merge).
 *  3. NaN scores are never kept (they have no place in the order).
 *  4. The heap never allocates: the caller owns the storage (k hits), which
 *     may be a slice of the final output array (flat.c sorts in place).
 *
 * "Larger is better" serves IP and COSINE; "smaller is better" serves L2,
 * HAMMING, JACCARD and TANIMOTO.
 *
 * Threading: a topk is owned by one thread at a time; no internal locking.
 */
#ifndef KITE_INDEX_TOPK_H
#define KITE_INDEX_TOPK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"

struct topk {
    struct kite_hit *h;  /* k slots, borrowed from the caller */
    size_t k;            /* capacity */
    size_t n;            /* hits kept, <= k */
    bool larger_better;
};

/* Start an empty heap over caller storage of k hits (k may be 0: keeps nothing). */
void topk_init(struct topk *t, struct kite_hit *storage, size_t k, bool larger_better);

/*
 * Cheap pre-check for hot loops: false when `score` certainly cannot enter
 * (heap full and score strictly worse than the worst kept, or NaN).  A true
 * answer still goes through topk_push, which applies the row tie-break.
 */
static inline bool topk_admits(const struct topk *t, float score)
{
    if (t->n < t->k)
        return score == score;
    if (t->k == 0)
        return false;
    return t->larger_better ? score >= t->h[0].score : score <= t->h[0].score;
}

/* Offer one hit; keeps it if it is among the best k so far. */
void topk_push(struct topk *t, float score, uint32_t row);

/* Offer n hits (e.g. another thread's heap, sorted or not). */
void topk_merge(struct topk *t, const struct kite_hit *hits, size_t n);

/*
 * Sort the kept hits best first in place (t->h[0..n)) and return n.  The heap
 * property is destroyed: call topk_init again before pushing more.
 */
size_t topk_sort(struct topk *t);

/* true if a ranks strictly before b under the heap's order. */
static inline bool topk_better(const struct kite_hit *a, const struct kite_hit *b,
                               bool larger_better)
{
    if (a->score != b->score)
        return larger_better ? a->score > b->score : a->score < b->score;
    return a->row < b->row;
}

#endif
