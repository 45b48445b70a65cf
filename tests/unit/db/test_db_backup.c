/* test_db_backup.c — kite_backup / kite_restore: online snapshot during inserts,
 * HNSW index + deletes, corrupt backups, refused destinations. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db_test_util.h"

#define BATCH 10
#define RANGE 1000000

static char *tpath(const char *sub)
{
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 1024, "%s/%s", kite_test_tmpdir(), sub);
    return p;
}

struct prog {
    uint64_t calls, last_done, last_total;
    bool monotonic;
};

static void on_progress(uint64_t done, uint64_t total, const char *file, void *udata)
{
    struct prog *p = udata;
    if (p->calls && done < p->last_done)
        p->monotonic = false;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
    (void)file;
}

struct writer {
    kite_db *db;
    int t;
    atomic_int acked;   /* batches acknowledged */
    atomic_bool stop;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    kite_err e;
    for (int b = 0; !atomic_load(&w->stop) && b < 100000; b++) {
        int64_t first = (int64_t)w->t * RANGE + (int64_t)b * BATCH;
        if (tu_insert_basic(w->db, "c", first, BATCH, 8, NULL, &e) != KITE_OK) {
            fprintf(stderr, "writer %d: %s\n", w->t, e.message);
            break;
        }
        atomic_fetch_add(&w->acked, 1);
    }
    return NULL;
}

static int64_t count_range(kite_db *db, int64_t lo, int64_t hi)
{
    char f[128];
    snprintf(f, sizeof(f), "id >= %lld and id < %lld", (long long)lo, (long long)hi);
    return tu_query_count(db, "c", f);
}

TEST(db_backup_during_inserts)
{
    kite_options o;
    kite_options_init(&o);
    o.n_threads = 2;
    o.segment_max_rows = 200; /* seals while the writers run */
    kite_db *db = tu_open_opts(tpath("data"), &o);
    kite_err e;
    tu_create_basic(db, "c", 8, false, false);
    struct writer w[2];
    pthread_t th[2];
    for (int t = 0; t < 2; t++) {
        w[t].db = db;
        w[t].t = t + 1;
        atomic_init(&w[t].acked, 0);
        atomic_init(&w[t].stop, false);
        ASSERT_EQ_INT(pthread_create(&th[t], NULL, writer_main, &w[t]), 0);
    }
    while (atomic_load(&w[0].acked) < 30 || atomic_load(&w[1].acked) < 30)
        usleep(1000);
    int before[2] = {atomic_load(&w[0].acked), atomic_load(&w[1].acked)};
    struct prog p = {.monotonic = true};
    ASSERT_OK(kite_backup(db, tpath("bk"), on_progress, &p, &e));
    int after_mid[2] = {atomic_load(&w[0].acked), atomic_load(&w[1].acked)};
    /* writes kept working: a few more batches after the backup */
    while (atomic_load(&w[0].acked) < after_mid[0] + 5 || atomic_load(&w[1].acked) < after_mid[1] + 5)
        usleep(1000);
    for (int t = 0; t < 2; t++) {
        atomic_store(&w[t].stop, true);
        pthread_join(th[t], NULL);
    }
    int after[2] = {atomic_load(&w[0].acked), atomic_load(&w[1].acked)};
    ASSERT(p.calls >= 2);
    ASSERT(p.monotonic);
    ASSERT(p.last_total > 0);
    ASSERT_EQ_INT(p.last_done, p.last_total);
    kite_close(db);

    struct prog rp = {.monotonic = true};
    ASSERT_OK(kite_restore(tpath("bk"), tpath("restored"), on_progress, &rp, &e));
    ASSERT(rp.monotonic);
    ASSERT_EQ_INT(rp.last_done, rp.last_total);
    db = tu_open_opts(tpath("restored"), &o);
    for (int t = 0; t < 2; t++) {
        int64_t base = (int64_t)(t + 1) * RANGE;
        int64_t n = count_range(db, base, base + RANGE);
        /* every batch acked before the backup started is there ... */
        ASSERT(count_range(db, base, base + (int64_t)before[t] * BATCH) ==
               (int64_t)before[t] * BATCH);
        /* ... only whole batches, a prefix of the writer's sequence, and
         * nothing acked after the backup returned */
        ASSERT_EQ_INT(n % BATCH, 0);
        ASSERT_EQ_INT(count_range(db, base, base + n), n);
        ASSERT(n <= (int64_t)after[t] * BATCH);
        ASSERT(n <= (int64_t)after_mid[t] * BATCH);
    }
    /* the restored database accepts writes */
    ASSERT_OK(tu_insert_basic(db, "c", 5 * RANGE, BATCH, 8, NULL, &e));
    kite_close(db);
}

static void wait_built(kite_db *db, const char *coll)
{
    kite_err e;
    for (int i = 0; i < 3000; i++) {
        kite_index_info *ii;
        size_t n;
        ASSERT_OK(kite_index_describe(db, NULL, coll, NULL, &ii, &n, &e));
        bool done = ii[0].pending_rows == 0 && ii[0].indexed_rows == ii[0].total_rows;
        kite_index_info_free(ii, n);
        if (done)
            return;
        usleep(10000);
    }
    TEST_FAIL_("index build did not finish");
}

static kite_result *search5(kite_db *db)
{
    float q[3 * 8];
    uint64_t s = 42;
    for (int i = 0; i < 3 * 8; i++)
        q[i] = tu_randf(&s);
    kite_search_params sp;
    kite_search_params_init(&sp);
    sp.vectors = q;
    sp.nq = 3;
    sp.dim = 8;
    sp.limit = 10;
    kite_result *r = NULL;
    kite_err e;
    ASSERT_OK(kite_search(db, NULL, "c", &sp, &r, &e));
    return r;
}

static void make_indexed(const char *dir)
{
    kite_options o;
    kite_options_init(&o);
    o.n_threads = 2;
    o.segment_max_rows = 300;
    kite_db *db = tu_open_opts(dir, &o);
    kite_err e;
    tu_create_basic(db, "c", 8, false, false);
    kite_index_params ip;
    kite_index_params_init(&ip);
    ip.field_name = "vec";
    ip.index_type = "HNSW";
    ip.metric_type = "L2";
    ip.params_json = "{\"M\":8,\"efConstruction\":64}";
    ASSERT_OK(kite_index_create(db, NULL, "c", &ip, &e));
    ASSERT_OK(tu_insert_basic(db, "c", 0, 900, 8, NULL, &e));
    ASSERT_OK(kite_collection_flush(db, NULL, "c", &e));
    wait_built(db, "c");
    kite_write_result wr;
    ASSERT_OK(kite_delete(db, NULL, "c", NULL, "id % 7 == 0", NULL, &wr, &e));
    ASSERT_EQ_INT(wr.delete_count, 129);
    kite_write_result_free(&wr);
    ASSERT_OK(tu_insert_basic(db, "c", 5000, 50, 8, NULL, &e)); /* growing rows */
    kite_close(db);
}

TEST(db_backup_hnsw_deletes_identical_search)
{
    make_indexed(tpath("data"));
    kite_db *db = tu_open(tpath("data"));
    kite_err e;
    kite_result *r1 = search5(db);
    ASSERT_OK(kite_backup(db, tpath("bk"), NULL, NULL, &e));
    /* the backup holds index files and delete files */
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "grep -q '\"collections/1/idx-' %s/BACKUP && grep -q "
             "'\"collections/1/del-' %s/BACKUP", tpath("bk"), tpath("bk"));
    ASSERT_EQ_INT(system(cmd), 0);
    uint64_t rows = tu_count(db, "c");
    kite_close(db);
    ASSERT_OK(kite_restore(tpath("bk"), tpath("restored"), NULL, NULL, &e));
    db = tu_open(tpath("restored"));
    ASSERT_EQ_INT(tu_count(db, "c"), rows);
    ASSERT_EQ_INT(rows, 900 - 129 + 50);
    ASSERT_EQ_INT(tu_query_count(db, "c", "id % 7 == 0 and id < 900"), 0);
    kite_result *r2 = search5(db);
    ASSERT_EQ_INT(r1->n_rows, r2->n_rows);
    ASSERT_EQ_INT(r1->n_rows, 30);
    for (size_t i = 0; i < r1->n_rows; i++) {
        ASSERT_EQ_INT(((const int64_t *)r1->ids.data)[i], ((const int64_t *)r2->ids.data)[i]);
        ASSERT_NEAR(r1->scores[i], r2->scores[i], 0);
    }
    kite_index_info *ii;
    size_t n;
    ASSERT_OK(kite_index_describe(db, NULL, "c", NULL, &ii, &n, &e));
    ASSERT_STR_EQ(ii[0].index_type, "HNSW");
    kite_index_info_free(ii, n);
    kite_result_free(r1);
    kite_result_free(r2);
    kite_close(db);
}

static void flip_bit(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    if (!f)
        TEST_FAIL_("cannot open %s", path);
    fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
}

static bool is_absent_or_empty(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s 2>/dev/null | grep -v '^LOCK$')\"", dir);
    return system(cmd) == 0;
}

TEST(db_restore_refuses_corrupt_backup)
{
    make_indexed(tpath("data"));
    kite_db *db = tu_open(tpath("data"));
    kite_err e;
    ASSERT_OK(kite_backup(db, tpath("bk"), NULL, NULL, &e));
    kite_close(db);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "cp -r %s %s && cp -r %s %s && cp -r %s %s", tpath("bk"),
             tpath("bk2"), tpath("bk"), tpath("bk3"), tpath("bk"), tpath("bk4"));
    ASSERT_EQ_INT(system(cmd), 0);

    /* bit flip in a segment file */
    snprintf(cmd, sizeof(cmd), "%s/collections/1/seg-%020d.kseg", tpath("bk"), 1);
    struct stat st;
    ASSERT_EQ_INT(stat(cmd, &st), 0);
    flip_bit(cmd, (long)st.st_size / 2);
    ASSERT_EQ_INT(kite_restore(tpath("bk"), tpath("r1"), NULL, NULL, &e), KITE_ECORRUPT);
    ASSERT_CONTAINS(e.message, "0001.kseg is damaged");
    ASSERT(is_absent_or_empty(tpath("r1")));

    /* missing file */
    snprintf(cmd, sizeof(cmd), "rm %s/catalog.kcat", tpath("bk2"));
    ASSERT_EQ_INT(system(cmd), 0);
    ASSERT_EQ_INT(kite_restore(tpath("bk2"), tpath("r2"), NULL, NULL, &e), KITE_ECORRUPT);
    ASSERT_CONTAINS(e.message, "catalog.kcat cannot be opened");
    ASSERT(is_absent_or_empty(tpath("r2")));

    /* truncated file */
    snprintf(cmd, sizeof(cmd), "truncate -s -1 %s/collections/1/MANIFEST", tpath("bk3"));
    ASSERT_EQ_INT(system(cmd), 0);
    ASSERT_EQ_INT(kite_restore(tpath("bk3"), tpath("r3"), NULL, NULL, &e), KITE_ECORRUPT);
    ASSERT_CONTAINS(e.message, "the BACKUP manifest says");

    /* no BACKUP manifest: an interrupted backup */
    snprintf(cmd, sizeof(cmd), "rm %s/BACKUP", tpath("bk4"));
    ASSERT_EQ_INT(system(cmd), 0);
    ASSERT_EQ_INT(kite_restore(tpath("bk4"), tpath("r4"), NULL, NULL, &e), KITE_ENOTFOUND);
    ASSERT_CONTAINS(e.message, "not a complete kite backup");

    /* a manifest path escaping the backup is refused */
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s && printf '{\"format\":\"kite-backup\",\"format_version\":1,"
             "\"files\":[{\"path\":\"../x\",\"size\":0,\"crc32c\":0}]}' > %s/BACKUP",
             tpath("bk5"), tpath("bk5"));
    ASSERT_EQ_INT(system(cmd), 0);
    ASSERT_EQ_INT(kite_restore(tpath("bk5"), tpath("r5"), NULL, NULL, &e), KITE_ECORRUPT);
    ASSERT_CONTAINS(e.message, "file entry 0 is invalid");
}

TEST(db_backup_restore_refuse_destinations)
{
    kite_db *db = tu_open(tpath("data"));
    kite_err e;
    tu_create_basic(db, "c", 8, false, false);
    ASSERT_OK(tu_insert_basic(db, "c", 0, 20, 8, NULL, &e));
    /* non-empty backup destination */
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s && touch %s/x", tpath("full"), tpath("full"));
    ASSERT_EQ_INT(system(cmd), 0);
    ASSERT_EQ_INT(kite_backup(db, tpath("full"), NULL, NULL, &e), KITE_EEXISTS);
    ASSERT_CONTAINS(e.message, "is not empty");
    /* an existing empty directory is fine */
    ASSERT_EQ_INT(mkdir(tpath("empty"), 0755), 0);
    ASSERT_OK(kite_backup(db, tpath("empty"), NULL, NULL, &e));
    /* no staging leftovers in the data directory */
    snprintf(cmd, sizeof(cmd), "ls -A %s | grep -q '^.backup-'", tpath("data"));
    ASSERT(system(cmd) != 0);

    /* restore into the data dir of a running database: locked */
    ASSERT_EQ_INT(kite_restore(tpath("empty"), tpath("data"), NULL, NULL, &e), KITE_EBUSY);
    ASSERT_CONTAINS(e.message, "locked by a running kite");
    kite_db *other = tu_open(tpath("busy"));
    ASSERT_EQ_INT(kite_restore(tpath("empty"), tpath("busy"), NULL, NULL, &e), KITE_EBUSY);
    kite_close(other);
    /* non-empty data dir */
    ASSERT_EQ_INT(kite_restore(tpath("empty"), tpath("full"), NULL, NULL, &e), KITE_EEXISTS);
    ASSERT_CONTAINS(e.message, "is not empty");
    snprintf(cmd, sizeof(cmd), "test -f %s/x", tpath("full"));
    ASSERT_EQ_INT(system(cmd), 0); /* untouched */
    /* a freshly restored copy is complete */
    ASSERT_OK(kite_restore(tpath("empty"), tpath("r"), NULL, NULL, &e));
    kite_close(db);
    db = tu_open(tpath("r"));
    ASSERT_EQ_INT(tu_count(db, "c"), 20);
    kite_close(db);
}

struct churner {
    kite_db *db;
    atomic_bool stop;
    atomic_int rounds;
    int failed;
};

/* Insert batches, delete old ones, compact: segment, delete and index files
 * come and go while backups copy. */
static void *churn_main(void *arg)
{
    struct churner *w = arg;
    kite_err e;
    for (int b = 0; !atomic_load(&w->stop); b++) {
        if (tu_insert_basic(w->db, "c", (int64_t)b * BATCH, BATCH, 8, NULL, &e) != KITE_OK) {
            fprintf(stderr, "insert: %s\n", e.message);
            w->failed = 1;
            break;
        }
        if (b % 8 == 7) {
            char f[64];
            snprintf(f, sizeof(f), "id < %d", (b - 4) * BATCH);
            kite_write_result wr;
            if (kite_delete(w->db, NULL, "c", NULL, f, NULL, &wr, &e) == KITE_OK)
                kite_write_result_free(&wr);
            else
                w->failed = 2;
            if (kite_collection_compact(w->db, NULL, "c", &e) != KITE_OK) {
                fprintf(stderr, "compact: %s\n", e.message);
                w->failed = 3;
            }
        }
        atomic_fetch_add(&w->rounds, 1);
    }
    return NULL;
}

TEST(db_backup_races_compaction_and_index_builds)
{
    kite_options o;
    kite_options_init(&o);
    o.n_threads = 2;
    o.segment_max_rows = 40;
    kite_db *db = tu_open_opts(tpath("data"), &o);
    kite_err e;
    tu_create_basic(db, "c", 8, false, false);
    kite_index_params ip;
    kite_index_params_init(&ip);
    ip.field_name = "vec";
    ip.index_type = "HNSW";
    ip.metric_type = "L2";
    ASSERT_OK(kite_index_create(db, NULL, "c", &ip, &e));
    struct churner w = {.db = db};
    atomic_init(&w.stop, false);
    atomic_init(&w.rounds, 0);
    pthread_t th;
    ASSERT_EQ_INT(pthread_create(&th, NULL, churn_main, &w), 0);
    for (int k = 0; k < 4; k++) {
        while (atomic_load(&w.rounds) < 20 * (k + 1))
            usleep(1000);
        char name[32];
        snprintf(name, sizeof(name), "bk%d", k);
        ASSERT_OK(kite_backup(db, tpath(name), NULL, NULL, &e));
    }
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);
    ASSERT_EQ_INT(w.failed, 0);
    kite_close(db);
    for (int k = 0; k < 4; k++) {
        char name[32], rname[32];
        snprintf(name, sizeof(name), "bk%d", k);
        snprintf(rname, sizeof(rname), "r%d", k);
        ASSERT_OK(kite_restore(tpath(name), tpath(rname), NULL, NULL, &e));
        db = tu_open_opts(tpath(rname), &o);
        int64_t n = tu_query_count(db, "c", "");
        ASSERT(n > 0);
        ASSERT_EQ_INT(n % BATCH, 0);
        ASSERT_EQ_INT(tu_query_count(db, "c", "id % 10 == 0") * BATCH, n);
        kite_result *r = search5(db); /* every segment file is readable */
        ASSERT_EQ_INT(r->n_rows, 30);
        kite_result_free(r);
        kite_close(db);
    }
}

/* A staging directory left by a backup that was killed half way is removed at the next
 * (read-write) open; a read-only open leaves it; the data are untouched either way. */
TEST(db_open_removes_interrupted_backup_staging)
{
    const char *dir = tpath("data");
    kite_db *db = tu_open(dir);
    kite_err e;
    tu_create_basic(db, "c", 8, false, false);
    ASSERT_OK(tu_insert_basic(db, "c", 0, 50, 8, NULL, &e));
    kite_close(db);
    char stage[1200], inner[1300];
    snprintf(stage, sizeof(stage), "%s/.backup-999999-0", dir);
    snprintf(inner, sizeof(inner), "%s/collections", stage);
    ASSERT_EQ_INT(mkdir(stage, 0755), 0);
    ASSERT_EQ_INT(mkdir(inner, 0755), 0);
    snprintf(inner, sizeof(inner), "%s/collections/MANIFEST", stage);
    FILE *f = fopen(inner, "w");
    ASSERT(f != NULL);
    fputs("partial", f);
    fclose(f);
    struct stat st;
    kite_options o;
    kite_options_init(&o);
    o.read_only = true;
    db = tu_open_opts(dir, &o);
    kite_close(db);
    ASSERT_EQ_INT(stat(stage, &st), 0);
    db = tu_open(dir);
    ASSERT(stat(stage, &st) != 0);
    ASSERT_EQ_INT(tu_count(db, "c"), 50);
    kite_close(db);
}
