/*
 * expr_fixture.h — a small in-memory batch with every field type, shared by
 * the expression tests.  Row values are kept as plain C fields (struct
 * fx_row) so that expected results can be computed by hand-written C
 * predicates; the columns handed to expr_eval are built from those fields.
 */
#ifndef KITE_TEST_EXPR_FIXTURE_H
#define KITE_TEST_EXPR_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "expr.h"

#define FX_ROWS 70
#define FX_MAX_ARR 4

enum {
    FX_ID = 0,
    FX_B,
    FX_I8,
    FX_I32,
    FX_I64,
    FX_F,
    FX_D,
    FX_S,
    FX_N,
    FX_J,
    FX_AI,
    FX_AS,
    FX_META,
    FX_VEC,
    FX_NFIELDS
};

/* JSON kinds for j["a"] */
enum { JA_MISSING = 0, JA_INT, JA_STR, JA_FLOAT };

struct fx_row {
    int64_t id;
    bool b;
    int8_t i8;
    int32_t i32;
    int64_t i64;
    float f;
    double d;
    const char *s;
    bool n_valid;
    int64_t n;
    /* j: {"a": ..., "b": "...", "c": [...], "d": {"e": N}} */
    bool j_valid;
    int ja_kind;
    int64_t ja_i;
    double ja_f;
    char ja_s[16];
    const char *jb; /* NULL = missing */
    bool jc_present;
    int jc_len;
    int64_t jc[FX_MAX_ARR];
    bool jd_present;
    int64_t jde;
    /* arrays */
    int ai_len;
    int64_t ai[FX_MAX_ARR];
    int as_len;
    const char *as[FX_MAX_ARR];
    /* $meta: {"m": N, "tag": "..."} */
    bool m_present;
    int64_t m;
    const char *tag;
};

extern struct fx_row fx_rows[FX_ROWS];
extern const struct expr_schema fx_schema;
extern const struct expr_schema fx_schema_static; /* same fields, no dynamic field */
extern kite_column fx_cols[FX_NFIELDS];

void fx_init(void);
/* Compile + evaluate over the fixture; returns the compile/eval code. */
int fx_eval(const char *expr, const char *tmpl, uint64_t *bits, kite_err *err);
bool fx_bit(const uint64_t *bits, size_t r);

#endif
