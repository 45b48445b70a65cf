/*
 * pool.c — worker pool.
 *
 * Threading model:
 *  1. One mutex `mu` guards the job queue, `stopping`, and every batch's `done`
 *     counter; workers sleep on `cv` while the queue is empty, callers of
 *     parallel_for sleep on the batch's `cv_done`.
 *  2. A parallel_for batch hands out chunks through an atomic cursor, so chunk
 *     claiming never takes the mutex; the batch lives on the caller's stack and
 *     the caller returns only after every helper that picked it up has left it
 *     (`active` reaches 0 under `mu`).
 *  3. Code already running on a pool worker runs nested parallel_for inline.
 */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#include "alloc.h"
#include "kite/errors.h"

struct batch {
    kite_pool_fn fn;
    void *udata;
    size_t n, grain, n_chunks;
    _Atomic size_t cursor;
    int active;       /* helpers inside the batch; guarded by pool mu */
    pthread_cond_t cv_done;
};

struct job {
    struct job *next;
    struct batch *batch;       /* either a batch share ... */
    void (*fn)(void *udata);   /* ... or a detached job */
    void *udata;
};

struct kite_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *head, *tail;
    bool stopping;
    int n_threads; /* incl. caller */
    pthread_t *threads;
    int n_started;
};

static _Thread_local int tl_worker = -1;

int kite_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void run_chunks(struct batch *b, int worker)
{
    for (;;) {
        size_t c = atomic_fetch_add(&b->cursor, 1);
        if (c >= b->n_chunks)
            return;
        size_t begin = c * b->grain;
        size_t end = begin + b->grain > b->n ? b->n : begin + b->grain;
        b->fn(begin, end, worker, b->udata);
    }
}

struct worker_arg {
    struct kite_pool *pool;
    int index;
};

static void *worker_main(void *arg)
{
    struct worker_arg wa = *(struct worker_arg *)arg;
    kite_free(arg);
    struct kite_pool *p = wa.pool;
    tl_worker = wa.index;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->head && p->stopping)
            break;
        struct job *j = p->head;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        if (j->batch)
            j->batch->active++;
        pthread_mutex_unlock(&p->mu);
        if (j->batch) {
            struct batch *b = j->batch;
            run_chunks(b, wa.index);
            pthread_mutex_lock(&p->mu);
            if (--b->active == 0)
                pthread_cond_broadcast(&b->cv_done);
        } else {
            j->fn(j->udata);
            pthread_mutex_lock(&p->mu);
        }
        kite_free(j);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int kite_pool_new(int n_threads, struct kite_pool **out)
{
    struct kite_pool *p = kite_calloc(1, sizeof(*p));
    if (!p)
        return KITE_ENOMEM;
    if (n_threads <= 0)
        n_threads = kite_cpu_count();
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    /* At least one background worker even for n_threads == 1, so detached jobs run. */
    int n_workers = n_threads > 1 ? n_threads - 1 : 1;
    p->threads = kite_calloc((size_t)n_workers, sizeof(pthread_t));
    if (!p->threads)
        goto fail;
    for (int i = 0; i < n_workers; i++) {
        struct worker_arg *wa = kite_malloc(sizeof(*wa));
        if (!wa)
            goto fail;
        wa->pool = p;
        wa->index = i + 1;
        if (pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
            kite_free(wa);
            goto fail;
        }
        p->n_started++;
    }
    *out = p;
    return KITE_OK;
fail:
    kite_pool_free(p);
    return KITE_ENOMEM;
}

void kite_pool_free(struct kite_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++)
        pthread_join(p->threads[i], NULL);
    while (p->head) {
        struct job *j = p->head;
        p->head = j->next;
        kite_free(j);
    }
    kite_free(p->threads);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    kite_free(p);
}

int kite_pool_size(const struct kite_pool *p)
{
    return p ? p->n_threads : 1;
}

void kite_pool_parallel_for(struct kite_pool *p, size_t n, size_t grain, kite_pool_fn fn,
                            void *udata)
{
    if (n == 0)
        return;
    if (grain == 0)
        grain = 1;
    struct batch b = {.fn = fn, .udata = udata, .n = n, .grain = grain};
    b.n_chunks = (n + grain - 1) / grain;
    atomic_init(&b.cursor, 0);
    int helpers = p ? p->n_threads - 1 : 0;
    if (helpers > (int)b.n_chunks - 1)
        helpers = (int)b.n_chunks - 1;
    if (!p || tl_worker >= 0 || helpers <= 0) {
        run_chunks(&b, tl_worker >= 0 ? tl_worker : 0);
        return;
    }
    pthread_cond_init(&b.cv_done, NULL);
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < helpers; i++) {
        struct job *j = kite_calloc(1, sizeof(*j));
        if (!j)
            break; /* fewer helpers; the caller still finishes every chunk */
        j->batch = &b;
        if (p->tail)
            p->tail->next = j;
        else
            p->head = j;
        p->tail = j;
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);

    run_chunks(&b, 0);

    /* Remove shares nobody picked up, then wait for helpers still inside. */
    pthread_mutex_lock(&p->mu);
    struct job **pp = &p->head;
    p->tail = NULL;
    while (*pp) {
        if ((*pp)->batch == &b) {
            struct job *dead = *pp;
            *pp = dead->next;
            kite_free(dead);
        } else {
            p->tail = *pp;
            pp = &(*pp)->next;
        }
    }
    while (b.active > 0)
        pthread_cond_wait(&b.cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_cond_destroy(&b.cv_done);
}

int kite_pool_submit(struct kite_pool *p, void (*fn)(void *udata), void *udata)
{
    struct job *j = kite_calloc(1, sizeof(*j));
    if (!j)
        return KITE_ENOMEM;
    j->fn = fn;
    j->udata = udata;
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return KITE_OK;
}
