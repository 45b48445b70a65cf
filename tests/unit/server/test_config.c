/*
 * test_config.c — server/config.c: precedence (defaults < file < env < flags),
 * the file syntax, and error messages that name their source.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "test.h"

static const char *write_file(const char *name, const char *text)
{
    static char path[4200];
    snprintf(path, sizeof(path), "%s/%s", kite_test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fputs(text, f);
    fclose(f);
    return path;
}

static int load(struct server_config *c, kite_err *err, int argc, const char *const *argv)
{
    return server_config_load(c, argc, (char **)argv, 0, err);
}

TEST(precedence)
{
    unsetenv("KITE_CONFIG");
    unsetenv("KITE_PORT");
    const char *f = write_file("k.conf", "[server]\nport = 1111\nhost = \"10.0.0.1\"\n"
                                         "[limits]\nmax_connections = 7\n");
    ASSERT(f);
    struct server_config c;
    kite_err err;
    const char *a1[] = {"--config", f};
    ASSERT_OK(load(&c, &err, 2, a1));
    ASSERT_EQ_INT(c.port, 1111);
    ASSERT_STR_EQ(c.host, "10.0.0.1");
    ASSERT_EQ_INT((int)c.max_connections, 7);
    ASSERT_EQ_INT(c.metrics_port, 9091);
    ASSERT(!c.metrics_port_set);
    setenv("KITE_PORT", "2222", 1);
    setenv("KITE_AUTH", "yes", 1);
    ASSERT_OK(load(&c, &err, 2, a1));
    ASSERT_EQ_INT(c.port, 2222);
    ASSERT(c.auth);
    const char *a2[] = {"--config", f, "--port=3333", "--no-auth", "--metrics-port", "off"};
    ASSERT_OK(load(&c, &err, 6, a2));
    ASSERT_EQ_INT(c.port, 3333);
    ASSERT(!c.auth);
    ASSERT_EQ_INT(c.metrics_port, -1);
    const char *a3[] = {"--auth", "--port", "1"};
    ASSERT_OK(load(&c, &err, 3, a3));
    ASSERT(c.auth);
    ASSERT_EQ_INT(c.port, 1);
    const char *a4[] = {"--auth", "false"};
    ASSERT_OK(load(&c, &err, 2, a4));
    ASSERT(!c.auth);
    unsetenv("KITE_PORT");
    unsetenv("KITE_AUTH");
}

TEST(errors_name_their_source)
{
    unsetenv("KITE_CONFIG");
    struct server_config c;
    kite_err err;
    const char *f = write_file("bad.conf", "# c\n[limits]\nmax_body_bytes = 1k\n");
    const char *a1[] = {"--config", f};
    ASSERT_EQ_INT(load(&c, &err, 2, a1), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "bad.conf:3: limits.max_body_bytes: expected an integer");
    const char *a2[] = {"--port", "65536"};
    ASSERT_EQ_INT(load(&c, &err, 2, a2), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "--port: expected an integer in [0, 65535], not '65536'");
    const char *a3[] = {"--what"};
    ASSERT_EQ_INT(load(&c, &err, 1, a3), KITE_ENOTFOUND);
    setenv("KITE_LOG_LEVEL", "chatty", 1);
    const char *a4[] = {"--port", "5"};
    ASSERT_EQ_INT(load(&c, &err, 2, a4), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "KITE_LOG_LEVEL: expected debug");
    unsetenv("KITE_LOG_LEVEL");
    f = write_file("q.conf", "[server]\ndata_dir = \"a\\\\b \\\"c\\\"\" # x\n");
    const char *a5[] = {"--config", f};
    ASSERT_OK(load(&c, &err, 2, a5));
    ASSERT_STR_EQ(c.data_dir, "a\\b \"c\"");
    f = write_file("e.conf", "[server]\nhost = \"x\\n\"\n");
    const char *a6[] = {"--config", f};
    ASSERT_EQ_INT(load(&c, &err, 2, a6), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "unknown escape");
}

TEST(print_round_trips)
{
    unsetenv("KITE_CONFIG");
    struct server_config a, b;
    kite_err err;
    const char *args[] = {"--port", "4", "--data-dir", "/x \"y\"", "--log-format", "json",
                          "--log-level", "warn", "--header-timeout", "3", "--auth"};
    ASSERT_OK(load(&a, &err, 11, args));
    char path[4200];
    snprintf(path, sizeof(path), "%s/rt.conf", kite_test_tmpdir());
    FILE *f = fopen(path, "w");
    ASSERT(f);
    server_config_print(&a, f);
    fclose(f);
    const char *a2[] = {"--config", path};
    ASSERT_OK(load(&b, &err, 2, a2));
    ASSERT_EQ_INT(b.port, 4);
    ASSERT_STR_EQ(b.data_dir, "/x \"y\"");
    ASSERT(b.log_json && b.auth);
    ASSERT_EQ_INT(b.log_level, KITE_LOG_WARN);
    ASSERT_EQ_INT((int)b.sniff_timeout_ms, 3000);
    ASSERT_EQ_INT((int)b.max_body_bytes, (int)a.max_body_bytes);
}
