/*
 * kite/errors.h — every error code Kite returns, from one X-macro list.
 *
 * Every fallible call returns int: KITE_OK (0) or a negative KITE_E* code.
 * The third column is the Milvus "merr" code a client sees for that error
 * (REST body "code", gRPC Status.code); server/ maps through kite_err_milvus_code()
 * so there is exactly one table.  Rich context (message, byte offset) travels in
 * an optional kite_err.
 */
#ifndef KITE_ERRORS_H
#define KITE_ERRORS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(KITE_BUILDING_SHARED)
#define KITE_API __attribute__((visibility("default")))
#else
#define KITE_API
#endif

#define KITE_MUST_CHECK __attribute__((warn_unused_result))

/*  name              value  milvus  message */
#define KITE_ERRNO_MAP(X)                                                          \
    X(EINVAL,            -1,  1100, "invalid parameter")                           \
    X(ENOMEM,            -2,     5, "out of memory")                               \
    X(EIO,               -3,     5, "I/O error")                                   \
    X(ECORRUPT,          -4,     5, "data corrupted")                              \
    X(ENOSPC,            -5,     5, "no space left on device")                     \
    X(EREADONLY,         -6,     5, "storage is read-only after a write failure")  \
    X(ENOCOLL,           -7,   100, "collection not found")                        \
    X(ENOTLOADED,        -8,   101, "collection not loaded")                       \
    X(ENOPART,           -9,   200, "partition not found")                         \
    X(ENOINDEX,         -10,   700, "index not found")                             \
    X(EINDEXTYPE,       -11,   701, "index type not supported")                    \
    X(ENODB,            -12,   800, "database not found")                          \
    X(EMISSING,         -13,  1101, "missing parameter")                           \
    X(ENOALIAS,         -14,  1600, "alias not found")                             \
    X(EALIASCONFLICT,   -15,  1601, "alias and collection name conflict")          \
    X(EALIASEXISTS,     -16,  1602, "alias already exist")                         \
    X(ENOFIELD,         -17,  1700, "field not found")                             \
    X(EEXPR,            -18,  1100, "invalid expression")                          \
    X(EEXISTS,          -19,  1100, "already exists")                              \
    X(ELIMIT,           -20,  1100, "limit exceeded")                              \
    X(EBUSY,            -21,     5, "resource busy")                               \
    X(EUNSUPPORTED,     -22,  1100, "operation not supported")                     \
    X(ECLOSED,          -23,     1, "service not ready")                           \
    X(EAUTH,            -24,  1800, "user hasn't authenticated")                   \
    X(EPERM,            -25,  1401, "privilege not permitted")                     \
    X(EINTERNAL,        -26, 65535, "unexpected error")                            \
    X(EDATA,            -27,  1804, "fail to deal the insert data")                \
    X(ENOTFOUND,        -28,  1100, "not found")

typedef enum kite_errno {
    KITE_OK = 0,
#define KITE_X_ENUM(name, val, milvus, msg) KITE_##name = (val),
    KITE_ERRNO_MAP(KITE_X_ENUM)
#undef KITE_X_ENUM
} kite_errno;

/* Rich error context; optional last argument of fallible calls (may be NULL). */
typedef struct kite_err {
    int code;            /* KITE_E* */
    int64_t offset;      /* byte offset for parsers, -1 if none */
    char message[512];   /* what was wrong and what was expected */
} kite_err;

KITE_API const char *kite_strerror(int code);   /* static string */
KITE_API const char *kite_err_name(int code);   /* "KITE_EINVAL" */
KITE_API int kite_err_milvus_code(int code);    /* Milvus merr code, 0 for KITE_OK */
KITE_API void kite_err_clear(kite_err *err);

#ifdef __cplusplus
}
#endif
#endif
