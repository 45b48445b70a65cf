/*
 * test_expr_misc.c — edge cases outside the fixture: Array<Float>/Array<Bool>
 * elements, odd JSON cells, a large batch (many bitmap words, short-circuit),
 * concurrent evaluation of one plan, and the lexer's literal forms.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "test.h"


/* Build a var-length column from n strings. */
static void varcol(kite_column *c, const char *name, int dtype, int elem, const char *const *vals,
                   size_t n, char *buf, uint64_t *off)
{
    size_t o = 0;
    off[0] = 0;
    for (size_t r = 0; r < n; r++) {
        size_t l = strlen(vals[r]);
        memcpy(buf + o, vals[r], l);
        o += l;
        off[r + 1] = o;
    }
    memset(c, 0, sizeof(*c));
    c->name = name;
    c->dtype = dtype;
    c->element_type = elem;
    c->n = n;
    c->data = buf;
    c->offsets = off;
}

static uint64_t run1(const struct expr_schema *s, const kite_column *cols, size_t n,
                     const char *expr)
{
    struct expr_plan *p = NULL;
    kite_err err;
    int rc = expr_compile(expr, NULL, s, &p, &err);
    if (rc != KITE_OK)
        TEST_FAIL_("[%s]: %s", expr, err.message);
    uint64_t bits[1] = {0};
    rc = expr_eval(p, cols, n, bits, &err);
    expr_plan_free(p);
    if (rc != KITE_OK)
        TEST_FAIL_("[%s]: eval %s", expr, err.message);
    return bits[0];
}

TEST(expr_array_elem_types)
{
    static const struct expr_field f[] = {
        {"af", KITE_DT_ARRAY, KITE_DT_FLOAT, false, false},
        {"ab", KITE_DT_ARRAY, KITE_DT_BOOL, false, false},
        {"ad", KITE_DT_ARRAY, KITE_DT_DOUBLE, false, false},
    };
    const struct expr_schema s = {f, 3, -1};
    static const char *const af[] = {"[0.1, 2.5]", "[0.100000001]", "[1]", "[]"};
    static const char *const ab[] = {"[true]", "[false, true]", "[]", "[true, true]"};
    static const char *const ad[] = {"[0.1]", "[0.100000001]", "[1]", "[2.5, 1]"};
    char b0[256], b1[256], b2[256];
    uint64_t o0[5], o1[5], o2[5];
    kite_column cols[3];
    varcol(&cols[0], "af", KITE_DT_ARRAY, KITE_DT_FLOAT, af, 4, b0, o0);
    varcol(&cols[1], "ab", KITE_DT_ARRAY, KITE_DT_BOOL, ab, 4, b1, o1);
    varcol(&cols[2], "ad", KITE_DT_ARRAY, KITE_DT_DOUBLE, ad, 4, b2, o2);
    /* Float elements compare in float precision: 0.1 and 0.100000001 are the same float. */
    ASSERT_EQ_INT(run1(&s, cols, 4, "af[0] == 0.1"), 0x3);
    ASSERT_EQ_INT(run1(&s, cols, 4, "array_contains(af, 0.1)"), 0x3);
    ASSERT_EQ_INT(run1(&s, cols, 4, "af[0] == 1"), 0x4);
    ASSERT_EQ_INT(run1(&s, cols, 4, "array_contains_any(af, [2.5, 1])"), 0x5);
    /* Double elements are exact. */
    ASSERT_EQ_INT(run1(&s, cols, 4, "ad[0] == 0.1"), 0x1);
    ASSERT_EQ_INT(run1(&s, cols, 4, "array_contains_all(ad, [1, 2.5])"), 0x8);
    /* Bool elements are predicates. */
    ASSERT_EQ_INT(run1(&s, cols, 4, "ab[0]"), 0x9);
    ASSERT_EQ_INT(run1(&s, cols, 4, "not ab[1]"), 0x5); /* out of range = false */
    ASSERT_EQ_INT(run1(&s, cols, 4, "array_length(ab) == 2"), 0xA);
    ASSERT_EQ_INT(run1(&s, cols, 4, "array_contains(ab, false)"), 0x2);
}

TEST(expr_json_odd_cells)
{
    static const struct expr_field f[] = {{"j", KITE_DT_JSON, 0, false, false}};
    const struct expr_schema s = {f, 1, 0};
    static const char *const j[] = {
        "{\"a\": 99999999999999999999}", /* beyond int64: read as double */
        "not json",
        "[1, 2]",
        "{\"a\": 9007199254740993}",
        "{\"a\": {\"b\": [10, {\"c\": \"x\"}]}}",
        "{\"a\": null}",
    };
    char buf[512];
    uint64_t off[7];
    kite_column col;
    varcol(&col, "j", KITE_DT_JSON, 0, j, 6, buf, off);
    ASSERT_EQ_INT(run1(&s, &col, 6, "j['a'] > 1e19"), 0x1);
    ASSERT_EQ_INT(run1(&s, &col, 6, "j['a'] == 9007199254740993"), 0x8);
    ASSERT_EQ_INT(run1(&s, &col, 6, "j['a'] == 9007199254740992"), 0x0);
    ASSERT_EQ_INT(run1(&s, &col, 6, "j[1] == 2"), 0x4); /* an index into a top-level array */
    ASSERT_EQ_INT(run1(&s, &col, 6, "$meta[0] == 1"), 0x4);
    ASSERT_EQ_INT(run1(&s, &col, 6, "a['b'][1]['c'] == 'x'"), 0x10);
    ASSERT_EQ_INT(run1(&s, &col, 6, "a['b'][0] >= 10"), 0x10);
    ASSERT_EQ_INT(run1(&s, &col, 6, "exists a"), 0x39);
    ASSERT_EQ_INT(run1(&s, &col, 6, "a is null"), 0x26);
    ASSERT_EQ_INT(run1(&s, &col, 6, "a != 1"), 0x3F);
    ASSERT_EQ_INT(run1(&s, &col, 6, "json_contains($meta, 2)"), 0x4);
    ASSERT_EQ_INT(run1(&s, &col, 6, "array_length($meta) == 2"), 0x4);
    ASSERT_EQ_INT(run1(&s, &col, 6, "a == [10]"), 0x0);
}

/* ------------------------------------------------------------ large batch */

#define BIG 10007

static int64_t big_a[BIG];
static char big_s[BIG * 8];
static uint64_t big_off[BIG + 1];
static char big_j[BIG * 24];
static uint64_t big_joff[BIG + 1];
static kite_column big_cols[3];
static const struct expr_field big_f[] = {
    {"a", KITE_DT_INT64, 0, false, true},
    {"s", KITE_DT_VARCHAR, 0, false, false},
    {"j", KITE_DT_JSON, 0, false, false},
};
static const struct expr_schema big_schema = {big_f, 3, -1};

static void big_init(void)
{
    size_t o = 0, jo = 0;
    for (size_t r = 0; r < BIG; r++) {
        big_a[r] = (int64_t)r;
        int n = snprintf(big_s + o, 8, "k%zu", r % 100);
        o += (size_t)n;
        big_off[r + 1] = o;
        n = snprintf(big_j + jo, 24, "{\"v\":%zu}", r % 7);
        jo += (size_t)n;
        big_joff[r + 1] = jo;
    }
    big_cols[0] = (kite_column){.name = "a", .dtype = KITE_DT_INT64, .n = BIG, .data = big_a};
    big_cols[1] = (kite_column){.name = "s", .dtype = KITE_DT_VARCHAR, .n = BIG, .data = big_s,
                                .offsets = big_off};
    big_cols[2] = (kite_column){.name = "j", .dtype = KITE_DT_JSON, .n = BIG, .data = big_j,
                                .offsets = big_joff};
}

static size_t count_bits(const uint64_t *b, size_t words)
{
    size_t c = 0;
    for (size_t w = 0; w < words; w++)
        c += (size_t)__builtin_popcountll(b[w]);
    return c;
}

static bool big_pred(size_t r)
{
    return (r % 3 == 0 && r % 100 >= 50 && r % 100 < 60) || (r % 7 == 3 && r > 9000);
}

static const char *const big_expr =
    "a % 3 == 0 and s in ['k50','k51','k52','k53','k54','k55','k56','k57','k58','k59'] or "
    "j['v'] == 3 and a > 9000";

TEST(expr_large_batch)
{
    big_init();
    struct expr_plan *p = NULL;
    kite_err err;
    ASSERT_OK(expr_compile(big_expr, NULL, &big_schema, &p, &err));
    size_t words = (BIG + 63) / 64;
    uint64_t *bits = calloc(words, sizeof(uint64_t));
    ASSERT_OK(expr_eval(p, big_cols, BIG, bits, &err));
    size_t want = 0;
    for (size_t r = 0; r < BIG; r++) {
        bool got = (bits[r >> 6] >> (r & 63)) & 1;
        if (got != big_pred(r))
            TEST_FAIL_("row %zu: got %d", r, got);
        want += big_pred(r);
    }
    ASSERT_EQ_INT(count_bits(bits, words), want);
    /* Sub-batch (n smaller than the column). */
    memset(bits, 0xff, words * sizeof(uint64_t));
    ASSERT_OK(expr_eval(p, big_cols, 100, bits, &err));
    for (size_t r = 0; r < 100; r++)
        ASSERT_EQ_INT((bits[r >> 6] >> (r & 63)) & 1, big_pred(r));
    ASSERT_EQ_INT(bits[1] >> 36, 0);
    free(bits);
    expr_plan_free(p);
}

static void *eval_thread(void *arg)
{
    const struct expr_plan *p = arg;
    size_t words = (BIG + 63) / 64;
    uint64_t *bits = calloc(words, sizeof(uint64_t));
    kite_err err;
    intptr_t bad = 0;
    for (int it = 0; it < 5; it++) {
        if (expr_eval(p, big_cols, BIG, bits, &err) != KITE_OK)
            bad++;
        for (size_t r = 0; r < BIG; r++)
            bad += (((bits[r >> 6] >> (r & 63)) & 1) != big_pred(r));
    }
    free(bits);
    return (void *)bad;
}

TEST(expr_concurrent_eval)
{
    big_init();
    struct expr_plan *p = NULL;
    kite_err err;
    ASSERT_OK(expr_compile(big_expr, NULL, &big_schema, &p, &err));
    pthread_t th[4];
    for (int k = 0; k < 4; k++)
        ASSERT_EQ_INT(pthread_create(&th[k], NULL, eval_thread, p), 0);
    for (int k = 0; k < 4; k++) {
        void *ret;
        pthread_join(th[k], &ret);
        ASSERT_EQ_INT((intptr_t)ret, 0);
    }
    expr_plan_free(p);
}

TEST(expr_pk_big_in_list)
{
    big_init();
    /* A 5000-element pk list: sorted once, binary-searched per row. */
    size_t cap = 5000 * 8 + 32;
    char *e = malloc(cap);
    size_t o = (size_t)snprintf(e, cap, "a in [");
    for (int k = 0; k < 5000; k++)
        o += (size_t)snprintf(e + o, cap - o, "%d,", (k * 7919) % 20000);
    snprintf(e + o, cap - o, "]");
    struct expr_plan *p = NULL;
    kite_err err;
    ASSERT_OK(expr_compile(e, NULL, &big_schema, &p, &err));
    kite_column ids;
    ASSERT(expr_plan_pk_terms(p, &ids));
    ASSERT_EQ_INT(ids.n, 5000);
    expr_pk_terms_free(&ids);
    size_t words = (BIG + 63) / 64;
    uint64_t *bits = calloc(words, sizeof(uint64_t));
    ASSERT_OK(expr_eval(p, big_cols, BIG, bits, &err));
    bool *want = calloc(BIG, 1);
    for (int k = 0; k < 5000; k++) {
        int v = (k * 7919) % 20000;
        if (v < BIG)
            want[v] = true;
    }
    for (size_t r = 0; r < BIG; r++)
        ASSERT_EQ_INT((bits[r >> 6] >> (r & 63)) & 1, want[r]);
    free(want);
    free(bits);
    free(e);
    expr_plan_free(p);
}

TEST(expr_literals)
{
    static const struct expr_field f[] = {{"x", KITE_DT_INT64, 0, false, false},
                                          {"d", KITE_DT_DOUBLE, 0, false, false},
                                          {"s", KITE_DT_VARCHAR, 0, false, false}};
    const struct expr_schema s = {f, 3, -1};
    int64_t xs[4] = {0, 31, 8, -1};
    double ds[4] = {0.5, 12.0, 1e10, -0.0015};
    static const char *const ss[] = {"a\tb", "\x01", "'\"", "\xe2\x82\xac"};
    char sb[64];
    uint64_t so[5];
    kite_column cols[3];
    memset(cols, 0, sizeof(cols));
    cols[0] = (kite_column){.name = "x", .dtype = KITE_DT_INT64, .n = 4, .data = xs};
    cols[1] = (kite_column){.name = "d", .dtype = KITE_DT_DOUBLE, .n = 4, .data = ds};
    varcol(&cols[2], "s", KITE_DT_VARCHAR, 0, ss, 4, sb, so);
    ASSERT_EQ_INT(run1(&s, cols, 4, "x == 0x1F"), 0x2);
    ASSERT_EQ_INT(run1(&s, cols, 4, "x == 0X1f"), 0x2);
    ASSERT_EQ_INT(run1(&s, cols, 4, "x == 0b11111"), 0x2);
    ASSERT_EQ_INT(run1(&s, cols, 4, "x == 037"), 0x2);
    ASSERT_EQ_INT(run1(&s, cols, 4, "x == 010"), 0x4);
    ASSERT_EQ_INT(run1(&s, cols, 4, "x == 0"), 0x1);
    ASSERT_EQ_INT(run1(&s, cols, 4, "x == -1"), 0x8);
    ASSERT_EQ_INT(run1(&s, cols, 4, "x == +31"), 0x2);
    ASSERT_EQ_INT(run1(&s, cols, 4, "d == .5"), 0x1);
    ASSERT_EQ_INT(run1(&s, cols, 4, "d == 12."), 0x2);
    ASSERT_EQ_INT(run1(&s, cols, 4, "d == 0x1.8p3"), 0x2);
    ASSERT_EQ_INT(run1(&s, cols, 4, "d == 0x18p-1"), 0x2);
    ASSERT_EQ_INT(run1(&s, cols, 4, "d == 1e10"), 0x4);
    ASSERT_EQ_INT(run1(&s, cols, 4, "d == 1E+10"), 0x4);
    ASSERT_EQ_INT(run1(&s, cols, 4, "d == -1.5e-3"), 0x8);
    ASSERT_EQ_INT(run1(&s, cols, 4, "d == 2 ** -1"), 0x1);
    ASSERT_EQ_INT(run1(&s, cols, 4, "s == 'a\\tb'"), 0x1);
    ASSERT_EQ_INT(run1(&s, cols, 4, "s == \"\\x01\""), 0x2);
    ASSERT_EQ_INT(run1(&s, cols, 4, "s == \"\\001\""), 0x2);
    ASSERT_EQ_INT(run1(&s, cols, 4, "s == '\\'\"'"), 0x4);
    ASSERT_EQ_INT(run1(&s, cols, 4, "s == U'\\U000020AC'"), 0x8);
    ASSERT_EQ_INT(run1(&s, cols, 4, "s == u'\\u20ac'"), 0x8);
    ASSERT_EQ_INT(run1(&s, cols, 4, "s like '\\u20ac'"), 0x8);
}
