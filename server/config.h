/*
 * config.h — settings of `kite serve`: where to listen, where the data lives, and
 * the protective limits of RELIABILITY.md §G.  Filled with defaults by
 * server_config_init(), then overridden by command-line options.
 */
#ifndef KITE_SERVER_CONFIG_H
#define KITE_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "kite/errors.h"

struct server_config {
    char host[256];             /* default "127.0.0.1" (never 0.0.0.0 unless asked) */
    int port;                   /* default 19530; 0 = ephemeral */
    char data_dir[4096];        /* default "./kite-data" */
    int threads;                /* engine worker threads; 0 = number of CPUs */
    size_t max_body_bytes;      /* REST request body cap; default 64 MiB (-> 413) */
    size_t max_header_bytes;    /* per-connection header memory; default 64 KiB */
    unsigned max_connections;   /* default 1024 */
    unsigned idle_timeout_s;    /* idle / slow-header timeout; default 20 s */
    unsigned sniff_timeout_ms;  /* first request headers / HTTP/2 preface must arrive within
                                   this; default 20000 (= idle timeout) */
    unsigned drain_timeout_s;   /* shutdown: wait this long for in-flight requests; 30 */
    int log_level;              /* kite_log level */
    bool log_json;
};

void server_config_init(struct server_config *cfg);
/*
 * Apply one "--name value" option.  Returns KITE_OK, KITE_ENOTFOUND if the name is
 * not a server option, or KITE_EINVAL with err saying what value was expected.
 */
int server_config_set(struct server_config *cfg, const char *name, const char *value,
                      kite_err *err);

#endif
