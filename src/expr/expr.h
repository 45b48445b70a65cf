/*
 * expr.h — the Milvus 2.5 boolean filter language (SEMANTICS.md §a).
 *
 * A filter is compiled once against a schema into a plan (lexer.c -> parser.c
 * -> compile.c: name resolution, type checks, constant folding, template
 * values), then evaluated column-at-a-time over one segment into a row bitmap
 * (eval.c).  Errors are KITE_EEXPR with a message in Milvus' shape
 * ("cannot parse expression: <expr>, error: <detail>") and err->offset set to
 * the byte position.  Nesting depth is limited (EXPR_MAX_DEPTH).
 */
#ifndef KITE_EXPR_H
#define KITE_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kite/kite.h"

#define EXPR_MAX_DEPTH 128
#define EXPR_MAX_LEN (1u << 20)

struct expr_field {
    const char *name;
    int dtype;           /* kite_dtype */
    int element_type;    /* Array elements */
    bool nullable;
    bool is_primary;
};

/* fields[i] is column i in expr_eval(); dynamic_index is the "$meta" JSON field or -1. */
struct expr_schema {
    const struct expr_field *fields;
    size_t n_fields;
    int dynamic_index;
};

struct expr_plan;

/*
 * Compile `text` (NULL or blank = match all) against `schema`.  template_json is
 * a JSON object {name: value} for {name} placeholders, or NULL.
 * On success *out is owned (expr_plan_free).
 */
int expr_compile(const char *text, const char *template_json, const struct expr_schema *schema,
                 struct expr_plan **out, kite_err *err);
void expr_plan_free(struct expr_plan *p);

/* true if the plan matches every row (empty filter, or folded to true). */
bool expr_plan_is_true(const struct expr_plan *p);
/* true if the plan reads field i (so the caller knows which columns to provide). */
bool expr_plan_uses_field(const struct expr_plan *p, size_t field_index);

/*
 * Evaluate over n_rows rows.  cols[i] holds the values of schema field i for
 * these rows (only fields the plan uses need data).  out: bitmap of
 * (n_rows + 63) / 64 words; bit r set = row r matches.  Null values compare
 * false.  Returns KITE_OK, KITE_ENOMEM, or KITE_EEXPR for a run-time error.
 */
int expr_eval(const struct expr_plan *p, const kite_column *cols, size_t n_rows, uint64_t *out,
              kite_err *err);

/*
 * Primary-key fast path: if the whole plan is `pk == c` or `pk in [..]`, return
 * true and fill *ids (owned: kite_free ids->data / offsets via expr_pk_terms_free)
 * with the listed keys; else false.
 */
bool expr_plan_pk_terms(const struct expr_plan *p, kite_column *ids);
void expr_pk_terms_free(kite_column *ids);

#endif
