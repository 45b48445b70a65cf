/*
 * expr_int.h — private structures of the filter-expression module.
 *
 * Pipeline: lexer.c turns bytes into tokens on demand; parser.c builds an AST
 * (struct ast) in a compile-time arena; compile.c resolves names, checks types,
 * folds constants and produces a plan (struct pnode tree) in the plan's own
 * arena; eval.c evaluates a plan over one batch of columns into bitmaps.
 *
 * Invariants:
 *  1. Every AST/plan allocation comes from an arena (struct expr_arena); a plan
 *     is freed by freeing its arena, so no node is ever freed individually.
 *  2. AST depth (nesting of non-flattened nodes) never exceeds EXPR_MAX_DEPTH;
 *     the parser counts recursion, so compile and eval recursion is bounded.
 *  3. `and` / `or` chains are flattened into one n-ary node, so a long list of
 *     alternatives does not count against the depth limit.
 *  4. Plans are immutable after expr_compile() returns: expr_eval() may run on
 *     one plan from many threads at once (all per-call state lives on the
 *     caller's stack or in per-call allocations).
 */
#ifndef KITE_EXPR_INT_H
#define KITE_EXPR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expr.h"

/* ------------------------------------------------------------------ arena */

struct expr_arena_block;
struct expr_arena {
    struct expr_arena_block *head;
};

/* Zeroed allocation from the arena; NULL on OOM or size overflow. */
void *expr_arena_alloc(struct expr_arena *a, size_t n);
char *expr_arena_strndup(struct expr_arena *a, const char *s, size_t n);
void expr_arena_free(struct expr_arena *a);

/* ------------------------------------------------------------------ values */

enum expr_val_kind {
    VAL_NONE = 0,
    VAL_BOOL,
    VAL_INT,
    VAL_FLOAT,
    VAL_STR,
    VAL_ARRAY,
};

/* A constant.  Strings may contain NUL bytes (len is authoritative) and are NUL-terminated. */
struct expr_value {
    int kind;
    bool b;
    int64_t i;
    double f;
    const char *s;
    size_t len;
    struct expr_value *items; /* VAL_ARRAY */
    size_t n_items;
};

/* ------------------------------------------------------------------ tokens */

enum expr_tok {
    TK_EOF = 0,
    TK_INT,
    TK_FLOAT,
    TK_STR,
    TK_BOOL,
    TK_IDENT,
    TK_META, /* $meta */
    TK_TEMPLATE, /* {name} */
    TK_LPAREN,
    TK_RPAREN,
    TK_LBRACKET,
    TK_RBRACKET,
    TK_COMMA,
    TK_ADD,
    TK_SUB,
    TK_MUL,
    TK_DIV,
    TK_MOD,
    TK_POW,
    TK_SHL,
    TK_SHR,
    TK_LT,
    TK_LE,
    TK_GT,
    TK_GE,
    TK_EQ,
    TK_NE,
    TK_BAND,
    TK_BOR,
    TK_BXOR,
    TK_BNOT,
    TK_AND,
    TK_OR,
    TK_NOT,
    TK_IN,
    TK_LIKE,
    TK_EXISTS,
    TK_FUNC,
};

enum expr_func {
    FN_JSON_CONTAINS = 1,
    FN_JSON_CONTAINS_ALL,
    FN_JSON_CONTAINS_ANY,
    FN_ARRAY_CONTAINS,
    FN_ARRAY_CONTAINS_ALL,
    FN_ARRAY_CONTAINS_ANY,
    FN_ARRAY_LENGTH,
    FN_TEXT_MATCH,
};

struct expr_token {
    int kind;
    int func;      /* TK_FUNC */
    size_t start;  /* byte offsets into the source */
    size_t end;
    int64_t i;     /* TK_INT */
    double f;      /* TK_FLOAT */
    bool b;        /* TK_BOOL */
    const char *s; /* TK_STR (decoded), TK_IDENT / TK_TEMPLATE (name, not NUL-terminated) */
    size_t len;
};

struct expr_lexer {
    const char *src;
    size_t len;
    size_t pos;
    struct expr_arena *arena; /* decoded strings */
    /* error state: set when expr_lex_next returns an error */
    size_t err_pos;
    char err_detail[256];
};

/* Next token; KITE_OK, KITE_EEXPR (lexer->err_* set) or KITE_ENOMEM. */
int expr_lex_next(struct expr_lexer *lx, struct expr_token *t);
const char *expr_tok_name(int kind);

/* -------------------------------------------------------------------- AST */

enum expr_ast_kind {
    A_CONST = 1,
    A_TEMPLATE,
    A_IDENT,
    A_ARRAY,
    A_UNARY,  /* op: TK_ADD TK_SUB TK_NOT TK_BNOT */
    A_BINARY, /* op: arithmetic, shift, compare, bitwise tokens */
    A_LOGIC,  /* op: TK_AND / TK_OR, n-ary */
    A_RANGE,  /* kids: lower, middle, upper; op, op2 */
    A_IN,     /* kids: field, list; negate */
    A_LIKE,   /* kids: field; val = pattern */
    A_EXISTS, /* kids: operand */
    A_CALL,   /* func (0 = unknown, name holds it); kids: args */
    A_ISNULL, /* kids: operand; negate = IS NOT NULL */
};

struct expr_path_el {
    bool is_index;
    int64_t index;
    const char *key;
    size_t key_len;
};

struct expr_ast {
    int kind;
    int op;
    int op2;
    int func;
    bool negate;
    int depth; /* 1 + deepest child */
    size_t pos;
    struct expr_value val;
    const char *name; /* A_IDENT / A_TEMPLATE / A_CALL */
    size_t name_len;
    bool is_meta;
    struct expr_path_el *path;
    size_t n_path;
    struct expr_ast **kids;
    size_t n_kids;
};

struct expr_parse_error {
    size_t pos;
    char detail[400];
};

/* Parse src into *out (allocated in arena). KITE_OK / KITE_EEXPR (perr filled) / KITE_ENOMEM. */
int expr_parse(const char *src, size_t len, struct expr_arena *arena, struct expr_ast **out,
               struct expr_parse_error *perr);

/* ------------------------------------------------------------------- plan */

struct expr_ref {
    int field;      /* schema index */
    int dtype;      /* field dtype */
    int elem_type;  /* Array element dtype */
    bool nullable;
    struct expr_path_el *path;
    size_t n_path;
};

enum expr_pkind {
    P_CONST = 1, /* b */
    P_AND,
    P_OR,
    P_NOT,
    P_CMP,      /* ref [arith operand] op val */
    P_CMPCOL,   /* ref op ref2 */
    P_RANGE,    /* lo (op) ref (op2) hi */
    P_IN,       /* ref in val (array); negate handled by P_NOT */
    P_LIKE,     /* ref like val (pattern) */
    P_EXISTS,   /* ref (JSON path) */
    P_CONTAINS, /* func kind (contains/all/any); val */
    P_BOOLCOL,  /* ref is a Bool value */
    P_ISNULL,   /* ref is null */
};

enum expr_arith {
    AR_NONE = 0,
    AR_ADD,
    AR_SUB,
    AR_MUL,
    AR_DIV,
    AR_MOD,
    AR_LEN, /* array_length(ref) */
};

enum expr_contains {
    CT_ONE = 1,
    CT_ALL,
    CT_ANY,
};

enum expr_like {
    LK_EQUAL = 1,
    LK_PREFIX,
    LK_MATCH,
};

struct expr_pnode {
    int kind;
    bool b;
    struct expr_pnode **kids;
    size_t n_kids;
    struct expr_ref ref;
    struct expr_ref ref2;
    int op;  /* TK_EQ TK_NE TK_LT TK_LE TK_GT TK_GE */
    int op2;
    int arith;
    struct expr_value operand; /* arithmetic right operand */
    struct expr_value val;     /* comparison value, list, pattern, contains values */
    struct expr_value lo, hi;
    int like;                  /* LK_*; for LK_PREFIX/LK_EQUAL val holds the literal text */
    int contains;
    bool sorted;               /* P_IN: val items sorted (int or string) for binary search */
};

struct expr_plan {
    struct expr_arena arena;
    struct expr_pnode *root;
    struct expr_field *fields; /* copy of the schema fields used for pk terms */
    size_t n_fields;
    bool *uses; /* n_fields */
};

/* Helpers shared by compile.c and eval.c. */
/* Three-way compare of an int64 with a double, exact; returns -2 if d is NaN. */
int expr_cmp_int_double(int64_t i, double d);
/* Milvus LIKE matching of s against pattern (% _ and \ escapes). */
bool expr_like_match(const char *s, size_t slen, const char *pat, size_t plen);

#endif
