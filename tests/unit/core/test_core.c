/* Unit tests for src/core: CRC32C, buffers, pool, allocator seam, errors. */
#include <stdatomic.h>

#include "alloc.h"
#include "buf.h"
#include "crc32c.h"
#include "err.h"
#include "pool.h"
#include "test.h"

TEST(crc32c_known_vectors)
{
    /* RFC 3720 B.4 test vectors. */
    ASSERT_EQ_INT(kite_crc32c(0, "123456789", 9), 0xE3069283u);
    uint8_t zeros[32] = {0};
    ASSERT_EQ_INT(kite_crc32c(0, zeros, 32), 0x8A9136AAu);
    uint8_t ones[32];
    memset(ones, 0xff, 32);
    ASSERT_EQ_INT(kite_crc32c(0, ones, 32), 0x62A8AB43u);
    /* Incremental equals one-shot. */
    uint32_t c = kite_crc32c(0, "12345", 5);
    ASSERT_EQ_INT(kite_crc32c(c, "6789", 4), 0xE3069283u);
}

TEST(buf_cap_enforced)
{
    struct kite_buf b;
    kite_buf_init(&b, 10);
    ASSERT_OK(kite_buf_append(&b, "0123456789", 10));
    ASSERT_EQ_INT(kite_buf_append(&b, "x", 1), KITE_ELIMIT);
    ASSERT_EQ_INT(b.len, 10);
    kite_buf_free(&b);
    kite_buf_init(&b, 0);
    ASSERT_OK(kite_buf_printf(&b, "%d-%s", 42, "kite"));
    ASSERT_STR_EQ((char *)b.data, "42-kite");
    kite_buf_free(&b);
}

static void sum_fn(size_t begin, size_t end, int worker, void *udata)
{
    _Atomic long *sum = udata;
    for (size_t i = begin; i < end; i++)
        atomic_fetch_add(sum, (long)i);
}

TEST(pool_parallel_for_sums)
{
    struct kite_pool *p;
    ASSERT_OK(kite_pool_new(4, &p));
    for (int rep = 0; rep < 50; rep++) {
        _Atomic long sum = 0;
        kite_pool_parallel_for(p, 10000, 7, sum_fn, &sum);
        ASSERT_EQ_INT(atomic_load(&sum), 10000L * 9999 / 2);
    }
    kite_pool_free(p);
}

TEST(alloc_fail_at_n)
{
    kite_alloc_fail_at(2, false);
    void *a = kite_malloc(8);
    void *b = kite_malloc(8);
    void *c = kite_malloc(8);
    ASSERT(a != NULL);
    ASSERT(b == NULL);
    ASSERT(c != NULL);
    kite_free(a);
    kite_free(c);
    kite_alloc_fail_at(1, true);
    ASSERT(kite_malloc(1) == NULL);
    ASSERT(kite_malloc(1) == NULL);
    kite_alloc_fail_at(0, false);
    void *d = kite_malloc(1);
    ASSERT(d != NULL);
    kite_free(d);
}

TEST(errors_table)
{
    ASSERT_EQ_INT(kite_err_milvus_code(KITE_ENOCOLL), 100);
    ASSERT_EQ_INT(kite_err_milvus_code(KITE_EEXPR), 1100);
    ASSERT_STR_EQ(kite_err_name(KITE_ENOTLOADED), "KITE_ENOTLOADED");
    kite_err e;
    ASSERT_EQ_INT(kite_err_set(&e, KITE_EINVAL, "expected %d, not %d", 128, 96), KITE_EINVAL);
    kite_err_prefix(&e, "insert");
    ASSERT_STR_EQ(e.message, "insert: expected 128, not 96");
}

/* Regression (fuzz_grpc_dispatch): an empty append to a fresh buffer wrote through NULL. */
TEST(buf_empty_append_to_fresh_buffer)
{
    struct kite_buf b;
    kite_buf_init(&b, 0);
    ASSERT_OK(kite_buf_append(&b, NULL, 0));
    ASSERT_EQ_INT(b.len, 0);
    ASSERT_OK(kite_buf_append(&b, "ab", 2));
    ASSERT_STR_EQ((char *)b.data, "ab");
    kite_buf_free(&b);
}
