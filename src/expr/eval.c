/*
 * eval.c — column-at-a-time evaluation of a compiled plan over one batch.
 *
 * Every plan node yields two bitmaps over the batch: T (row certainly matches)
 * and F (row certainly does not).  A row in neither is "unknown": that only
 * happens for null cells of nullable columns.  This is SQL/Kleene three-valued
 * logic, which gives Milvus 2.5's null behaviour: a null row matches neither
 * `a > 1` nor `not (a > 1)`.
 *
 *    not:  T = F(kid), F = T(kid)
 *    and:  T = AND of T(kids), F = OR of F(kids)
 *    or:   T = OR of T(kids),  F = AND of F(kids)
 *
 * Rules:
 *  1. A null cell (valid[r] == 0) makes every leaf reading it unknown, except
 *     `is null`, which is true for it.
 *  2. A missing JSON key, a JSON null, or a JSON value of another type makes a
 *     comparison false (definite), not unknown; `!=` is the negation of `==`
 *     there (missing key => `!=` true), as in Milvus segcore.
 *  3. Numbers compare exactly across int64/double (no rounding above 2^53).
 *  4. Each JSON/Array cell is parsed at most once per expr_eval() call: the
 *     parsed json_t is cached per (field, row) for the duration of the call.
 *
 * Threading: expr_eval() only reads the plan; all scratch state (bitmaps, the
 * JSON cache) is allocated per call, so concurrent calls on one plan are safe.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "err.h"
#include "expr_int.h"

/* ------------------------------------------------------------ row values */

enum {
    RV_MISSING = 0,
    RV_NULL, /* JSON null */
    RV_BOOL,
    RV_INT,
    RV_FLOAT,
    RV_STR,
    RV_ARR, /* JSON array (also an Array field value) */
    RV_OBJ,
};

struct rv {
    int k;
    bool b;
    int64_t i;
    double f;
    const char *s;
    size_t len;
    json_t *j;
};

struct json_cache {
    json_t **cells;
    uint8_t *state; /* 0 = not parsed yet, 1 = parsed (cells[r] may be NULL: invalid JSON) */
};

struct ectx {
    const struct expr_plan *plan;
    const kite_column *cols;
    size_t n_rows;
    size_t words;
    struct json_cache *jc; /* n_fields entries, lazily filled */
    int rc;
};

static json_t *json_cell(struct ectx *c, int field, size_t row)
{
    struct json_cache *jc = &c->jc[field];
    if (!jc->cells) {
        jc->cells = kite_calloc(c->n_rows ? c->n_rows : 1, sizeof(*jc->cells));
        jc->state = kite_calloc(c->n_rows ? c->n_rows : 1, 1);
        if (!jc->cells || !jc->state) {
            c->rc = KITE_ENOMEM;
            return NULL;
        }
    }
    if (jc->state[row])
        return jc->cells[row];
    jc->state[row] = 1;
    const kite_column *col = &c->cols[field];
    uint64_t a = col->offsets[row], b = col->offsets[row + 1];
    if (b < a)
        return NULL;
    const char *text = (const char *)col->data + a;
    json_error_t jerr;
    json_t *j = json_loadb(text, (size_t)(b - a), JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j) /* integers beyond int64: retry reading them as doubles */
        j = json_loadb(text, (size_t)(b - a), JSON_DECODE_ANY | JSON_ALLOW_NUL |
                                                  JSON_DECODE_INT_AS_REAL, &jerr);
    jc->cells[row] = j;
    return j;
}

static void json_to_rv(json_t *j, struct rv *out)
{
    memset(out, 0, sizeof(*out));
    out->j = j;
    if (!j) {
        out->k = RV_MISSING;
        return;
    }
    switch (json_typeof(j)) {
    case JSON_INTEGER: out->k = RV_INT; out->i = (int64_t)json_integer_value(j); break;
    case JSON_REAL: out->k = RV_FLOAT; out->f = json_real_value(j); break;
    case JSON_STRING:
        out->k = RV_STR;
        out->s = json_string_value(j);
        out->len = json_string_length(j);
        break;
    case JSON_TRUE: out->k = RV_BOOL; out->b = true; break;
    case JSON_FALSE: out->k = RV_BOOL; out->b = false; break;
    case JSON_NULL: out->k = RV_NULL; break;
    case JSON_ARRAY: out->k = RV_ARR; break;
    case JSON_OBJECT: out->k = RV_OBJ; break;
    }
}

/* Value of ref at row; false if the cell is null (unknown). */
static bool get_rv(struct ectx *c, const struct expr_ref *ref, size_t row, struct rv *out)
{
    const kite_column *col = &c->cols[ref->field];
    if (col->valid && !col->valid[row])
        return false;
    out->j = NULL; /* the fields a kind does not use are never read */
    switch (ref->dtype) {
    case KITE_DT_BOOL: out->k = RV_BOOL; out->b = ((const uint8_t *)col->data)[row] != 0; return true;
    case KITE_DT_INT8: out->k = RV_INT; out->i = ((const int8_t *)col->data)[row]; return true;
    case KITE_DT_INT16: out->k = RV_INT; out->i = ((const int16_t *)col->data)[row]; return true;
    case KITE_DT_INT32: out->k = RV_INT; out->i = ((const int32_t *)col->data)[row]; return true;
    case KITE_DT_INT64: out->k = RV_INT; out->i = ((const int64_t *)col->data)[row]; return true;
    case KITE_DT_FLOAT: out->k = RV_FLOAT; out->f = ((const float *)col->data)[row]; return true;
    case KITE_DT_DOUBLE: out->k = RV_FLOAT; out->f = ((const double *)col->data)[row]; return true;
    case KITE_DT_VARCHAR: {
        uint64_t a = col->offsets[row], b = col->offsets[row + 1];
        out->k = b >= a ? RV_STR : RV_MISSING;
        out->s = (const char *)col->data + a;
        out->len = b >= a ? (size_t)(b - a) : 0;
        return true;
    }
    case KITE_DT_JSON:
    case KITE_DT_ARRAY: {
        json_t *j = json_cell(c, ref->field, row);
        for (size_t k = 0; j && k < ref->n_path; k++) {
            const struct expr_path_el *el = &ref->path[k];
            if (el->is_index)
                j = json_is_array(j) && el->index >= 0 ? json_array_get(j, (size_t)el->index)
                                                      : NULL;
            else
                j = json_is_object(j) ? json_object_getn(j, el->key, el->key_len) : NULL;
        }
        json_to_rv(j, out);
        /* Array<Float> elements compare in float precision, like Float columns. */
        if (ref->dtype == KITE_DT_ARRAY && ref->elem_type == KITE_DT_FLOAT && out->k == RV_FLOAT)
            out->f = (double)(float)out->f;
        return true;
    }
    default:
        out->k = RV_MISSING;
        return true;
    }
}

/* ------------------------------------------------------------ comparing */

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int r = n ? memcmp(a, b, n) : 0;
    if (r)
        return r < 0 ? -1 : 1;
    return al < bl ? -1 : al > bl;
}

/* Three-way compare of two scalar row values; false if not comparable. */
static bool cmp_rv(const struct rv *a, const struct rv *b, int *res)
{
    if ((a->k == RV_INT || a->k == RV_FLOAT) && (b->k == RV_INT || b->k == RV_FLOAT)) {
        int r;
        if (a->k == RV_INT && b->k == RV_INT) {
            r = a->i < b->i ? -1 : a->i > b->i;
        } else if (a->k == RV_INT) {
            r = expr_cmp_int_double(a->i, b->f);
        } else if (b->k == RV_INT) {
            r = expr_cmp_int_double(b->i, a->f);
            if (r != -2)
                r = -r;
        } else {
            r = isnan(a->f) || isnan(b->f) ? -2 : a->f < b->f ? -1 : a->f > b->f;
        }
        if (r == -2)
            return false;
        *res = r;
        return true;
    }
    if (a->k == RV_STR && b->k == RV_STR) {
        *res = cmp_bytes(a->s, a->len, b->s, b->len);
        return true;
    }
    if (a->k == RV_BOOL && b->k == RV_BOOL) {
        *res = (int)a->b - (int)b->b;
        return true;
    }
    return false;
}

static void val_to_rv(const struct expr_value *v, struct rv *out)
{
    memset(out, 0, sizeof(*out));
    switch (v->kind) {
    case VAL_BOOL: out->k = RV_BOOL; out->b = v->b; break;
    case VAL_INT: out->k = RV_INT; out->i = v->i; break;
    case VAL_FLOAT: out->k = RV_FLOAT; out->f = v->f; break;
    case VAL_STR: out->k = RV_STR; out->s = v->s; out->len = v->len; break;
    case VAL_ARRAY: out->k = RV_ARR; break;
    default: out->k = RV_MISSING; break;
    }
}

/*
 * Equality of a JSON value with a constant (arrays element-wise).  f32: the
 * value is an element of an Array<Float>, whose constants were rounded to
 * float at compile time, so round the element the same way.
 */
static bool json_eq_value(json_t *j, const struct expr_value *v, int depth, bool f32)
{
    struct rv a, b;
    json_to_rv(j, &a);
    if (f32 && a.k == RV_FLOAT)
        a.f = (double)(float)a.f;
    if (v->kind == VAL_ARRAY) {
        if (a.k != RV_ARR || json_array_size(j) != v->n_items || depth > EXPR_MAX_DEPTH)
            return false;
        for (size_t k = 0; k < v->n_items; k++) {
            if (!json_eq_value(json_array_get(j, k), &v->items[k], depth + 1, f32))
                return false;
        }
        return true;
    }
    val_to_rv(v, &b);
    int r;
    return cmp_rv(&a, &b, &r) && r == 0;
}

static bool rv_eq_value(const struct rv *a, const struct expr_value *v)
{
    if (v->kind == VAL_ARRAY)
        return a->k == RV_ARR && json_eq_value(a->j, v, 0, false);
    struct rv b;
    val_to_rv(v, &b);
    int r;
    return cmp_rv(a, &b, &r) && r == 0;
}

static bool apply_op(int op, bool comparable, int r)
{
    if (!comparable)
        return op == TK_NE;
    switch (op) {
    case TK_EQ: return r == 0;
    case TK_NE: return r != 0;
    case TK_LT: return r < 0;
    case TK_LE: return r <= 0;
    case TK_GT: return r > 0;
    case TK_GE: return r >= 0;
    }
    return false;
}

/* Apply `x (arith) operand` to a numeric row value; RV_MISSING if not numeric. */
static void apply_arith(const struct expr_pnode *n, struct rv *x)
{
    if (n->arith == AR_LEN) {
        if (x->k == RV_ARR) {
            x->i = (int64_t)json_array_size(x->j);
            x->k = RV_INT;
        } else {
            x->k = RV_MISSING;
        }
        return;
    }
    const struct expr_value *o = &n->operand;
    if (x->k == RV_INT && o->kind == VAL_INT) {
        uint64_t a = (uint64_t)x->i, b = (uint64_t)o->i;
        switch (n->arith) {
        case AR_ADD: x->i = (int64_t)(a + b); break;
        case AR_SUB: x->i = (int64_t)(a - b); break;
        case AR_MUL: x->i = (int64_t)(a * b); break;
        case AR_DIV: x->i = o->i == -1 ? (int64_t)(0 - a) : x->i / o->i; break;
        case AR_MOD: x->i = o->i == -1 ? 0 : x->i % o->i; break;
        }
        return;
    }
    if ((x->k != RV_INT && x->k != RV_FLOAT) || n->arith == AR_MOD) {
        x->k = RV_MISSING;
        return;
    }
    double a = x->k == RV_INT ? (double)x->i : x->f;
    double b = o->kind == VAL_INT ? (double)o->i : o->f;
    switch (n->arith) {
    case AR_ADD: a += b; break;
    case AR_SUB: a -= b; break;
    case AR_MUL: a *= b; break;
    case AR_DIV: a /= b; break;
    }
    x->k = RV_FLOAT;
    x->f = a;
}

static bool in_sorted(const struct expr_pnode *n, const struct rv *x)
{
    size_t lo = 0, hi = n->val.n_items;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct expr_value *v = &n->val.items[mid];
        int r;
        if (x->k == RV_INT)
            r = x->i < v->i ? -1 : x->i > v->i;
        else
            r = cmp_bytes(x->s, x->len, v->s, v->len);
        if (r == 0)
            return true;
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

static bool json_array_has(json_t *arr, const struct expr_value *v, bool f32)
{
    size_t n = json_array_size(arr);
    for (size_t k = 0; k < n; k++) {
        if (json_eq_value(json_array_get(arr, k), v, 0, f32))
            return true;
    }
    return false;
}

static bool eval_contains(const struct expr_pnode *n, const struct rv *x)
{
    if (x->k != RV_ARR)
        return false;
    bool f32 = n->ref.dtype == KITE_DT_ARRAY && n->ref.elem_type == KITE_DT_FLOAT;
    if (n->contains == CT_ONE)
        return json_array_has(x->j, &n->val, f32);
    for (size_t k = 0; k < n->val.n_items; k++) {
        bool has = json_array_has(x->j, &n->val.items[k], f32);
        if (n->contains == CT_ALL && !has)
            return false;
        if (n->contains == CT_ANY && has)
            return true;
    }
    return n->contains == CT_ALL;
}

static bool eval_like(const struct expr_pnode *n, const struct rv *x)
{
    if (x->k != RV_STR)
        return false;
    switch (n->like) {
    case LK_EQUAL:
        return x->len == n->val.len && (x->len == 0 || memcmp(x->s, n->val.s, x->len) == 0);
    case LK_PREFIX:
        return x->len >= n->val.len && (n->val.len == 0 || memcmp(x->s, n->val.s, n->val.len) == 0);
    default:
        return expr_like_match(x->s, x->len, n->val.s, n->val.len);
    }
}

/* One row of a leaf: 1 = true, 0 = false, -1 = unknown (null cell). */
static int leaf_row(struct ectx *c, const struct expr_pnode *n, size_t row)
{
    struct rv x, y;
    if (n->kind == P_ISNULL) {
        if (!get_rv(c, &n->ref, row, &x))
            return 1;
        return n->ref.n_path > 0 && (x.k == RV_MISSING || x.k == RV_NULL);
    }
    if (!get_rv(c, &n->ref, row, &x))
        return -1;
    int r = 0;
    switch (n->kind) {
    case P_CMP: {
        if (n->arith != AR_NONE)
            apply_arith(n, &x);
        if (n->val.kind == VAL_ARRAY) {
            bool eq = x.k == RV_ARR && json_eq_value(x.j, &n->val, 0, false);
            return n->op == TK_EQ ? eq : n->op == TK_NE ? !eq : 0;
        }
        val_to_rv(&n->val, &y);
        bool ok = cmp_rv(&x, &y, &r);
        return apply_op(n->op, ok, r);
    }
    case P_CMPCOL: {
        if (!get_rv(c, &n->ref2, row, &y))
            return -1;
        bool ok = cmp_rv(&x, &y, &r);
        return apply_op(n->op, ok, r);
    }
    case P_RANGE: {
        struct rv lo, hi;
        int r2;
        val_to_rv(&n->lo, &lo);
        val_to_rv(&n->hi, &hi);
        if (!cmp_rv(&lo, &x, &r) || !cmp_rv(&x, &hi, &r2))
            return 0;
        return apply_op(n->op, true, r) && apply_op(n->op2, true, r2);
    }
    case P_IN:
        if (n->sorted && (x.k == RV_INT || x.k == RV_STR))
            return in_sorted(n, &x);
        for (size_t k = 0; k < n->val.n_items; k++) {
            if (rv_eq_value(&x, &n->val.items[k]))
                return 1;
        }
        return 0;
    case P_LIKE:
        return eval_like(n, &x);
    case P_EXISTS:
        return x.k != RV_MISSING;
    case P_CONTAINS:
        return eval_contains(n, &x);
    case P_BOOLCOL:
        return x.k == RV_BOOL && x.b;
    }
    return 0;
}

/* ------------------------------------------------------------ fast paths */

/*
 * Fixed-width numeric column compared with a constant: one loop per (type, op)
 * building a 64-bit word at a time, so the compiler can vectorise it.
 * Measured on 1M Int64 rows: ~27 ns/row with a per-row switch, ~1 ns/row here.
 */
#define FAST_WORDS(T, CV, OPER)                                                     \
    do {                                                                            \
        const T *d = (const T *)col->data;                                          \
        for (size_t w = 0; w < c->words; w++) {                                    \
            size_t base = w * 64, end = base + 64 < c->n_rows ? base + 64 : c->n_rows; \
            uint64_t m = 0;                                                         \
            for (size_t r = base; r < end; r++)                                     \
                m |= (uint64_t)(d[r] OPER CV) << (r - base);                        \
            t[w] = m;                                                               \
        }                                                                           \
    } while (0)

#define FAST_OPS(T, CV)                                                             \
    do {                                                                            \
        switch (n->op) {                                                            \
        case TK_EQ: FAST_WORDS(T, CV, ==); break;                                   \
        case TK_NE: FAST_WORDS(T, CV, !=); break;                                   \
        case TK_LT: FAST_WORDS(T, CV, <); break;                                    \
        case TK_LE: FAST_WORDS(T, CV, <=); break;                                   \
        case TK_GT: FAST_WORDS(T, CV, >); break;                                    \
        default: FAST_WORDS(T, CV, >=); break;                                      \
        }                                                                           \
    } while (0)

/* Narrow integer columns: a constant outside the type's range decides every row. */
static bool int_out_of_range(int dt, int64_t v, int64_t *lo, int64_t *hi)
{
    switch (dt) {
    case KITE_DT_INT8: *lo = INT8_MIN; *hi = INT8_MAX; break;
    case KITE_DT_INT16: *lo = INT16_MIN; *hi = INT16_MAX; break;
    case KITE_DT_INT32: *lo = INT32_MIN; *hi = INT32_MAX; break;
    default: *lo = INT64_MIN; *hi = INT64_MAX; break;
    }
    return v < *lo || v > *hi;
}

static bool fast_num(struct ectx *c, const struct expr_pnode *n, const kite_column *col,
                     uint64_t *t)
{
    int dt = n->ref.dtype;
    if (n->val.kind == VAL_INT) {
        int64_t lo, hi;
        if (int_out_of_range(dt, n->val.i, &lo, &hi))
            return false; /* rare; the generic path compares in int64 */
        switch (dt) {
        case KITE_DT_INT8: { int8_t v = (int8_t)n->val.i; FAST_OPS(int8_t, v); return true; }
        case KITE_DT_INT16: { int16_t v = (int16_t)n->val.i; FAST_OPS(int16_t, v); return true; }
        case KITE_DT_INT32: { int32_t v = (int32_t)n->val.i; FAST_OPS(int32_t, v); return true; }
        case KITE_DT_INT64: { int64_t v = n->val.i; FAST_OPS(int64_t, v); return true; }
        default: return false;
        }
    }
    if (n->val.kind == VAL_FLOAT && !isnan(n->val.f)) {
        switch (dt) {
        /* The constant was rounded to float at compile time, so comparing in float is exact. */
        case KITE_DT_FLOAT: { float v = (float)n->val.f; FAST_OPS(float, v); return true; }
        case KITE_DT_DOUBLE: { double v = n->val.f; FAST_OPS(double, v); return true; }
        default: return false;
        }
    }
    return false;
}

/* VarChar column vs constant (compare) or pattern (like), no per-row value struct. */
static bool fast_str(struct ectx *c, const struct expr_pnode *n, const kite_column *col,
                     uint64_t *t)
{
    if (n->ref.dtype != KITE_DT_VARCHAR || n->val.kind != VAL_STR)
        return false;
    const char *base = col->data;
    const uint64_t *off = col->offsets;
    for (size_t r = 0; r < c->n_rows; r++) {
        uint64_t a = off[r], b = off[r + 1];
        const char *s = base + a;
        size_t len = b >= a ? (size_t)(b - a) : 0;
        bool m;
        if (n->kind == P_LIKE) {
            struct rv x = {.k = RV_STR, .s = s, .len = len};
            m = eval_like(n, &x);
        } else {
            m = apply_op(n->op, true, cmp_bytes(s, len, n->val.s, n->val.len));
        }
        if (m)
            t[r >> 6] |= 1ull << (r & 63);
    }
    return true;
}

static bool fast_leaf(struct ectx *c, const struct expr_pnode *n, uint64_t *t, uint64_t *f)
{
    if ((n->kind != P_CMP && n->kind != P_LIKE) || n->arith != AR_NONE || n->ref.n_path != 0)
        return false;
    const kite_column *col = &c->cols[n->ref.field];
    if (!fast_num(c, n, col, t) && !fast_str(c, n, col, t))
        return false;
    /* F = valid & ~T; null rows are in neither. */
    for (size_t w = 0; w < c->words; w++)
        f[w] = ~t[w];
    if (col->valid) {
        for (size_t r = 0; r < c->n_rows; r++) {
            if (!col->valid[r]) {
                t[r >> 6] &= ~(1ull << (r & 63));
                f[r >> 6] &= ~(1ull << (r & 63));
            }
        }
    }
    return true;
}

/* ------------------------------------------------------------ tree walk */

static void clear_tail(struct ectx *c, uint64_t *bm)
{
    size_t rem = c->n_rows & 63;
    if (rem && c->words)
        bm[c->words - 1] &= (1ull << rem) - 1;
}

/* Leaf over the rows selected by mask (NULL = all rows). */
static int eval_leaf(struct ectx *c, const struct expr_pnode *n, const uint64_t *mask, uint64_t *t,
                     uint64_t *f)
{
    if (fast_leaf(c, n, t, f))
        return KITE_OK;
    for (size_t w = 0; w < c->words; w++) {
        uint64_t todo = mask ? mask[w] : ~0ull;
        while (todo) {
            unsigned b = (unsigned)__builtin_ctzll(todo);
            todo &= todo - 1;
            size_t r = w * 64 + b;
            if (r >= c->n_rows)
                break;
            int v = leaf_row(c, n, r);
            if (c->rc != KITE_OK)
                return c->rc;
            if (v > 0)
                t[w] |= 1ull << b;
            else if (v == 0)
                f[w] |= 1ull << b;
        }
    }
    return KITE_OK;
}

/*
 * Evaluate n for the rows in mask (NULL = all) into t/f.  Rows outside the mask
 * may be left in either state: callers only read rows they asked for.  and/or
 * narrow the mask as they go, so a row already decided by an earlier child is
 * not evaluated again (short-circuit, per row).
 */
static int eval_node(struct ectx *c, const struct expr_pnode *n, const uint64_t *mask, uint64_t *t,
                     uint64_t *f)
{
    size_t bytes = c->words * sizeof(uint64_t);
    memset(t, 0, bytes);
    memset(f, 0, bytes);
    int rc = KITE_OK;
    switch (n->kind) {
    case P_CONST:
        memset(n->b ? t : f, 0xff, bytes);
        break;
    case P_NOT:
        return eval_node(c, n->kids[0], mask, f, t);
    case P_AND:
    case P_OR: {
        bool is_and = n->kind == P_AND;
        uint64_t *tmp = kite_malloc(3 * bytes + 16);
        if (!tmp)
            return KITE_ENOMEM;
        uint64_t *t2 = tmp, *f2 = tmp + c->words, *m2 = tmp + 2 * c->words;
        rc = eval_node(c, n->kids[0], mask, t, f);
        for (size_t k = 1; rc == KITE_OK && k < n->n_kids; k++) {
            /* Rows still undecided: and -> not yet false; or -> not yet true. */
            uint64_t any = 0;
            for (size_t w = 0; w < c->words; w++) {
                m2[w] = (mask ? mask[w] : ~0ull) & ~(is_and ? f[w] : t[w]);
                any |= m2[w];
            }
            if (!any)
                break;
            rc = eval_node(c, n->kids[k], m2, t2, f2);
            for (size_t w = 0; rc == KITE_OK && w < c->words; w++) {
                if (is_and) {
                    t[w] &= t2[w];
                    f[w] |= f2[w] & m2[w];
                } else {
                    t[w] |= t2[w] & m2[w];
                    f[w] &= f2[w];
                }
            }
        }
        kite_free(tmp);
        break;
    }
    default:
        rc = eval_leaf(c, n, mask, t, f);
        break;
    }
    if (rc != KITE_OK)
        return rc;
    clear_tail(c, t);
    clear_tail(c, f);
    return c->rc;
}

/* Check that every column the plan reads is present and shaped as the schema says. */
static int check_columns(const struct expr_plan *p, const kite_column *cols, size_t n_rows,
                         kite_err *err)
{
    for (size_t i = 0; i < p->n_fields; i++) {
        if (!p->uses[i])
            continue;
        const kite_column *col = &cols[i];
        int dt = p->fields[i].dtype;
        bool var = dt == KITE_DT_VARCHAR || dt == KITE_DT_JSON || dt == KITE_DT_ARRAY;
        if (n_rows == 0)
            continue;
        if (col->n < n_rows || !col->data || (var && !col->offsets))
            return kite_err_set(err, KITE_EINVAL,
                                "filter evaluation: column %zu (%s) has %zu rows and %s, expected "
                                "%zu rows with data%s",
                                i, col->name ? col->name : "?", col->n,
                                col->data ? "data" : "no data", n_rows,
                                var ? " and offsets" : "");
    }
    return KITE_OK;
}

int expr_eval(const struct expr_plan *p, const kite_column *cols, size_t n_rows, uint64_t *out,
              kite_err *err)
{
    int rc = KITE_OK;
    if (!p || !out || (!cols && p->n_fields && n_rows))
        return kite_err_set(err, KITE_EINVAL, "expr_eval: plan, columns and output are required");
    size_t words = (n_rows + 63) / 64;
    if (n_rows == 0)
        return KITE_OK;
    if (expr_plan_is_true(p)) {
        memset(out, 0xff, words * sizeof(uint64_t));
        if (n_rows & 63)
            out[words - 1] &= (1ull << (n_rows & 63)) - 1;
        return KITE_OK;
    }
    rc = check_columns(p, cols, n_rows, err);
    if (rc != KITE_OK)
        return rc;
    struct ectx c = {.plan = p, .cols = cols, .n_rows = n_rows, .words = words};
    c.jc = kite_calloc(p->n_fields ? p->n_fields : 1, sizeof(*c.jc));
    uint64_t *f = kite_malloc(words * sizeof(uint64_t));
    if (!c.jc || !f) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory evaluating filter");
        goto out_free;
    }
    rc = eval_node(&c, p->root, NULL, out, f);
    if (rc == KITE_ENOMEM)
        kite_err_set(err, KITE_ENOMEM, "out of memory evaluating filter");
out_free:
    if (c.jc) {
        for (size_t i = 0; i < p->n_fields; i++) {
            struct json_cache *jc = &c.jc[i];
            if (jc->cells) {
                for (size_t r = 0; r < n_rows; r++)
                    json_decref(jc->cells[r]);
            }
            kite_free(jc->cells);
            kite_free(jc->state);
        }
    }
    kite_free(c.jc);
    kite_free(f);
    return rc;
}
