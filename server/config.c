/*
 * config.c — defaults and validation of the server settings (config.h).
 * Threading: used by the main thread before the server starts; read-only after.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"

void server_config_init(struct server_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->host, sizeof(cfg->host), "127.0.0.1");
    cfg->port = 19530;
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./kite-data");
    cfg->threads = 0;
    cfg->max_body_bytes = (size_t)64 << 20;
    cfg->max_header_bytes = (size_t)64 << 10;
    cfg->max_connections = 1024;
    cfg->idle_timeout_s = 20;
    cfg->sniff_timeout_ms = 20000;
    cfg->drain_timeout_s = 30;
    cfg->log_level = KITE_LOG_INFO;
    cfg->log_json = false;
}

/* Parse an unsigned integer in [lo, hi]. */
static int parse_uint(const char *name, const char *v, unsigned long long lo,
                      unsigned long long hi, unsigned long long *out, kite_err *err)
{
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v ? v : "", &end, 10);
    if (!v || !*v || *end || errno || x < lo || x > hi || v[0] == '-')
        return kite_err_set(err, KITE_EINVAL, "--%s expects an integer in [%llu, %llu], not '%s'",
                            name, lo, hi, v ? v : "");
    *out = x;
    return KITE_OK;
}

static int set_string(char *dst, size_t cap, const char *name, const char *v, kite_err *err)
{
    if (!v || !*v || strlen(v) >= cap)
        return kite_err_set(err, KITE_EINVAL, "--%s expects a non-empty value shorter than %zu "
                            "bytes",
                            name, cap);
    snprintf(dst, cap, "%s", v);
    return KITE_OK;
}

int server_config_set(struct server_config *cfg, const char *name, const char *value,
                      kite_err *err)
{
    unsigned long long x = 0;
    int rc;
    if (strcmp(name, "host") == 0)
        return set_string(cfg->host, sizeof(cfg->host), name, value, err);
    if (strcmp(name, "data-dir") == 0)
        return set_string(cfg->data_dir, sizeof(cfg->data_dir), name, value, err);
    if (strcmp(name, "port") == 0) {
        rc = parse_uint(name, value, 0, 65535, &x, err);
        cfg->port = (int)x;
        return rc;
    }
    if (strcmp(name, "threads") == 0) {
        rc = parse_uint(name, value, 0, 1024, &x, err);
        cfg->threads = (int)x;
        return rc;
    }
    if (strcmp(name, "max-body-bytes") == 0) {
        rc = parse_uint(name, value, 1024, (unsigned long long)1 << 34, &x, err);
        cfg->max_body_bytes = (size_t)x;
        return rc;
    }
    if (strcmp(name, "max-connections") == 0) {
        rc = parse_uint(name, value, 1, 100000, &x, err);
        cfg->max_connections = (unsigned)x;
        return rc;
    }
    if (strcmp(name, "idle-timeout") == 0) {
        rc = parse_uint(name, value, 1, 86400, &x, err);
        cfg->idle_timeout_s = (unsigned)x;
        cfg->sniff_timeout_ms = (unsigned)x * 1000u;
        return rc;
    }
    if (strcmp(name, "log-level") == 0) {
        int lvl = kite_log_level_from_name(value);
        if (lvl < 0)
            return kite_err_set(err, KITE_EINVAL,
                                "--log-level expects debug, info, warn, error or off, not '%s'",
                                value ? value : "");
        cfg->log_level = lvl;
        return KITE_OK;
    }
    if (strcmp(name, "log-format") == 0) {
        if (value && strcmp(value, "text") == 0)
            cfg->log_json = false;
        else if (value && strcmp(value, "json") == 0)
            cfg->log_json = true;
        else
            return kite_err_set(err, KITE_EINVAL, "--log-format expects text or json, not '%s'",
                                value ? value : "");
        return KITE_OK;
    }
    return KITE_ENOTFOUND;
}
