/*
 * log.c — leveled logger.  Threading: one fprintf per line (stdio locks the
 * stream), level and format are atomics so they may change at SIGHUP reload.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic int g_level = KITE_LOG_INFO;
static _Atomic bool g_json;

void kite_log_set_level(int level)
{
    atomic_store(&g_level, level);
}

int kite_log_get_level(void)
{
    return atomic_load(&g_level);
}

void kite_log_set_json(bool json)
{
    atomic_store(&g_json, json);
}

int kite_log_level_from_name(const char *name)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++)
        if (name && strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

static void json_escape(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    for (; *src && o + 7 < cap; src++) {
        unsigned char c = (unsigned char)*src;
        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", c);
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = '\0';
}

void kite_log(int level, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < atomic_load(&g_level) || level < 0 || level > KITE_LOG_ERROR)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[96];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    if (atomic_load(&g_json)) {
        char esc[4200];
        json_escape(esc, sizeof(esc), msg);
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", when, names[level],
                esc);
    } else {
        fprintf(stderr, "%s %-5s %s\n", when, names[level], msg);
    }
}
