/* expr_fixture.c — builds the fixture batch described in expr_fixture.h. */
#include "expr_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const words[] = {"apple", "banana", "cherry", "", "a%b", "a_b",
                                    "h\xc3\xa9llo", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
                                    "app", "apricot", "Apple", "x\"q"};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static const struct expr_field fx_fields[FX_NFIELDS] = {
    {"id", KITE_DT_INT64, 0, false, true},
    {"b", KITE_DT_BOOL, 0, false, false},
    {"i8", KITE_DT_INT8, 0, false, false},
    {"i32", KITE_DT_INT32, 0, false, false},
    {"i64", KITE_DT_INT64, 0, false, false},
    {"f", KITE_DT_FLOAT, 0, false, false},
    {"d", KITE_DT_DOUBLE, 0, false, false},
    {"s", KITE_DT_VARCHAR, 0, false, false},
    {"n", KITE_DT_INT64, 0, true, false},
    {"j", KITE_DT_JSON, 0, true, false},
    {"ai", KITE_DT_ARRAY, KITE_DT_INT64, false, false},
    {"as", KITE_DT_ARRAY, KITE_DT_VARCHAR, false, false},
    {"$meta", KITE_DT_JSON, 0, false, false},
    {"vec", KITE_DT_FLOAT_VECTOR, 0, false, false},
};

const struct expr_schema fx_schema = {fx_fields, FX_NFIELDS, FX_META};
const struct expr_schema fx_schema_static = {fx_fields, FX_NFIELDS, -1};

struct fx_row fx_rows[FX_ROWS];
kite_column fx_cols[FX_NFIELDS];

static int64_t c_id[FX_ROWS], c_i64[FX_ROWS], c_n[FX_ROWS];
static uint8_t c_b[FX_ROWS], v_n[FX_ROWS], v_j[FX_ROWS];
static int8_t c_i8[FX_ROWS];
static int32_t c_i32[FX_ROWS];
static float c_f[FX_ROWS], c_vec[FX_ROWS];
static double c_d[FX_ROWS];

struct varcol {
    char *bytes;
    size_t len, cap;
    uint64_t off[FX_ROWS + 1];
};
static struct varcol vc_s, vc_j, vc_ai, vc_as, vc_meta;

static void vc_add(struct varcol *v, size_t row, const char *text)
{
    size_t n = strlen(text);
    if (v->len + n + 1 > v->cap) {
        v->cap = (v->len + n + 1) * 2;
        v->bytes = realloc(v->bytes, v->cap);
    }
    memcpy(v->bytes + v->len, text, n);
    v->len += n;
    v->off[row + 1] = v->len;
}

/* JSON string literal for a word (escapes quotes). */
static void json_str(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    out[o++] = '"';
    for (; *s && o + 3 < cap; s++) {
        if (*s == '"' || *s == '\\')
            out[o++] = '\\';
        out[o++] = *s;
    }
    out[o++] = '"';
    out[o] = '\0';
}

static void build_row(size_t r)
{
    struct fx_row *x = &fx_rows[r];
    int64_t ri = (int64_t)r;
    x->id = ri + 1;
    x->b = r % 3 == 0;
    x->i8 = (int8_t)((ri * 37) % 256 - 128);
    x->i32 = (int32_t)(ri * 1000 - 30000);
    x->i64 = ri * 3 - 50;
    if (r % 10 == 7)
        x->i64 = 9007199254740993LL + ri; /* above 2^53: must compare exactly */
    if (r == 5)
        x->i64 = INT64_MAX;
    if (r == 6)
        x->i64 = INT64_MIN;
    x->f = (float)ri * 0.25f - 3.0f;
    if (r == 9)
        x->f = 0.1f;
    x->d = (double)ri * 1.5 - 20.0;
    x->s = words[r % NWORDS];
    x->n_valid = r % 4 != 1;
    x->n = ri - 30;
    x->j_valid = r % 11 != 10;
    x->ja_kind = r % 5 == 0 ? JA_MISSING : r % 5 == 1 ? JA_STR : r % 5 == 4 ? JA_FLOAT : JA_INT;
    x->ja_i = ri - 20;
    x->ja_f = (double)ri + 0.5;
    snprintf(x->ja_s, sizeof(x->ja_s), "x%d", (int)r);
    x->jb = r % 3 == 0 ? NULL : words[(r + 1) % NWORDS];
    x->jc_present = r % 7 != 3;
    x->jc_len = (int)(r % 4);
    for (int k = 0; k < x->jc_len; k++)
        x->jc[k] = ri + k;
    x->jd_present = r % 8 != 2;
    x->jde = ri % 6;
    x->ai_len = (int)(r % 5);
    if (x->ai_len > FX_MAX_ARR)
        x->ai_len = FX_MAX_ARR;
    for (int k = 0; k < x->ai_len; k++)
        x->ai[k] = ri * 2 + k;
    x->as_len = (int)(r % 3);
    for (int k = 0; k < x->as_len; k++)
        x->as[k] = words[(r + (size_t)k) % NWORDS];
    x->m_present = r % 6 != 5;
    x->m = ri * 2;
    x->tag = words[r % 4];
}

static void build_json(size_t r)
{
    const struct fx_row *x = &fx_rows[r];
    char buf[1024], tmp[128];
    size_t o = 0;
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "{");
    bool first = true;
#define SEP() (first ? (first = false, "") : ",")
    if (x->ja_kind == JA_INT)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\"a\":%lld", SEP(), (long long)x->ja_i);
    else if (x->ja_kind == JA_STR)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\"a\":\"%s\"", SEP(), x->ja_s);
    else if (x->ja_kind == JA_FLOAT)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\"a\":%.17g", SEP(), x->ja_f);
    if (x->jb) {
        json_str(tmp, sizeof(tmp), x->jb);
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\"b\":%s", SEP(), tmp);
    }
    if (x->jc_present) {
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\"c\":[", SEP());
        for (int k = 0; k < x->jc_len; k++)
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%lld", k ? "," : "",
                                  (long long)x->jc[k]);
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "]");
    }
    if (x->jd_present)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\"d\":{\"e\":%lld}", SEP(),
                              (long long)x->jde);
    snprintf(buf + o, sizeof(buf) - o, "}");
    vc_add(&vc_j, r, x->j_valid ? buf : "");

    o = 0;
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "[");
    for (int k = 0; k < x->ai_len; k++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%lld", k ? "," : "", (long long)x->ai[k]);
    snprintf(buf + o, sizeof(buf) - o, "]");
    vc_add(&vc_ai, r, buf);

    o = 0;
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "[");
    for (int k = 0; k < x->as_len; k++) {
        json_str(tmp, sizeof(tmp), x->as[k]);
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", k ? "," : "", tmp);
    }
    snprintf(buf + o, sizeof(buf) - o, "]");
    vc_add(&vc_as, r, buf);

    json_str(tmp, sizeof(tmp), x->tag);
    if (x->m_present)
        snprintf(buf, sizeof(buf), "{\"m\":%lld,\"tag\":%s}", (long long)x->m, tmp);
    else
        snprintf(buf, sizeof(buf), "{\"tag\":%s}", tmp);
    vc_add(&vc_meta, r, buf);
#undef SEP
}

static void set_col(int i, const void *data, const uint64_t *off, const uint8_t *valid)
{
    fx_cols[i].name = fx_fields[i].name;
    fx_cols[i].dtype = fx_fields[i].dtype;
    fx_cols[i].element_type = fx_fields[i].element_type;
    fx_cols[i].n = FX_ROWS;
    fx_cols[i].data = data;
    fx_cols[i].offsets = off;
    fx_cols[i].valid = valid;
}

void fx_init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    for (size_t r = 0; r < FX_ROWS; r++) {
        build_row(r);
        const struct fx_row *x = &fx_rows[r];
        c_id[r] = x->id;
        c_b[r] = x->b;
        c_i8[r] = x->i8;
        c_i32[r] = x->i32;
        c_i64[r] = x->i64;
        c_f[r] = x->f;
        c_d[r] = x->d;
        c_n[r] = x->n_valid ? x->n : 12345; /* garbage under null */
        v_n[r] = x->n_valid;
        v_j[r] = x->j_valid;
        c_vec[r] = (float)r;
        vc_add(&vc_s, r, x->s);
        build_json(r);
    }
    set_col(FX_ID, c_id, NULL, NULL);
    set_col(FX_B, c_b, NULL, NULL);
    set_col(FX_I8, c_i8, NULL, NULL);
    set_col(FX_I32, c_i32, NULL, NULL);
    set_col(FX_I64, c_i64, NULL, NULL);
    set_col(FX_F, c_f, NULL, NULL);
    set_col(FX_D, c_d, NULL, NULL);
    set_col(FX_S, vc_s.bytes, vc_s.off, NULL);
    set_col(FX_N, c_n, NULL, v_n);
    set_col(FX_J, vc_j.bytes, vc_j.off, v_j);
    set_col(FX_AI, vc_ai.bytes, vc_ai.off, NULL);
    set_col(FX_AS, vc_as.bytes, vc_as.off, NULL);
    set_col(FX_META, vc_meta.bytes, vc_meta.off, NULL);
    set_col(FX_VEC, c_vec, NULL, NULL);
    fx_cols[FX_VEC].dim = 1;
}

int fx_eval(const char *expr, const char *tmpl, uint64_t *bits, kite_err *err)
{
    fx_init();
    struct expr_plan *p = NULL;
    int rc = expr_compile(expr, tmpl, &fx_schema, &p, err);
    if (rc != KITE_OK)
        return rc;
    memset(bits, 0xAB, ((FX_ROWS + 63) / 64) * sizeof(uint64_t));
    rc = expr_eval(p, fx_cols, FX_ROWS, bits, err);
    expr_plan_free(p);
    return rc;
}

bool fx_bit(const uint64_t *bits, size_t r)
{
    return (bits[r >> 6] >> (r & 63)) & 1;
}
