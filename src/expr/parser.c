/*
 * parser.c — precedence-climbing parser for the Milvus filter grammar
 * (SEMANTICS.md §a "Grammar / precedence"), producing an AST.
 *
 * Binding levels, loosest first (all binary operators left-associative):
 *
 *    1  or ||                 7  < <= > >=   (and chained ranges a < f < b)
 *    2  and &&                8  in, not in
 *    3  |                     9  << >>
 *    4  ^                    10  + -
 *    5  &                    11  * / %
 *    6  == !=                12  **
 *   prefix: + - ~ ! not  (operand binds only **), exists (operand: everything)
 *   postfix on a primary: like "pat", is null, is not null
 *
 * Design notes:
 *  1. Recursion depth is counted on every prefix/primary entry and bounded by
 *     EXPR_MAX_DEPTH, so hostile input cannot exhaust the stack; the binary
 *     loop adds at most 12 frames per counted level.
 *  2. Left-deep chains of the same binary operator would grow without a
 *     recursion; each node therefore records its depth and the parser rejects
 *     trees deeper than EXPR_MAX_DEPTH, except that and/or chains are
 *     flattened into one n-ary node (long `a == 1 or a == 2 or ...` lists are
 *     common in generated filters).
 *  3. Syntax errors say "line L:C <what> expecting <what>", like ANTLR.
 *
 * Threading: one parser per compile call.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "expr_int.h"

enum {
    L_OR = 1,
    L_AND,
    L_BOR,
    L_BXOR,
    L_BAND,
    L_EQ,
    L_REL,
    L_IN,
    L_SHIFT,
    L_ADD,
    L_MUL,
    L_POW,
};

struct parser {
    struct expr_lexer lx;
    struct expr_token tok;
    struct expr_arena *arena;
    int depth;
    int rc;
    struct expr_parse_error *perr;
};

static void line_col(const char *src, size_t pos, size_t *line, size_t *col)
{
    size_t l = 1, c = 0;
    for (size_t i = 0; i < pos; i++) {
        if (src[i] == '\n') {
            l++;
            c = 0;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static int syntax_error(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int syntax_error(struct parser *p, size_t pos, const char *fmt, ...)
{
    if (p->rc != KITE_OK)
        return p->rc;
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t line, col;
    line_col(p->lx.src, pos, &line, &col);
    snprintf(p->perr->detail, sizeof(p->perr->detail), "line %zu:%zu %s", line, col, msg);
    p->perr->pos = pos;
    p->rc = KITE_EEXPR;
    return p->rc;
}

static int set_oom(struct parser *p)
{
    if (p->rc == KITE_OK)
        p->rc = KITE_ENOMEM;
    return p->rc;
}

static int advance(struct parser *p)
{
    int rc = expr_lex_next(&p->lx, &p->tok);
    if (rc == KITE_ENOMEM)
        return set_oom(p);
    if (rc != KITE_OK)
        return syntax_error(p, p->lx.err_pos, "%s", p->lx.err_detail);
    return KITE_OK;
}

/* Peek at the token after the current one without consuming. */
static int peek(struct parser *p, struct expr_token *out)
{
    size_t save = p->lx.pos;
    int rc = expr_lex_next(&p->lx, out);
    p->lx.pos = save;
    if (rc != KITE_OK)
        out->kind = -1; /* let the real advance report it */
    return KITE_OK;
}

/* Text of the current token for messages. */
static void tok_text(struct parser *p, char *buf, size_t cap)
{
    if (p->tok.kind == TK_EOF) {
        snprintf(buf, cap, "<EOF>");
        return;
    }
    size_t n = p->tok.end - p->tok.start;
    if (n > 40)
        n = 40;
    snprintf(buf, cap, "'%.*s'", (int)n, p->lx.src + p->tok.start);
}

static int unexpected(struct parser *p, const char *expecting)
{
    char t[64];
    tok_text(p, t, sizeof(t));
    if (p->tok.kind == TK_EOF)
        return syntax_error(p, p->tok.start, "missing %s at <EOF>", expecting);
    return syntax_error(p, p->tok.start, "mismatched input %s expecting %s", t, expecting);
}

static int expect(struct parser *p, int kind, const char *what)
{
    if (p->tok.kind != kind)
        return unexpected(p, what);
    return advance(p);
}

static struct expr_ast *new_node(struct parser *p, int kind, size_t pos)
{
    struct expr_ast *n = expr_arena_alloc(p->arena, sizeof(*n));
    if (!n) {
        set_oom(p);
        return NULL;
    }
    n->kind = kind;
    n->pos = pos;
    return n;
}

/* Append child to a growable kids array (capacity doubles; arena-backed). */
static int add_kid(struct parser *p, struct expr_ast *n, struct expr_ast *kid, size_t *cap)
{
    if (n->n_kids == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        size_t bytes;
        if (!kite_mul_size(ncap, sizeof(*n->kids), &bytes))
            return set_oom(p);
        struct expr_ast **k = expr_arena_alloc(p->arena, bytes);
        if (!k)
            return set_oom(p);
        if (n->n_kids)
            memcpy(k, n->kids, n->n_kids * sizeof(*k));
        n->kids = k;
        *cap = ncap;
    }
    n->kids[n->n_kids++] = kid;
    return KITE_OK;
}

static int bin_level(int kind)
{
    switch (kind) {
    case TK_OR: return L_OR;
    case TK_AND: return L_AND;
    case TK_BOR: return L_BOR;
    case TK_BXOR: return L_BXOR;
    case TK_BAND: return L_BAND;
    case TK_EQ:
    case TK_NE: return L_EQ;
    case TK_LT:
    case TK_LE:
    case TK_GT:
    case TK_GE: return L_REL;
    case TK_IN: return L_IN;
    case TK_SHL:
    case TK_SHR: return L_SHIFT;
    case TK_ADD:
    case TK_SUB: return L_ADD;
    case TK_MUL:
    case TK_DIV:
    case TK_MOD: return L_MUL;
    case TK_POW: return L_POW;
    }
    return 0;
}

static struct expr_ast *parse_bin(struct parser *p, int min_level);
static struct expr_ast *parse_unary(struct parser *p);

static int depth_error(struct parser *p, size_t pos)
{
    return syntax_error(p, pos, "expression nesting is deeper than %d levels", EXPR_MAX_DEPTH);
}

/* Set n->depth from its children and enforce the tree-depth limit (rule 2). */
static struct expr_ast *finish_node(struct parser *p, struct expr_ast *n)
{
    if (!n)
        return NULL;
    int d = 0;
    for (size_t k = 0; k < n->n_kids; k++) {
        if (n->kids[k]->depth > d)
            d = n->kids[k]->depth;
    }
    n->depth = d + 1;
    if (n->depth > EXPR_MAX_DEPTH) {
        depth_error(p, n->pos);
        return NULL;
    }
    return n;
}

/* JSON/array path suffix: ["key"] or [N], directly after the identifier. */
static int parse_path(struct parser *p, struct expr_ast *id)
{
    size_t cap = 0;
    while (p->lx.pos < p->lx.len && p->lx.src[p->lx.pos] == '[' && p->tok.end == p->lx.pos) {
        if (advance(p) != KITE_OK) /* now at '[' */
            return p->rc;
        if (advance(p) != KITE_OK)
            return p->rc;
        struct expr_path_el el = {0};
        if (p->tok.kind == TK_STR) {
            el.key = p->tok.s;
            el.key_len = p->tok.len;
        } else if (p->tok.kind == TK_INT) {
            el.is_index = true;
            el.index = p->tok.i;
        } else {
            return unexpected(p, "a string key or a non-negative integer index");
        }
        if (advance(p) != KITE_OK)
            return p->rc;
        if (p->tok.kind != TK_RBRACKET)
            return unexpected(p, "']'");
        if (id->n_path == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            size_t bytes;
            if (!kite_mul_size(ncap, sizeof(*id->path), &bytes))
                return set_oom(p);
            struct expr_path_el *np = expr_arena_alloc(p->arena, bytes);
            if (!np)
                return set_oom(p);
            if (id->n_path)
                memcpy(np, id->path, id->n_path * sizeof(*np));
            id->path = np;
            cap = ncap;
        }
        id->path[id->n_path++] = el;
        if (id->n_path > EXPR_MAX_DEPTH)
            return syntax_error(p, id->pos, "JSON path is longer than %d elements",
                                EXPR_MAX_DEPTH);
    }
    return advance(p);
}

static struct expr_ast *parse_array(struct parser *p)
{
    struct expr_ast *n = new_node(p, A_ARRAY, p->tok.start);
    if (!n || advance(p) != KITE_OK)
        return NULL;
    size_t cap = 0;
    while (p->tok.kind != TK_RBRACKET) {
        struct expr_ast *e = parse_bin(p, L_OR);
        if (!e || add_kid(p, n, e, &cap) != KITE_OK)
            return NULL;
        if (p->tok.kind == TK_COMMA) {
            if (advance(p) != KITE_OK)
                return NULL;
            continue;
        }
        if (p->tok.kind != TK_RBRACKET) {
            unexpected(p, "',' or ']'");
            return NULL;
        }
    }
    if (advance(p) != KITE_OK)
        return NULL;
    return finish_node(p, n);
}

static struct expr_ast *parse_call(struct parser *p, int func, const char *name, size_t name_len)
{
    struct expr_ast *n = new_node(p, A_CALL, p->tok.start);
    if (!n)
        return NULL;
    n->func = func;
    n->name = name;
    n->name_len = name_len;
    if (advance(p) != KITE_OK || expect(p, TK_LPAREN, "'('") != KITE_OK)
        return NULL;
    size_t cap = 0;
    while (p->tok.kind != TK_RPAREN) {
        struct expr_ast *e = parse_bin(p, L_OR);
        if (!e || add_kid(p, n, e, &cap) != KITE_OK)
            return NULL;
        if (p->tok.kind == TK_COMMA) {
            if (advance(p) != KITE_OK)
                return NULL;
            continue;
        }
        if (p->tok.kind != TK_RPAREN) {
            unexpected(p, "',' or ')'");
            return NULL;
        }
    }
    if (advance(p) != KITE_OK)
        return NULL;
    return finish_node(p, n);
}

static struct expr_ast *parse_primary(struct parser *p)
{
    struct expr_token t = p->tok;
    struct expr_ast *n = NULL;
    switch (t.kind) {
    case TK_INT:
    case TK_FLOAT:
    case TK_STR:
    case TK_BOOL:
        n = new_node(p, A_CONST, t.start);
        if (!n)
            return NULL;
        n->val.kind = t.kind == TK_INT ? VAL_INT
                    : t.kind == TK_FLOAT ? VAL_FLOAT
                    : t.kind == TK_STR ? VAL_STR : VAL_BOOL;
        n->val.i = t.i;
        n->val.f = t.f;
        n->val.b = t.b;
        n->val.s = t.s;
        n->val.len = t.len;
        if (advance(p) != KITE_OK)
            return NULL;
        return finish_node(p, n);
    case TK_TEMPLATE:
        n = new_node(p, A_TEMPLATE, t.start);
        if (!n)
            return NULL;
        n->name = t.s;
        n->name_len = t.len;
        if (advance(p) != KITE_OK)
            return NULL;
        return finish_node(p, n);
    case TK_IDENT:
    case TK_META: {
        struct expr_token nx;
        peek(p, &nx);
        if (t.kind == TK_IDENT && nx.kind == TK_LPAREN)
            return parse_call(p, 0, t.s, t.len);
        n = new_node(p, A_IDENT, t.start);
        if (!n)
            return NULL;
        n->name = t.s;
        n->name_len = t.len;
        n->is_meta = t.kind == TK_META;
        if (parse_path(p, n) != KITE_OK)
            return NULL;
        return finish_node(p, n);
    }
    case TK_FUNC:
        return parse_call(p, t.func, t.s, t.len);
    case TK_LPAREN: {
        if (advance(p) != KITE_OK)
            return NULL;
        n = parse_bin(p, L_OR);
        if (!n || expect(p, TK_RPAREN, "')'") != KITE_OK)
            return NULL;
        return n;
    }
    case TK_LBRACKET:
        return parse_array(p);
    default:
        unexpected(p, "an operand (literal, field, '(' or '[')");
        return NULL;
    }
}

static bool tok_is_word(const struct parser *p, const struct expr_token *t, const char *lower,
                        const char *upper)
{
    size_t n = strlen(lower);
    if (t->kind != TK_IDENT || t->len != n)
        return false;
    return memcmp(t->s, lower, n) == 0 || memcmp(t->s, upper, n) == 0;
}

/* Postfix forms binding tightest: `e like "pat"`, `e is [not] null`. */
static struct expr_ast *parse_postfix(struct parser *p, struct expr_ast *e)
{
    for (;;) {
        if (p->tok.kind == TK_LIKE) {
            struct expr_ast *n = new_node(p, A_LIKE, p->tok.start);
            if (!n || advance(p) != KITE_OK)
                return NULL;
            if (p->tok.kind != TK_STR) {
                unexpected(p, "a string literal pattern");
                return NULL;
            }
            n->val.kind = VAL_STR;
            n->val.s = p->tok.s;
            n->val.len = p->tok.len;
            size_t cap = 0;
            if (add_kid(p, n, e, &cap) != KITE_OK || advance(p) != KITE_OK)
                return NULL;
            e = finish_node(p, n);
            if (!e)
                return NULL;
            continue;
        }
        if (tok_is_word(p, &p->tok, "is", "IS")) {
            struct expr_ast *n = new_node(p, A_ISNULL, p->tok.start);
            if (!n || advance(p) != KITE_OK)
                return NULL;
            if (p->tok.kind == TK_NOT) {
                n->negate = true;
                if (advance(p) != KITE_OK)
                    return NULL;
            }
            if (!tok_is_word(p, &p->tok, "null", "NULL")) {
                unexpected(p, "'null'");
                return NULL;
            }
            size_t cap = 0;
            if (add_kid(p, n, e, &cap) != KITE_OK || advance(p) != KITE_OK)
                return NULL;
            e = finish_node(p, n);
            if (!e)
                return NULL;
            continue;
        }
        return e;
    }
}

static struct expr_ast *parse_unary(struct parser *p)
{
    if (++p->depth > EXPR_MAX_DEPTH) {
        depth_error(p, p->tok.start);
        p->depth--;
        return NULL;
    }
    struct expr_ast *res = NULL;
    int k = p->tok.kind;
    if (k == TK_NOT || k == TK_SUB || k == TK_ADD || k == TK_BNOT) {
        struct expr_ast *n = new_node(p, A_UNARY, p->tok.start);
        if (!n || advance(p) != KITE_OK)
            goto out;
        n->op = k;
        struct expr_ast *operand = parse_bin(p, L_POW);
        size_t cap = 0;
        if (!operand || add_kid(p, n, operand, &cap) != KITE_OK)
            goto out;
        res = finish_node(p, n);
    } else if (k == TK_EXISTS) {
        struct expr_ast *n = new_node(p, A_EXISTS, p->tok.start);
        if (!n || advance(p) != KITE_OK)
            goto out;
        struct expr_ast *operand = parse_bin(p, L_OR);
        size_t cap = 0;
        if (!operand || add_kid(p, n, operand, &cap) != KITE_OK)
            goto out;
        res = finish_node(p, n);
    } else {
        struct expr_ast *prim = parse_primary(p);
        if (prim)
            res = parse_postfix(p, prim);
    }
out:
    p->depth--;
    return res;
}

static bool is_less(int k)
{
    return k == TK_LT || k == TK_LE;
}

static bool is_greater(int k)
{
    return k == TK_GT || k == TK_GE;
}

/* Combine left (op) right into a binary, logic (flattened) or in node. */
static struct expr_ast *make_binary(struct parser *p, int op, size_t pos, struct expr_ast *l,
                                    struct expr_ast *r)
{
    size_t cap;
    if (op == TK_AND || op == TK_OR) {
        if (l->kind == A_LOGIC && l->op == op) {
            /* Flatten: capacity is tracked by the array size being a power of two >= 4. */
            cap = 4;
            while (cap < l->n_kids)
                cap *= 2;
            if (add_kid(p, l, r, &cap) != KITE_OK)
                return NULL;
            if (r->depth + 1 > l->depth)
                l->depth = r->depth + 1;
            if (l->depth > EXPR_MAX_DEPTH) {
                depth_error(p, l->pos);
                return NULL;
            }
            return l;
        }
        struct expr_ast *n = new_node(p, A_LOGIC, pos);
        if (!n)
            return NULL;
        n->op = op;
        cap = 0;
        if (add_kid(p, n, l, &cap) != KITE_OK || add_kid(p, n, r, &cap) != KITE_OK)
            return NULL;
        /* A parenthesised `(a or b) or c` flattens too: and/or are associative. */
        return finish_node(p, n);
    }
    struct expr_ast *n = new_node(p, A_BINARY, pos);
    if (!n)
        return NULL;
    n->op = op;
    cap = 0;
    if (add_kid(p, n, l, &cap) != KITE_OK || add_kid(p, n, r, &cap) != KITE_OK)
        return NULL;
    return finish_node(p, n);
}

static struct expr_ast *parse_bin(struct parser *p, int min_level)
{
    struct expr_ast *left = parse_unary(p);
    if (!left)
        return NULL;
    for (;;) {
        int k = p->tok.kind;
        size_t pos = p->tok.start;
        bool negate = false;
        if (k == TK_NOT) {
            /* `not in` (2.4 token) / `NOT? IN` (2.5). */
            struct expr_token nx;
            peek(p, &nx);
            if (nx.kind != TK_IN || L_IN < min_level)
                return left;
            if (advance(p) != KITE_OK)
                return NULL;
            negate = true;
            k = TK_IN;
        }
        int level = bin_level(k);
        if (level == 0 || level < min_level)
            return left;
        if (advance(p) != KITE_OK)
            return NULL;
        struct expr_ast *right = parse_bin(p, level + 1);
        if (!right)
            return NULL;
        if (k == TK_IN) {
            struct expr_ast *n = new_node(p, A_IN, pos);
            size_t cap = 0;
            if (!n || add_kid(p, n, left, &cap) != KITE_OK || add_kid(p, n, right, &cap) != KITE_OK)
                return NULL;
            n->negate = negate;
            left = finish_node(p, n);
            if (!left)
                return NULL;
            continue;
        }
        if (level == L_REL && right->kind == A_IDENT &&
            ((is_less(k) && is_less(p->tok.kind)) || (is_greater(k) && is_greater(p->tok.kind)))) {
            /* Chained range: left k middle k2 upper. */
            int k2 = p->tok.kind;
            if (advance(p) != KITE_OK)
                return NULL;
            struct expr_ast *upper = parse_bin(p, L_REL + 1);
            if (!upper)
                return NULL;
            struct expr_ast *n = new_node(p, A_RANGE, pos);
            size_t cap = 0;
            if (!n || add_kid(p, n, left, &cap) != KITE_OK ||
                add_kid(p, n, right, &cap) != KITE_OK || add_kid(p, n, upper, &cap) != KITE_OK)
                return NULL;
            n->op = k;
            n->op2 = k2;
            left = finish_node(p, n);
            if (!left)
                return NULL;
            continue;
        }
        left = make_binary(p, k, pos, left, right);
        if (!left)
            return NULL;
    }
}

int expr_parse(const char *src, size_t len, struct expr_arena *arena, struct expr_ast **out,
               struct expr_parse_error *perr)
{
    struct parser p = {0};
    p.lx.src = src;
    p.lx.len = len;
    p.lx.arena = arena;
    p.arena = arena;
    p.perr = perr;
    p.rc = KITE_OK;
    *out = NULL;
    if (advance(&p) != KITE_OK)
        return p.rc;
    struct expr_ast *root = parse_bin(&p, L_OR);
    if (!root)
        return p.rc != KITE_OK ? p.rc : KITE_EEXPR;
    if (p.tok.kind != TK_EOF) {
        char t[64];
        tok_text(&p, t, sizeof(t));
        return syntax_error(&p, p.tok.start, "extraneous input %s expecting <EOF>", t);
    }
    *out = root;
    return KITE_OK;
}
