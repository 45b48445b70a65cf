/*
 * images_progress.c — progress of `kite images index`.
 *
 * On a terminal: one line redrawn in place with '\r' (a bar, count, percent,
 * files/s, ETA), at most every 0.1 s.  Otherwise (pipes, CI logs): a plain line
 * every 2 s, so logs stay readable.  The rate counts files handled (embedded or
 * skipped as bad) since the start; ETA = remaining / rate.
 *
 * Threading model: used only by the indexer's main thread.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "images_app.h"

double images_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fmt_eta(char *buf, size_t n, double s, bool clock_style)
{
    if (s < 0 || s > 1e7) {
        snprintf(buf, n, "%s", clock_style ? "--:--" : "unknown");
        return;
    }
    long t = (long)(s + 0.5);
    if (!clock_style)
        snprintf(buf, n, "%ld s", t);
    else if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

void images_progress_format(char *buf, size_t n, uint64_t done, uint64_t total, double elapsed_s,
                            bool tty, int width)
{
    if (n == 0)
        return;
    if (done > total)
        total = done;
    double rate = elapsed_s > 0 ? (double)done / elapsed_s : 0.0;
    double eta = rate > 0 ? (double)(total - done) / rate : -1.0;
    if (done == total)
        eta = 0;
    int pct = total ? (int)(done * 100 / total) : 100;
    char eta_s[32];
    fmt_eta(eta_s, sizeof(eta_s), eta, tty);
    if (!tty) {
        snprintf(buf, n, "progress: %llu/%llu files (%d%%), %.1f files/s, ETA %s",
                 (unsigned long long)done, (unsigned long long)total, pct, rate, eta_s);
        return;
    }
    char tail[128];
    snprintf(tail, sizeof(tail), " %llu/%llu %3d%% %6.1f files/s ETA %s",
             (unsigned long long)done, (unsigned long long)total, pct, rate, eta_s);
    /* A fixed bar, so the line does not jump as the numbers grow; narrower on
     * narrow terminals. */
    int bar = width >= 80 ? 30 : 12;
    char bar_s[64];
    int fill = total ? (int)((double)done / (double)total * bar) : bar;
    for (int i = 0; i < bar; i++)
        bar_s[i] = i < fill ? '#' : '.';
    bar_s[bar] = '\0';
    snprintf(buf, n, "[%s]%s", bar_s, tail);
}

static void print_now(struct images_progress *p, double now)
{
    char line[256];
    images_progress_format(line, sizeof(line), p->done, p->total, now - p->start_s, p->tty,
                           p->width);
    if (p->tty)
        fprintf(p->out, "\r%s", line);
    else
        fprintf(p->out, "%s\n", line);
    fflush(p->out);
    p->last_print_s = now;
}

void images_progress_start(struct images_progress *p, FILE *out, bool tty, uint64_t total)
{
    memset(p, 0, sizeof(*p));
    p->out = out;
    p->tty = tty;
    p->total = total;
    p->width = 80;
    p->start_s = images_now_s();
    p->last_print_s = p->start_s;
}

void images_progress_add(struct images_progress *p, uint64_t n, uint64_t skipped)
{
    p->done += n;
    p->skipped += skipped;
    if (!p->out)
        return;
    double now = images_now_s();
    if (now - p->last_print_s >= (p->tty ? 0.1 : 2.0))
        print_now(p, now);
}

void images_progress_clear(struct images_progress *p)
{
    if (p->out && p->tty)
        fputs("\r\033[K", p->out); /* erase the bar so a warning starts on a clean line */
}

void images_progress_finish(struct images_progress *p)
{
    if (!p->out)
        return;
    print_now(p, images_now_s());
    if (p->tty)
        fputc('\n', p->out);
}
