/*
 * test_expr_cases.c — table-driven checks of every expression form over the
 * fixture batch.  Each case pairs an expression with a hand-written C
 * predicate over struct fx_row; the expected row set comes from the C
 * predicate, never from the engine.
 *
 * Null rule under test (Milvus 2.5): a null cell makes a comparison unknown;
 * unknown rows match neither `p` nor `not p` (Kleene logic; see eval.c).
 */
#include <stdint.h>
#include <string.h>

#include "expr_fixture.h"
#include "test.h"

typedef const struct fx_row R;

/* ---------------------------------------------------------------- helpers */

static bool ja_num(R *r)
{
    return r->j_valid && (r->ja_kind == JA_INT || r->ja_kind == JA_FLOAT);
}

static double ja_val(R *r)
{
    return r->ja_kind == JA_INT ? (double)r->ja_i : r->ja_f;
}

static bool ja_eq_num(R *r, double v)
{
    return ja_num(r) && ja_val(r) == v;
}

static bool ja_eq_str(R *r, const char *s)
{
    return r->j_valid && r->ja_kind == JA_STR && strcmp(r->ja_s, s) == 0;
}

static bool jc_has(R *r, int64_t v)
{
    if (!r->j_valid || !r->jc_present)
        return false;
    for (int k = 0; k < r->jc_len; k++)
        if (r->jc[k] == v)
            return true;
    return false;
}

static bool ai_has(R *r, int64_t v)
{
    for (int k = 0; k < r->ai_len; k++)
        if (r->ai[k] == v)
            return true;
    return false;
}

static bool as_has(R *r, const char *v)
{
    for (int k = 0; k < r->as_len; k++)
        if (strcmp(r->as[k], v) == 0)
            return true;
    return false;
}

static int64_t wrap_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

static bool starts(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static bool contains(const char *s, const char *p)
{
    return strstr(s, p) != NULL;
}

static bool in_i64(int64_t v, const int64_t *xs, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (xs[k] == v)
            return true;
    return false;
}

#define IN(v, ...) in_i64((v), (const int64_t[]){__VA_ARGS__}, \
                          sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
#define SEQ(a, b) (strcmp((a), (b)) == 0)
#define NV (r->n_valid)

/* ---------------------------------------------------------------- cases */

#define CASES(X)                                                                                 \
    /* integers, exactness, literal forms */                                                     \
    X(c_gt, "i64 > 5", r->i64 > 5)                                                               \
    X(c_big_eq, "i64 == 9007199254741000", r->i64 == 9007199254741000LL)                         \
    X(c_big_eq_odd, "i64 == 9007199254741001", r->i64 == 9007199254741001LL)                     \
    X(c_big_gt, "i64 > 9007199254741000", r->i64 > 9007199254741000LL)                           \
    X(c_big_in, "i64 in [9007199254741001, 9007199254741010]",                                   \
      IN(r->i64, 9007199254741001LL, 9007199254741010LL))                                        \
    X(c_min, "i64 >= -9223372036854775807 - 1", true)                                            \
    X(c_max, "i64 == 9223372036854775807", r->i64 == INT64_MAX)                                  \
    X(c_hex, "i64 < 0x10", r->i64 < 16)                                                          \
    X(c_bin, "i8 == 0b101", r->i8 == 5)                                                          \
    X(c_oct, "i64 == 010", r->i64 == 8)                                                          \
    X(c_i8_lo, "i8 < -100", r->i8 < -100)                                                        \
    X(c_i8_over, "i8 > 300", false)                                                              \
    X(c_i8_under, "i8 < 300", true)                                                              \
    X(c_i32_ne, "i32 != 0", r->i32 != 0)                                                         \
    X(c_mirror, "5 < i64", r->i64 > 5)                                                           \
    X(c_mirror2, "10 >= i32", r->i32 <= 10)                                                      \
    X(c_pk, "id == 3", r->id == 3)                                                               \
    /* floats */                                                                                 \
    X(c_f_gt, "f > 0.1", r->f > 0.1f)                                                            \
    X(c_f_eq, "f == 0.1", r->f == 0.1f)                                                          \
    X(c_f_int, "f >= 2", r->f >= 2.0f)                                                           \
    X(c_d_exp, "d <= 1.5e1", r->d <= 15.0)                                                       \
    X(c_d_dot, "d > .5", r->d > 0.5)                                                             \
    X(c_d_dot2, "d < 5.", r->d < 5.0)                                                            \
    X(c_d_hexf, "d == 0x1.ap3", r->d == 13.0)                                                    \
    X(c_d_neg, "d > -1.5E+1", r->d > -15.0)                                                      \
    /* strings */                                                                                \
    X(c_s_eq, "s == 'apple'", SEQ(r->s, "apple"))                                                \
    X(c_s_eq2, "s == \"apple\"", SEQ(r->s, "apple"))                                             \
    X(c_s_gt, "s > \"b\"", strcmp(r->s, "b") > 0)                                                \
    X(c_s_ne_empty, "s != ''", r->s[0] != '\0')                                                  \
    X(c_s_u8, "s == u8'h\\u00e9llo'", SEQ(r->s, "h\xc3\xa9llo"))                                 \
    X(c_s_esc, "s == \"\\xe6\\x97\\xa5\\u672c\\u8a9e\"", SEQ(r->s, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e")) \
    X(c_s_raw_utf8, "s == '\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e'",                              \
      SEQ(r->s, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"))                                         \
    X(c_s_quote, "s == 'x\"q'", SEQ(r->s, "x\"q"))                                               \
    X(c_s_quote2, "s == \"x\\\"q\"", SEQ(r->s, "x\"q"))                                          \
    X(c_s_prefix_L, "s == L'app'", SEQ(r->s, "app"))                                             \
    X(c_s_octal, "s == '\\141pp'", SEQ(r->s, "app"))                                             \
    /* bools and constants */                                                                    \
    X(c_b, "b", r->b)                                                                            \
    X(c_not_b, "not b", !r->b)                                                                   \
    X(c_bang_b, "!b", !r->b)                                                                     \
    X(c_b_eq, "b == true", r->b)                                                                 \
    X(c_b_ne, "b != True", !r->b)                                                                \
    X(c_true, "true", true)                                                                      \
    X(c_false, "FALSE", false)                                                                   \
    X(c_fold_cmp, "1 < 2", true)                                                                 \
    X(c_fold_and, "TRUE and b", r->b)                                                            \
    X(c_fold_or, "False or b", r->b)                                                             \
    X(c_fold_or_true, "true or i64 > 3", true)                                                   \
    X(c_empty, "", true)                                                                         \
    X(c_blank, "  \n\t ", true)                                                                  \
    /* arithmetic */                                                                             \
    X(c_ar_add, "i64 + 2 == 10", wrap_add(r->i64, 2) == 10)                                      \
    X(c_ar_mul, "i32 * 2 > 100", (int64_t)r->i32 * 2 > 100)                                      \
    X(c_ar_div, "i32 / 1000 == -5", r->i32 / 1000 == -5)                                         \
    X(c_ar_mod, "i32 % 7 == 3", r->i32 % 7 == 3)                                                 \
    X(c_ar_mod_ne, "i64 % 2 != 0", r->i64 % 2 != 0)                                              \
    X(c_ar_cadd, "2 + i32 < 0", (int64_t)r->i32 + 2 < 0)                                         \
    X(c_ar_cmul, "3 * i32 >= 3000", (int64_t)r->i32 * 3 >= 3000)                                 \
    X(c_ar_dsub, "d - 0.5 > 10", r->d - 0.5 > 10)                                                \
    X(c_ar_i8, "i8 + 1 == -127", (int64_t)r->i8 + 1 == -127)                                     \
    X(c_ar_rhs, "i64 - 1 < 2 * 3", r->i64 != INT64_MIN && r->i64 - 1 < 6)                        \
    X(c_fold_pow, "d > 2 ** 3", r->d > 8.0)                                                      \
    X(c_fold_prec, "i64 > 2 + 3 * 2", r->i64 > 8)                                                \
    X(c_fold_neg, "i64 < -(-5)", r->i64 < 5)                                                     \
    X(c_fold_div, "i64 > 7 / 2", r->i64 > 3)                                                     \
    X(c_fold_mod, "i64 > 7 % 4", r->i64 > 3)                                                     \
    X(c_fold_paren, "i64 > (1 + 2) * 3", r->i64 > 9)                                             \
    /* ranges */                                                                                 \
    X(c_rg1, "1 < i64 < 10", r->i64 > 1 && r->i64 < 10)                                          \
    X(c_rg2, "-10 <= i64 <= 10", r->i64 >= -10 && r->i64 <= 10)                                  \
    X(c_rg3, "10 > i64 > 1", r->i64 > 1 && r->i64 < 10)                                          \
    X(c_rg4, "10 >= i64 >= 1", r->i64 >= 1 && r->i64 <= 10)                                      \
    X(c_rg5, "1 < i64 <= 10", r->i64 > 1 && r->i64 <= 10)                                        \
    X(c_rg_s, "'a' <= s < 'b'", strcmp(r->s, "a") >= 0 && strcmp(r->s, "b") < 0)                 \
    X(c_rg_f, "0.1 < f < 2", r->f > 0.1f && r->f < 2.0f)                                         \
    X(c_rg_j, "1 < j[\"a\"] < 10", ja_num(r) && ja_val(r) > 1 && ja_val(r) < 10)                 \
    X(c_rg_null, "-20 < n < 20", NV && r->n > -20 && r->n < 20)                                  \
    X(c_rg_not_null, "not (-20 < n < 20)", NV && !(r->n > -20 && r->n < 20))                     \
    /* in / not in */                                                                            \
    X(c_in, "i64 in [1, 4, 7]", IN(r->i64, 1, 4, 7))                                             \
    X(c_nin, "i64 not in [1, 4, 7]", !IN(r->i64, 1, 4, 7))                                       \
    X(c_nin2, "i64 NOT IN [1, 4, 7]", !IN(r->i64, 1, 4, 7))                                      \
    X(c_nin3, "not (i64 in [1, 4, 7])", !IN(r->i64, 1, 4, 7))                                    \
    X(c_in_bang, "i64 ! in [-50, -47]", !IN(r->i64, -50, -47))                                   \
    X(c_in_empty, "i64 in []", false)                                                            \
    X(c_nin_empty, "i64 not in []", true)                                                        \
    X(c_in_trailing, "id in [1,2,3,]", r->id >= 1 && r->id <= 3)                                 \
    X(c_in_upper, "id IN [5]", r->id == 5)                                                       \
    X(c_in_s, "s in ['apple', 'cherry', '']",                                                    \
      SEQ(r->s, "apple") || SEQ(r->s, "cherry") || SEQ(r->s, ""))                                \
    X(c_in_null, "n in [1, -10, 5]", NV && IN(r->n, 1, -10, 5))                                  \
    X(c_nin_null, "n not in [1, -10, 5]", NV && !IN(r->n, 1, -10, 5))                            \
    X(c_in_json, "j['a'] in [-19, 'x6', 4.5, -2]",                                               \
      ja_eq_num(r, -19) || ja_eq_str(r, "x6") || ja_eq_num(r, 4.5) || ja_eq_num(r, -2))          \
    X(c_nin_json, "j['a'] not in [-19, 'x6', 4.5, -2]",                                          \
      r->j_valid && !(ja_eq_num(r, -19) || ja_eq_str(r, "x6") || ja_eq_num(r, 4.5) ||            \
                      ja_eq_num(r, -2)))                                                         \
    X(c_in_f, "d in [1, 2.5, -20]", r->d == 1 || r->d == 2.5 || r->d == -20)                     \
    /* like */                                                                                   \
    X(c_lk_prefix, "s like 'app%'", starts(r->s, "app"))                                         \
    X(c_lk_prefix2, "s LIKE 'a%%'", starts(r->s, "a"))                                           \
    X(c_lk_eq, "s like 'apple'", SEQ(r->s, "apple"))                                             \
    X(c_lk_mid, "s like '%an%'", contains(r->s, "an"))                                           \
    X(c_lk_suffix, "s like '%e'", strlen(r->s) > 0 && r->s[strlen(r->s) - 1] == 'e')             \
    X(c_lk_esc_pct, "s like 'a\\\\%b'", SEQ(r->s, "a%b"))                                        \
    X(c_lk_esc_us, "s like 'a\\\\_b'", SEQ(r->s, "a_b"))                                         \
    X(c_lk_us, "s like 'a_b'", SEQ(r->s, "a%b") || SEQ(r->s, "a_b"))                             \
    X(c_lk_all, "s like '%'", true)                                                              \
    X(c_lk_utf8, "s like 'h_llo'", SEQ(r->s, "h\xc3\xa9llo"))                                    \
    X(c_lk_cjk, "s like '\xe6\x97\xa5%'", starts(r->s, "\xe6\x97\xa5"))                          \
    X(c_lk_at, "s like 'a%t'", SEQ(r->s, "apricot"))                                             \
    X(c_lk_json, "j['b'] like 'ch%'", r->j_valid && r->jb && starts(r->jb, "ch"))                \
    X(c_lk_meta, "tag like 'b%'", starts(r->tag, "b"))                                           \
    X(c_lk_arr, "as[0] like 'a%'", r->as_len > 0 && starts(r->as[0], "a"))                       \
    /* exists */                                                                                 \
    X(c_ex, "exists j['b']", r->j_valid && r->jb != NULL)                                        \
    X(c_ex_up, "EXISTS j['d']['e']", r->j_valid && r->jd_present)                                \
    X(c_ex_not, "not (exists j['b'])", r->j_valid && r->jb == NULL)                              \
    X(c_ex_dyn, "exists m", r->m_present)                                                        \
    X(c_ex_meta, "exists $meta['m']", r->m_present)                                              \
    X(c_ex_paren, "(exists j['b']) and i64 > 0", r->j_valid && r->jb && r->i64 > 0)              \
    X(c_ex_low, "i64 > 0 and exists j['b']", r->i64 > 0 && r->j_valid && r->jb != NULL)         \
    /* JSON paths */                                                                             \
    X(c_j_gt, "j['a'] > 0", ja_num(r) && ja_val(r) > 0)                                          \
    X(c_j_eq_s, "j['a'] == 'x6'", ja_eq_str(r, "x6"))                                            \
    X(c_j_ne, "j['a'] != 5", r->j_valid && !ja_eq_num(r, 5))                                     \
    X(c_j_ge_f, "j[\"a\"] >= 4.5", ja_num(r) && ja_val(r) >= 4.5)                                \
    X(c_j_lt_s, "j['a'] < 'x3'", r->j_valid && r->ja_kind == JA_STR && strcmp(r->ja_s, "x3") < 0) \
    X(c_j_nested, "j['d']['e'] == 3", r->j_valid && r->jd_present && r->jde == 3)                \
    X(c_j_idx, "j['c'][1] >= 10",                                                                \
      r->j_valid && r->jc_present && r->jc_len > 1 && r->jc[1] >= 10)                            \
    X(c_j_missing, "j['zz'] == 1", false)                                                        \
    X(c_j_missing_ne, "j['zz'] != 1", r->j_valid)                                                \
    X(c_j_not, "not (j['a'] > 0)", r->j_valid && !(ja_num(r) && ja_val(r) > 0))                  \
    X(c_j_arith, "j['a'] * 2 == -36", ja_num(r) && ja_val(r) * 2 == -36)                         \
    /* contains */                                                                               \
    X(c_jc, "json_contains(j['c'], 10)", jc_has(r, 10))                                          \
    X(c_jc_up, "JSON_CONTAINS(j['c'], 5)", jc_has(r, 5))                                         \
    X(c_jc_all, "json_contains_all(j['c'], [10, 11])", jc_has(r, 10) && jc_has(r, 11))           \
    X(c_jc_any, "json_contains_any(j['c'], [10, 21])", jc_has(r, 10) || jc_has(r, 21))           \
    X(c_ac, "array_contains(ai, 20)", ai_has(r, 20))                                             \
    X(c_ac_all, "array_contains_all(ai, [20, 21])", ai_has(r, 20) && ai_has(r, 21))              \
    X(c_ac_any, "ARRAY_CONTAINS_ANY(as, ['apple', 'zzz'])", as_has(r, "apple"))                  \
    X(c_ac_empty, "array_contains(as, '')", as_has(r, ""))                                       \
    X(c_ac_json_syn, "json_contains(ai, 21)", ai_has(r, 21))                                     \
    /* array_length / index */                                                                   \
    X(c_al, "array_length(ai) == 3", r->ai_len == 3)                                             \
    X(c_al_gt, "array_length(ai) > 1", r->ai_len > 1)                                            \
    X(c_al_json, "ARRAY_LENGTH(j['c']) == 0", r->j_valid && r->jc_present && r->jc_len == 0)     \
    X(c_al_ne, "array_length(as) != 1", r->as_len != 1)                                          \
    X(c_ai0, "ai[0] > 50", r->ai_len > 0 && r->ai[0] > 50)                                       \
    X(c_ai2, "ai[2] == 62", r->ai_len > 2 && r->ai[2] == 62)                                     \
    X(c_as1, "as[1] == 'banana'", r->as_len > 1 && SEQ(r->as[1], "banana"))                      \
    X(c_ai_in, "ai[0] in [0, 4, 8]", r->ai_len > 0 && IN(r->ai[0], 0, 4, 8))                     \
    /* dynamic fields */                                                                         \
    X(c_dyn_gt, "m > 50", r->m_present && r->m > 50)                                             \
    X(c_dyn_meta, "$meta['m'] <= 10", r->m_present && r->m <= 10)                                \
    X(c_dyn_tag, "tag == 'apple'", SEQ(r->tag, "apple"))                                         \
    X(c_dyn_mod, "m % 4 == 0", r->m_present && r->m % 4 == 0)                                    \
    X(c_dyn_add, "m + 1 == 11", r->m_present && r->m + 1 == 11)                                  \
    X(c_dyn_in, "tag in ['banana', 'cherry']", SEQ(r->tag, "banana") || SEQ(r->tag, "cherry"))   \
    /* field vs field */                                                                         \
    X(c_ff, "i64 > i32", r->i64 > (int64_t)r->i32)                                               \
    X(c_ff_df, "d >= f", r->d >= (double)r->f)                                                   \
    X(c_ff_null, "n == i64", NV && r->n == r->i64)                                               \
    X(c_ff_null2, "i8 < n", NV && (int64_t)r->i8 < r->n)                                         \
    X(c_ff_s, "s == s", true)                                                                    \
    X(c_ff_b, "b != b", false)                                                                   \
    /* nulls */                                                                                  \
    X(c_n_gt, "n > 0", NV && r->n > 0)                                                           \
    X(c_n_not, "not (n > 0)", NV && !(r->n > 0))                                                 \
    X(c_n_or, "n > 0 or b", (NV && r->n > 0) || r->b)                                            \
    X(c_n_not_or, "not (n > 0 or b)", NV && !(r->n > 0) && !r->b)                                \
    X(c_n_and, "n > 0 and b", NV && r->n > 0 && r->b)                                            \
    X(c_n_not_and, "not (n > 0 and b)", (NV && !(r->n > 0)) || !r->b)                            \
    X(c_n_isnull, "n is null", !NV)                                                              \
    X(c_n_isnotnull, "n IS NOT NULL", NV)                                                        \
    X(c_n_ne, "n != 5", NV && r->n != 5)                                                         \
    X(c_j_isnull, "j is null", !r->j_valid)                                                      \
    X(c_jb_isnull, "j['b'] is null", !r->j_valid || r->jb == NULL)                               \
    X(c_n_arith, "n * 2 == -20", NV && r->n * 2 == -20)                                          \
    /* precedence / logic */                                                                     \
    X(c_p1, "b or i64 > 5 and i32 < 0", r->b || (r->i64 > 5 && r->i32 < 0))                      \
    X(c_p2, "(b or i64 > 5) and i32 < 0", (r->b || r->i64 > 5) && r->i32 < 0)                    \
    X(c_p3, "not b and i64 > 0", !r->b && r->i64 > 0)                                            \
    X(c_p4, "b || i64 > 5 && i32 < 0", r->b || (r->i64 > 5 && r->i32 < 0))                       \
    X(c_p5, "!(i64 > 5)", !(r->i64 > 5))                                                         \
    X(c_p6, "b AND i64 > 0 OR NOT b", (r->b && r->i64 > 0) || !r->b)                             \
    X(c_p7, "i64 >\n 5\t", r->i64 > 5)                                                           \
    X(c_p8, "not not b", r->b)                                                                   \
    X(c_p9, "((((i64 > 5))))", r->i64 > 5)                                                       \
    X(c_p10, "i64 > 0 and i64 < 50 and i32 > -20000 and not b",                                  \
      r->i64 > 0 && r->i64 < 50 && r->i32 > -20000 && !r->b)                                     \
    X(c_p11, "i64 == 1 or i64 == 4 or i64 == 7 or s == 'fig'",                                   \
      IN(r->i64, 1, 4, 7) || SEQ(r->s, "fig"))

#define DEF(name, e, cond)                                                                        \
    static bool name(R *r)                                                                       \
    {                                                                                            \
        (void)r;                                                                                 \
        return (cond);                                                                           \
    }
CASES(DEF)
#undef DEF

struct tcase {
    const char *expr;
    bool (*pred)(R *r);
};

#define ENT(name, e, cond) {e, name},
static const struct tcase cases[] = {CASES(ENT)};
#undef ENT

static int check_case(const char *expr, const char *tmpl, bool (*pred)(R *r))
{
    uint64_t bits[(FX_ROWS + 63) / 64];
    kite_err err;
    kite_err_clear(&err);
    int rc = fx_eval(expr, tmpl, bits, &err);
    if (rc != KITE_OK) {
        fprintf(stderr, "  [%s]: rc %d: %s\n", expr, rc, err.message);
        return 1;
    }
    int bad = 0;
    for (size_t r = 0; r < FX_ROWS; r++) {
        bool want = pred(&fx_rows[r]);
        if (fx_bit(bits, r) != want) {
            if (bad < 3)
                fprintf(stderr, "  [%s]: row %zu: got %d want %d\n", expr, r, fx_bit(bits, r),
                        want);
            bad++;
        }
    }
    /* Bits beyond the batch must be clear. */
    for (size_t r = FX_ROWS; r < ((FX_ROWS + 63) / 64) * 64; r++) {
        if (fx_bit(bits, r)) {
            fprintf(stderr, "  [%s]: tail bit %zu set\n", expr, r);
            bad++;
            break;
        }
    }
    return bad ? 1 : 0;
}

TEST(expr_table_cases)
{
    fx_init();
    int failed = 0;
    size_t n = sizeof(cases) / sizeof(cases[0]);
    for (size_t k = 0; k < n; k++)
        failed += check_case(cases[k].expr, NULL, cases[k].pred);
    if (failed)
        TEST_FAIL_("%d of %zu cases failed", failed, n);
}

/* Sanity: the fixture exercises both outcomes for most cases (guards against a
 * broken fixture making every predicate trivially false). */
TEST(expr_table_cases_nontrivial)
{
    fx_init();
    size_t n = sizeof(cases) / sizeof(cases[0]), mixed = 0;
    for (size_t k = 0; k < n; k++) {
        size_t hits = 0;
        for (size_t r = 0; r < FX_ROWS; r++)
            hits += cases[k].pred(&fx_rows[r]);
        mixed += hits > 0 && hits < FX_ROWS;
    }
    ASSERT(mixed * 10 >= n * 8);
}

/* ---------------------------------------------------------------- templates */

static bool t_i64_gt10(R *r) { return r->i64 > 10; }
static bool t_names(R *r) { return SEQ(r->s, "apple") || SEQ(r->s, "fig"); }
static bool t_range(R *r) { return r->d > -5 && r->d < 5.5; }
static bool t_json(R *r) { return ja_eq_str(r, "x6"); }
static bool t_ids(R *r) { return r->id == 2 || r->id == 9; }
static bool t_float_arr(R *r) { return r->d == 1 || r->d == 2.5; }

TEST(expr_templates)
{
    fx_init();
    ASSERT_EQ_INT(check_case("i64 > {x}", "{\"x\": 10}", t_i64_gt10), 0);
    ASSERT_EQ_INT(check_case("s in {names}", "{\"names\": [\"apple\", \"fig\"]}", t_names), 0);
    ASSERT_EQ_INT(check_case("{lo} < d < {hi}", "{\"lo\": -5, \"hi\": 5.5}", t_range), 0);
    ASSERT_EQ_INT(check_case("j['a'] == {v}", "{\"v\": \"x6\"}", t_json), 0);
    ASSERT_EQ_INT(check_case("id in {ids}", "{\"ids\": [2, 9]}", t_ids), 0);
    ASSERT_EQ_INT(check_case("d in { v }", "{\"v\": [1, 2.5]}", t_float_arr), 0);
}

/* ---------------------------------------------------------------- plan API */

TEST(expr_plan_helpers)
{
    fx_init();
    struct expr_plan *p = NULL;
    kite_err err;
    ASSERT_OK(expr_compile("", NULL, &fx_schema, &p, &err));
    ASSERT(expr_plan_is_true(p));
    ASSERT(!expr_plan_uses_field(p, FX_I64));
    expr_plan_free(p);

    ASSERT_OK(expr_compile("true or i64 > 1", NULL, &fx_schema, &p, &err));
    ASSERT(expr_plan_is_true(p));
    expr_plan_free(p);

    ASSERT_OK(expr_compile("i64 > 1 and m == 2 and s like 'a%'", NULL, &fx_schema, &p, &err));
    ASSERT(!expr_plan_is_true(p));
    ASSERT(expr_plan_uses_field(p, FX_I64));
    ASSERT(expr_plan_uses_field(p, FX_META));
    ASSERT(expr_plan_uses_field(p, FX_S));
    ASSERT(!expr_plan_uses_field(p, FX_D));
    ASSERT(!expr_plan_uses_field(p, 1000));
    /* Only the used columns need data. */
    kite_column cols[FX_NFIELDS];
    memset(cols, 0, sizeof(cols));
    cols[FX_I64] = fx_cols[FX_I64];
    cols[FX_META] = fx_cols[FX_META];
    cols[FX_S] = fx_cols[FX_S];
    uint64_t bits[(FX_ROWS + 63) / 64];
    ASSERT_OK(expr_eval(p, cols, FX_ROWS, bits, &err));
    cols[FX_S].data = NULL;
    ASSERT_EQ_INT(expr_eval(p, cols, FX_ROWS, bits, &err), KITE_EINVAL);
    expr_plan_free(p);
    expr_plan_free(NULL);
}

TEST(expr_pk_terms)
{
    fx_init();
    struct expr_plan *p = NULL;
    kite_err err;
    kite_column ids;
    ASSERT_OK(expr_compile("id in [3, 1, 2]", NULL, &fx_schema, &p, &err));
    ASSERT(expr_plan_pk_terms(p, &ids));
    ASSERT_EQ_INT(ids.n, 3);
    ASSERT_EQ_INT(ids.dtype, KITE_DT_INT64);
    int64_t sum = 0;
    for (size_t k = 0; k < ids.n; k++)
        sum += ((const int64_t *)ids.data)[k];
    ASSERT_EQ_INT(sum, 6);
    expr_pk_terms_free(&ids);
    expr_plan_free(p);

    ASSERT_OK(expr_compile("7 == id", NULL, &fx_schema, &p, &err));
    ASSERT(expr_plan_pk_terms(p, &ids));
    ASSERT_EQ_INT(ids.n, 1);
    ASSERT_EQ_INT(((const int64_t *)ids.data)[0], 7);
    expr_pk_terms_free(&ids);
    expr_plan_free(p);

    static const char *const not_pk[] = {"id > 3", "id not in [1]", "i64 == 3",
                                         "id == 1 and b", "id + 1 == 3", "id != 3"};
    for (size_t k = 0; k < sizeof(not_pk) / sizeof(not_pk[0]); k++) {
        ASSERT_OK(expr_compile(not_pk[k], NULL, &fx_schema, &p, &err));
        ASSERT(!expr_plan_pk_terms(p, &ids));
        expr_plan_free(p);
    }

    /* VarChar primary key. */
    static const struct expr_field vf[] = {{"pk", KITE_DT_VARCHAR, 0, false, true}};
    const struct expr_schema vs = {vf, 1, -1};
    ASSERT_OK(expr_compile("pk in ['a', 'bc', '']", NULL, &vs, &p, &err));
    ASSERT(expr_plan_pk_terms(p, &ids));
    ASSERT_EQ_INT(ids.n, 3);
    ASSERT_EQ_INT(ids.dtype, KITE_DT_VARCHAR);
    ASSERT_EQ_INT(ids.offsets[3], 3);
    expr_pk_terms_free(&ids);
    expr_plan_free(p);
}
