/*
 * runner.c — runs registered tests, each in a forked child with a timeout.
 * Output ends with the line "N passed, N failed" that CI reads.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define MAX_TESTS 4096

struct entry {
    const char *name;
    kite_test_fn fn;
    int timeout_s;
};

static struct entry g_tests[MAX_TESTS];
static int g_n;
static char g_tmpdir[512];

void kite_test_register(const char *name, kite_test_fn fn, int timeout_s)
{
    if (g_n < MAX_TESTS)
        g_tests[g_n++] = (struct entry){name, fn, timeout_s};
}

const char *kite_test_tmpdir(void)
{
    return g_tmpdir;
}

long kite_test_mapped_rss(const char *prefix)
{
    FILE *fp = fopen("/proc/self/smaps", "r");
    if (!fp)
        return -1;
    char line[4096];
    bool in = false;
    long total = 0, kb;
    unsigned long lo, hi;
    while (fgets(line, sizeof(line), fp)) {
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) { /* a mapping's header line */
            const char *p = strchr(line, '/');
            in = p && strncmp(p, prefix, strlen(prefix)) == 0;
        } else if (in && sscanf(line, "Rss: %ld kB", &kb) == 1) {
            total += kb * 1024;
        }
    }
    fclose(fp);
    return total;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static void rm_rf(const char *path)
{
    char cmd[1100];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", path);
}

static int run_one(const struct entry *t)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(g_tmpdir, sizeof(g_tmpdir), "%s/kite-test-XXXXXX", base);
    if (!mkdtemp(g_tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        alarm((unsigned)t->timeout_s);
        t->fn();
        fflush(stdout);
        exit(0); /* exit, not _exit: lets gcov and LSan run in the child */
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    rm_rf(g_tmpdir);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(status),
                WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
    return 1;
}

int main(int argc, char **argv)
{
    qsort(g_tests, (size_t)g_n, sizeof(g_tests[0]), cmp);
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < g_n; i++)
            printf("%s\n", g_tests[i].name);
        return 0;
    }
    int passed = 0, failed = 0;
    for (int i = 0; i < g_n; i++) {
        if (argc > 1) {
            int want = 0;
            for (int a = 1; a < argc; a++)
                want |= strcmp(argv[a], g_tests[i].name) == 0;
            if (!want)
                continue;
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = run_one(&g_tests[i]);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        printf("%s %s (%.0f ms)\n", rc ? "FAIL" : "ok  ", g_tests[i].name, ms);
        fflush(stdout);
        if (rc)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
