/*
 * plan.c — the plan object's small API: free, trivial-true test, used-field
 * test, and the primary-key fast path (expr_plan_pk_terms).
 *
 * Threading: every function here only reads the plan (except expr_plan_free),
 * so any number of threads may call them on one plan concurrently.
 */
#include <string.h>

#include "alloc.h"
#include "expr_int.h"

void expr_plan_free(struct expr_plan *p)
{
    if (!p)
        return;
    expr_arena_free(&p->arena);
    kite_free(p);
}

bool expr_plan_is_true(const struct expr_plan *p)
{
    return p && p->root && p->root->kind == P_CONST && p->root->b;
}

bool expr_plan_uses_field(const struct expr_plan *p, size_t field_index)
{
    return p && field_index < p->n_fields && p->uses[field_index];
}

/* ============================================================ pk terms */

bool expr_plan_pk_terms(const struct expr_plan *p, kite_column *ids)
{
    if (!p || !p->root || !ids)
        return false;
    const struct expr_pnode *n = p->root;
    if (!((n->kind == P_CMP && n->op == TK_EQ && n->arith == AR_NONE) || n->kind == P_IN))
        return false;
    if (n->ref.n_path != 0 || n->ref.field < 0 || (size_t)n->ref.field >= p->n_fields)
        return false;
    const struct expr_field *f = &p->fields[n->ref.field];
    if (!f->is_primary || (f->dtype != KITE_DT_INT64 && f->dtype != KITE_DT_VARCHAR))
        return false;
    const struct expr_value *vals = n->kind == P_IN ? n->val.items : &n->val;
    size_t nv = n->kind == P_IN ? n->val.n_items : 1;
    memset(ids, 0, sizeof(*ids));
    ids->dtype = f->dtype;
    ids->n = nv;
    if (f->dtype == KITE_DT_INT64) {
        int64_t *d = kite_malloc(nv ? nv * sizeof(int64_t) : 1);
        if (!d)
            return false;
        for (size_t k = 0; k < nv; k++)
            d[k] = vals[k].i;
        ids->data = d;
        return true;
    }
    size_t total = 0;
    for (size_t k = 0; k < nv; k++)
        total += vals[k].len;
    uint64_t *off = kite_malloc((nv + 1) * sizeof(uint64_t));
    char *bytes = kite_malloc(total ? total : 1);
    if (!off || !bytes) {
        kite_free(off);
        kite_free(bytes);
        return false;
    }
    size_t pos = 0;
    off[0] = 0;
    for (size_t k = 0; k < nv; k++) {
        if (vals[k].len)
            memcpy(bytes + pos, vals[k].s, vals[k].len);
        pos += vals[k].len;
        off[k + 1] = pos;
    }
    ids->data = bytes;
    ids->offsets = off;
    return true;
}

void expr_pk_terms_free(kite_column *ids)
{
    if (!ids)
        return;
    kite_free((void *)ids->data);
    kite_free((void *)ids->offsets);
    ids->data = NULL;
    ids->offsets = NULL;
    ids->n = 0;
}
