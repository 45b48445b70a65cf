/*
 * compile.c — from AST to plan: name resolution, type checks, constant
 * folding, template values (SEMANTICS.md §a "Semantic rules").
 *
 * Every AST node is analysed into a `struct sem`, the same shape Milvus'
 * parser visitor passes around: a constant, a column reference (field plus
 * JSON/array path), an arithmetic form `column (op) constant`,
 * `array_length(column)`, or a finished predicate (struct expr_pnode).
 * Comparisons combine two sems into a predicate; and/or/not combine
 * predicates.
 *
 * Rules:
 *  1. Constants are folded as soon as both operands are constants (`1 + 2`,
 *     `2 ** 3`, `3 > 1`, `not true`); `**` always yields a float (Go math.Pow).
 *  2. Integer arithmetic wraps like Go int64; division or modulus by a zero
 *     constant is an error.
 *  3. A constant compared with a column is cast to the column's type at
 *     compile time (Milvus castValue): integers widen to Float/Double, floats
 *     never narrow to integers; Float columns compare in float32 precision.
 *  4. JSON paths accept any constant; the comparison is resolved per row.
 *  5. Error details reuse Milvus' wording so client-visible messages match.
 *  6. Everything a sem points to (strings, lists, paths) already lives in the
 *     plan arena: literals are copied out of the AST arena when analysed, so
 *     the AST arena can be dropped as soon as analysis ends.  cast_value may
 *     write over its own input (out == in).
 *
 * Threading: one compile at a time per cctx; the finished plan is read-only.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "err.h"
#include "expr_int.h"

enum sem_kind {
    S_CONST = 1,
    S_COL,
    S_ARITH,
    S_ALEN,
    S_PRED,
};

struct sem {
    int kind;
    size_t pos;
    struct expr_value v;    /* S_CONST */
    struct expr_ref ref;    /* S_COL S_ARITH S_ALEN */
    int arith;              /* S_ARITH */
    struct expr_value operand;
    struct expr_pnode *pred; /* S_PRED */
};

struct cctx {
    const struct expr_schema *schema;
    json_t *tmpl;
    struct expr_plan *plan;
    struct expr_arena *arena; /* == &plan->arena */
    int rc;
    size_t err_pos;
    char detail[400];
};

/* ============================================================== errors */

static int sem_error(struct cctx *c, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int sem_error(struct cctx *c, size_t pos, const char *fmt, ...)
{
    if (c->rc != KITE_OK)
        return c->rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
    va_end(ap);
    c->err_pos = pos;
    c->rc = KITE_EEXPR;
    return c->rc;
}

static int oom(struct cctx *c)
{
    if (c->rc == KITE_OK)
        c->rc = KITE_ENOMEM;
    return c->rc;
}

static const char *dtype_name(int dt)
{
    switch (dt) {
    case KITE_DT_NONE: return "None";
    case KITE_DT_BOOL: return "Bool";
    case KITE_DT_INT8: return "Int8";
    case KITE_DT_INT16: return "Int16";
    case KITE_DT_INT32: return "Int32";
    case KITE_DT_INT64: return "Int64";
    case KITE_DT_FLOAT: return "Float";
    case KITE_DT_DOUBLE: return "Double";
    case KITE_DT_VARCHAR: return "VarChar";
    case KITE_DT_ARRAY: return "Array";
    case KITE_DT_JSON: return "JSON";
    case KITE_DT_BINARY_VECTOR: return "BinaryVector";
    case KITE_DT_FLOAT_VECTOR: return "FloatVector";
    case KITE_DT_FLOAT16_VECTOR: return "Float16Vector";
    case KITE_DT_BFLOAT16_VECTOR: return "BFloat16Vector";
    }
    return "Unknown";
}

static bool is_int_type(int dt)
{
    return dt == KITE_DT_INT8 || dt == KITE_DT_INT16 || dt == KITE_DT_INT32 || dt == KITE_DT_INT64;
}

static bool is_float_type(int dt)
{
    return dt == KITE_DT_FLOAT || dt == KITE_DT_DOUBLE;
}

static bool is_num_type(int dt)
{
    return is_int_type(dt) || is_float_type(dt);
}

/* Effective type of a reference: JSON for any JSON path, element type for arr[i]. */
static int ref_type(const struct expr_ref *r)
{
    if (r->dtype == KITE_DT_ARRAY && r->n_path > 0)
        return r->elem_type;
    return r->dtype;
}

/* Type name of a sem for messages (Milvus getDataType). */
static void sem_type_name(const struct sem *s, char *buf, size_t cap)
{
    switch (s->kind) {
    case S_CONST:
        snprintf(buf, cap, "%s",
                 s->v.kind == VAL_BOOL ? "Bool" : s->v.kind == VAL_INT ? "Int64"
                 : s->v.kind == VAL_FLOAT ? "Double" : s->v.kind == VAL_STR ? "VarChar"
                 : "Array");
        return;
    case S_COL:
    case S_ARITH:
        if (ref_type(&s->ref) == KITE_DT_ARRAY)
            snprintf(buf, cap, "Array[%s]", dtype_name(s->ref.elem_type));
        else
            snprintf(buf, cap, "%s", dtype_name(ref_type(&s->ref)));
        return;
    case S_ALEN:
        snprintf(buf, cap, "Int64");
        return;
    default:
        snprintf(buf, cap, "Bool");
        return;
    }
}

/* Value in Go protobuf text form, as Milvus prints it: int64_val:1, string_val:"a". */
static void value_text(const struct expr_value *v, char *buf, size_t cap)
{
    switch (v->kind) {
    case VAL_BOOL: snprintf(buf, cap, "bool_val:%s", v->b ? "true" : "false"); return;
    case VAL_INT: snprintf(buf, cap, "int64_val:%lld", (long long)v->i); return;
    case VAL_FLOAT: snprintf(buf, cap, "float_val:%g", v->f); return;
    case VAL_STR: snprintf(buf, cap, "string_val:\"%.*s\"", (int)(v->len > 64 ? 64 : v->len), v->s);
        return;
    case VAL_ARRAY: snprintf(buf, cap, "array_val:{%zu elements}", v->n_items); return;
    }
    snprintf(buf, cap, "<none>");
}

/* ============================================================== nodes */

static struct expr_pnode *new_pnode(struct cctx *c, int kind)
{
    struct expr_pnode *n = expr_arena_alloc(c->arena, sizeof(*n));
    if (!n) {
        oom(c);
        return NULL;
    }
    n->kind = kind;
    return n;
}

static struct expr_pnode *const_pnode(struct cctx *c, bool b)
{
    struct expr_pnode *n = new_pnode(c, P_CONST);
    if (n)
        n->b = b;
    return n;
}

static int copy_value(struct cctx *c, struct expr_value *dst, const struct expr_value *src)
{
    *dst = *src;
    if (src->kind == VAL_STR) {
        dst->s = expr_arena_strndup(c->arena, src->s ? src->s : "", src->len);
        if (!dst->s)
            return oom(c);
    } else if (src->kind == VAL_ARRAY && src->n_items) {
        size_t bytes;
        if (!kite_mul_size(src->n_items, sizeof(*dst->items), &bytes))
            return oom(c);
        dst->items = expr_arena_alloc(c->arena, bytes);
        if (!dst->items)
            return oom(c);
        for (size_t k = 0; k < src->n_items; k++) {
            if (copy_value(c, &dst->items[k], &src->items[k]) != KITE_OK)
                return c->rc;
        }
    }
    return KITE_OK;
}

static int copy_path(struct cctx *c, struct expr_ref *r, const struct expr_path_el *prefix,
                     size_t n_prefix, const struct expr_path_el *path, size_t n_path)
{
    size_t n = n_prefix + n_path;
    r->n_path = n;
    r->path = NULL;
    if (n == 0)
        return KITE_OK;
    size_t bytes;
    if (!kite_mul_size(n, sizeof(*r->path), &bytes))
        return oom(c);
    r->path = expr_arena_alloc(c->arena, bytes);
    if (!r->path)
        return oom(c);
    for (size_t k = 0; k < n; k++) {
        const struct expr_path_el *src = k < n_prefix ? &prefix[k] : &path[k - n_prefix];
        r->path[k] = *src;
        if (!src->is_index) {
            r->path[k].key = expr_arena_strndup(c->arena, src->key, src->key_len);
            if (!r->path[k].key)
                return oom(c);
        }
    }
    return KITE_OK;
}

/* ============================================================ templates */

static int json_to_value(struct cctx *c, size_t pos, const char *name, json_t *j,
                         struct expr_value *out, int depth)
{
    memset(out, 0, sizeof(*out));
    if (depth > EXPR_MAX_DEPTH)
        return sem_error(c, pos, "template variable %s is nested too deeply", name);
    if (json_is_integer(j)) {
        out->kind = VAL_INT;
        out->i = (int64_t)json_integer_value(j);
    } else if (json_is_real(j)) {
        out->kind = VAL_FLOAT;
        out->f = json_real_value(j);
    } else if (json_is_boolean(j)) {
        out->kind = VAL_BOOL;
        out->b = json_is_true(j);
    } else if (json_is_string(j)) {
        out->kind = VAL_STR;
        out->len = json_string_length(j);
        out->s = expr_arena_strndup(c->arena, json_string_value(j), out->len);
        if (!out->s)
            return oom(c);
    } else if (json_is_array(j)) {
        out->kind = VAL_ARRAY;
        out->n_items = json_array_size(j);
        if (out->n_items) {
            size_t bytes;
            if (!kite_mul_size(out->n_items, sizeof(*out->items), &bytes))
                return oom(c);
            out->items = expr_arena_alloc(c->arena, bytes);
            if (!out->items)
                return oom(c);
        }
        for (size_t k = 0; k < out->n_items; k++) {
            if (json_to_value(c, pos, name, json_array_get(j, k), &out->items[k], depth + 1) !=
                KITE_OK)
                return c->rc;
        }
    } else {
        return sem_error(c, pos,
                         "template variable %s: unsupported value type (expected a number, "
                         "string, bool or array)",
                         name);
    }
    return KITE_OK;
}

static int analyze_template(struct cctx *c, const struct expr_ast *a, struct sem *out)
{
    char name[128];
    snprintf(name, sizeof(name), "%.*s", (int)(a->name_len > 100 ? 100 : a->name_len), a->name);
    json_t *j = c->tmpl ? json_object_getn(c->tmpl, a->name, a->name_len) : NULL;
    if (!j)
        return sem_error(c, a->pos, "the value of expression template variable name {%s} is not found",
                         name);
    out->kind = S_CONST;
    return json_to_value(c, a->pos, name, j, &out->v, 0);
}

/* ============================================================ analysis */

static int analyze(struct cctx *c, const struct expr_ast *a, struct sem *out);

static int find_field(const struct expr_schema *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        const char *fn = s->fields[i].name;
        if (fn && strlen(fn) == len && memcmp(fn, name, len) == 0)
            return (int)i;
    }
    return -1;
}

static void use_field(struct cctx *c, int field)
{
    if (field >= 0 && (size_t)field < c->plan->n_fields)
        c->plan->uses[field] = true;
}

static int analyze_ident(struct cctx *c, const struct expr_ast *a, struct sem *out)
{
    const struct expr_schema *s = c->schema;
    out->kind = S_COL;
    struct expr_ref *r = &out->ref;
    int idx = -1;
    bool via_meta = false;
    if (a->is_meta) {
        idx = s->dynamic_index;
        if (idx < 0 || (size_t)idx >= s->n_fields)
            return sem_error(c, a->pos, "field $meta not exist");
    } else {
        idx = find_field(s, a->name, a->name_len);
        if (idx < 0) {
            if (s->dynamic_index < 0 || (size_t)s->dynamic_index >= s->n_fields)
                return sem_error(c, a->pos, "field %.*s not exist", (int)a->name_len, a->name);
            idx = s->dynamic_index;
            via_meta = true;
        }
    }
    const struct expr_field *f = &s->fields[idx];
    r->field = idx;
    r->dtype = f->dtype;
    r->elem_type = f->element_type;
    r->nullable = f->nullable;
    use_field(c, idx);
    if (via_meta) {
        struct expr_path_el key = {.is_index = false, .key = a->name, .key_len = a->name_len};
        return copy_path(c, r, &key, 1, a->path, a->n_path);
    }
    if (a->n_path > 0) {
        if (f->dtype == KITE_DT_ARRAY) {
            if (a->n_path != 1 || !a->path[0].is_index)
                return sem_error(c, a->pos,
                                 "array field %s only supports one integer index, like %s[0]",
                                 f->name, f->name);
        } else if (f->dtype != KITE_DT_JSON) {
            return sem_error(c, a->pos,
                             "field %s is %s, only JSON and Array fields can be indexed",
                             f->name, dtype_name(f->dtype));
        }
    }
    return copy_path(c, r, NULL, 0, a->path, a->n_path);
}

/* Convert a sem to a predicate; `what` names the operator for the error. */
static int to_pred(struct cctx *c, const struct sem *s, const char *what,
                   struct expr_pnode **out)
{
    if (s->kind == S_PRED) {
        *out = s->pred;
        return KITE_OK;
    }
    if (s->kind == S_CONST && s->v.kind == VAL_BOOL) {
        *out = const_pnode(c, s->v.b);
        return *out ? KITE_OK : c->rc;
    }
    if (s->kind == S_COL && ref_type(&s->ref) == KITE_DT_BOOL) {
        struct expr_pnode *n = new_pnode(c, P_BOOLCOL);
        if (!n)
            return c->rc;
        n->ref = s->ref;
        *out = n;
        return KITE_OK;
    }
    char tn[64];
    sem_type_name(s, tn, sizeof(tn));
    return sem_error(c, s->pos, "%s, not %s", what, tn);
}

/* ------------------------------------------------------------ folding */

static bool is_num_val(const struct expr_value *v)
{
    return v->kind == VAL_INT || v->kind == VAL_FLOAT;
}

static double num_as_double(const struct expr_value *v)
{
    return v->kind == VAL_INT ? (double)v->i : v->f;
}

static int fold_arith(struct cctx *c, size_t pos, int op, const struct expr_value *l,
                      const struct expr_value *r, struct expr_value *out)
{
    memset(out, 0, sizeof(*out));
    if (!is_num_val(l) || !is_num_val(r))
        return sem_error(c, pos, "arithmetic operations are only supported on numbers, not %s",
                         !is_num_val(l) ? (l->kind == VAL_STR ? "strings" : "non-numbers")
                                        : (r->kind == VAL_STR ? "strings" : "non-numbers"));
    if (op == TK_POW) {
        out->kind = VAL_FLOAT;
        out->f = pow(num_as_double(l), num_as_double(r));
        return KITE_OK;
    }
    if (l->kind == VAL_INT && r->kind == VAL_INT) {
        uint64_t a = (uint64_t)l->i, b = (uint64_t)r->i;
        out->kind = VAL_INT;
        switch (op) {
        case TK_ADD: out->i = (int64_t)(a + b); return KITE_OK;
        case TK_SUB: out->i = (int64_t)(a - b); return KITE_OK;
        case TK_MUL: out->i = (int64_t)(a * b); return KITE_OK;
        case TK_DIV:
        case TK_MOD:
            if (r->i == 0)
                return sem_error(c, pos, "division or modulus by zero");
            if (r->i == -1)
                out->i = op == TK_DIV ? (int64_t)(0 - a) : 0;
            else
                out->i = op == TK_DIV ? l->i / r->i : l->i % r->i;
            return KITE_OK;
        }
    }
    if (op == TK_MOD)
        return sem_error(c, pos, "modulus can only apply on integer types");
    double a = num_as_double(l), b = num_as_double(r);
    out->kind = VAL_FLOAT;
    switch (op) {
    case TK_ADD: out->f = a + b; break;
    case TK_SUB: out->f = a - b; break;
    case TK_MUL: out->f = a * b; break;
    case TK_DIV:
        if (b == 0)
            return sem_error(c, pos, "division or modulus by zero");
        out->f = a / b;
        break;
    }
    return KITE_OK;
}

/* Three-way compare of two constants; false if they are not comparable. */
static bool cmp_values(const struct expr_value *a, const struct expr_value *b, int *res)
{
    if (is_num_val(a) && is_num_val(b)) {
        if (a->kind == VAL_INT && b->kind == VAL_INT) {
            *res = a->i < b->i ? -1 : a->i > b->i;
            return true;
        }
        int r;
        if (a->kind == VAL_INT) {
            r = expr_cmp_int_double(a->i, b->f);
        } else if (b->kind == VAL_INT) {
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
    if (a->kind == VAL_STR && b->kind == VAL_STR) {
        size_t n = a->len < b->len ? a->len : b->len;
        int r = n ? memcmp(a->s, b->s, n) : 0;
        if (r == 0)
            r = a->len < b->len ? -1 : a->len > b->len;
        *res = r < 0 ? -1 : r > 0;
        return true;
    }
    if (a->kind == VAL_BOOL && b->kind == VAL_BOOL) {
        *res = (int)a->b - (int)b->b;
        return true;
    }
    return false;
}

static bool apply_cmp(int op, int r)
{
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

static int mirror_op(int op)
{
    switch (op) {
    case TK_LT: return TK_GT;
    case TK_LE: return TK_GE;
    case TK_GT: return TK_LT;
    case TK_GE: return TK_LE;
    }
    return op;
}

/* Cast constant v to column type dt (Milvus castValue); JSON accepts anything. */
static int cast_value(struct cctx *c, size_t pos, int dt, const struct expr_value *vin,
                      struct expr_value *out)
{
    const struct expr_value copy = *vin; /* out may alias vin */
    const struct expr_value *v = &copy;
    *out = copy;
    if (dt == KITE_DT_JSON)
        return KITE_OK;
    if (dt == KITE_DT_VARCHAR && v->kind == VAL_STR)
        return KITE_OK;
    if (dt == KITE_DT_BOOL && v->kind == VAL_BOOL)
        return KITE_OK;
    if (is_float_type(dt) && is_num_val(v)) {
        out->kind = VAL_FLOAT;
        out->f = num_as_double(v);
        if (dt == KITE_DT_FLOAT)
            out->f = (double)(float)out->f;
        return KITE_OK;
    }
    if (is_int_type(dt) && v->kind == VAL_INT)
        return KITE_OK;
    char vt[128];
    value_text(v, vt, sizeof(vt));
    return sem_error(c, pos, "cannot cast value to %s, value: %s", dtype_name(dt), vt);
}

/* ------------------------------------------------------------ unary */

static int analyze_unary(struct cctx *c, const struct expr_ast *a, struct sem *out)
{
    struct sem k = {0};
    if (analyze(c, a->kids[0], &k) != KITE_OK)
        return c->rc;
    out->pos = a->pos;
    switch (a->op) {
    case TK_NOT:
        if (k.kind == S_CONST) {
            if (k.v.kind != VAL_BOOL)
                return sem_error(c, a->pos, "not op can only be applied on boolean expression");
            *out = k;
            out->v.b = !k.v.b;
            return KITE_OK;
        }
        {
            struct expr_pnode *kid;
            if (to_pred(c, &k, "not op can only be applied on boolean expression",
                        &kid) != KITE_OK)
                return c->rc;
            struct expr_pnode *n = new_pnode(c, P_NOT);
            struct expr_pnode **kids = expr_arena_alloc(c->arena, sizeof(*kids));
            if (!n || !kids)
                return oom(c);
            kids[0] = kid;
            n->kids = kids;
            n->n_kids = 1;
            out->kind = S_PRED;
            out->pred = n;
            return KITE_OK;
        }
    case TK_SUB:
    case TK_ADD:
        if (k.kind != S_CONST || !is_num_val(&k.v))
            return sem_error(c, a->pos, "unary '%c' can only be applied to numeric constants",
                             a->op == TK_SUB ? '-' : '+');
        *out = k;
        if (a->op == TK_SUB) {
            if (k.v.kind == VAL_INT)
                out->v.i = (int64_t)(0 - (uint64_t)k.v.i);
            else
                out->v.f = -k.v.f;
        }
        return KITE_OK;
    default:
        return sem_error(c, a->pos, "BitNot is not supported");
    }
}

/* ---------------------------------------------------------- arithmetic */

static int arith_code(int tk)
{
    switch (tk) {
    case TK_ADD: return AR_ADD;
    case TK_SUB: return AR_SUB;
    case TK_MUL: return AR_MUL;
    case TK_DIV: return AR_DIV;
    default: return AR_MOD;
    }
}

static int analyze_arith(struct cctx *c, const struct expr_ast *a, const struct sem *l,
                         const struct sem *r, struct sem *out)
{
    out->pos = a->pos;
    if (l->kind == S_CONST && r->kind == S_CONST) {
        out->kind = S_CONST;
        return fold_arith(c, a->pos, a->op, &l->v, &r->v, &out->v);
    }
    if (a->op == TK_POW)
        return sem_error(c, a->pos, "power (**) is only supported between constants");
    if (l->kind == S_PRED || r->kind == S_PRED)
        return sem_error(c, a->pos, "arithmetic operations are not supported on boolean expressions");
    if (l->kind == S_COL && r->kind == S_COL)
        return sem_error(c, a->pos, "not supported to do arithmetic operations between multiple fields");
    const struct sem *col = NULL, *cst = NULL;
    if (l->kind == S_COL && r->kind == S_CONST) {
        col = l;
        cst = r;
    } else if (r->kind == S_COL && l->kind == S_CONST) {
        if (a->op != TK_ADD && a->op != TK_MUL)
            return sem_error(c, a->pos, "module field is not yet supported");
        col = r;
        cst = l;
    } else {
        return sem_error(c, a->pos, "complicated arithmetic operations are not supported");
    }
    int dt = ref_type(&col->ref);
    if (!is_num_type(dt) && dt != KITE_DT_JSON) {
        char tn[64];
        sem_type_name(col, tn, sizeof(tn));
        return sem_error(c, a->pos, "arithmetic operations are not supported on %s fields", tn);
    }
    if (!is_num_val(&cst->v))
        return sem_error(c, a->pos, "arithmetic operand must be a number");
    if (a->op == TK_MOD && (cst->v.kind != VAL_INT || is_float_type(dt)))
        return sem_error(c, a->pos, "modulus can only apply on integer types");
    struct expr_value operand;
    if (cast_value(c, a->pos, dt == KITE_DT_JSON ? KITE_DT_JSON : dt, &cst->v, &operand) !=
        KITE_OK)
        return c->rc;
    if ((a->op == TK_DIV || a->op == TK_MOD) &&
        ((operand.kind == VAL_INT && operand.i == 0) || (operand.kind == VAL_FLOAT && operand.f == 0)))
        return sem_error(c, a->pos, "division or modulus by zero");
    out->kind = S_ARITH;
    out->ref = col->ref;
    out->arith = arith_code(a->op);
    out->operand = operand;
    return KITE_OK;
}

/* ---------------------------------------------------------- comparison */

static bool col_types_comparable(int a, int b)
{
    if (a == KITE_DT_BOOL)
        return b == KITE_DT_BOOL;
    if (is_num_type(a))
        return is_num_type(b);
    if (a == KITE_DT_VARCHAR)
        return b == KITE_DT_VARCHAR;
    return false;
}

static int compare_col_col(struct cctx *c, size_t pos, int op, const struct sem *l,
                           const struct sem *r, struct sem *out)
{
    int lt = ref_type(&l->ref), rt = ref_type(&r->ref);
    if (lt == KITE_DT_JSON || rt == KITE_DT_JSON)
        return sem_error(c, pos, "two column comparison with JSON type is not supported");
    if (lt == KITE_DT_ARRAY || rt == KITE_DT_ARRAY)
        return sem_error(c, pos, "can not comparisons array fields directly");
    if (!col_types_comparable(lt, rt)) {
        char a[64], b[64];
        sem_type_name(l, a, sizeof(a));
        sem_type_name(r, b, sizeof(b));
        return sem_error(c, pos, "comparisons between %s and %s are not supported", a, b);
    }
    struct expr_pnode *n = new_pnode(c, P_CMPCOL);
    if (!n)
        return c->rc;
    n->ref = l->ref;
    n->ref2 = r->ref;
    n->op = op;
    out->kind = S_PRED;
    out->pred = n;
    return KITE_OK;
}

static int compare_col_const(struct cctx *c, size_t pos, int op, const struct sem *l,
                             const struct expr_value *v, struct sem *out)
{
    struct expr_pnode *n = new_pnode(c, P_CMP);
    if (!n)
        return c->rc;
    n->op = op;
    n->ref = l->ref;
    int dt = ref_type(&l->ref);
    if (l->kind == S_ALEN) {
        n->arith = AR_LEN;
        if (cast_value(c, pos, KITE_DT_INT64, v, &n->val) != KITE_OK)
            return c->rc;
    } else {
        if (dt == KITE_DT_ARRAY)
            return sem_error(c, pos, "can not comparisons array fields directly");
        if (!is_num_type(dt) && dt != KITE_DT_JSON && dt != KITE_DT_VARCHAR &&
            dt != KITE_DT_BOOL) {
            char a[64], b[64];
            sem_type_name(l, a, sizeof(a));
            struct sem tmp = {.kind = S_CONST, .v = *v};
            sem_type_name(&tmp, b, sizeof(b));
            return sem_error(c, pos, "comparisons between %s and %s are not supported", a, b);
        }
        if (cast_value(c, pos, dt, v, &n->val) != KITE_OK)
            return c->rc;
        if (l->kind == S_ARITH) {
            n->arith = l->arith;
            n->operand = l->operand;
        }
    }
    out->kind = S_PRED;
    out->pred = n;
    return KITE_OK;
}

static int analyze_compare(struct cctx *c, const struct expr_ast *a, struct sem *l,
                           struct sem *r, struct sem *out)
{
    int op = a->op;
    out->pos = a->pos;
    if (l->kind == S_CONST && r->kind == S_CONST) {
        int res;
        if (l->v.kind == VAL_ARRAY || r->v.kind == VAL_ARRAY || !cmp_values(&l->v, &r->v, &res)) {
            char x[64], y[64];
            sem_type_name(l, x, sizeof(x));
            sem_type_name(r, y, sizeof(y));
            return sem_error(c, a->pos, "comparisons between %s and %s are not supported", x, y);
        }
        out->kind = S_CONST;
        out->v.kind = VAL_BOOL;
        out->v.b = apply_cmp(op, res);
        return KITE_OK;
    }
    if (l->kind == S_CONST) {
        struct sem *t = l;
        l = r;
        r = t;
        op = mirror_op(op);
    }
    if (l->kind == S_PRED || r->kind == S_PRED)
        return sem_error(c, a->pos, "only comparison between two fields is supported");
    if (r->kind == S_CONST)
        return compare_col_const(c, a->pos, op, l, &r->v, out);
    if (l->kind == S_COL && r->kind == S_COL)
        return compare_col_col(c, a->pos, op, l, r, out);
    if ((l->kind == S_ARITH || l->kind == S_ALEN) && (r->kind == S_ARITH || r->kind == S_ALEN))
        return sem_error(c, a->pos, "complicated arithmetic operations are not supported");
    return sem_error(c, a->pos, "not supported to combine multiple fields");
}

/* ---------------------------------------------------------- binary */

static int analyze_binary(struct cctx *c, const struct expr_ast *a, struct sem *out)
{
    switch (a->op) {
    case TK_SHL:
    case TK_SHR:
        return sem_error(c, a->pos, "shift is not supported");
    case TK_BAND:
        return sem_error(c, a->pos, "BitAnd is not supported");
    case TK_BOR:
        return sem_error(c, a->pos, "BitOr is not supported");
    case TK_BXOR:
        return sem_error(c, a->pos, "BitXor is not supported");
    }
    struct sem l = {0}, r = {0};
    if (analyze(c, a->kids[0], &l) != KITE_OK || analyze(c, a->kids[1], &r) != KITE_OK)
        return c->rc;
    switch (a->op) {
    case TK_ADD:
    case TK_SUB:
    case TK_MUL:
    case TK_DIV:
    case TK_MOD:
    case TK_POW:
        return analyze_arith(c, a, &l, &r, out);
    default:
        return analyze_compare(c, a, &l, &r, out);
    }
}

/* ------------------------------------------------------------ logic */

static int analyze_logic(struct cctx *c, const struct expr_ast *a, struct sem *out)
{
    bool is_and = a->op == TK_AND;
    const char *msg = is_and ? "'and' can only be used between boolean expressions"
                             : "'or' can only be used between boolean expressions";
    size_t bytes;
    if (!kite_mul_size(a->n_kids, sizeof(struct expr_pnode *), &bytes))
        return oom(c);
    struct expr_pnode **kids = expr_arena_alloc(c->arena, bytes);
    if (!kids)
        return oom(c);
    size_t n = 0;
    bool decided = false; /* an and with a false constant / an or with a true one */
    for (size_t k = 0; k < a->n_kids; k++) {
        struct sem s = {0};
        struct expr_pnode *p;
        if (analyze(c, a->kids[k], &s) != KITE_OK || to_pred(c, &s, msg, &p) != KITE_OK)
            return c->rc;
        if (p->kind == P_CONST) {
            if (p->b != is_and)
                decided = true;
            continue; /* neutral element */
        }
        kids[n++] = p;
    }
    out->pos = a->pos;
    out->kind = S_PRED;
    if (decided || n == 0) {
        out->pred = const_pnode(c, decided ? !is_and : is_and);
        return out->pred ? KITE_OK : c->rc;
    }
    if (n == 1) {
        out->pred = kids[0];
        return KITE_OK;
    }
    struct expr_pnode *node = new_pnode(c, is_and ? P_AND : P_OR);
    if (!node)
        return c->rc;
    node->kids = kids;
    node->n_kids = n;
    out->pred = node;
    return KITE_OK;
}

/* ------------------------------------------------------------ range */

static int analyze_range(struct cctx *c, const struct expr_ast *a, struct sem *out)
{
    struct sem lo = {0}, mid = {0}, hi = {0};
    if (analyze(c, a->kids[0], &lo) != KITE_OK || analyze(c, a->kids[1], &mid) != KITE_OK ||
        analyze(c, a->kids[2], &hi) != KITE_OK)
        return c->rc;
    bool lo_incl, hi_incl;
    if (a->op == TK_GT || a->op == TK_GE) {
        struct sem t = lo;
        lo = hi;
        hi = t;
        lo_incl = a->op2 == TK_GE;
        hi_incl = a->op == TK_GE;
    } else {
        lo_incl = a->op == TK_LE;
        hi_incl = a->op2 == TK_LE;
    }
    if (mid.kind != S_COL)
        return sem_error(c, a->pos, "the middle of a range expression must be a field");
    if (lo.kind != S_CONST || hi.kind != S_CONST)
        return sem_error(c, a->pos, "the bounds of a range expression must be constants");
    int dt = ref_type(&mid.ref);
    if (dt == KITE_DT_BOOL)
        return sem_error(c, a->pos, "invalid range operations on boolean expr");
    if (dt == KITE_DT_ARRAY)
        return sem_error(c, a->pos, "can not comparisons array fields directly");
    if (!is_num_type(dt) && dt != KITE_DT_VARCHAR && dt != KITE_DT_JSON)
        return sem_error(c, a->pos, "range operations are not supported on %s fields",
                         dtype_name(dt));
    struct expr_pnode *n = new_pnode(c, P_RANGE);
    if (!n)
        return c->rc;
    if (cast_value(c, a->pos, dt, &lo.v, &n->lo) != KITE_OK ||
        cast_value(c, a->pos, dt, &hi.v, &n->hi) != KITE_OK)
        return c->rc;
    int r;
    if (cmp_values(&n->lo, &n->hi, &r) && ((lo_incl && hi_incl) ? r > 0 : r >= 0))
        return sem_error(c, a->pos, "invalid range: lowerbound is greater than upperbound");
    n->ref = mid.ref;
    n->op = lo_incl ? TK_LE : TK_LT; /* lo op ref */
    n->op2 = hi_incl ? TK_LE : TK_LT; /* ref op2 hi */
    out->kind = S_PRED;
    out->pos = a->pos;
    out->pred = n;
    return KITE_OK;
}

/* --------------------------------------------------------------- in */

static int cmp_int_items(const void *x, const void *y)
{
    const struct expr_value *a = x, *b = y;
    return a->i < b->i ? -1 : a->i > b->i;
}

static int cmp_str_items(const void *x, const void *y)
{
    const struct expr_value *a = x, *b = y;
    size_t n = a->len < b->len ? a->len : b->len;
    int r = n ? memcmp(a->s, b->s, n) : 0;
    if (r)
        return r;
    return a->len < b->len ? -1 : a->len > b->len;
}

static struct expr_pnode *wrap_not(struct cctx *c, struct expr_pnode *kid)
{
    struct expr_pnode *n = new_pnode(c, P_NOT);
    struct expr_pnode **kids = expr_arena_alloc(c->arena, sizeof(*kids));
    if (!n || !kids) {
        oom(c);
        return NULL;
    }
    kids[0] = kid;
    n->kids = kids;
    n->n_kids = 1;
    return n;
}

static int analyze_in(struct cctx *c, const struct expr_ast *a, struct sem *out)
{
    struct sem l = {0}, r = {0};
    if (analyze(c, a->kids[0], &l) != KITE_OK || analyze(c, a->kids[1], &r) != KITE_OK)
        return c->rc;
    if (l.kind != S_COL)
        return sem_error(c, a->pos, "the left-hand side of 'in' must be a field");
    if (r.kind != S_CONST || r.v.kind != VAL_ARRAY)
        return sem_error(c, a->pos, "the right-hand side of 'in' must be a list");
    int dt = ref_type(&l.ref);
    if (dt == KITE_DT_ARRAY)
        return sem_error(c, a->pos, "can not comparisons array fields directly");
    struct expr_pnode *n = new_pnode(c, P_IN);
    if (!n)
        return c->rc;
    n->ref = l.ref;
    n->val.kind = VAL_ARRAY;
    n->val.n_items = r.v.n_items;
    if (r.v.n_items) {
        size_t bytes;
        if (!kite_mul_size(r.v.n_items, sizeof(*n->val.items), &bytes))
            return oom(c);
        n->val.items = expr_arena_alloc(c->arena, bytes);
        if (!n->val.items)
            return oom(c);
    }
    for (size_t k = 0; k < r.v.n_items; k++) {
        if (cast_value(c, a->pos, dt, &r.v.items[k], &n->val.items[k]) != KITE_OK)
            return c->rc;
    }
    if (n->val.n_items > 1 && is_int_type(dt)) {
        qsort(n->val.items, n->val.n_items, sizeof(*n->val.items), cmp_int_items);
        n->sorted = true;
    } else if (n->val.n_items > 1 && dt == KITE_DT_VARCHAR) {
        qsort(n->val.items, n->val.n_items, sizeof(*n->val.items), cmp_str_items);
        n->sorted = true;
    }
    out->kind = S_PRED;
    out->pos = a->pos;
    out->pred = a->negate ? wrap_not(c, n) : n;
    return out->pred ? KITE_OK : c->rc;
}

/* ------------------------------------------------------------- like */

static int analyze_like(struct cctx *c, const struct expr_ast *a, struct sem *out)
{
    struct sem l = {0};
    if (analyze(c, a->kids[0], &l) != KITE_OK)
        return c->rc;
    int dt = l.kind == S_COL ? ref_type(&l.ref) : KITE_DT_NONE;
    if (dt != KITE_DT_VARCHAR && dt != KITE_DT_JSON)
        return sem_error(c, a->pos, "like operation on non-string or no-json field is unsupported");
    struct expr_pnode *n = new_pnode(c, P_LIKE);
    if (!n)
        return c->rc;
    n->ref = l.ref;
    const char *p = a->val.s;
    size_t plen = a->val.len;
    /* Classify: no unescaped wildcard -> equality; only trailing %s -> prefix. */
    char *lit = expr_arena_alloc(c->arena, plen + 1);
    if (!lit)
        return oom(c);
    size_t litn = 0, k = 0;
    bool wildcard_mid = false, trailing = false;
    while (k < plen) {
        char ch = p[k];
        if (ch == '\\' && k + 1 < plen) {
            if (trailing)
                wildcard_mid = true;
            lit[litn++] = p[k + 1];
            k += 2;
            continue;
        }
        if (ch == '%') {
            trailing = true;
        } else if (ch == '_') {
            wildcard_mid = true;
        } else {
            if (trailing)
                wildcard_mid = true;
            lit[litn++] = ch;
        }
        k++;
    }
    n->val.kind = VAL_STR;
    if (wildcard_mid) {
        n->like = LK_MATCH;
        n->val.s = expr_arena_strndup(c->arena, p, plen);
        n->val.len = plen;
        if (!n->val.s)
            return oom(c);
    } else {
        n->like = trailing ? LK_PREFIX : LK_EQUAL;
        n->val.s = lit;
        n->val.len = litn;
    }
    out->kind = S_PRED;
    out->pos = a->pos;
    out->pred = n;
    return KITE_OK;
}

/* ------------------------------------------------------------ calls */

static int analyze_contains(struct cctx *c, const struct expr_ast *a, struct sem *out)
{
    static const char *const names[] = {"", "json_contains", "json_contains_all",
                                        "json_contains_any", "array_contains",
                                        "array_contains_all", "array_contains_any"};
    const char *fname = names[a->func];
    if (a->n_kids != 2)
        return sem_error(c, a->pos, "%s expects 2 arguments, got %zu", fname, a->n_kids);
    struct sem f = {0}, v = {0};
    if (analyze(c, a->kids[0], &f) != KITE_OK || analyze(c, a->kids[1], &v) != KITE_OK)
        return c->rc;
    int kind = (a->func == FN_JSON_CONTAINS || a->func == FN_ARRAY_CONTAINS) ? CT_ONE
             : (a->func == FN_JSON_CONTAINS_ALL || a->func == FN_ARRAY_CONTAINS_ALL) ? CT_ALL
             : CT_ANY;
    if (f.kind != S_COL ||
        (ref_type(&f.ref) != KITE_DT_JSON && ref_type(&f.ref) != KITE_DT_ARRAY))
        return sem_error(c, a->pos, "%s operation are only supported on json or array fields now",
                         fname);
    if (v.kind != S_CONST)
        return sem_error(c, a->pos, "%s operation element must be a constant", fname);
    if (kind != CT_ONE && v.v.kind != VAL_ARRAY)
        return sem_error(c, a->pos, "%s operation element must be an array",
                         kind == CT_ALL ? "contains_all" : "contains_any");
    struct expr_pnode *n = new_pnode(c, P_CONTAINS);
    if (!n)
        return c->rc;
    n->ref = f.ref;
    n->contains = kind;
    if (ref_type(&f.ref) == KITE_DT_ARRAY) {
        /* Elements must be castable to the array's element type. */
        int et = f.ref.elem_type;
        if (kind == CT_ONE) {
            if (cast_value(c, a->pos, et, &v.v, &n->val) != KITE_OK)
                return c->rc;
        } else {
            n->val = v.v;
            for (size_t k = 0; k < v.v.n_items; k++) {
                if (cast_value(c, a->pos, et, &v.v.items[k], &v.v.items[k]) != KITE_OK)
                    return c->rc;
            }
        }
    } else {
        n->val = v.v;
    }
    out->kind = S_PRED;
    out->pos = a->pos;
    out->pred = n;
    return KITE_OK;
}

static int analyze_call(struct cctx *c, const struct expr_ast *a, struct sem *out)
{
    out->pos = a->pos;
    switch (a->func) {
    case FN_ARRAY_LENGTH: {
        if (a->n_kids != 1)
            return sem_error(c, a->pos, "array_length expects 1 argument, got %zu", a->n_kids);
        struct sem f = {0};
        if (analyze(c, a->kids[0], &f) != KITE_OK)
            return c->rc;
        if (f.kind != S_COL ||
            (ref_type(&f.ref) != KITE_DT_JSON && ref_type(&f.ref) != KITE_DT_ARRAY))
            return sem_error(c, a->pos,
                             "array_length operation are only supported on array or json fields");
        out->kind = S_ALEN;
        out->ref = f.ref;
        return KITE_OK;
    }
    case FN_TEXT_MATCH:
        return sem_error(c, a->pos,
                         "text_match is not supported: Kite has no text analyzers (use like)");
    case 0:
        return sem_error(c, a->pos, "function %.*s() is not supported", (int)a->name_len, a->name);
    default:
        return analyze_contains(c, a, out);
    }
}

/* ----------------------------------------------------- exists / is null */

static int analyze_exists(struct cctx *c, const struct expr_ast *a, struct sem *out)
{
    struct sem f = {0};
    if (analyze(c, a->kids[0], &f) != KITE_OK)
        return c->rc;
    if (f.kind != S_COL || f.ref.dtype != KITE_DT_JSON || f.ref.n_path == 0)
        return sem_error(c, a->pos, "exists operations are only supportted on json key");
    struct expr_pnode *n = new_pnode(c, P_EXISTS);
    if (!n)
        return c->rc;
    n->ref = f.ref;
    out->kind = S_PRED;
    out->pos = a->pos;
    out->pred = n;
    return KITE_OK;
}

static int analyze_isnull(struct cctx *c, const struct expr_ast *a, struct sem *out)
{
    struct sem f = {0};
    if (analyze(c, a->kids[0], &f) != KITE_OK)
        return c->rc;
    if (f.kind != S_COL)
        return sem_error(c, a->pos, "is null can only be applied to a field");
    struct expr_pnode *n = new_pnode(c, P_ISNULL);
    if (!n)
        return c->rc;
    n->ref = f.ref;
    out->kind = S_PRED;
    out->pos = a->pos;
    out->pred = a->negate ? wrap_not(c, n) : n;
    return out->pred ? KITE_OK : c->rc;
}

static int analyze(struct cctx *c, const struct expr_ast *a, struct sem *out)
{
    memset(out, 0, sizeof(*out));
    out->pos = a->pos;
    switch (a->kind) {
    case A_CONST:
        out->kind = S_CONST;
        return copy_value(c, &out->v, &a->val);
    case A_TEMPLATE:
        return analyze_template(c, a, out);
    case A_IDENT:
        return analyze_ident(c, a, out);
    case A_ARRAY: {
        out->kind = S_CONST;
        out->v.kind = VAL_ARRAY;
        out->v.n_items = a->n_kids;
        if (a->n_kids) {
            size_t bytes;
            if (!kite_mul_size(a->n_kids, sizeof(*out->v.items), &bytes))
                return oom(c);
            out->v.items = expr_arena_alloc(c->arena, bytes);
            if (!out->v.items)
                return oom(c);
        }
        for (size_t k = 0; k < a->n_kids; k++) {
            struct sem e = {0};
            if (analyze(c, a->kids[k], &e) != KITE_OK)
                return c->rc;
            if (e.kind != S_CONST)
                return sem_error(c, a->kids[k]->pos, "array elements must be constant values");
            out->v.items[k] = e.v;
        }
        return KITE_OK;
    }
    case A_UNARY:
        return analyze_unary(c, a, out);
    case A_BINARY:
        return analyze_binary(c, a, out);
    case A_LOGIC:
        return analyze_logic(c, a, out);
    case A_RANGE:
        return analyze_range(c, a, out);
    case A_IN:
        return analyze_in(c, a, out);
    case A_LIKE:
        return analyze_like(c, a, out);
    case A_EXISTS:
        return analyze_exists(c, a, out);
    case A_CALL:
        return analyze_call(c, a, out);
    case A_ISNULL:
        return analyze_isnull(c, a, out);
    }
    return sem_error(c, a->pos, "unexpected expression node");
}

/* ============================================================ entry */

static bool is_blank(const char *s)
{
    for (; *s; s++) {
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    }
    return true;
}

static int fail(kite_err *err, int code, const char *text, size_t pos, const char *detail)
{
    if (code == KITE_ENOMEM)
        return kite_err_set(err, KITE_ENOMEM, "out of memory while compiling expression");
    size_t tl = strlen(text);
    return kite_err_set_at(err, code, (int64_t)pos, "cannot parse expression: %.*s%s, error: %s",
                           (int)(tl > 200 ? 200 : tl), text, tl > 200 ? "..." : "", detail);
}

/* An empty plan for schema: the used-field flags and a name-less copy of the fields. */
static struct expr_plan *plan_new(const struct expr_schema *schema)
{
    size_t n = schema->n_fields ? schema->n_fields : 1, bytes;
    struct expr_plan *plan = kite_calloc(1, sizeof(*plan));
    if (!plan)
        return NULL;
    plan->n_fields = schema->n_fields;
    plan->uses = expr_arena_alloc(&plan->arena, n);
    plan->fields = kite_mul_size(n, sizeof(*plan->fields), &bytes)
                       ? expr_arena_alloc(&plan->arena, bytes) : NULL;
    if (!plan->uses || !plan->fields) {
        expr_plan_free(plan);
        return NULL;
    }
    for (size_t i = 0; i < schema->n_fields; i++) {
        plan->fields[i] = schema->fields[i];
        plan->fields[i].name = NULL; /* the schema's strings are only borrowed during compile */
    }
    return plan;
}

/* Parse and analyse src into c->plan->root; on failure c->rc / c->detail / c->err_pos are set. */
static int compile_text(struct cctx *c, const char *src, size_t len, struct expr_arena *ast_arena)
{
    struct expr_ast *root = NULL;
    struct expr_parse_error perr = {0};
    int rc = expr_parse(src, len, ast_arena, &root, &perr);
    if (rc != KITE_OK) {
        c->rc = rc;
        c->err_pos = perr.pos;
        memcpy(c->detail, perr.detail, sizeof(c->detail));
        return rc;
    }
    struct sem s = {0};
    if (analyze(c, root, &s) != KITE_OK)
        return c->rc;
    if (s.kind != S_PRED && !(s.kind == S_CONST && s.v.kind == VAL_BOOL) &&
        !(s.kind == S_COL && ref_type(&s.ref) == KITE_DT_BOOL)) {
        char tn[64];
        sem_type_name(&s, tn, sizeof(tn));
        return sem_error(c, 0, "predicate is not a boolean expression: %.*s, data type: %s",
                         (int)(len > 100 ? 100 : len), src, tn);
    }
    return to_pred(c, &s, "predicate is not a boolean expression", &c->plan->root);
}

int expr_compile(const char *text, const char *template_json, const struct expr_schema *schema,
                 struct expr_plan **out, kite_err *err)
{
    int rc = KITE_OK;
    struct expr_arena ast_arena = {0};
    struct cctx c = {0};
    *out = NULL;
    if (!schema)
        return kite_err_set(err, KITE_EINVAL, "expr_compile: schema is required");
    const char *src = text ? text : "";
    size_t len = strlen(src);
    if (len > EXPR_MAX_LEN)
        return fail(err, KITE_EEXPR, src, EXPR_MAX_LEN, "expression is longer than 1048576 bytes");
    struct expr_plan *plan = plan_new(schema);
    if (!plan)
        return fail(err, KITE_ENOMEM, src, 0, "");
    c.schema = schema;
    c.plan = plan;
    c.arena = &plan->arena;

    if (is_blank(src)) {
        plan->root = const_pnode(&c, true);
        if (!plan->root) {
            rc = fail(err, KITE_ENOMEM, src, 0, "");
            goto out_free_plan;
        }
        *out = plan;
        return KITE_OK;
    }
    if (template_json && !is_blank(template_json)) {
        json_error_t jerr;
        c.tmpl = json_loads(template_json, 0, &jerr);
        if (!c.tmpl || !json_is_object(c.tmpl)) {
            rc = fail(err, KITE_EEXPR, src, 0,
                      c.tmpl ? "template values must be a JSON object, not another JSON value"
                             : "template values must be a JSON object (invalid JSON)");
            goto out_free_plan;
        }
    }
    if (compile_text(&c, src, len, &ast_arena) != KITE_OK) {
        rc = fail(err, c.rc, src, c.err_pos, c.detail);
        goto out_free_plan;
    }
    expr_arena_free(&ast_arena);
    json_decref(c.tmpl);
    *out = plan;
    return KITE_OK;

out_free_plan:
    expr_arena_free(&ast_arena);
    json_decref(c.tmpl);
    expr_plan_free(plan);
    return rc;
}
