/*
 * lexer.c — tokens of the Milvus filter language (SEMANTICS.md §a "Lexical").
 *
 * Tokens are produced on demand (expr_lex_next); string literals are decoded
 * into the compile arena.  Errors carry the byte offset and an ANTLR-like
 * detail ("token recognition error at: '@'").
 *
 * Rules:
 *  1. Integers: decimal, octal (leading 0), hex (0x), binary (0b), as int64;
 *     overflow is an error (Go strconv.ParseInt semantics).  A leading '-' is
 *     the unary operator, folded later.
 *  2. Floats: 1.5 .5 5. 1e10 1.5E-3 and hex floats (0x1.8p3).
 *  3. Keywords are case-sensitive in the listed spellings only.
 *  4. A string may not contain a raw newline; escapes are C-style.
 *
 * Threading: a lexer is used by one compile at a time.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr_int.h"

static int lex_error(struct expr_lexer *lx, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int lex_error(struct expr_lexer *lx, size_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lx->err_detail, sizeof(lx->err_detail), fmt, ap);
    va_end(ap);
    lx->err_pos = pos;
    return KITE_EEXPR;
}

static bool is_ident_start(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_ident_char(int c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool is_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hex_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c - 'A' + 10;
}

struct keyword {
    const char *text;
    int kind;
    int func;
    int bval;
};

static const struct keyword keywords[] = {
    {"and", TK_AND, 0, 0},
    {"AND", TK_AND, 0, 0},
    {"or", TK_OR, 0, 0},
    {"OR", TK_OR, 0, 0},
    {"not", TK_NOT, 0, 0},
    {"NOT", TK_NOT, 0, 0},
    {"in", TK_IN, 0, 0},
    {"IN", TK_IN, 0, 0},
    {"like", TK_LIKE, 0, 0},
    {"LIKE", TK_LIKE, 0, 0},
    {"exists", TK_EXISTS, 0, 0},
    {"EXISTS", TK_EXISTS, 0, 0},
    {"true", TK_BOOL, 0, 1},
    {"True", TK_BOOL, 0, 1},
    {"TRUE", TK_BOOL, 0, 1},
    {"false", TK_BOOL, 0, 0},
    {"False", TK_BOOL, 0, 0},
    {"FALSE", TK_BOOL, 0, 0},
    {"json_contains", TK_FUNC, FN_JSON_CONTAINS, 0},
    {"JSON_CONTAINS", TK_FUNC, FN_JSON_CONTAINS, 0},
    {"json_contains_all", TK_FUNC, FN_JSON_CONTAINS_ALL, 0},
    {"JSON_CONTAINS_ALL", TK_FUNC, FN_JSON_CONTAINS_ALL, 0},
    {"json_contains_any", TK_FUNC, FN_JSON_CONTAINS_ANY, 0},
    {"JSON_CONTAINS_ANY", TK_FUNC, FN_JSON_CONTAINS_ANY, 0},
    {"array_contains", TK_FUNC, FN_ARRAY_CONTAINS, 0},
    {"ARRAY_CONTAINS", TK_FUNC, FN_ARRAY_CONTAINS, 0},
    {"array_contains_all", TK_FUNC, FN_ARRAY_CONTAINS_ALL, 0},
    {"ARRAY_CONTAINS_ALL", TK_FUNC, FN_ARRAY_CONTAINS_ALL, 0},
    {"array_contains_any", TK_FUNC, FN_ARRAY_CONTAINS_ANY, 0},
    {"ARRAY_CONTAINS_ANY", TK_FUNC, FN_ARRAY_CONTAINS_ANY, 0},
    {"array_length", TK_FUNC, FN_ARRAY_LENGTH, 0},
    {"ARRAY_LENGTH", TK_FUNC, FN_ARRAY_LENGTH, 0},
    {"text_match", TK_FUNC, FN_TEXT_MATCH, 0},
    {"TEXT_MATCH", TK_FUNC, FN_TEXT_MATCH, 0},
};

const char *expr_tok_name(int kind)
{
    switch (kind) {
    case TK_EOF: return "<EOF>";
    case TK_INT: return "integer";
    case TK_FLOAT: return "float";
    case TK_STR: return "string";
    case TK_BOOL: return "boolean";
    case TK_IDENT: return "identifier";
    case TK_META: return "$meta";
    case TK_TEMPLATE: return "template variable";
    case TK_LPAREN: return "'('";
    case TK_RPAREN: return "')'";
    case TK_LBRACKET: return "'['";
    case TK_RBRACKET: return "']'";
    case TK_COMMA: return "','";
    case TK_ADD: return "'+'";
    case TK_SUB: return "'-'";
    case TK_MUL: return "'*'";
    case TK_DIV: return "'/'";
    case TK_MOD: return "'%'";
    case TK_POW: return "'**'";
    case TK_SHL: return "'<<'";
    case TK_SHR: return "'>>'";
    case TK_LT: return "'<'";
    case TK_LE: return "'<='";
    case TK_GT: return "'>'";
    case TK_GE: return "'>='";
    case TK_EQ: return "'=='";
    case TK_NE: return "'!='";
    case TK_BAND: return "'&'";
    case TK_BOR: return "'|'";
    case TK_BXOR: return "'^'";
    case TK_BNOT: return "'~'";
    case TK_AND: return "'and'";
    case TK_OR: return "'or'";
    case TK_NOT: return "'not'";
    case TK_IN: return "'in'";
    case TK_LIKE: return "'like'";
    case TK_EXISTS: return "'exists'";
    case TK_FUNC: return "function";
    }
    return "token";
}

/* Append one code point as UTF-8. */
static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decode the escape starting at src[*i] (just after the backslash). */
static int lex_escape(struct expr_lexer *lx, size_t *i, char *out, size_t *o)
{
    const char *s = lx->src;
    size_t p = *i;
    if (p >= lx->len)
        return lex_error(lx, p - 1, "unterminated string literal");
    char c = s[p];
    switch (c) {
    case 'n': out[(*o)++] = '\n'; break;
    case 't': out[(*o)++] = '\t'; break;
    case 'r': out[(*o)++] = '\r'; break;
    case 'a': out[(*o)++] = '\a'; break;
    case 'b': out[(*o)++] = '\b'; break;
    case 'f': out[(*o)++] = '\f'; break;
    case 'v': out[(*o)++] = '\v'; break;
    case '\\': out[(*o)++] = '\\'; break;
    case '"': out[(*o)++] = '"'; break;
    case '\'': out[(*o)++] = '\''; break;
    case '?': out[(*o)++] = '?'; break;
    case 'x': {
        size_t q = p + 1;
        unsigned v = 0;
        size_t nd = 0;
        while (q < lx->len && is_hex((unsigned char)s[q]) && nd < 2) {
            v = v * 16 + (unsigned)hex_val((unsigned char)s[q]);
            q++;
            nd++;
        }
        if (nd == 0)
            return lex_error(lx, p - 1, "invalid escape sequence '\\x': expected hex digits");
        out[(*o)++] = (char)v;
        *i = q;
        return KITE_OK;
    }
    case 'u':
    case 'U': {
        size_t want = c == 'u' ? 4 : 8;
        uint32_t v = 0;
        for (size_t k = 0; k < want; k++) {
            size_t q = p + 1 + k;
            if (q >= lx->len || !is_hex((unsigned char)s[q]))
                return lex_error(lx, p - 1, "invalid escape sequence '\\%c': expected %zu hex digits",
                                 c, want);
            v = v * 16 + (uint32_t)hex_val((unsigned char)s[q]);
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
            return lex_error(lx, p - 1, "invalid unicode code point U+%X in escape", (unsigned)v);
        *o += put_utf8(out + *o, v);
        *i = p + 1 + want;
        return KITE_OK;
    }
    default:
        if (c >= '0' && c <= '7') {
            unsigned v = 0;
            size_t q = p, nd = 0;
            while (q < lx->len && s[q] >= '0' && s[q] <= '7' && nd < 3) {
                v = v * 8 + (unsigned)(s[q] - '0');
                q++;
                nd++;
            }
            if (v > 255)
                return lex_error(lx, p - 1, "octal escape out of range");
            out[(*o)++] = (char)v;
            *i = q;
            return KITE_OK;
        }
        return lex_error(lx, p - 1, "invalid escape sequence '\\%c'", c);
    }
    *i = p + 1;
    return KITE_OK;
}

/* String literal starting at quote index q. */
static int lex_string(struct expr_lexer *lx, size_t start, size_t q, struct expr_token *t)
{
    const char *s = lx->src;
    char quote = s[q];
    size_t end = q + 1;
    /* Find the closing quote first to size the buffer. */
    while (end < lx->len && s[end] != quote) {
        if (s[end] == '\n' || s[end] == '\r')
            return lex_error(lx, start, "token recognition error at: '%.*s'",
                             (int)(end - start > 40 ? 40 : end - start), s + start);
        if (s[end] == '\\')
            end++;
        end++;
    }
    if (end >= lx->len)
        return lex_error(lx, start, "token recognition error at: '%.*s'",
                         (int)(lx->len - start > 40 ? 40 : lx->len - start), s + start);
    /* Decoded text is never longer than the source (\U escapes shrink 10 -> 4). */
    char *out = expr_arena_alloc(lx->arena, end - q + 1);
    if (!out)
        return KITE_ENOMEM;
    size_t o = 0;
    size_t i = q + 1;
    while (i < end) {
        if (s[i] == '\\') {
            i++;
            int rc = lex_escape(lx, &i, out, &o);
            if (rc != KITE_OK)
                return rc;
        } else {
            out[o++] = s[i++];
        }
    }
    out[o] = '\0';
    t->kind = TK_STR;
    t->s = out;
    t->len = o;
    t->end = end + 1;
    return KITE_OK;
}

static int parse_int_digits(struct expr_lexer *lx, size_t start, const char *digits, size_t n,
                            int base, int64_t *out)
{
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned d = (unsigned)hex_val((unsigned char)digits[k]);
        if (d >= (unsigned)base)
            return lex_error(lx, start, "invalid digit '%c' in integer literal", digits[k]);
        if (v > (UINT64_MAX - d) / (uint64_t)base)
            goto overflow;
        v = v * (uint64_t)base + d;
    }
    if (v > (uint64_t)INT64_MAX)
        goto overflow;
    *out = (int64_t)v;
    return KITE_OK;
overflow:
    return lex_error(lx, start, "strconv.ParseInt: parsing \"%.*s\": value out of range",
                     (int)((size_t)(digits - lx->src) + n - start), lx->src + start);
}

static int lex_float_text(struct expr_lexer *lx, size_t start, size_t end, struct expr_token *t)
{
    char buf[128];
    size_t n = end - start;
    if (n >= sizeof(buf))
        return lex_error(lx, start, "float literal too long");
    memcpy(buf, lx->src + start, n);
    buf[n] = '\0';
    errno = 0;
    char *ep = NULL;
    double d = strtod(buf, &ep);
    if (ep != buf + n)
        return lex_error(lx, start, "invalid float literal '%s'", buf);
    if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL))
        return lex_error(lx, start, "float literal '%s' is out of range", buf);
    t->kind = TK_FLOAT;
    t->f = d;
    t->end = end;
    return KITE_OK;
}

static int lex_number(struct expr_lexer *lx, size_t start, struct expr_token *t)
{
    const char *s = lx->src;
    size_t n = lx->len;
    size_t i = start;
    if (s[i] == '0' && i + 1 < n && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        size_t d0 = i + 2, j = d0;
        while (j < n && is_hex((unsigned char)s[j]))
            j++;
        size_t int_end = j;
        bool dot = false;
        if (j < n && s[j] == '.') {
            dot = true;
            j++;
            while (j < n && is_hex((unsigned char)s[j]))
                j++;
        }
        if (j < n && (s[j] == 'p' || s[j] == 'P')) {
            j++;
            if (j < n && (s[j] == '+' || s[j] == '-'))
                j++;
            if (j >= n || s[j] < '0' || s[j] > '9')
                return lex_error(lx, start, "invalid hex float literal: expected exponent digits");
            while (j < n && s[j] >= '0' && s[j] <= '9')
                j++;
            return lex_float_text(lx, start, j, t);
        }
        if (dot)
            return lex_error(lx, start, "invalid hex float literal: expected 'p' exponent");
        if (int_end == d0)
            return lex_error(lx, start, "invalid hex literal: expected hex digits after 0x");
        t->kind = TK_INT;
        t->end = int_end;
        return parse_int_digits(lx, start, s + d0, int_end - d0, 16, &t->i);
    }
    if (s[i] == '0' && i + 1 < n && (s[i + 1] == 'b' || s[i + 1] == 'B')) {
        size_t d0 = i + 2, j = d0;
        while (j < n && (s[j] == '0' || s[j] == '1'))
            j++;
        if (j == d0)
            return lex_error(lx, start, "invalid binary literal: expected 0 or 1 after 0b");
        t->kind = TK_INT;
        t->end = j;
        return parse_int_digits(lx, start, s + d0, j - d0, 2, &t->i);
    }
    size_t j = i;
    while (j < n && s[j] >= '0' && s[j] <= '9')
        j++;
    size_t int_end = j;
    bool is_float = false;
    if (j < n && s[j] == '.') {
        is_float = true;
        j++;
        while (j < n && s[j] >= '0' && s[j] <= '9')
            j++;
    }
    if (j < n && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < n && (s[k] == '+' || s[k] == '-'))
            k++;
        if (k < n && s[k] >= '0' && s[k] <= '9') {
            while (k < n && s[k] >= '0' && s[k] <= '9')
                k++;
            j = k;
            is_float = true;
        }
    }
    if (is_float)
        return lex_float_text(lx, start, j, t);
    t->kind = TK_INT;
    t->end = int_end;
    if (s[i] == '0' && int_end - i > 1)
        return parse_int_digits(lx, start, s + i + 1, int_end - i - 1, 8, &t->i);
    return parse_int_digits(lx, start, s + i, int_end - i, 10, &t->i);
}

static int lex_ident(struct expr_lexer *lx, size_t start, struct expr_token *t)
{
    const char *s = lx->src;
    size_t j = start;
    while (j < lx->len && is_ident_char((unsigned char)s[j]))
        j++;
    size_t n = j - start;
    /* String prefixes u8"..", u"..", U"..", L"..". */
    if (j < lx->len && (s[j] == '"' || s[j] == '\'')) {
        if ((n == 2 && s[start] == 'u' && s[start + 1] == '8') ||
            (n == 1 && (s[start] == 'u' || s[start] == 'U' || s[start] == 'L')))
            return lex_string(lx, start, j, t);
    }
    t->end = j;
    for (size_t k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++) {
        if (strlen(keywords[k].text) == n && memcmp(keywords[k].text, s + start, n) == 0) {
            t->kind = keywords[k].kind;
            t->func = keywords[k].func;
            t->b = keywords[k].bval != 0;
            t->s = s + start;
            t->len = n;
            return KITE_OK;
        }
    }
    t->kind = TK_IDENT;
    t->s = s + start;
    t->len = n;
    return KITE_OK;
}

static int lex_op(struct expr_lexer *lx, size_t i, struct expr_token *t)
{
    const char *s = lx->src;
    char c = s[i];
    char d = i + 1 < lx->len ? s[i + 1] : '\0';
    int kind = -1;
    size_t w = 1;
    switch (c) {
    case '(': kind = TK_LPAREN; break;
    case ')': kind = TK_RPAREN; break;
    case '[': kind = TK_LBRACKET; break;
    case ']': kind = TK_RBRACKET; break;
    case ',': kind = TK_COMMA; break;
    case '+': kind = TK_ADD; break;
    case '-': kind = TK_SUB; break;
    case '*':
        kind = d == '*' ? TK_POW : TK_MUL;
        w = d == '*' ? 2 : 1;
        break;
    case '/': kind = TK_DIV; break;
    case '%': kind = TK_MOD; break;
    case '~': kind = TK_BNOT; break;
    case '^': kind = TK_BXOR; break;
    case '<':
        if (d == '=') { kind = TK_LE; w = 2; }
        else if (d == '<') { kind = TK_SHL; w = 2; }
        else kind = TK_LT;
        break;
    case '>':
        if (d == '=') { kind = TK_GE; w = 2; }
        else if (d == '>') { kind = TK_SHR; w = 2; }
        else kind = TK_GT;
        break;
    case '=':
        if (d == '=') { kind = TK_EQ; w = 2; }
        break;
    case '!':
        if (d == '=') { kind = TK_NE; w = 2; }
        else kind = TK_NOT;
        break;
    case '&':
        if (d == '&') { kind = TK_AND; w = 2; }
        else kind = TK_BAND;
        break;
    case '|':
        if (d == '|') { kind = TK_OR; w = 2; }
        else kind = TK_BOR;
        break;
    default:
        break;
    }
    if (kind < 0) {
        unsigned char uc = (unsigned char)c;
        if (uc < 0x20 || uc >= 0x7F)
            return lex_error(lx, i, "token recognition error at: '\\x%02x'", uc);
        return lex_error(lx, i, "token recognition error at: '%c'", c);
    }
    t->kind = kind;
    t->end = i + w;
    return KITE_OK;
}

int expr_lex_next(struct expr_lexer *lx, struct expr_token *t)
{
    const char *s = lx->src;
    size_t i = lx->pos;
    while (i < lx->len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    memset(t, 0, sizeof(*t));
    t->start = i;
    t->end = i;
    if (i >= lx->len) {
        t->kind = TK_EOF;
        lx->pos = i;
        return KITE_OK;
    }
    unsigned char c = (unsigned char)s[i];
    int rc;
    if (c >= '0' && c <= '9') {
        rc = lex_number(lx, i, t);
    } else if (c == '.' && i + 1 < lx->len && s[i + 1] >= '0' && s[i + 1] <= '9') {
        rc = lex_number(lx, i, t);
    } else if (is_ident_start(c)) {
        rc = lex_ident(lx, i, t);
    } else if (c == '"' || c == '\'') {
        rc = lex_string(lx, i, i, t);
    } else if (c == '$') {
        if (i + 5 <= lx->len && memcmp(s + i, "$meta", 5) == 0 &&
            (i + 5 == lx->len || !is_ident_char((unsigned char)s[i + 5]))) {
            t->kind = TK_META;
            t->s = s + i;
            t->len = 5;
            t->end = i + 5;
            rc = KITE_OK;
        } else {
            rc = lex_error(lx, i, "token recognition error at: '$'");
        }
    } else if (c == '{') {
        size_t j = i + 1;
        while (j < lx->len && (s[j] == ' ' || s[j] == '\t'))
            j++;
        size_t n0 = j;
        while (j < lx->len && is_ident_char((unsigned char)s[j]))
            j++;
        size_t n1 = j;
        while (j < lx->len && (s[j] == ' ' || s[j] == '\t'))
            j++;
        if (n1 == n0 || !is_ident_start((unsigned char)s[n0]) || j >= lx->len || s[j] != '}') {
            rc = lex_error(lx, i, "token recognition error at: '{': expected {identifier}");
        } else {
            t->kind = TK_TEMPLATE;
            t->s = s + n0;
            t->len = n1 - n0;
            t->end = j + 1;
            rc = KITE_OK;
        }
    } else {
        rc = lex_op(lx, i, t);
    }
    if (rc == KITE_OK)
        lx->pos = t->end;
    return rc;
}
