/*
 * test_expr_errors.c — every error form: code, message fragment, and the
 * byte offset; depth and length limits; allocation failures.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "expr_fixture.h"
#include "test.h"

struct ecase {
    const char *expr;
    const char *fragment;
    long offset; /* expected err.offset, or -1 = don't check */
};

static const struct ecase ecases[] = {
    /* syntax */
    {"i64 >", "line 1:5 missing an operand", 5},
    {"i64 @ 5", "token recognition error at: '@'", 4},
    {"i64 = 5", "token recognition error at: '='", 4},
    {"i64 > 5 )", "line 1:8 extraneous input ')' expecting <EOF>", 8},
    {"(i64 > 5", "missing ')' at <EOF>", 8},
    {"i64 > 99999999999999999999", "value out of range", 6},
    {"i64 > -9223372036854775808", "value out of range", 7},
    {"i64 == 08", "invalid digit '8'", 7},
    {"i64 == 0x", "invalid hex literal", 7},
    {"d == 0x1.8", "expected 'p' exponent", 5},
    {"s == 'abc", "token recognition error", 5},
    {"s == 'a\nb'", "token recognition error", 5},
    {"s == '\\q'", "invalid escape sequence", 6},
    {"s == '\\u12'", "expected 4 hex digits", 6},
    {"i64 in [1, 2", "missing ',' or ']' at <EOF>", 12},
    {"j[-1] > 1", "a string key or a non-negative integer index", 2},
    {"j[a] > 1", "a string key or a non-negative integer index", 2},
    {"s like i64", "a string literal pattern", 7},
    {"n is nul", "expecting 'null'", 5},
    {"i64 > 1\nand $x", "line 2:4 token recognition error at: '$'", 12},
    {"{ x > 1", "expected {identifier}", 0},
    /* names */
    {"x > 1 and i64 > 0", NULL, -1}, /* dynamic: fine (checked separately) */
    /* types */
    {"i64 + 1", "predicate is not a boolean expression", -1},
    {"'abc'", "predicate is not a boolean expression", -1},
    {"j['a']", "predicate is not a boolean expression", -1},
    {"i64 and b", "'and' can only be used between boolean expressions", 0},
    {"b or s", "'or' can only be used between boolean expressions", 5},
    {"not i64", "not op can only be applied on boolean expression", 4},
    {"not 1", "not op can only be applied on boolean expression", 0},
    {"ai > 1", "can not comparisons array fields directly", 3},
    {"ai in [1]", "can not comparisons array fields directly", -1},
    {"i64 > 1.5", "cannot cast value to Int64, value: float_val:1.5", 4},
    {"s > 1", "cannot cast value to VarChar, value: int64_val:1", 2},
    {"b == 1", "cannot cast value to Bool", -1},
    {"i64 in [1, 'a']", "cannot cast value to Int64, value: string_val:\"a\"", -1},
    {"vec > 1", "comparisons between FloatVector and Int64 are not supported", -1},
    {"s == i64", "comparisons between VarChar and Int64 are not supported", -1},
    {"j['a'] == i64", "two column comparison with JSON type is not supported", -1},
    {"1 == 'a'", "comparisons between Int64 and VarChar are not supported", -1},
    {"i64 + i32 == 3", "not supported to do arithmetic operations between multiple fields", 4},
    {"(i64 + 1) * 2 == 3", "complicated arithmetic operations are not supported", -1},
    {"2 - i64 == 1", "module field is not yet supported", 2},
    {"2 / i64 == 1", "module field is not yet supported", -1},
    {"i64 % 1.5 == 0", "modulus can only apply on integer types", -1},
    {"d % 2 == 0", "modulus can only apply on integer types", -1},
    {"i64 / 0 == 1", "division or modulus by zero", -1},
    {"i64 > 1 / 0", "division or modulus by zero", -1},
    {"i64 > 1 % 0", "division or modulus by zero", -1},
    {"s + 1 == 2", "arithmetic operations are not supported on VarChar fields", -1},
    {"'a' + 1 == 2", "arithmetic operations are only supported on numbers", -1},
    {"i64 ** 2 == 4", "power (**) is only supported between constants", -1},
    {"-i64 > 1", "unary '-' can only be applied to numeric constants", 0},
    {"i64 > 2 ** 3", "cannot cast value to Int64", -1},
    {"i64 << 1 == 2", "shift is not supported", 4},
    {"i64 >> 1 == 2", "shift is not supported", -1},
    {"i64 & 1 == 1", "BitAnd is not supported", -1},
    {"i64 | 1 == 1", "BitOr is not supported", -1},
    {"i64 ^ 1 == 1", "BitXor is not supported", -1},
    {"~i64 > 1", "BitNot is not supported", 0},
    {"5 < i64 < 1", "invalid range: lowerbound is greater than upperbound", -1},
    {"5 < i64 < 5", "invalid range: lowerbound is greater than upperbound", -1},
    {"'b' <= s <= 'a'", "invalid range: lowerbound is greater than upperbound", -1},
    {"false < b < true", "invalid range operations on boolean expr", -1},
    {"1 < i64 < i32", "the bounds of a range expression must be constants", -1},
    {"1 < i64 > 0", "only comparison between two fields is supported", -1},
    {"exists i64", "exists operations are only supportted on json key", 0},
    {"exists j", "exists operations are only supportted on json key", 0},
    {"exists j['a'] and i64 > 1", "'and' can only be used between boolean expressions", -1},
    {"i64 like 'a%'", "like operation on non-string or no-json field is unsupported", -1},
    {"ai like 'a%'", "like operation on non-string or no-json field is unsupported", -1},
    {"json_contains_all(j['c'], 1)", "contains_all operation element must be an array", -1},
    {"json_contains_any(j['c'], 1)", "contains_any operation element must be an array", -1},
    {"json_contains(i64, 1)", "only supported on json or array fields", -1},
    {"json_contains(j['c'])", "json_contains expects 2 arguments, got 1", -1},
    {"array_contains(ai, 'x')", "cannot cast value to Int64", -1},
    {"array_contains(ai, i64)", "element must be a constant", -1},
    {"array_length(i64) == 1", "array_length operation are only supported on array or json fields",
     -1},
    {"array_length(ai) == 1.5", "cannot cast value to Int64", -1},
    {"array_length(ai)", "predicate is not a boolean expression", -1},
    {"text_match(s, 'x')", "text_match is not supported", -1},
    {"foo(1)", "function foo() is not supported", 0},
    {"i64 > {missing}", "template variable name {missing} is not found", 6},
    {"i64 in 5", "the right-hand side of 'in' must be a list", -1},
    {"5 in [5]", "the left-hand side of 'in' must be a field", -1},
    {"i64 in [i32]", "array elements must be constant values", 8},
    {"i64[0] > 1", "only JSON and Array fields can be indexed", -1},
    {"ai['x'] > 1", "only supports one integer index", -1},
    {"$meta > 1", NULL, -1}, /* JSON vs constant: allowed */
    {"1 < (i64 > 0)", "only comparison between two fields is supported", -1},
};

TEST(expr_errors)
{
    fx_init();
    int failed = 0;
    for (size_t k = 0; k < sizeof(ecases) / sizeof(ecases[0]); k++) {
        const struct ecase *e = &ecases[k];
        struct expr_plan *p = NULL;
        kite_err err;
        kite_err_clear(&err);
        int rc = expr_compile(e->expr, NULL, &fx_schema, &p, &err);
        if (!e->fragment) {
            if (rc != KITE_OK) {
                fprintf(stderr, "  [%s]: unexpected error %s\n", e->expr, err.message);
                failed++;
            }
            expr_plan_free(p);
            continue;
        }
        char prefix[600];
        snprintf(prefix, sizeof(prefix), "cannot parse expression: %s, error: ", e->expr);
        if (rc != KITE_EEXPR || p != NULL || err.code != KITE_EEXPR ||
            !strstr(err.message, e->fragment) || strncmp(err.message, prefix, strlen(prefix)) != 0 ||
            (e->offset >= 0 && err.offset != e->offset)) {
            fprintf(stderr, "  [%s]: rc %d offset %lld msg \"%s\"; want fragment \"%s\" offset %ld\n",
                    e->expr, rc, (long long)err.offset, err.message, e->fragment, e->offset);
            failed++;
        }
        expr_plan_free(p);
    }
    if (failed)
        TEST_FAIL_("%d error cases failed", failed);
}

TEST(expr_unknown_field_without_dynamic)
{
    fx_init();
    struct expr_plan *p = NULL;
    kite_err err;
    ASSERT_EQ_INT(expr_compile("x > 1", NULL, &fx_schema_static, &p, &err), KITE_EEXPR);
    ASSERT_CONTAINS(err.message, "field x not exist");
    ASSERT_EQ_INT(err.offset, 0);
    ASSERT_EQ_INT(expr_compile("$meta['x'] > 1", NULL, &fx_schema_static, &p, &err), KITE_EEXPR);
    ASSERT_CONTAINS(err.message, "field $meta not exist");
    /* With the dynamic field the same name is $meta["x"]. */
    ASSERT_OK(expr_compile("x > 1", NULL, &fx_schema, &p, &err));
    ASSERT(expr_plan_uses_field(p, FX_META));
    expr_plan_free(p);
}

TEST(expr_template_errors)
{
    fx_init();
    struct expr_plan *p = NULL;
    kite_err err;
    ASSERT_EQ_INT(expr_compile("i64 > {x}", "[1]", &fx_schema, &p, &err), KITE_EEXPR);
    ASSERT_CONTAINS(err.message, "template values must be a JSON object");
    ASSERT_EQ_INT(expr_compile("i64 > {x}", "{bad", &fx_schema, &p, &err), KITE_EEXPR);
    ASSERT_EQ_INT(expr_compile("i64 > {x}", "{\"x\": {\"a\": 1}}", &fx_schema, &p, &err),
                  KITE_EEXPR);
    ASSERT_CONTAINS(err.message, "unsupported value type");
    ASSERT_EQ_INT(expr_compile("i64 > {x}", "{\"x\": \"s\"}", &fx_schema, &p, &err), KITE_EEXPR);
    ASSERT_CONTAINS(err.message, "cannot cast value to Int64");
    ASSERT_EQ_INT(expr_compile("i64 > {y}", "{\"x\": 1}", &fx_schema, &p, &err), KITE_EEXPR);
    ASSERT_CONTAINS(err.message, "{y} is not found");
}

static char *repeat(const char *pre, const char *mid, const char *post, size_t n)
{
    size_t lp = strlen(pre), lm = strlen(mid), lq = strlen(post);
    char *s = malloc(n * (lp + lq) + lm + 1);
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
        memcpy(s + o, pre, lp);
        o += lp;
    }
    memcpy(s + o, mid, lm);
    o += lm;
    for (size_t k = 0; k < n; k++) {
        memcpy(s + o, post, lq);
        o += lq;
    }
    s[o] = '\0';
    return s;
}

TEST(expr_depth_limit)
{
    fx_init();
    struct expr_plan *p = NULL;
    kite_err err;
    /* Moderate nesting is fine. */
    char *ok = repeat("(", "i64 > 1", ")", 100);
    ASSERT_OK(expr_compile(ok, NULL, &fx_schema, &p, &err));
    expr_plan_free(p);
    free(ok);
    static const char *const deep[][3] = {
        {"(", "i64 > 1", ")"},
        {"not ", "b", ""},
        {"!", "b", ""},
        {"-", "1 < i64", ""},
        {"[", "1", "]"},
        {"(b and ", "b", ")"},
        {"exists ", "j['a']", ""},
        {"json_contains(j['c'], ", "1", ")"},
    };
    for (size_t k = 0; k < sizeof(deep) / sizeof(deep[0]); k++) {
        for (size_t n = 200; n <= 20000; n *= 100) {
            char *s = repeat(deep[k][0], deep[k][1], deep[k][2], n);
            int rc = expr_compile(s, NULL, &fx_schema, &p, &err);
            if (rc != KITE_EEXPR || !strstr(err.message, "nesting is deeper than 128 levels"))
                TEST_FAIL_("deep '%s' x%zu: rc %d %s", deep[k][0], n, rc, err.message);
            free(s);
        }
    }
    /* Left-deep arithmetic chains count too. */
    char *chain = repeat("", "1", "+1", 500);
    char *e = malloc(strlen(chain) + 16);
    sprintf(e, "i64 > %s", chain);
    ASSERT_EQ_INT(expr_compile(e, NULL, &fx_schema, &p, &err), KITE_EEXPR);
    ASSERT_CONTAINS(err.message, "nesting is deeper");
    free(chain);
    free(e);
    /* Long and/or chains are flattened and allowed. */
    char *ors = repeat("", "i64 == 0", " or i64 == 1", 5000);
    ASSERT_OK(expr_compile(ors, NULL, &fx_schema, &p, &err));
    uint64_t bits[(FX_ROWS + 63) / 64];
    ASSERT_OK(expr_eval(p, fx_cols, FX_ROWS, bits, &err));
    expr_plan_free(p);
    free(ors);
    char *ands = repeat("", "b", " && b", 5000);
    ASSERT_OK(expr_compile(ands, NULL, &fx_schema, &p, &err));
    expr_plan_free(p);
    free(ands);
}

TEST(expr_length_limit)
{
    fx_init();
    size_t n = EXPR_MAX_LEN + 10;
    char *s = malloc(n + 1);
    memset(s, ' ', n);
    memcpy(s, "b", 1);
    s[n] = '\0';
    struct expr_plan *p = NULL;
    kite_err err;
    ASSERT_EQ_INT(expr_compile(s, NULL, &fx_schema, &p, &err), KITE_EEXPR);
    ASSERT_CONTAINS(err.message, "longer than");
    ASSERT(p == NULL);
    free(s);
}

TEST(expr_compile_oom)
{
    fx_init();
    static const char *const exprs[] = {
        "i64 > 1 and s like 'a%b' or json_contains_any(j['c'], [1, 2]) and n in [1, 2, 3]",
        "m > {x} and tag == 'apple'",
    };
    for (size_t e = 0; e < 2; e++) {
        for (uint64_t nth = 1; nth < 200; nth++) {
            struct expr_plan *p = NULL;
            kite_err err;
            kite_alloc_fail_at(nth, false);
            int rc = expr_compile(exprs[e], "{\"x\": 3}", &fx_schema, &p, &err);
            kite_alloc_fail_at(0, false);
            if (rc == KITE_OK) {
                uint64_t bits[(FX_ROWS + 63) / 64];
                kite_alloc_fail_at(nth, false);
                rc = expr_eval(p, fx_cols, FX_ROWS, bits, &err);
                kite_alloc_fail_at(0, false);
                ASSERT(rc == KITE_OK || rc == KITE_ENOMEM);
                expr_plan_free(p);
            } else {
                ASSERT_EQ_INT(rc, KITE_ENOMEM);
                ASSERT(p == NULL);
            }
        }
    }
}
