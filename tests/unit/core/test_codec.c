/* Unit tests for src/core/codec.c: base64 and half / bfloat16 conversions. */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "err.h"
#include "test.h"

/* RFC 4648 §10 test vectors, both directions. */
TEST(base64_rfc4648_vectors)
{
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        char *e = kite_base64_encode((const uint8_t *)plain[i], strlen(plain[i]));
        ASSERT(e != NULL);
        ASSERT_STR_EQ(e, enc[i]);
        kite_free(e);
        uint8_t *d = NULL;
        size_t n = 0;
        ASSERT_OK(kite_base64_decode(enc[i], strlen(enc[i]), &d, &n));
        ASSERT_EQ_INT(n, strlen(plain[i]));
        ASSERT(n == 0 || memcmp(d, plain[i], n) == 0);
        kite_free(d);
    }
}

TEST(base64_urlsafe_unpadded_and_bad_input)
{
    const uint8_t bytes[] = {0xfb, 0xff, 0xbf};
    uint8_t *d = NULL;
    size_t n = 0;
    ASSERT_OK(kite_base64_decode("-_-_", 4, &d, &n)); /* URL-safe alphabet */
    ASSERT_EQ_INT(n, 3);
    ASSERT(memcmp(d, bytes, 3) == 0);
    kite_free(d);
    ASSERT_OK(kite_base64_decode("Zm8", 3, &d, &n)); /* padding optional */
    ASSERT_EQ_INT(n, 2);
    ASSERT(memcmp(d, "fo", 2) == 0);
    kite_free(d);
    ASSERT_EQ_INT(kite_base64_decode("Zm9v!", 5, &d, &n), KITE_EINVAL);
    ASSERT_EQ_INT(kite_base64_decode("Zm9vY", 5, &d, &n), KITE_EINVAL); /* 4k+1 chars */
    ASSERT_EQ_INT(kite_base64_decode("Zm 9v", 5, &d, &n), KITE_EINVAL);
}

TEST(f16_known_values)
{
    ASSERT_EQ_INT(kite_f32_to_f16(1.0f), 0x3c00);
    ASSERT_EQ_INT(kite_f32_to_f16(-2.0f), 0xc000);
    ASSERT_EQ_INT(kite_f32_to_f16(65504.0f), 0x7bff);     /* largest finite */
    ASSERT_EQ_INT(kite_f32_to_f16(65520.0f), 0x7c00);     /* rounds up to inf */
    ASSERT_EQ_INT(kite_f32_to_f16(ldexpf(1, -24)), 0x0001); /* smallest subnormal */
    ASSERT_EQ_INT(kite_f32_to_f16(ldexpf(1, -26)), 0x0000); /* below half of it */
    ASSERT_EQ_INT(kite_f32_to_f16(1.0f + ldexpf(1, -11)), 0x3c00); /* tie -> even */
    ASSERT_EQ_INT(kite_f32_to_f16(1.0f + 3 * ldexpf(1, -11)), 0x3c02);
    ASSERT((kite_f32_to_f16(NAN) & 0x7c00) == 0x7c00 && (kite_f32_to_f16(NAN) & 0x3ff));
    ASSERT_NEAR(kite_f16_to_f32(0x3555), 0.333251953125, 0);
    ASSERT_NEAR(kite_f16_to_f32(0x0001), ldexp(1, -24), 0);
    ASSERT(isinf(kite_f16_to_f32(0xfc00)) && kite_f16_to_f32(0xfc00) < 0);
    ASSERT(isnan(kite_f16_to_f32(0x7e00)));
}

/* Every finite half survives half -> float -> half unchanged. */
TEST(f16_round_trip_all_finite)
{
    for (uint32_t h = 0; h < 0x10000u; h++) {
        if ((h & 0x7c00u) == 0x7c00u)
            continue;
        ASSERT_EQ_INT(kite_f32_to_f16(kite_f16_to_f32((uint16_t)h)), h);
    }
}

TEST(bf16_rounding_and_nan)
{
    ASSERT_EQ_INT(kite_f32_to_bf16(1.0f), 0x3f80);
    ASSERT_NEAR(kite_bf16_to_f32(0x3f80), 1.0, 0);
    ASSERT_EQ_INT(kite_f32_to_bf16(1.0f + ldexpf(1, -8)), 0x3f80); /* tie -> even */
    ASSERT_EQ_INT(kite_f32_to_bf16(1.0f + 3 * ldexpf(1, -8)), 0x3f82);
    ASSERT(isnan(kite_bf16_to_f32(kite_f32_to_bf16(NAN))));
    for (uint32_t h = 0; h < 0x10000u; h += 7) {
        if ((h & 0x7f80u) == 0x7f80u)
            continue;
        ASSERT_EQ_INT(kite_f32_to_bf16(kite_bf16_to_f32((uint16_t)h)), h);
    }
}
