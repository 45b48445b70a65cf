/*
 * pool.h — a fixed worker pool for CPU work (search over segments and query
 * batches, index builds, CNN inference).
 *
 * kite_pool_parallel_for() splits [0, n) into chunks run by the workers and the
 * calling thread, and returns when all are done.  Nested calls from inside a
 * worker run inline (no deadlock).
 */
#ifndef KITE_CORE_POOL_H
#define KITE_CORE_POOL_H

#include <stddef.h>

struct kite_pool;

typedef void (*kite_pool_fn)(size_t begin, size_t end, int worker, void *udata);

/* n_threads total workers incl. the caller; 0 = number of CPUs. */
int kite_pool_new(int n_threads, struct kite_pool **out);
void kite_pool_free(struct kite_pool *p);
int kite_pool_size(const struct kite_pool *p);
/* Run fn over [0,n) in chunks of at least `grain` items; worker index < kite_pool_size(). */
void kite_pool_parallel_for(struct kite_pool *p, size_t n, size_t grain, kite_pool_fn fn,
                            void *udata);
/* Queue a detached background job (index builds); runs on a worker. */
int kite_pool_submit(struct kite_pool *p, void (*fn)(void *udata), void *udata);
int kite_cpu_count(void);

#endif
