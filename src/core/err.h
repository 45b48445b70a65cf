/* err.h — filling kite_err and the error tables (include/kite/errors.h). */
#ifndef KITE_CORE_ERR_H
#define KITE_CORE_ERR_H

#include "kite/errors.h"

/* Set code and a printf-style message; returns code so callers can `return kite_err_set(...)`. */
int kite_err_set(kite_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, with a byte offset (parsers). */
int kite_err_set_at(kite_err *err, int code, int64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prefix the existing message with "ctx: ". */
void kite_err_prefix(kite_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define KITE_ALWAYS(x) (__builtin_expect(!!(x), 1))
#define KITE_NEVER(x) (__builtin_expect(!!(x), 0))

#endif
