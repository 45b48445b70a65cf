/*
 * config.c — defaults, validation and the sources of the server settings (config.h).
 *
 * File format (docs/CONFIG.md): UTF-8 text, one `key = value` per line under
 * `[section]` headers; `#` starts a comment outside quotes; values are bare words
 * or "double-quoted strings" (escapes \" and \\).  Unknown sections or keys are
 * errors, so a typo never silently falls back to a default.
 * Threading: used by one thread at a time (the main thread).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "log.h"

struct opt {
    const char *flag;     /* --flag; env KITE_FLAG (upper case, '-' -> '_') */
    const char *section;  /* file [section] */
    const char *key;      /* file key */
    const char *metavar;  /* NULL: boolean */
    const char *help;
};

static const struct opt g_opts[] = {
    {"host", "server", "host", "H", "address to listen on (default 127.0.0.1)"},
    {"port", "server", "port", "P", "API port, REST and gRPC (default 19530; 0 = a free one)"},
    {"data-dir", "server", "data_dir", "DIR", "data directory (default ./kite-data)"},
    {"threads", "server", "threads", "N", "engine worker threads (default 0 = CPUs)"},
    {"auth", "auth", "enabled", NULL, "require user:password (default off; root/Milvus)"},
    {"metrics-host", "metrics", "host", "H", "address of /metrics and /healthz (127.0.0.1)"},
    {"metrics-port", "metrics", "port", "P", "metrics port (default 9091; 0 = free; off)"},
    {"log-level", "log", "level", "L", "debug, info, warn, error or off (default info)"},
    {"log-format", "log", "format", "F", "text or json (default text)"},
    {"max-body-bytes", "limits", "max_body_bytes", "N", "largest request body (64 MiB; 413)"},
    {"max-header-bytes", "limits", "max_header_bytes", "N", "header memory per connection (64 KiB)"},
    {"max-connections", "limits", "max_connections", "N", "simultaneous connections (1024)"},
    {"idle-timeout", "limits", "idle_timeout", "S", "close idle/slow connections after S s (20)"},
    {"header-timeout", "limits", "header_timeout", "S", "first request headers within S s (20)"},
    {"drain-timeout", "limits", "drain_timeout", "S", "shutdown waits S s for requests (30)"},
    {"web", "web", "enabled", NULL, "serve the search-by-image page at / (default on)"},
    {"web-collection", "web", "collection", "NAME", "collection of the page (images)"},
    {"web-model", "web", "model", "FILE", "embedding model (default $KITE_MODEL or built-in path)"},
    {"web-max-upload-bytes", "web", "max_upload_bytes", "N", "largest image upload (20 MiB)"},
};
#define N_OPTS (sizeof(g_opts) / sizeof(g_opts[0]))

void server_config_init(struct server_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->host, sizeof(cfg->host), "127.0.0.1");
    cfg->port = 19530;
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./kite-data");
    cfg->threads = 0;
    cfg->auth = false;
    snprintf(cfg->metrics_host, sizeof(cfg->metrics_host), "127.0.0.1");
    cfg->metrics_port = 9091;
    cfg->max_body_bytes = (size_t)64 << 20;
    cfg->max_header_bytes = (size_t)64 << 10;
    cfg->max_connections = 1024;
    cfg->idle_timeout_s = 20;
    cfg->sniff_timeout_ms = 20000;
    cfg->drain_timeout_s = 30;
    cfg->log_level = KITE_LOG_INFO;
    cfg->log_json = false;
    cfg->web = true;
    snprintf(cfg->web_collection, sizeof(cfg->web_collection), "images");
    cfg->web_max_upload_bytes = (size_t)20 << 20;
}

static const struct opt *find_opt(const char *flag)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (strcmp(g_opts[i].flag, flag) == 0)
            return &g_opts[i];
    return NULL;
}

bool server_config_is_bool(const char *name)
{
    const struct opt *o = find_opt(name);
    return o && !o->metavar;
}

/* Parse an unsigned integer in [lo, hi]. */
static int parse_uint(const char *v, unsigned long long lo, unsigned long long hi,
                      unsigned long long *out, kite_err *err)
{
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v ? v : "", &end, 10);
    if (!v || !*v || *end || errno || x < lo || x > hi || v[0] == '-' || v[0] == '+' ||
        isspace((unsigned char)v[0]))
        return kite_err_set(err, KITE_EINVAL, "expected an integer in [%llu, %llu], not '%s'", lo,
                            hi, v ? v : "");
    *out = x;
    return KITE_OK;
}

static int parse_bool(const char *v, bool *out, kite_err *err)
{
    static const char *yes[] = {"true", "on", "yes", "1"}, *no[] = {"false", "off", "no", "0"};
    for (size_t i = 0; v && i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return KITE_OK;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return KITE_OK;
        }
    }
    return kite_err_set(err, KITE_EINVAL, "expected true or false (on/off, yes/no, 1/0), not '%s'",
                        v ? v : "");
}

static int set_string(char *dst, size_t cap, const char *v, bool allow_empty, kite_err *err)
{
    if (!v || (!allow_empty && !*v) || strlen(v) >= cap)
        return kite_err_set(err, KITE_EINVAL, "expected a non-empty value shorter than %zu bytes",
                            cap);
    snprintf(dst, cap, "%s", v);
    return KITE_OK;
}

int server_config_set(struct server_config *cfg, const char *name, const char *value,
                      kite_err *err)
{
    unsigned long long x = 0;
    int rc = KITE_OK;
    if (strcmp(name, "host") == 0)
        return set_string(cfg->host, sizeof(cfg->host), value, false, err);
    if (strcmp(name, "data-dir") == 0)
        return set_string(cfg->data_dir, sizeof(cfg->data_dir), value, false, err);
    if (strcmp(name, "metrics-host") == 0)
        return set_string(cfg->metrics_host, sizeof(cfg->metrics_host), value, false, err);
    if (strcmp(name, "web-collection") == 0)
        return set_string(cfg->web_collection, sizeof(cfg->web_collection), value, false, err);
    if (strcmp(name, "web-model") == 0)
        return set_string(cfg->web_model, sizeof(cfg->web_model), value, true, err);
    if (strcmp(name, "auth") == 0)
        return parse_bool(value, &cfg->auth, err);
    if (strcmp(name, "web") == 0)
        return parse_bool(value, &cfg->web, err);
    if (strcmp(name, "port") == 0) {
        if ((rc = parse_uint(value, 0, 65535, &x, err)) == KITE_OK)
            cfg->port = (int)x;
        return rc;
    }
    if (strcmp(name, "metrics-port") == 0) {
        cfg->metrics_port_set = true;
        if (value && (strcasecmp(value, "off") == 0 || strcmp(value, "-1") == 0)) {
            cfg->metrics_port = -1;
            return KITE_OK;
        }
        if ((rc = parse_uint(value, 0, 65535, &x, err)) == KITE_OK)
            cfg->metrics_port = (int)x;
        else
            kite_err_set(err, KITE_EINVAL, "expected a port in [0, 65535] or off, not '%s'",
                         value ? value : "");
        return rc;
    }
    if (strcmp(name, "threads") == 0) {
        if ((rc = parse_uint(value, 0, 1024, &x, err)) == KITE_OK)
            cfg->threads = (int)x;
        return rc;
    }
    if (strcmp(name, "max-body-bytes") == 0) {
        if ((rc = parse_uint(value, 1024, (unsigned long long)1 << 34, &x, err)) == KITE_OK)
            cfg->max_body_bytes = (size_t)x;
        return rc;
    }
    if (strcmp(name, "max-header-bytes") == 0) {
        if ((rc = parse_uint(value, 4096, (unsigned long long)16 << 20, &x, err)) == KITE_OK)
            cfg->max_header_bytes = (size_t)x;
        return rc;
    }
    if (strcmp(name, "web-max-upload-bytes") == 0) {
        if ((rc = parse_uint(value, 1024, (unsigned long long)1 << 30, &x, err)) == KITE_OK)
            cfg->web_max_upload_bytes = (size_t)x;
        return rc;
    }
    if (strcmp(name, "max-connections") == 0) {
        if ((rc = parse_uint(value, 1, 100000, &x, err)) == KITE_OK)
            cfg->max_connections = (unsigned)x;
        return rc;
    }
    if (strcmp(name, "idle-timeout") == 0) {
        if ((rc = parse_uint(value, 1, 86400, &x, err)) == KITE_OK) {
            cfg->idle_timeout_s = (unsigned)x;
            if (!cfg->header_timeout_set)
                cfg->sniff_timeout_ms = (unsigned)(x < 3600 ? x : 3600) * 1000u;
        }
        return rc;
    }
    if (strcmp(name, "header-timeout") == 0) {
        if ((rc = parse_uint(value, 1, 3600, &x, err)) == KITE_OK) {
            cfg->sniff_timeout_ms = (unsigned)x * 1000u;
            cfg->header_timeout_set = true;
        }
        return rc;
    }
    if (strcmp(name, "drain-timeout") == 0) {
        if ((rc = parse_uint(value, 0, 3600, &x, err)) == KITE_OK)
            cfg->drain_timeout_s = (unsigned)x;
        return rc;
    }
    if (strcmp(name, "log-level") == 0) {
        int lvl = kite_log_level_from_name(value);
        if (lvl < 0)
            return kite_err_set(err, KITE_EINVAL, "expected debug, info, warn, error or off, not "
                                                  "'%s'",
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
            return kite_err_set(err, KITE_EINVAL, "expected text or json, not '%s'",
                                value ? value : "");
        return KITE_OK;
    }
    return KITE_ENOTFOUND;
}

/* ================================================================= file */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* Parse the value part in place: "quoted" (escapes \" \\) or bare up to '#'. */
static int parse_value(char *v, char **out, kite_err *err)
{
    v = trim(v);
    if (*v == '"') {
        char *w = v, *r = v + 1;
        for (; *r && *r != '"'; r++) {
            if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
                r++;
            else if (*r == '\\')
                return kite_err_set(err, KITE_EINVAL, "unknown escape \\%c in a quoted value "
                                                      "(only \\\" and \\\\ are allowed)",
                                    r[1] ? r[1] : ' ');
            *w++ = *r;
        }
        if (*r != '"')
            return kite_err_set(err, KITE_EINVAL, "unterminated quoted value");
        char *rest = trim(r + 1);
        if (*rest && *rest != '#')
            return kite_err_set(err, KITE_EINVAL, "unexpected text after the quoted value: %s",
                                rest);
        *w = '\0';
        *out = v;
        return KITE_OK;
    }
    char *hash = strchr(v, '#');
    if (hash)
        *hash = '\0';
    *out = trim(v);
    return KITE_OK;
}

static const struct opt *find_key(const char *section, const char *key)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (strcmp(g_opts[i].section, section) == 0 && strcmp(g_opts[i].key, key) == 0)
            return &g_opts[i];
    return NULL;
}

static bool known_section(const char *s)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (strcmp(g_opts[i].section, s) == 0)
            return true;
    return false;
}

int server_config_read_file(struct server_config *cfg, const char *path, kite_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return kite_err_set(err, KITE_EIO, "cannot read config file %s: %s", path,
                            strerror(errno));
    char line[8192], section[64] = "";
    int lineno = 0, rc = KITE_OK;
    while (rc == KITE_OK && fgets(line, sizeof(line), f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            rc = kite_err_set(err, KITE_EINVAL, "%s:%d: line longer than %zu bytes", path, lineno,
                              sizeof(line) - 2);
            break;
        }
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            char *after = end ? trim(end + 1) : NULL;
            if (!end || (after && *after && *after != '#')) {
                rc = kite_err_set(err, KITE_EINVAL, "%s:%d: expected [section], not '%s'", path,
                                  lineno, s);
                break;
            }
            *end = '\0';
            char *name = trim(s + 1);
            if (!known_section(name)) {
                rc = kite_err_set(err, KITE_EINVAL,
                                  "%s:%d: unknown section [%s]; expected server, auth, metrics, "
                                  "log, limits or web",
                                  path, lineno, name);
                break;
            }
            snprintf(section, sizeof(section), "%s", name);
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = kite_err_set(err, KITE_EINVAL, "%s:%d: expected key = value, not '%s'", path,
                              lineno, s);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = NULL;
        /* "section.key = v" works at top level too */
        char sec[64], k[128];
        const char *dot = strchr(key, '.');
        if (dot && (size_t)(dot - key) < sizeof(sec)) {
            snprintf(sec, sizeof(sec), "%.*s", (int)(dot - key), key);
            snprintf(k, sizeof(k), "%s", dot + 1);
        } else {
            snprintf(sec, sizeof(sec), "%s", section);
            snprintf(k, sizeof(k), "%s", key);
        }
        const struct opt *o = find_key(sec, k);
        if (!o) {
            rc = kite_err_set(err, KITE_EINVAL,
                              "%s:%d: unknown key '%s' in section [%s] (docs/CONFIG.md lists the "
                              "keys)",
                              path, lineno, k, sec[0] ? sec : "(none)");
            break;
        }
        kite_err e2;
        kite_err_clear(&e2);
        rc = parse_value(eq + 1, &value, &e2);
        if (rc == KITE_OK)
            rc = server_config_set(cfg, o->flag, value, &e2);
        if (rc != KITE_OK)
            rc = kite_err_set(err, KITE_EINVAL, "%s:%d: %s.%s: %s", path, lineno, o->section,
                              o->key, e2.message);
    }
    if (rc == KITE_OK && ferror(f))
        rc = kite_err_set(err, KITE_EIO, "cannot read config file %s", path);
    fclose(f);
    if (rc == KITE_OK)
        snprintf(cfg->config_path, sizeof(cfg->config_path), "%s", path);
    return rc;
}

/* ========================================================== environment */

static void env_name(const char *flag, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "KITE_");
    for (const char *p = flag; *p && n + 1 < cap; p++)
        out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

int server_config_read_env(struct server_config *cfg, kite_err *err)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        char name[64];
        env_name(g_opts[i].flag, name, sizeof(name));
        const char *v = getenv(name);
        if (!v)
            continue;
        kite_err e2;
        kite_err_clear(&e2);
        if (server_config_set(cfg, g_opts[i].flag, v, &e2) != KITE_OK)
            return kite_err_set(err, KITE_EINVAL, "%s: %s", name, e2.message);
    }
    return KITE_OK;
}

/* ================================================================ flags */

static bool is_bool_word(const char *v)
{
    static const char *w[] = {"true", "false", "on", "off", "yes", "no", "1", "0"};
    for (size_t i = 0; v && i < 8; i++)
        if (strcasecmp(v, w[i]) == 0)
            return true;
    return false;
}

/*
 * Walk argv[first..): calls fn for each (name, value).  --name=value, --name value,
 * and for booleans --name [true|false] and --no-name.
 */
typedef int (*flag_fn)(struct server_config *cfg, const char *name, const char *value,
                       kite_err *err);

static int walk_flags(struct server_config *cfg, int argc, char **argv, int first, flag_fn fn,
                      kite_err *err)
{
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            return kite_err_set(err, KITE_EINVAL, "unexpected argument '%s'", a);
        char name[64];
        const char *val, *eq = strchr(a, '=');
        if (eq) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - a - 2), a + 2);
            val = eq + 1;
        } else {
            snprintf(name, sizeof(name), "%s", a + 2);
            if (strncmp(name, "no-", 3) == 0 && server_config_is_bool(name + 3)) {
                memmove(name, name + 3, strlen(name + 3) + 1);
                val = "false";
            } else if (server_config_is_bool(name)) {
                val = (i + 1 < argc && is_bool_word(argv[i + 1])) ? argv[++i] : "true";
            } else if (strcmp(name, "config") == 0 || find_opt(name)) {
                if (i + 1 >= argc)
                    return kite_err_set(err, KITE_EINVAL, "--%s needs a value", name);
                val = argv[++i];
            } else {
                return kite_err_set(err, KITE_ENOTFOUND, "unknown option --%s", name);
            }
        }
        int rc = fn(cfg, name, val, err);
        if (rc != KITE_OK)
            return rc;
    }
    return KITE_OK;
}

static int flag_config_only(struct server_config *cfg, const char *name, const char *value,
                            kite_err *err)
{
    if (strcmp(name, "config") == 0)
        return set_string(cfg->config_path, sizeof(cfg->config_path), value, false, err) ==
                       KITE_OK
                   ? KITE_OK
                   : kite_err_set(err, KITE_EINVAL, "--config: expected a file name");
    if (!find_opt(name))
        return kite_err_set(err, KITE_ENOTFOUND, "unknown option --%s", name);
    return KITE_OK;
}

static int flag_apply(struct server_config *cfg, const char *name, const char *value,
                      kite_err *err)
{
    if (strcmp(name, "config") == 0)
        return KITE_OK;
    kite_err e2;
    kite_err_clear(&e2);
    int rc = server_config_set(cfg, name, value, &e2);
    if (rc == KITE_ENOTFOUND)
        return kite_err_set(err, KITE_ENOTFOUND, "unknown option --%s", name);
    if (rc != KITE_OK)
        return kite_err_set(err, rc, "--%s: %s", name, e2.message);
    return KITE_OK;
}

int server_config_load(struct server_config *cfg, int argc, char **argv, int first,
                       kite_err *err)
{
    server_config_init(cfg);
    /* Pass 1: find --config (and reject unknown flags before reading anything). */
    int rc = walk_flags(cfg, argc, argv, first, flag_config_only, err);
    if (rc != KITE_OK)
        return rc;
    char path[4096];
    snprintf(path, sizeof(path), "%s", cfg->config_path);
    cfg->config_path[0] = '\0';
    if (!path[0] && getenv("KITE_CONFIG") && *getenv("KITE_CONFIG"))
        snprintf(path, sizeof(path), "%s", getenv("KITE_CONFIG"));
    if (path[0] && (rc = server_config_read_file(cfg, path, err)) != KITE_OK)
        return rc;
    if ((rc = server_config_read_env(cfg, err)) != KITE_OK)
        return rc;
    return walk_flags(cfg, argc, argv, first, flag_apply, err);
}

/* ================================================================ print */

static void print_str(FILE *out, const char *key, const char *v)
{
    fprintf(out, "%s = \"", key);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', out);
        fputc(*p, out);
    }
    fprintf(out, "\"\n");
}

void server_config_print(const struct server_config *c, FILE *out)
{
    static const char *levels[] = {"debug", "info", "warn", "error", "off"};
    const char *lvl = c->log_level >= 0 && c->log_level <= 4 ? levels[c->log_level] : "info";
    if (c->config_path[0])
        fprintf(out, "# read from %s (then KITE_* environment, then flags)\n", c->config_path);
    fprintf(out, "[server]\n");
    print_str(out, "host", c->host);
    fprintf(out, "port = %d\n", c->port);
    print_str(out, "data_dir", c->data_dir);
    fprintf(out, "threads = %d\n\n[auth]\nenabled = %s\n\n[metrics]\n", c->threads,
            c->auth ? "true" : "false");
    print_str(out, "host", c->metrics_host);
    if (c->metrics_port < 0)
        fprintf(out, "port = off\n");
    else
        fprintf(out, "port = %d\n", c->metrics_port);
    fprintf(out, "\n[log]\nlevel = %s\nformat = %s\n\n", lvl, c->log_json ? "json" : "text");
    fprintf(out,
            "[limits]\nmax_body_bytes = %zu\nmax_header_bytes = %zu\nmax_connections = %u\n"
            "idle_timeout = %u\nheader_timeout = %u\ndrain_timeout = %u\n\n",
            c->max_body_bytes, c->max_header_bytes, c->max_connections, c->idle_timeout_s,
            c->sniff_timeout_ms / 1000u, c->drain_timeout_s);
    fprintf(out, "[web]\nenabled = %s\n", c->web ? "true" : "false");
    print_str(out, "collection", c->web_collection);
    print_str(out, "model", c->web_model);
    fprintf(out, "max_upload_bytes = %zu\n", c->web_max_upload_bytes);
}

void server_config_usage(FILE *out)
{
    fprintf(out, "  --config FILE                config file (env KITE_CONFIG; see docs/CONFIG.md)\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct opt *o = &g_opts[i];
        char left[64], env[64];
        snprintf(left, sizeof(left), "--%s%s%s", o->flag, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        env_name(o->flag, env, sizeof(env));
        fprintf(out, "  %-28s %s\n  %-28s   [env %s, file %s.%s]\n", left, o->help, "", env,
                o->section, o->key);
    }
}
