/*
 * fuzz_expr.c — libFuzzer target for the filter language: arbitrary bytes are
 * compiled against a fixed schema (every field type, a nullable column and a
 * dynamic $meta field) and, when they compile, evaluated over a small fixed
 * batch.  Bytes after the first NUL, if any, are the template_json.
 *
 * Must hold: no crash, no UB, no leak, no stack exhaustion; every failure is
 * KITE_EEXPR with a "cannot parse expression:" message.
 *
 * Build by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc/core -Isrc/expr \
 *     tests/fuzz/fuzz_expr.c src/expr/[a-z]*.c src/core/[a-z]*.c -ljansson -lm -lpthread
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"

#define ROWS 9

static const struct expr_field fields[] = {
    {"id", KITE_DT_INT64, 0, false, true},     {"b", KITE_DT_BOOL, 0, false, false},
    {"i8", KITE_DT_INT8, 0, false, false},     {"i16", KITE_DT_INT16, 0, false, false},
    {"i32", KITE_DT_INT32, 0, false, false},   {"f", KITE_DT_FLOAT, 0, false, false},
    {"d", KITE_DT_DOUBLE, 0, false, false},    {"s", KITE_DT_VARCHAR, 0, false, false},
    {"n", KITE_DT_INT64, 0, true, false},      {"j", KITE_DT_JSON, 0, true, false},
    {"ai", KITE_DT_ARRAY, KITE_DT_INT64, false, false},
    {"as", KITE_DT_ARRAY, KITE_DT_VARCHAR, false, false},
    {"$meta", KITE_DT_JSON, 0, false, false},  {"vec", KITE_DT_FLOAT_VECTOR, 0, false, false},
};
#define NF (sizeof(fields) / sizeof(fields[0]))
static const struct expr_schema schema = {fields, NF, 12};

static const int64_t c_id[ROWS] = {1, 2, 3, 4, 5, 6, 7, 8, INT64_MAX};
static const uint8_t c_b[ROWS] = {0, 1, 0, 1, 1, 0, 0, 1, 0};
static const int8_t c_i8[ROWS] = {-128, -1, 0, 1, 127, 5, 6, 7, 8};
static const int16_t c_i16[ROWS] = {-300, 0, 1, 2, 3, 4, 5, 32767, -32768};
static const int32_t c_i32[ROWS] = {0, 1, -1, 100000, 5, 6, 7, 8, INT32_MIN};
static const float c_f[ROWS] = {0.1f, -1.5f, 2.0f, 1e30f, 0.0f, -0.0f, 3.25f, 7.0f, 8.5f};
static const double c_d[ROWS] = {0.1, -1.5, 2.0, 1e300, 0.0, -0.0, 3.25, 7.0, 8.5};
static const int64_t c_n[ROWS] = {1, 0, -5, INT64_MIN, 9007199254740993LL, 6, 7, 8, 9};
static const uint8_t v_n[ROWS] = {1, 0, 1, 1, 1, 0, 1, 1, 1};
static const uint8_t v_j[ROWS] = {1, 1, 1, 1, 0, 1, 1, 1, 1};
static const float c_vec[ROWS] = {0};
static const char *const s_vals[ROWS] = {"", "apple", "a%b", "h\xc3\xa9llo", "x\"y", "app", "b", "zz", "\xff\xfe"};
static const char *const j_vals[ROWS] = {
    "{\"a\":1,\"b\":\"x\",\"c\":[1,2,3],\"d\":{\"e\":[{\"f\":1}]}}",
    "{\"a\":\"1\",\"c\":[]}",
    "{\"a\":1.5,\"c\":[\"a\",1,true,null,[1,2]]}",
    "{\"a\":99999999999999999999999}",
    "",
    "[1,2,3]",
    "null",
    "\"str\"",
    "{\"a\":null,\"b\":false}",
};
static const char *const ai_vals[ROWS] = {"[]", "[1]", "[1,2]", "[1,2,3]", "[-1,0]", "[9223372036854775807]", "[5]", "[6,7]", "[]"};
static const char *const as_vals[ROWS] = {"[]", "[\"a\"]", "[\"a\",\"b\"]", "[\"\"]", "[\"x\"]", "[]", "[\"b\"]", "[\"c\",\"d\"]", "[\"a\"]"};
static const char *const m_vals[ROWS] = {"{\"m\":1}", "{\"m\":\"s\"}", "{}", "{\"m\":[1]}", "{\"m\":{\"k\":1}}", "{\"m\":2.5}", "{\"m\":true}", "{\"x\":1}", "{\"m\":-1}"};

static kite_column cols[NF];
static char bufs[5][4096];
static uint64_t offs[5][ROWS + 1];

static void var_col(int idx, int slot, const char *const *vals)
{
    size_t o = 0;
    char *b = bufs[slot];
    offs[slot][0] = 0;
    for (int r = 0; r < ROWS; r++) {
        size_t n = strlen(vals[r]);
        memcpy(b + o, vals[r], n);
        o += n;
        offs[slot][r + 1] = o;
    }
    cols[idx].data = b;
    cols[idx].offsets = offs[slot];
}

static void init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    const void *fixed[] = {c_id, c_b, c_i8, c_i16, c_i32, c_f, c_d};
    for (size_t i = 0; i < NF; i++) {
        cols[i].name = fields[i].name;
        cols[i].dtype = fields[i].dtype;
        cols[i].element_type = fields[i].element_type;
        cols[i].n = ROWS;
        if (i < 7)
            cols[i].data = fixed[i];
    }
    var_col(7, 0, s_vals);
    cols[8].data = c_n;
    cols[8].valid = v_n;
    var_col(9, 1, j_vals);
    cols[9].valid = v_j;
    var_col(10, 2, ai_vals);
    var_col(11, 3, as_vals);
    var_col(12, 4, m_vals);
    cols[13].data = c_vec;
    cols[13].dim = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    const char *tmpl = NULL;
    size_t first = strlen(text);
    if (first < size)
        tmpl = text + first + 1;
    struct expr_plan *p = NULL;
    kite_err err;
    int rc = expr_compile(text, tmpl, &schema, &p, &err);
    if (rc == KITE_OK) {
        uint64_t bits[1] = {0};
        rc = expr_eval(p, cols, ROWS, bits, &err);
        if (rc != KITE_OK)
            abort();
        if (bits[0] >> ROWS)
            abort(); /* bits past the batch must be clear */
        kite_column ids;
        if (expr_plan_pk_terms(p, &ids))
            expr_pk_terms_free(&ids);
        (void)expr_plan_is_true(p);
        expr_plan_free(p);
    } else if (rc != KITE_EEXPR || strncmp(err.message, "cannot parse expression: ", 25) != 0) {
        abort();
    }
    free(text);
    return 0;
}
