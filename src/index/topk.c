/*
 * topk.c — bounded worst-at-root binary heap (see topk.h for the invariants).
 *
 * Rejected alternative: a sorted array with insertion (O(k) per accepted
 * hit).  It wins only for k <= ~8; search requests commonly ask for 10..1000
 * and accepted hits are frequent at the start of a scan, so the heap's
 * O(log k) is the safer default.
 *
 * Threading: none (caller-owned state).
 */
#include "topk.h"

void topk_init(struct topk *t, struct kite_hit *storage, size_t k, bool larger_better)
{
    t->h = storage;
    t->k = k;
    t->n = 0;
    t->larger_better = larger_better;
}

/* Move h[i] down until both its children are better than it (worst stays on top). */
static void sift_down(struct kite_hit *h, size_t n, size_t i, bool larger_better)
{
    struct kite_hit x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        /* pick the worse child: it must sit above the better one */
        if (c + 1 < n && topk_better(&h[c], &h[c + 1], larger_better))
            c++;
        if (!topk_better(&x, &h[c], larger_better))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static void sift_up(struct kite_hit *h, size_t i, bool larger_better)
{
    struct kite_hit x = h[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        /* parent must be worse than (rank after) the child */
        if (!topk_better(&h[p], &x, larger_better))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

void topk_push(struct topk *t, float score, uint32_t row)
{
    if (score != score || t->k == 0)
        return;
    struct kite_hit x = {score, row};
    if (t->n < t->k) {
        t->h[t->n] = x;
        sift_up(t->h, t->n, t->larger_better);
        t->n++;
        return;
    }
    if (!topk_better(&x, &t->h[0], t->larger_better))
        return;
    t->h[0] = x;
    sift_down(t->h, t->n, 0, t->larger_better);
}

void topk_merge(struct topk *t, const struct kite_hit *hits, size_t n)
{
    for (size_t i = 0; i < n; i++)
        topk_push(t, hits[i].score, hits[i].row);
}

size_t topk_sort(struct topk *t)
{
    size_t n = t->n;
    /* Heapsort: the worst goes to the end each round, leaving best first. */
    for (size_t m = n; m > 1; m--) {
        struct kite_hit w = t->h[0];
        t->h[0] = t->h[m - 1];
        t->h[m - 1] = w;
        sift_down(t->h, m - 1, 0, t->larger_better);
    }
    return n;
}
