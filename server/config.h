/*
 * config.h — settings of `kite serve`: where to listen, where the data lives,
 * authentication, the metrics port, logging, the web page and the protective
 * limits of RELIABILITY.md §G.
 *
 * Sources, lowest to highest precedence (docs/CONFIG.md lists every key):
 *   defaults (server_config_init) < config file (--config FILE, or $KITE_CONFIG)
 *   < environment (KITE_<FLAG>, e.g. KITE_PORT, KITE_DATA_DIR, KITE_AUTH)
 *   < command-line flags (--port ...).
 * Every bad value is a hard error whose message names where it came from
 * ("kite.conf:7: limits.max_body_bytes: ...", "KITE_PORT: ...", "--port: ...").
 * Threading: filled by the main thread before the server starts; read-only after
 * (SIGHUP builds a fresh one and copies only the reloadable fields).
 */
#ifndef KITE_SERVER_CONFIG_H
#define KITE_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "kite/errors.h"

struct server_config {
    char host[256];             /* default "127.0.0.1" (never 0.0.0.0 unless asked) */
    int port;                   /* default 19530; 0 = ephemeral */
    char data_dir[4096];        /* default "./kite-data" */
    int threads;                /* engine worker threads; 0 = number of CPUs */
    bool auth;                  /* require credentials (default false, like Milvus) */
    char metrics_host[256];     /* default "127.0.0.1" */
    int metrics_port;           /* default 9091; 0 = ephemeral; -1 = off */
    bool metrics_port_set;      /* given by file/env/flag: a bind failure is then fatal
                                   (the default 9091 busy only disables metrics, warned) */
    size_t max_body_bytes;      /* REST request body cap; default 64 MiB (-> 413) */
    size_t max_header_bytes;    /* per-connection header memory; default 64 KiB */
    unsigned max_connections;   /* default 1024 */
    unsigned idle_timeout_s;    /* idle / slow-body timeout; default 20 s */
    unsigned sniff_timeout_ms;  /* first request headers / HTTP/2 preface must arrive within
                                   this (header_timeout); default 20000, and follows
                                   idle_timeout unless header_timeout is given */
    bool header_timeout_set;
    unsigned drain_timeout_s;   /* shutdown: wait this long for in-flight requests; 30 */
    int log_level;              /* kite_log level */
    bool log_json;
    bool web;                   /* serve the search-by-image page (builds with it); true */
    char web_collection[256];   /* default "images" */
    char web_model[4096];       /* "" = the web app's default ($KITE_MODEL or models/...) */
    size_t web_max_upload_bytes;/* default 20 MiB */
    char config_path[4096];     /* the file that was read, "" if none */
};

void server_config_init(struct server_config *cfg);
/*
 * Apply one option by its flag name ("port", "max-body-bytes").  Returns KITE_OK,
 * KITE_ENOTFOUND if the name is not an option, or KITE_EINVAL with err saying
 * what value was expected.
 */
int server_config_set(struct server_config *cfg, const char *name, const char *value,
                      kite_err *err);
/* True if the option takes no value on the command line (--auth, --web). */
bool server_config_is_bool(const char *name);
/* Read a config file ([section] / key = value lines); KITE_EINVAL or KITE_EIO with err. */
int server_config_read_file(struct server_config *cfg, const char *path, kite_err *err);
/* Apply KITE_* environment variables. */
int server_config_read_env(struct server_config *cfg, kite_err *err);
/*
 * Everything in order: defaults, file (--config or $KITE_CONFIG), environment, the
 * flags in argv[first..argc).  KITE_OK, or KITE_EINVAL/KITE_ENOTFOUND/KITE_EIO with
 * err (KITE_ENOTFOUND: an unknown flag).
 */
int server_config_load(struct server_config *cfg, int argc, char **argv, int first,
                       kite_err *err);
/* The effective configuration in the config-file format (round-trips). */
void server_config_print(const struct server_config *cfg, FILE *out);
/* One line per option for --help: "  --port N   ... (env KITE_PORT, file server.port)". */
void server_config_usage(FILE *out);

#endif
