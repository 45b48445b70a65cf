/* err.c — error names, messages, the Milvus code table, and kite_err helpers. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *kite_strerror(int code)
{
    switch (code) {
    case KITE_OK:
        return "success";
#define X(name, val, milvus, msg) \
    case val:                     \
        return msg;
        KITE_ERRNO_MAP(X)
#undef X
    }
    return "unknown error";
}

const char *kite_err_name(int code)
{
    switch (code) {
    case KITE_OK:
        return "KITE_OK";
#define X(name, val, milvus, msg) \
    case val:                     \
        return "KITE_" #name;
        KITE_ERRNO_MAP(X)
#undef X
    }
    return "KITE_EUNKNOWN";
}

int kite_err_milvus_code(int code)
{
    switch (code) {
    case KITE_OK:
        return 0;
#define X(name, val, milvus, msg) \
    case val:                     \
        return milvus;
        KITE_ERRNO_MAP(X)
#undef X
    }
    return 65535;
}

void kite_err_clear(kite_err *err)
{
    if (!err)
        return;
    err->code = KITE_OK;
    err->offset = -1;
    err->message[0] = '\0';
}

__attribute__((format(printf, 4, 0))) static void vset(kite_err *err, int code, int64_t offset,
                                                       const char *fmt, va_list ap)
{
    err->code = code;
    err->offset = offset;
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

int kite_err_set(kite_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, -1, fmt, ap);
    va_end(ap);
    return code;
}

int kite_err_set_at(kite_err *err, int code, int64_t offset, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, offset, fmt, ap);
    va_end(ap);
    return code;
}

void kite_err_prefix(kite_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    char pre[256];
    char old[sizeof(err->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof(old));
    snprintf(err->message, sizeof(err->message), "%s: %s", pre, old);
}
