/*
 * test_embed.c — the embedding pipeline (open, file/buffer/batch, unit
 * length, config errors) and the tfjs importer on small synthetic packages
 * written by the test (numeric check on a 1x1 conv net, refusals).  With
 * KITE_NSFWJS_DIR=<.../nsfwjs/dist/models/mobilenet_v2> the real nsfwjs model
 * is imported and embedded as well.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "img_util.h"
#include "test.h"
#include "onnx_int.h"
#include "vision.h"

static const char *data_model(const char *net)
{
    static char buf[2][1024];
    static int k;
    const char *f = __FILE__, *p = strstr(f, "tests/unit/vision/");
    k ^= 1;
    snprintf(buf[k], sizeof(buf[k]), "%.*stests/data/vision/%s/model.onnx",
             p ? (int)(p - f) : 0, f, net);
    return buf[k];
}

static const char *small_model(void)
{
    return data_model("mobilenetv2");
}

static uint8_t *pattern(int w, int h, int seed)
{
    uint8_t *p = malloc((size_t)w * (size_t)h * 3);
    for (int i = 0; i < w * h * 3; i++)
        p[i] = (uint8_t)((i * (7 + seed)) ^ (i / 97 * seed));
    return p;
}

static double norm(const float *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    return sqrt(s);
}

TEST(embed_file_buffer_batch_agree)
{
    kite_embed_opts o;
    kite_embed *e = NULL;
    kite_err err;
    kite_image *imgs[3];
    struct blob b[3];
    float single[3][16], batch[48], fromfile[16];
    char path[512];
    FILE *f;
    kite_embed_opts_init(&o);
    o.model_path = data_model("convfeat");
    o.pooling = KITE_POOL_AVG;
    kite_preprocess_init_imagenet(&o.pre);
    o.batch_max = 2; /* 3 images -> batches of 2 and 1 */
    o.n_threads = 2;
    if (kite_embed_open(&o, &e, &err) != KITE_OK)
        TEST_FAIL_("open: %s", err.message);
    ASSERT_EQ_INT(kite_embed_dim(e), 16);
    for (int i = 0; i < 3; i++) {
        uint8_t *p = pattern(300 - 40 * i, 200 + 30 * i, i + 1);
        b[i] = enc_png(p, 300 - 40 * i, 200 + 30 * i, 3);
        ASSERT_OK(kite_image_decode(b[i].data, b[i].len, NULL, &imgs[i], &err));
        ASSERT_OK(kite_embed_buffer(e, b[i].data, b[i].len, single[i], &err));
        ASSERT_NEAR(norm(single[i], 16), 1.0, 1e-5);
        free(p);
    }
    ASSERT_OK(kite_embed_images(e, (const kite_image *const *)imgs, 3, batch, &err));
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 16; k++)
            ASSERT_NEAR(batch[i * 16 + k], single[i][k], 1e-5);
    /* different images give different vectors */
    {
        double diff = 0;
        for (int k = 0; k < 16; k++)
            diff += fabs(single[0][k] - single[1][k]);
        ASSERT(diff > 1e-2);
    }
    snprintf(path, sizeof(path), "%s/x.bin", kite_test_tmpdir());
    f = fopen(path, "wb");
    fwrite(b[2].data, 1, b[2].len, f);
    fclose(f);
    ASSERT_OK(kite_embed_file(e, path, fromfile, &err));
    for (int k = 0; k < 16; k++)
        ASSERT_NEAR(fromfile[k], single[2][k], 1e-6);
    ASSERT_EQ_INT(kite_embed_buffer(e, "junk", 4, fromfile, &err), KITE_EUNSUPPORTED);
    for (int i = 0; i < 3; i++) {
        kite_image_free(imgs[i]);
        blob_free(&b[i]);
    }
    kite_embed_close(e);
}

/* AVG/MAX pooling of the 4-D output equals pooling kite_model_run's output by hand. */
TEST(embed_pooling_matches_model)
{
    kite_preprocess pp;
    kite_image *img = NULL, *fit = NULL;
    kite_model *m = NULL;
    kite_tensor in, out;
    kite_err err;
    float *x = malloc(3 * 224 * 224 * sizeof(float)), got[16];
    uint8_t *p = pattern(280, 250, 3);
    struct blob b = enc_png(p, 280, 250, 3);
    ASSERT_OK(kite_image_decode(b.data, b.len, NULL, &img, &err));
    kite_preprocess_init_imagenet(&pp);
    ASSERT_OK(kite_image_fit(img, &pp, &fit, &err));
    ASSERT_OK(kite_image_to_tensor(fit, &pp, x, &err));
    ASSERT_OK(kite_model_load(data_model("convfeat"), NULL, &m, &err));
    memset(&in, 0, sizeof(in));
    in.ndim = 4;
    in.dims[0] = 1;
    in.dims[1] = 3;
    in.dims[2] = in.dims[3] = 224;
    in.data = x;
    ASSERT_OK(kite_model_run(m, &in, 1, &out, 1, &err));
    ASSERT_EQ_INT(out.dims[1], 16);
    for (int pool = KITE_POOL_AVG; pool <= KITE_POOL_MAX; pool++) {
        kite_embed_opts o;
        kite_embed *e = NULL;
        double ref[16], n2 = 0;
        size_t plane = (size_t)(out.dims[2] * out.dims[3]);
        for (int c = 0; c < 16; c++) {
            double acc = pool == KITE_POOL_MAX ? -1e30 : 0;
            for (size_t i = 0; i < plane; i++) {
                float v = out.data[(size_t)c * plane + i];
                acc = pool == KITE_POOL_MAX ? (v > acc ? v : acc) : acc + v;
            }
            ref[c] = pool == KITE_POOL_MAX ? acc : acc / (double)plane;
            n2 += ref[c] * ref[c];
        }
        kite_embed_opts_init(&o);
        o.model_path = data_model("convfeat");
        o.pre = pp;
        o.pooling = pool;
        o.n_threads = 1;
        ASSERT_OK(kite_embed_open(&o, &e, &err));
        ASSERT_OK(kite_embed_image(e, img, got, &err));
        for (int c = 0; c < 16; c++)
            ASSERT_NEAR(got[c], ref[c] / sqrt(n2), 1e-5);
        kite_embed_close(e);
    }
    kite_free(out.data);
    kite_model_free(m);
    kite_image_free(fit);
    kite_image_free(img);
    blob_free(&b);
    free(p);
    free(x);
}

TEST(embed_config_errors)
{
    kite_embed_opts o;
    kite_embed *e = NULL;
    kite_err err;
    kite_embed_opts_init(&o);
    o.model_path = small_model();
    o.pre.width = 200; /* model input is 224 */
    ASSERT_EQ_INT(kite_embed_open(&o, &e, &err), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "224");
    kite_embed_opts_init(&o);
    o.model_path = small_model();
    o.pooling = KITE_POOL_AVG; /* output is [N,10], not NCHW */
    ASSERT_EQ_INT(kite_embed_open(&o, &e, &err), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "pooling");
    o.model_path = "/nonexistent/model.onnx";
    ASSERT_EQ_INT(kite_embed_open(&o, &e, &err), KITE_EIO);
    ASSERT(e == NULL);
}

/* ------------------------------------------------------------------ tfjs importer */

static void b64(const uint8_t *d, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = 0;
}

/* A tfjs package: InputLayer(4x4x3) -> Conv2D 1x1 3->2 with bias ("proj"). */
static void write_pkg(const char *dir, const uint8_t *q, size_t nq, const char *extra_layer)
{
    char path[600], shard[256];
    FILE *f;
    snprintf(path, sizeof(path), "%s/model.min.js", dir);
    f = fopen(path, "w");
    fprintf(f,
            "!function(e){module.exports=e()}(function(){return {1:[function(e,a,n){a.exports="
            "{modelTopology:{keras_version:\"2.2.4\",model_config:{class_name:\"Model\",config:{"
            "name:'m',layers:[{name:\"input_1\",class_name:\"InputLayer\",config:{"
            "batch_input_shape:[null,4,4,3],dtype:\"float32\",sparse:!1},inbound_nodes:[]},"
            "{name:\"proj\",class_name:\"Conv2D\",config:{filters:2,kernel_size:[1,1],"
            "strides:[1,1],padding:\"same\",dilation_rate:[1,1],activation:\"linear\","
            "use_bias:!0},inbound_nodes:[[[\"input_1\",0,0,{}]]]}%s]}}},"
            "weightsManifest:[{paths:[\"group1-shard1of1\"],weights:["
            "{name:\"proj/kernel\",shape:[1,1,3,2],dtype:\"float32\",quantization:{min:-1,"
            "scale:.0078125,dtype:\"uint8\"}},"
            "{name:\"proj/bias\",shape:[2],dtype:\"float32\",quantization:{min:-.5,scale:.25,"
            "dtype:\"uint8\"}}]}]}},{}]},{},[1])(1)});",
            extra_layer);
    fclose(f);
    b64(q, nq, shard);
    snprintf(path, sizeof(path), "%s/group1-shard1of1.min.js", dir);
    f = fopen(path, "w");
    fprintf(f, "!function(e){}(function(){return {1:[function(e,a,n){a.exports=\"%s\"},{}]}});",
            shard);
    fclose(f);
}

TEST(tfjs_import_small_numeric)
{
    const char *dir = kite_test_tmpdir();
    uint8_t q[8] = {128, 0, 255, 64, 192, 32, 2, 5}; /* kernel [1,1,3,2] then bias [2] */
    char onnx[600];
    kite_model *m = NULL;
    kite_err err;
    kite_tensor in, out;
    float x[48], w[3][2], bias[2], mean[3] = {0, 0, 0}, y[2];
    double n2;
    write_pkg(dir, q, sizeof(q), "");
    snprintf(onnx, sizeof(onnx), "%s/out.onnx", dir);
    if (kite_model_import_tfjs(dir, onnx, "proj", &err) != KITE_OK)
        TEST_FAIL_("import: %s", err.message);
    ASSERT_OK(kite_model_load(onnx, NULL, &m, &err));
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 2; k++)
            w[c][k] = (float)(q[c * 2 + k] * 0.0078125 - 1);
    bias[0] = (float)(q[6] * 0.25 - 0.5);
    bias[1] = (float)(q[7] * 0.25 - 0.5);
    for (int i = 0; i < 48; i++) {
        x[i] = (float)((i * 37) % 11) / 10.0f;
        mean[i / 16] += x[i] / 16.0f;
    }
    n2 = 0;
    for (int k = 0; k < 2; k++) {
        y[k] = bias[k];
        for (int c = 0; c < 3; c++)
            y[k] += w[c][k] * mean[c];
        n2 += (double)y[k] * y[k];
    }
    memset(&in, 0, sizeof(in));
    in.ndim = 4;
    in.dims[0] = 1;
    in.dims[1] = 3;
    in.dims[2] = in.dims[3] = 4;
    in.data = x;
    ASSERT_OK(kite_model_run(m, &in, 1, &out, 1, &err));
    ASSERT_EQ_INT(out.ndim, 2);
    ASSERT_EQ_INT(out.dims[1], 2);
    ASSERT_NEAR(out.data[0], y[0] / sqrt(n2), 1e-5);
    ASSERT_NEAR(out.data[1], y[1] / sqrt(n2), 1e-5);
    kite_free(out.data);
    kite_model_free(m);
}

TEST(tfjs_import_refusals)
{
    const char *dir = kite_test_tmpdir();
    uint8_t q[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    char onnx[600];
    kite_err err;
    snprintf(onnx, sizeof(onnx), "%s/out.onnx", dir);
    write_pkg(dir, q, 8, "");
    ASSERT_EQ_INT(kite_model_import_tfjs(dir, onnx, "no_such_layer", &err), KITE_ENOTFOUND);
    ASSERT_CONTAINS(err.message, "no_such_layer");
    write_pkg(dir, q, 9, ""); /* one byte too many in the shard */
    ASSERT_EQ_INT(kite_model_import_tfjs(dir, onnx, "proj", &err), KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "shards hold 9");
    write_pkg(dir, q, 7, ""); /* one byte short */
    ASSERT_EQ_INT(kite_model_import_tfjs(dir, onnx, "proj", &err), KITE_ECORRUPT);
    write_pkg(dir, q, 8,
              ",{name:\"odd\",class_name:\"LSTM\",config:{},inbound_nodes:[[[\"proj\",0,0,{}]]]}");
    ASSERT_EQ_INT(kite_model_import_tfjs(dir, onnx, "odd", &err), KITE_EUNSUPPORTED);
    ASSERT_CONTAINS(err.message, "LSTM");
    ASSERT_EQ_INT(kite_model_import_tfjs("/nonexistent", onnx, "proj", &err), KITE_EIO);
}

/* Conv/BN/ReLU6/depthwise/Add chain: BN folding at load must not change results. */
TEST(tfjs_import_bn_fold_equivalence)
{
#define BN_LAYER                                                                           \
    "{name:\"%s\",class_name:\"BatchNormalization\",config:{axis:-1,epsilon:.001,center:!0," \
    "scale:!0},inbound_nodes:[[[\"%s\",0,0,{}]]]}"
    const char *dir = kite_test_tmpdir();
    char path[600], layers[4000], b1[300], b2[300], b3[300], man[3000], shard[4000];
    uint8_t q[1024];
    size_t nq = 0, mo = 0;
    FILE *f;
    /* (name, count, min, scale) in manifest order */
    struct { const char *name, *shape; int count; double min, scale; } w[] = {
        {"c1/kernel", "[3,3,3,4]", 108, -1, 0.0078}, {"b1/gamma", "[4]", 4, 0.5, 0.01},
        {"b1/beta", "[4]", 4, -0.5, 0.004}, {"b1/moving_mean", "[4]", 4, -0.3, 0.003},
        {"b1/moving_variance", "[4]", 4, 0.2, 0.01},
        {"d1/depthwise_kernel", "[3,3,4,1]", 36, -1, 0.0078}, {"b2/gamma", "[4]", 4, 0.5, 0.01},
        {"b2/beta", "[4]", 4, -0.5, 0.004}, {"b2/moving_mean", "[4]", 4, -0.3, 0.003},
        {"b2/moving_variance", "[4]", 4, 0.2, 0.01},
        {"c2/kernel", "[1,1,4,4]", 16, -1, 0.0078}, {"c2/bias", "[4]", 4, -0.2, 0.002},
        {"b3/gamma", "[4]", 4, 0.5, 0.01}, {"b3/beta", "[4]", 4, -0.5, 0.004},
        {"b3/moving_mean", "[4]", 4, -0.3, 0.003}, {"b3/moving_variance", "[4]", 4, 0.2, 0.01},
    };
    kite_model *m[2] = {NULL, NULL};
    kite_err err;
    kite_tensor in, out[2];
    float x[3 * 6 * 6];
    snprintf(b1, sizeof(b1), BN_LAYER, "b1", "c1");
    snprintf(b2, sizeof(b2), BN_LAYER, "b2", "d1");
    snprintf(b3, sizeof(b3), BN_LAYER, "b3", "c2");
    snprintf(layers, sizeof(layers),
             "{name:\"input_1\",class_name:\"InputLayer\",config:{batch_input_shape:[null,6,6,3]},"
             "inbound_nodes:[]},"
             "{name:\"c1\",class_name:\"Conv2D\",config:{kernel_size:[3,3],strides:[1,1],"
             "padding:\"same\",dilation_rate:[1,1],activation:\"linear\",use_bias:!1},"
             "inbound_nodes:[[[\"input_1\",0,0,{}]]]},%s,"
             "{name:\"r1\",class_name:\"ReLU\",config:{max_value:6},inbound_nodes:[[[\"b1\",0,0,{}]]]},"
             "{name:\"d1\",class_name:\"DepthwiseConv2D\",config:{kernel_size:[3,3],strides:[2,2],"
             "padding:\"same\",dilation_rate:[1,1],activation:\"linear\",use_bias:!1},"
             "inbound_nodes:[[[\"r1\",0,0,{}]]]},%s,"
             "{name:\"c2\",class_name:\"Conv2D\",config:{kernel_size:[1,1],strides:[1,1],"
             "padding:\"valid\",dilation_rate:[1,1],activation:\"linear\",use_bias:!0},"
             "inbound_nodes:[[[\"b2\",0,0,{}]]]},%s,"
             "{name:\"sum\",class_name:\"Add\",config:{},inbound_nodes:[[[\"b2\",0,0,{}],[\"b3\",0,0,{}]]]}",
             b1, b2, b3);
    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
        mo += (size_t)snprintf(man + mo, sizeof(man) - mo,
                               "%s{name:\"%s\",shape:%s,dtype:\"float32\",quantization:{min:%g,"
                               "scale:%g,dtype:\"uint8\"}}",
                               i ? "," : "", w[i].name, w[i].shape, w[i].min, w[i].scale);
        for (int k = 0; k < w[i].count; k++)
            q[nq++] = (uint8_t)((k * 37 + (int)i * 11) % 256);
    }
    snprintf(path, sizeof(path), "%s/model.min.js", dir);
    f = fopen(path, "w");
    fprintf(f, "x={modelTopology:{model_config:{config:{layers:[%s]}}},weightsManifest:[{paths:"
            "[\"group1-shard1of1\"],weights:[%s]}]};", layers, man);
    fclose(f);
    b64(q, nq, shard);
    snprintf(path, sizeof(path), "%s/group1-shard1of1.min.js", dir);
    f = fopen(path, "w");
    fprintf(f, "y=\"%s\";", shard);
    fclose(f);
    snprintf(path, sizeof(path), "%s/fold.onnx", dir);
    if (kite_model_import_tfjs(dir, path, "sum", &err) != KITE_OK)
        TEST_FAIL_("import: %s", err.message);
    for (int i = 0; i < 3 * 36; i++)
        x[i] = (float)((i * 53) % 17) / 8.0f - 1.0f;
    memset(&in, 0, sizeof(in));
    in.ndim = 4;
    in.dims[0] = 1;
    in.dims[1] = 3;
    in.dims[2] = in.dims[3] = 6;
    in.data = x;
    for (int fold = 0; fold < 2; fold++) {
        vmodel_fold_bn = fold;
        if (kite_model_load(path, NULL, &m[fold], &err) != KITE_OK)
            TEST_FAIL_("load: %s", err.message);
        ASSERT_OK(kite_model_run(m[fold], &in, 1, &out[fold], 1, &err));
    }
    vmodel_fold_bn = 1;
    /* all three BNs fold (into c1, d1 and c2; b2's own output may have two readers),
     * and the ReLU6 after c1/b1 is fused into c1 */
    ASSERT_EQ_INT(m[0]->n_nodes - m[1]->n_nodes, 4);
    ASSERT_EQ_INT(out[1].dims[1], 4);
    for (int k = 0; k < 4; k++)
        ASSERT_NEAR(out[1].data[k], out[0].data[k], 1e-5);
    for (int i = 0; i < 2; i++) {
        kite_free(out[i].data);
        kite_model_free(m[i]);
    }
}

TEST_TIMEOUT(nsfwjs_default_model, 120)
{
    const char *pkg = getenv("KITE_NSFWJS_DIR");
    char onnx[600];
    kite_embed_opts o;
    kite_embed *e = NULL;
    kite_err err;
    float v[3][576];
    if (!pkg) {
        fprintf(stderr, "  KITE_NSFWJS_DIR not set: the real nsfwjs model is not checked\n");
        return;
    }
    snprintf(onnx, sizeof(onnx), "%s/mnv2.onnx", kite_test_tmpdir());
    if (kite_model_import_tfjs(pkg, onnx, "block_13_expand_relu", &err) != KITE_OK)
        TEST_FAIL_("import: %s", err.message);
    kite_embed_opts_init(&o);
    o.model_path = onnx;
    o.n_threads = 2;
    ASSERT_OK(kite_embed_open(&o, &e, &err));
    ASSERT_EQ_INT(kite_embed_dim(e), 576);
    for (int i = 0; i < 3; i++) {
        /* images 0 and 1: the same stripes at two sizes; image 2: a checkerboard */
        int w = i == 1 ? 320 : 256, h = i == 1 ? 240 : 256;
        uint8_t *p = malloc((size_t)w * h * 3);
        kite_image *img = NULL;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t *px = p + ((size_t)y * w + x) * 3;
                int on = i < 2 ? (x * 8 / w) % 2 : ((x / 16) + (y / 16)) % 2;
                px[0] = on ? 250 : 20;
                px[1] = on ? 200 : 40;
                px[2] = i < 2 ? 30 : 220;
            }
        struct blob b = enc_jpeg(p, w, h, 90, 0);
        ASSERT_OK(kite_image_decode(b.data, b.len, NULL, &img, &err));
        ASSERT_OK(kite_embed_image(e, img, v[i], &err));
        ASSERT_NEAR(norm(v[i], 576), 1.0, 1e-5);
        kite_image_free(img);
        blob_free(&b);
        free(p);
    }
    {
        double s01 = 0, s02 = 0;
        for (int k = 0; k < 576; k++) {
            s01 += v[0][k] * v[1][k];
            s02 += v[0][k] * v[2][k];
        }
        fprintf(stderr, "  nsfwjs: cos(same stripes) %.4f, cos(stripes, checker) %.4f\n", s01,
                s02);
        ASSERT(s01 > s02);
    }
    kite_embed_close(e);
}
