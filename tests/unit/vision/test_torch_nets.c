/*
 * test_torch_nets.c — whole networks exported from PyTorch/torchvision
 * (tests/vision/export_torchvision.py) against PyTorch's own outputs.
 *
 * CI runs the reduced-width VGG16 / ResNet-50 / MobileNetV2 committed under
 * tests/data/vision/ (full-size exports are too heavy for the repository and
 * CI time); KITE_TORCH_NETS_DIR=<dir> runs the same check on a --full export.
 * Tolerance: |ours - torch| <= 1e-4 * max(|torch|, 0.01 * max|torch|).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "onnx_int.h"
#include "pool.h"
#include "test.h"
#include "vision.h"

static char *data_dir(void)
{
    static char buf[1024];
    const char *f = __FILE__, *p = strstr(f, "tests/unit/vision/");
    snprintf(buf, sizeof(buf), "%.*stests/data/vision", p ? (int)(p - f) : 0, f);
    return buf;
}

static void check_net(const char *dir, const char *name)
{
    char path[1200];
    FILE *f;
    int64_t in_dims[4], out_dims[4] = {0, 0, 0, 0};
    int n_out_dims = 0;
    size_t n_in, n_out;
    float *x, *ref;
    kite_model *m = NULL;
    struct kite_pool *pool = NULL;
    kite_tensor in, out;
    kite_err err;
    double maxabs = 0, worst = 0;

    snprintf(path, sizeof(path), "%s/%s/meta.txt", dir, name);
    f = fopen(path, "r");
    ASSERT(f != NULL);
    ASSERT_EQ_INT(fscanf(f, "%ld %ld %ld %ld", &in_dims[0], &in_dims[1], &in_dims[2],
                         &in_dims[3]), 4);
    while (n_out_dims < 4 && fscanf(f, "%ld", &out_dims[n_out_dims]) == 1)
        n_out_dims++;
    fclose(f);
    n_in = (size_t)(in_dims[0] * in_dims[1] * in_dims[2] * in_dims[3]);
    n_out = 1;
    for (int i = 0; i < n_out_dims; i++)
        n_out *= (size_t)out_dims[i];
    x = malloc(n_in * sizeof(float));
    ref = malloc(n_out * sizeof(float));
    for (size_t i = 0; i < n_in; i++) /* same formula as export_torchvision.py */
        x[i] = (float)(sin(0.001 * (double)i) * 2);
    snprintf(path, sizeof(path), "%s/%s/output.f32", dir, name);
    f = fopen(path, "rb");
    ASSERT(f != NULL);
    ASSERT_EQ_INT(fread(ref, sizeof(float), n_out, f), n_out);
    fclose(f);

    ASSERT_OK(kite_pool_new(2, &pool));
    snprintf(path, sizeof(path), "%s/%s/model.onnx", dir, name);
    kite_err_clear(&err);
    if (kite_model_load(path, pool, &m, &err) != KITE_OK)
        TEST_FAIL_("load %s: %s", path, err.message);
    memset(&in, 0, sizeof(in));
    in.ndim = 4;
    memcpy(in.dims, in_dims, sizeof(in_dims));
    in.data = x;
    if (kite_model_run(m, &in, 1, &out, 1, &err) != KITE_OK)
        TEST_FAIL_("run %s: %s", name, err.message);
    ASSERT_EQ_INT(out.ndim, n_out_dims);
    for (int i = 0; i < n_out_dims; i++)
        ASSERT_EQ_INT(out.dims[i], out_dims[i]);
    for (size_t i = 0; i < n_out; i++)
        maxabs = fabs(ref[i]) > maxabs ? fabs(ref[i]) : maxabs;
    for (size_t i = 0; i < n_out; i++) {
        double tol = 1e-4 * fmax(fabs(ref[i]), 0.01 * maxabs);
        double d = fabs(out.data[i] - ref[i]);
        worst = d / fmax(fabs(ref[i]), 0.01 * maxabs) > worst ? d / fmax(fabs(ref[i]), 0.01 * maxabs)
                                                              : worst;
        if (d > tol)
            TEST_FAIL_("%s output[%zu] = %.8g, torch %.8g", name, i, out.data[i], ref[i]);
    }
    fprintf(stderr, "  %s: %zu outputs match torch, worst relative error %.2e\n", name, n_out,
            worst);
    kite_free(out.data);
    kite_model_free(m);
    kite_pool_free(pool);
    free(x);
    free(ref);
}

TEST(torch_vgg16_small)
{
    check_net(data_dir(), "vgg16");
}

TEST(torch_resnet50_small)
{
    check_net(data_dir(), "resnet50");
}

/* The same net on the old paths: OpenBLAS for every GEMM conv, residual Adds
 * run as their own nodes (the knobs of docs/VISION.md). */
TEST(torch_resnet50_small_blas_unfused)
{
    vop_conv_gemm = 0;
    vmodel_fuse_add = 0;
    check_net(data_dir(), "resnet50");
    vop_conv_gemm = 1;
    vmodel_fuse_add = 1;
}

TEST(torch_mobilenetv2_small)
{
    check_net(data_dir(), "mobilenetv2");
}

TEST(torch_convfeat_small)
{
    check_net(data_dir(), "convfeat");
}

/* Full-size exports, only when KITE_TORCH_NETS_DIR is set (prints a note otherwise). */
TEST_TIMEOUT(torch_nets_dir, 600)
{
    const char *dir = getenv("KITE_TORCH_NETS_DIR");
    if (!dir) {
        fprintf(stderr, "  KITE_TORCH_NETS_DIR not set: full-size networks not checked\n");
        return;
    }
    check_net(dir, "vgg16");
    check_net(dir, "resnet50");
    check_net(dir, "mobilenetv2");
}
