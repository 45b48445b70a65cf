/*
 * test_ops.c — heavy operators against naive reference loops (random
 * configurations, single- and multi-threaded), and the ONNX loader's
 * refusals: unsupported ops (named), external data, cycles, dangling inputs,
 * shape errors found at load, truncated model bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "onnx.pb-c.h"
#include "onnx_int.h"
#include "pool.h"
#include "test.h"

static uint64_t rng = 88172645463325252ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void fill(struct vt *t, int ndim, const int64_t *dims)
{
    memset(t, 0, sizeof(*t));
    ASSERT_OK(vt_make(NULL, t, VT_F32, ndim, dims));
    for (size_t i = 0; i < t->len; i++)
        ((float *)t->data)[i] = (float)((int)rnd(2001) - 1000) / 500.0f;
}

static void naive_conv(const struct vt *X, const struct vt *W, const float *B, int64_t G,
                       const int64_t *s, const int64_t *d, const int64_t *pb, const struct vt *Y)
{
    int64_t N = X->dims[0], C = X->dims[1], H = X->dims[2], Wd = X->dims[3];
    int64_t M = W->dims[0], kh = W->dims[2], kw = W->dims[3], oh = Y->dims[2], ow = Y->dims[3];
    int64_t Cg = C / G, Mg = M / G;
    const float *x = X->data, *w = W->data;
    float *y = Y->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    double acc = B ? B[m] : 0;
                    int64_t g = m / Mg;
                    for (int64_t c = 0; c < Cg; c++)
                        for (int64_t ky = 0; ky < kh; ky++)
                            for (int64_t kx = 0; kx < kw; kx++) {
                                int64_t iy = oy * s[0] - pb[0] + ky * d[0];
                                int64_t ix = ox * s[1] - pb[1] + kx * d[1];
                                if (iy < 0 || iy >= H || ix < 0 || ix >= Wd)
                                    continue;
                                acc += x[((n * C + g * Cg + c) * H + iy) * Wd + ix] *
                                       w[((m * Cg + c) * kh + ky) * kw + kx];
                            }
                    y[((n * M + m) * oh + oy) * ow + ox] = (float)acc;
                }
}

static void conv_case(struct kite_pool *pool, int iter)
{
    struct vnode n;
    struct vctx c;
    struct vt X, W, B, Y, R;
    struct vt *in[3] = {&X, &W, &B}, *out[1] = {&Y};
    int64_t G = 1 + rnd(3), Cg = 1 + rnd(4), Mg = 1 + rnd(4), k[2], s[2], d[2], pb[2], pe[2];
    int64_t xd[4], wd[4], bd[1];
    int depthwise = iter % 4 == 0;
    kite_model fake;
    kite_err err;
    memset(&n, 0, sizeof(n));
    memset(&fake, 0, sizeof(fake));
    memset(&X, 0, sizeof(X));
    memset(&W, 0, sizeof(W));
    memset(&B, 0, sizeof(B));
    memset(&Y, 0, sizeof(Y));
    memset(&R, 0, sizeof(R));
    memset(&c, 0, sizeof(c));
    fake.opset = 13;
    c.m = &fake;
    c.pool = pool;
    c.shape_only = false;
    c.err = &err;
    if (depthwise) {
        G = 3 + rnd(6);
        Cg = Mg = 1;
    }
    for (int i = 0; i < 2; i++) {
        k[i] = 1 + rnd(4);
        s[i] = 1 + rnd(2);
        d[i] = 1 + rnd(2);
        pb[i] = rnd(3);
        pe[i] = rnd(3);
    }
    xd[0] = 1 + rnd(2);
    xd[1] = G * Cg;
    xd[2] = 6 + rnd(20);
    xd[3] = 6 + rnd(20);
    wd[0] = G * Mg;
    wd[1] = Cg;
    wd[2] = k[0];
    wd[3] = k[1];
    bd[0] = wd[0];
    fill(&X, 4, xd);
    fill(&W, 4, wd);
    fill(&B, 1, bd);
    n.op = OP_CONV;
    n.n_in = iter % 3 == 0 ? 2 : 3;
    n.n_out = 1;
    n.a.group = G;
    n.a.n_strides = n.a.n_dilations = 2;
    n.a.n_pads = 4;
    memcpy(n.a.strides, s, sizeof(s));
    memcpy(n.a.dilations, d, sizeof(d));
    n.a.pads[0] = pb[0];
    n.a.pads[1] = pb[1];
    n.a.pads[2] = pe[0];
    n.a.pads[3] = pe[1];
    if (iter % 5 == 1) { /* SAME_UPPER recomputes the pads */
        n.a.auto_pad = AUTOPAD_SAME_UPPER;
        n.a.n_pads = 0;
        d[0] = d[1] = 1;
        n.a.dilations[0] = n.a.dilations[1] = 1;
        for (int i = 0; i < 2; i++) {
            int64_t o = (xd[2 + i] + s[i] - 1) / s[i], tot = (o - 1) * s[i] + k[i] - xd[2 + i];
            pb[i] = tot > 0 ? tot / 2 : 0;
        }
    }
    if (iter % 3 == 2) { /* fused Relu/Clip epilogue (set by the loader's pass_fuse_act) */
        n.a.has_min = n.a.has_max = true;
        n.a.fmin = -0.5f;
        n.a.fmax = iter % 2 ? 0.7f : INFINITY;
    }
    if (vop_conv(&c, &n, in, out) != KITE_OK)
        TEST_FAIL_("conv case %d: %s", iter, err.message);
    ASSERT_OK(vt_make(NULL, &R, VT_F32, 4, Y.dims));
    naive_conv(&X, &W, n.n_in == 3 ? B.data : NULL, G, s, d, pb, &R);
    if (n.a.has_min)
        for (size_t i = 0; i < R.len; i++) {
            float *r = (float *)R.data + i;
            *r = *r < n.a.fmin ? n.a.fmin : *r > n.a.fmax ? n.a.fmax : *r;
        }
    for (size_t i = 0; i < Y.len; i++)
        if (fabsf(((float *)Y.data)[i] - ((float *)R.data)[i]) > 1e-4f * (1 + fabsf(((float *)R.data)[i])))
            TEST_FAIL_("conv case %d (G=%lld k=%lldx%lld s=%lld d=%lld) elem %zu: %g vs %g", iter,
                       (long long)G, (long long)k[0], (long long)k[1], (long long)s[0],
                       (long long)d[0], i, ((float *)Y.data)[i], ((float *)R.data)[i]);
    vt_clear(&X);
    vt_clear(&W);
    vt_clear(&B);
    vt_clear(&Y);
    vt_clear(&R);
    vctx_free_spares(&c); /* conv scratch is recycled through the context's spares */
}

TEST(conv_vs_naive_random_configs)
{
    struct kite_pool *pool = NULL;
    ASSERT_OK(kite_pool_new(3, &pool));
    for (int i = 0; i < 150; i++)
        conv_case(i % 2 ? pool : NULL, i);
    kite_pool_free(pool);
}

TEST(gemm_vs_naive_with_transposes)
{
    struct kite_pool *pool = NULL;
    kite_model fake;
    kite_err err;
    ASSERT_OK(kite_pool_new(4, &pool));
    memset(&fake, 0, sizeof(fake));
    for (int it = 0; it < 24; it++) {
        int64_t M = 1 + rnd(9), K = 1 + rnd(300), N = 1 + rnd(700);
        int ta = it & 1, tb = (it >> 1) & 1;
        int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N}, cd[1] = {N};
        struct vt A, B, C, Y;
        struct vt *in[3] = {&A, &B, &C}, *out[1] = {&Y};
        struct vnode n;
        struct vctx c = {.m = &fake, .pool = it % 2 ? pool : NULL, .err = &err};
        memset(&Y, 0, sizeof(Y));
        memset(&n, 0, sizeof(n));
        fill(&A, 2, ad);
        fill(&B, 2, bd);
        fill(&C, 1, cd);
        n.op = OP_GEMM;
        n.n_in = 3;
        n.n_out = 1;
        n.a.trans_a = ta;
        n.a.trans_b = tb;
        n.a.alpha = 0.5f;
        n.a.beta = 2.0f;
        ASSERT_OK(vop_gemm(&c, &n, in, out));
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (double)((float *)A.data)[ta ? k * M + i : i * K + k] *
                           ((float *)B.data)[tb ? j * K + k : k * N + j];
                acc = 0.5 * acc + 2.0 * ((float *)C.data)[j];
                ASSERT_NEAR(((float *)Y.data)[i * N + j], acc, 1e-4 * (1 + fabs(acc)));
            }
        vt_clear(&A);
        vt_clear(&B);
        vt_clear(&C);
        vt_clear(&Y);
    }
    kite_pool_free(pool);
}

TEST(pools_vs_naive)
{
    kite_model fake;
    kite_err err;
    memset(&fake, 0, sizeof(fake));
    for (int it = 0; it < 60; it++) {
        int64_t xd[4] = {1 + rnd(2), 1 + rnd(3), 4 + rnd(9), 4 + rnd(9)};
        struct vt X, Y;
        struct vt *in[1] = {&X}, *out[1] = {&Y};
        struct vnode n;
        struct vctx c = {.m = &fake, .err = &err};
        int64_t k[2] = {1 + rnd(3), 1 + rnd(3)}, s[2] = {1 + rnd(2), 1 + rnd(2)}, p[4];
        memset(&Y, 0, sizeof(Y));
        memset(&n, 0, sizeof(n));
        for (int i = 0; i < 4; i++)
            p[i] = rnd((uint32_t)k[i % 2]); /* pads smaller than the kernel */
        fill(&X, 4, xd);
        n.op = it % 2 ? OP_MAXPOOL : OP_AVGPOOL;
        n.n_in = n.n_out = 1;
        n.a.n_kernel = n.a.n_strides = 2;
        n.a.n_pads = 4;
        memcpy(n.a.kernel, k, sizeof(k));
        memcpy(n.a.strides, s, sizeof(s));
        memcpy(n.a.pads, p, sizeof(p));
        n.a.count_include_pad = (it / 2) % 2;
        ASSERT_OK(vop_pool(&c, &n, in, out));
        ASSERT_EQ_INT(Y.dims[2], (xd[2] + p[0] + p[2] - k[0]) / s[0] + 1);
        for (int64_t b = 0; b < xd[0] * xd[1]; b++)
            for (int64_t oy = 0; oy < Y.dims[2]; oy++)
                for (int64_t ox = 0; ox < Y.dims[3]; ox++) {
                    double acc = n.op == OP_MAXPOOL ? -1e30 : 0;
                    int cnt = 0;
                    for (int64_t ky = 0; ky < k[0]; ky++)
                        for (int64_t kx = 0; kx < k[1]; kx++) {
                            int64_t iy = oy * s[0] - p[0] + ky, ix = ox * s[1] - p[1] + kx;
                            if (iy < 0 || iy >= xd[2] || ix < 0 || ix >= xd[3])
                                continue;
                            float v = ((float *)X.data)[(b * xd[2] + iy) * xd[3] + ix];
                            acc = n.op == OP_MAXPOOL ? (v > acc ? v : acc) : acc + v;
                            cnt++;
                        }
                    if (n.op == OP_AVGPOOL)
                        acc /= n.a.count_include_pad ? (double)(k[0] * k[1]) : cnt;
                    ASSERT_NEAR(((float *)Y.data)[(b * Y.dims[2] + oy) * Y.dims[3] + ox], acc,
                                1e-5);
                }
        vt_clear(&X);
        vt_clear(&Y);
    }
}

/* ------------------------------------------------------------------ loader refusals */

struct mb {
    Onnx__ModelProto mp;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto ops, *opsp;
    Onnx__NodeProto nodes[4], *np[4];
    Onnx__ValueInfoProto in, out, *inp, *outp;
    Onnx__TypeProto tp;
    Onnx__TypeProto__Tensor tt;
    Onnx__TensorShapeProto sp;
    Onnx__TensorShapeProto__Dimension dims[4], *dp[4];
    Onnx__TensorProto init, *initp;
    char *node_in[4][2], *node_out[4][1];
    float init_data[3];
};

/* X [1,2,4,4] -> node0 -> ... -> "y"; op types given. */
static void mb_init(struct mb *b, const char *const *ops, int n_ops)
{
    static char x_name[] = "x", y_name[] = "y", w_name[] = "w";
    static char names[4][8] = {"t0", "t1", "t2", "t3"};
    memset(b, 0, sizeof(*b));
    onnx__model_proto__init(&b->mp);
    onnx__graph_proto__init(&b->g);
    onnx__operator_set_id_proto__init(&b->ops);
    b->ops.has_version = 1;
    b->ops.version = 13;
    b->ops.domain = (char *)"";
    b->opsp = &b->ops;
    b->mp.opset_import = &b->opsp;
    b->mp.n_opset_import = 1;
    b->mp.has_ir_version = 1;
    b->mp.ir_version = 7;
    b->mp.graph = &b->g;
    for (int i = 0; i < n_ops; i++) {
        onnx__node_proto__init(&b->nodes[i]);
        b->nodes[i].op_type = (char *)ops[i];
        b->node_in[i][0] = i == 0 ? x_name : names[i - 1];
        b->node_in[i][1] = w_name;
        b->node_out[i][0] = i == n_ops - 1 ? y_name : names[i];
        b->nodes[i].input = b->node_in[i];
        b->nodes[i].n_input = 1;
        b->nodes[i].output = b->node_out[i];
        b->nodes[i].n_output = 1;
        b->np[i] = &b->nodes[i];
    }
    b->g.node = b->np;
    b->g.n_node = (size_t)n_ops;
    onnx__tensor_shape_proto__init(&b->sp);
    for (int i = 0; i < 4; i++) {
        onnx__tensor_shape_proto__dimension__init(&b->dims[i]);
        b->dims[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        b->dims[i].dim_value = i == 1 ? 2 : i == 0 ? 1 : 4;
        b->dp[i] = &b->dims[i];
    }
    b->sp.dim = b->dp;
    b->sp.n_dim = 4;
    onnx__type_proto__tensor__init(&b->tt);
    b->tt.has_elem_type = 1;
    b->tt.elem_type = 1;
    b->tt.shape = &b->sp;
    onnx__type_proto__init(&b->tp);
    b->tp.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    b->tp.tensor_type = &b->tt;
    onnx__value_info_proto__init(&b->in);
    b->in.name = x_name;
    b->in.type = &b->tp;
    onnx__value_info_proto__init(&b->out);
    b->out.name = y_name;
    b->out.type = &b->tp;
    b->inp = &b->in;
    b->outp = &b->out;
    b->g.input = &b->inp;
    b->g.n_input = 1;
    b->g.output = &b->outp;
    b->g.n_output = 1;
    onnx__tensor_proto__init(&b->init);
    b->init.name = w_name;
    b->init.has_data_type = 1;
    b->init.data_type = 1;
    b->init.n_float_data = 3;
    b->init.float_data = b->init_data;
    b->init.n_dims = 0;
    b->initp = &b->init;
    b->g.initializer = &b->initp;
    b->g.n_initializer = 0;
}

static int mb_load(struct mb *b, kite_model **m, kite_err *err)
{
    size_t len = onnx__model_proto__get_packed_size(&b->mp);
    uint8_t *buf = malloc(len);
    int rc;
    onnx__model_proto__pack(&b->mp, buf);
    kite_err_clear(err);
    rc = kite_model_load_buffer(buf, len, NULL, m, err);
    free(buf);
    return rc;
}

TEST(loader_accepts_and_runs_small_graph)
{
    const char *ops[2] = {"Relu", "GlobalAveragePool"};
    struct mb b;
    kite_model *m = NULL;
    kite_err err;
    kite_tensor in, out;
    float x[32];
    mb_init(&b, ops, 2);
    b.out.type = NULL; /* output declared without a type is allowed? no: must be a tensor */
    ASSERT_EQ_INT(mb_load(&b, &m, &err), KITE_EUNSUPPORTED);
    b.out.type = &b.tp;
    ASSERT_OK(mb_load(&b, &m, &err));
    memset(&in, 0, sizeof(in));
    in.ndim = 4;
    in.dims[0] = 1;
    in.dims[1] = 2;
    in.dims[2] = in.dims[3] = 4;
    for (int i = 0; i < 32; i++)
        x[i] = (float)(i - 8);
    in.data = x;
    ASSERT_OK(kite_model_run(m, &in, 1, &out, 1, &err));
    ASSERT_EQ_INT(out.ndim, 4);
    ASSERT_NEAR(out.data[0], (0 + 1 + 2 + 3 + 4 + 5 + 6 + 7) / 16.0, 1e-6);
    ASSERT_NEAR(out.data[1], (8 + 23) * 16 / 2.0 / 16.0, 1e-6);
    kite_free(out.data);
    in.dims[1] = 3; /* declared 2 channels */
    ASSERT_EQ_INT(kite_model_run(m, &in, 1, &out, 1, &err), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "dimension 1");
    kite_model_free(m);
}

TEST(loader_names_all_unsupported_ops)
{
    const char *ops[3] = {"Relu", "Abs", "FancyOp"};
    struct mb b;
    kite_model *m = NULL;
    kite_err err;
    mb_init(&b, ops, 3);
    ASSERT_EQ_INT(mb_load(&b, &m, &err), KITE_EUNSUPPORTED);
    ASSERT_CONTAINS(err.message, "unsupported operators: Abs, FancyOp");
    ASSERT(m == NULL);
    /* fuzz regression: an empty op type used to slip through the list */
    ops[1] = "";
    mb_init(&b, ops, 2);
    ASSERT_EQ_INT(mb_load(&b, &m, &err), KITE_EUNSUPPORTED);
    ASSERT_CONTAINS(err.message, "(empty)");
}

TEST(loader_refuses_external_data)
{
    const char *ops[1] = {"Relu"};
    struct mb b;
    kite_model *m = NULL;
    kite_err err;
    mb_init(&b, ops, 1);
    b.g.n_initializer = 1;
    b.init.has_data_location = 1;
    b.init.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    b.init.n_float_data = 0;
    ASSERT_EQ_INT(mb_load(&b, &m, &err), KITE_EUNSUPPORTED);
    ASSERT_CONTAINS(err.message, "external data");
}

TEST(loader_refuses_bad_graphs)
{
    const char *ops[2] = {"Relu", "Relu"};
    const char *add[1] = {"Add"};
    static char t0[] = "t0", t1[] = "t1", nope[] = "nope";
    struct mb b;
    kite_model *m = NULL;
    kite_err err;
    /* cycle: node0 reads t1 (node1's output), node1 reads t0 */
    mb_init(&b, ops, 2);
    b.node_out[1][0] = t1;
    b.node_in[0][0] = t1;
    b.node_in[1][0] = t0;
    b.out.name = t1;
    ASSERT_EQ_INT(mb_load(&b, &m, &err), KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "cycle");
    /* a node without outputs (fuzz regression: crashed the shape pass) */
    mb_init(&b, ops, 2);
    b.nodes[0].n_output = 0;
    b.node_in[1][0] = b.node_in[0][0];
    ASSERT_EQ_INT(mb_load(&b, &m, &err), KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "outputs");
    /* dangling input */
    mb_init(&b, ops, 2);
    b.node_in[1][0] = nope;
    ASSERT_EQ_INT(mb_load(&b, &m, &err), KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "nope");
    /* shape error found by load-time inference: [1,2,4,4] + [3] */
    mb_init(&b, add, 1);
    b.g.n_initializer = 1;
    b.init.n_dims = 1;
    {
        static int64_t three = 3;
        b.init.dims = &three;
    }
    b.nodes[0].n_input = 2;
    ASSERT_EQ_INT(mb_load(&b, &m, &err), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "shape inference");
    ASSERT_CONTAINS(err.message, "broadcast");
    /* initializer payload shorter than its dims */
    b.init.n_float_data = 2;
    ASSERT_EQ_INT(mb_load(&b, &m, &err), KITE_ECORRUPT);
    ASSERT(m == NULL);
}

TEST(loader_truncated_bytes_never_crash)
{
    const char *ops[3] = {"Relu", "Clip", "GlobalMaxPool"};
    struct mb b;
    size_t len;
    uint8_t *buf;
    mb_init(&b, ops, 3);
    len = onnx__model_proto__get_packed_size(&b.mp);
    buf = malloc(len);
    onnx__model_proto__pack(&b.mp, buf);
    for (size_t n = 0; n < len; n++) {
        kite_model *m = NULL;
        kite_err err;
        kite_err_clear(&err);
        if (kite_model_load_buffer(buf, n, NULL, &m, &err) == KITE_OK)
            kite_model_free(m);
        else
            ASSERT(m == NULL && err.message[0]);
    }
    for (int t = 0; t < 2000; t++) {
        uint8_t *c = malloc(len);
        kite_model *m = NULL;
        kite_err err;
        memcpy(c, buf, len);
        c[rnd((uint32_t)len)] ^= (uint8_t)(1u << rnd(8));
        if (kite_model_load_buffer(c, len, NULL, &m, &err) == KITE_OK)
            kite_model_free(m);
        free(c);
    }
    free(buf);
}

TEST(loader_oom_loop_no_leak_no_crash)
{
    const char *ops[2] = {"Relu", "GlobalAveragePool"};
    struct mb b;
    size_t len;
    uint8_t *buf;
    uint64_t total;
    kite_model *m = NULL;
    kite_err err;
    mb_init(&b, ops, 2);
    len = onnx__model_proto__get_packed_size(&b.mp);
    buf = malloc(len);
    onnx__model_proto__pack(&b.mp, buf);
    kite_alloc_fail_at(1000000000, false);
    ASSERT_OK(kite_model_load_buffer(buf, len, NULL, &m, &err));
    total = kite_alloc_count();
    kite_model_free(m);
    for (uint64_t k = 1; k <= total; k++) {
        int rc;
        m = NULL;
        kite_alloc_fail_at(k, false);
        rc = kite_model_load_buffer(buf, len, NULL, &m, &err);
        kite_alloc_fail_at(0, false);
        if (rc == KITE_OK)
            kite_model_free(m);
        else
            ASSERT(m == NULL);
    }
    free(buf);
}
