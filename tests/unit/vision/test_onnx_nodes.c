/*
 * test_onnx_nodes.c — runs the ONNX backend node tests Debian ships
 * (libonnx-testdata: /usr/include/onnx/backend/test/data/node/<test>/model.onnx
 * + test_data_set_0/input_*.pb, output_*.pb) through our runtime.
 *
 * A test is RUN when the model loads (all its ops, attributes and types are
 * supported); it is SKIPPED when loading or running is refused with
 * KITE_EUNSUPPORTED (the reason is printed).  Any other load/run error or any
 * output element outside |ours - ref| <= 1e-4 * |ref| + 1e-5 fails the test.
 * Failures go to stderr; with KITE_NODE_TEST_LIST=path every test's verdict is
 * appended to that file.  The pytorch-converted/pytorch-operator/simple sets
 * (whole small modules exported by PyTorch) are walked the same way.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "onnx_int.h"
#include "pool.h"
#include "test.h"

#define DATA_DIR "/usr/include/onnx/backend/test/data"
#define NODE_DIR DATA_DIR "/node"

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long sz;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(sz > 0 ? (size_t)sz : 1);
    if (buf && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)sz;
    return buf;
}

static int load_pb(const char *path, struct vt *t, kite_err *err)
{
    size_t len;
    uint8_t *b = slurp(path, &len);
    int rc;
    if (!b)
        return KITE_EIO;
    rc = vt_from_proto_bytes(b, len, t, err);
    free(b);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

enum { R_PASS, R_SKIP, R_FAIL };

static int run_one(const char *dir, struct kite_pool *pool, char *why, size_t why_len)
{
    char path[1024];
    size_t len;
    uint8_t *buf;
    kite_model *m = NULL;
    kite_err err;
    struct vt in[16], ref[16], out[16];
    int rc, n_in = 0, n_out = 0, result = R_PASS;
    memset(in, 0, sizeof(in));
    memset(ref, 0, sizeof(ref));
    memset(out, 0, sizeof(out));
    kite_err_clear(&err);
    snprintf(path, sizeof(path), "%s/model.onnx", dir);
    buf = slurp(path, &len);
    if (!buf) {
        snprintf(why, why_len, "no model.onnx");
        return R_SKIP;
    }
    rc = kite_model_load_buffer(buf, len, pool, &m, &err);
    free(buf);
    if (rc != KITE_OK) {
        snprintf(why, why_len, "%s", err.message);
        return rc == KITE_EUNSUPPORTED ? R_SKIP : R_FAIL;
    }
    for (int i = 0; i < kite_model_input_count(m); i++) {
        snprintf(path, sizeof(path), "%s/test_data_set_0/input_%d.pb", dir, i);
        if ((rc = load_pb(path, &in[n_in], &err)) != KITE_OK) {
            snprintf(why, why_len, "input %d: %s", i, err.message);
            result = rc == KITE_EUNSUPPORTED ? R_SKIP : R_FAIL;
            goto out;
        }
        n_in++;
    }
    for (int i = 0; i < kite_model_output_count(m); i++) {
        snprintf(path, sizeof(path), "%s/test_data_set_0/output_%d.pb", dir, i);
        if ((rc = load_pb(path, &ref[n_out], &err)) != KITE_OK) {
            snprintf(why, why_len, "output %d: %s", i, err.message);
            result = rc == KITE_EUNSUPPORTED ? R_SKIP : R_FAIL;
            goto out;
        }
        n_out++;
    }
    rc = vmodel_run(m, in, n_in, out, n_out, false, &err);
    if (rc != KITE_OK) {
        snprintf(why, why_len, "run: %s", err.message);
        result = rc == KITE_EUNSUPPORTED ? R_SKIP : R_FAIL;
        goto out;
    }
    for (int i = 0; i < n_out && result == R_PASS; i++) {
        if (out[i].type != ref[i].type || out[i].len != ref[i].len || out[i].ndim != ref[i].ndim ||
            memcmp(out[i].dims, ref[i].dims, sizeof(int64_t) * (size_t)out[i].ndim)) {
            snprintf(why, why_len, "output %d: type/shape mismatch (rank %d vs %d, %zu vs %zu "
                     "elements)", i, out[i].ndim, ref[i].ndim, out[i].len, ref[i].len);
            result = R_FAIL;
            break;
        }
        for (size_t k = 0; k < out[i].len; k++) {
            double a, b;
            if (out[i].type == VT_F32) {
                a = ((float *)out[i].data)[k];
                b = ((float *)ref[i].data)[k];
            } else {
                a = (double)((int64_t *)out[i].data)[k];
                b = (double)((int64_t *)ref[i].data)[k];
            }
            if (!(fabs(a - b) <= 1e-4 * fabs(b) + 1e-5) && !(isnan(a) && isnan(b))) {
                snprintf(why, why_len, "output %d element %zu: %.9g vs reference %.9g", i, k, a,
                         b);
                result = R_FAIL;
                break;
            }
        }
    }
out:
    for (int i = 0; i < 16; i++) {
        vt_clear(&in[i]);
        vt_clear(&ref[i]);
        vt_clear(&out[i]);
    }
    kite_model_free(m);
    return result;
}

static void walk(const char *root, int min_pass)
{
    DIR *d = opendir(root);
    struct dirent *e;
    char **names = NULL, why[600];
    size_t n = 0, cap = 0;
    int counts[3] = {0, 0, 0};
    struct kite_pool *pool = NULL;
    const char *list_path = getenv("KITE_NODE_TEST_LIST");
    FILE *list = list_path ? fopen(list_path, "a") : NULL;
    if (!d) {
        fprintf(stderr, "  %s missing: apt-get install libonnx-testdata\n", root);
        ASSERT(d != NULL);
    }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            names = realloc(names, cap * sizeof(char *));
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(char *), cmp_names);
    ASSERT_OK(kite_pool_new(2, &pool));
    for (size_t i = 0; i < n; i++) {
        char dir[700];
        int r;
        snprintf(dir, sizeof(dir), "%s/%s", root, names[i]);
        why[0] = 0;
        r = run_one(dir, pool, why, sizeof(why));
        counts[r]++;
        if (r == R_FAIL)
            fprintf(stderr, "  FAIL %s: %s\n", names[i], why);
        if (list)
            fprintf(list, "%s %s%s%s\n", r == R_PASS ? "RUN " : r == R_SKIP ? "SKIP" : "FAIL",
                    names[i], why[0] ? " -- " : "", why);
        free(names[i]);
    }
    free(names);
    if (list)
        fclose(list);
    kite_pool_free(pool);
    fprintf(stderr, "  %s: %d run and passed, %d skipped (unsupported), %d failed\n", root,
            counts[R_PASS], counts[R_SKIP], counts[R_FAIL]);
    ASSERT_EQ_INT(counts[R_FAIL], 0);
    ASSERT(counts[R_PASS] >= min_pass);
}

TEST_TIMEOUT(onnx_backend_node_tests, 300)
{
    walk(NODE_DIR, 150);
}

TEST_TIMEOUT(onnx_backend_pytorch_tests, 300)
{
    walk(DATA_DIR "/pytorch-converted", 1);
    walk(DATA_DIR "/pytorch-operator", 1);
    walk(DATA_DIR "/simple", 1);
}
