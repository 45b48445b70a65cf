/*
 * onnx_int.h — private structures of the ONNX runtime (onnx_load.c,
 * graph_exec.c, ops_*.c, tensor.c).  Unit tests may include it.
 *
 * Invariants:
 *   1. After kite_model_load succeeds the model is immutable: nodes are in a
 *      topological order, every node input refers to a graph input, an
 *      initializer/constant or an earlier node output, and each value has
 *      exactly one producer (SSA).
 *   2. Tensors are dense row-major; types are float32 or int64 only
 *      (int32 initializers are widened to int64 at load).
 *   4. The one mutable part of a loaded model is its buffer cache (struct
 *      vbufcache, own mutex): activation buffers a finished run hands back so
 *      the next run reuses them instead of page-faulting fresh memory.
 *   3. In shape-only mode (the load-time shape inference pass) float tensors
 *      carry dims but data == NULL; int64 tensors (shapes, axes, indices) are
 *      always computed because later shapes depend on their values.
 */
#ifndef KITE_VISION_ONNX_INT_H
#define KITE_VISION_ONNX_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vision.h"

#define VT_MAX_DIMS KITE_MODEL_MAX_DIMS

enum vt_type { VT_F32 = 1, VT_I64 = 7 };

struct vt {
    int type; /* enum vt_type; 0 = empty slot */
    int ndim;
    int64_t dims[VT_MAX_DIMS];
    size_t len;  /* element count */
    void *data;  /* float* or int64_t*; NULL for float in shape-only mode */
    bool owned;  /* data freed by vt_clear */
    size_t cap;  /* bytes allocated at data when owned */
};

enum vop {
    OP_CONV, OP_GEMM, OP_MATMUL, OP_BN, OP_RELU, OP_CLIP, OP_SIGMOID, OP_MAXPOOL, OP_AVGPOOL,
    OP_GAP, OP_GMP, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_CONCAT, OP_FLATTEN, OP_RESHAPE, OP_PAD,
    OP_IDENTITY, OP_DROPOUT, OP_CONSTANT, OP_SOFTMAX, OP_TRANSPOSE, OP_SQUEEZE, OP_UNSQUEEZE,
    OP_SHAPE, OP_GATHER, OP_LPNORM, OP_COUNT
};

enum { AUTOPAD_NOTSET = 0, AUTOPAD_SAME_UPPER, AUTOPAD_SAME_LOWER, AUTOPAD_VALID };
enum { PADMODE_CONSTANT = 0, PADMODE_REFLECT, PADMODE_EDGE };

struct vattr {
    int64_t kernel[4], strides[4], dilations[4], pads[8];
    int n_kernel, n_strides, n_dilations, n_pads;
    int64_t group;
    int auto_pad, ceil_mode, count_include_pad, pad_mode;
    float alpha, beta, epsilon, fmin, fmax; /* fmin/fmax: Clip, or a Conv's fused Relu/Clip */
    bool has_min, has_max, has_axis, has_axes, has_end, has_value;
    int trans_a, trans_b, allowzero;
    int64_t axis, p, start, end;
    int64_t perm[VT_MAX_DIMS], axes[VT_MAX_DIMS];
    int n_perm, n_axes;
    struct vt value; /* Constant */
};

struct vnode {
    int op;
    char *name;
    int n_in, n_out;
    int *in;  /* value index, -1 = optional input absent */
    int *out;
    struct vattr a;
    float *wino_u; /* Conv: Winograd-transformed weights (winograd.c), NULL = none */
};

struct vdecl {
    int type;
    int ndim;
    int64_t dims[VT_MAX_DIMS]; /* -1 = symbolic */
};

#define VCTX_SPARES 24

/*
 * Buffers kept between runs of one model (graph_exec.c).  Without it every
 * run page-faults and zeroes its activations afresh: clear_page/page-fault
 * kernel time was ~25% of a batch-1 MobileNetV2 run in perf.  A run takes the
 * whole cache at start and returns its spares at the end, so concurrent runs
 * never share a buffer.  Holds at most VCTX_SPARES buffers (about the peak
 * working set of one run); freed with the model.
 */
struct vbufcache {
    pthread_mutex_t lock;
    int n;
    struct vt bufs[VCTX_SPARES];
};

struct kite_model {
    int n_values;
    char **names;
    struct vt *consts;  /* initializers (type != 0 where constant) */
    int n_inputs, n_outputs;
    int *inputs, *outputs;
    struct vdecl *in_decl, *out_decl;
    int n_nodes;
    struct vnode *nodes;
    int *last_use; /* per value: last node index reading it, -1 none */
    bool *keep;    /* per value: graph output or constant, never freed during a run */
    int64_t opset;
    struct kite_pool *pool;
    struct vbufcache *cache; /* mutable, see invariant 4; NULL = no caching */
    bool batch_split;        /* vmodel_batch_separable(): run batches image by image */
};

/*
 * Per-run context.  `spares` recycles dead activation buffers within one run:
 * without it every large tensor is a fresh mmap whose pages the kernel faults
 * in and zeroes (measured: 25% of a batch-8 MobileNetV2 run).
 */
struct vctx {
    const kite_model *m;
    struct kite_pool *pool;
    bool shape_only;
    kite_err *err;
    int n_spares;
    struct vt spares[VCTX_SPARES];
};

typedef int (*vop_fn)(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out);

/* ---- tensor.c */
void vt_clear(struct vt *t);
/* Like vt_clear, but keep a large owned buffer in c's spares for reuse. */
void vt_release(struct vctx *c, struct vt *t);
void vctx_free_spares(struct vctx *c);
/* Move the model's cached buffers into c's spares / c's spares back (graph_exec.c). */
void vctx_take_cache(struct vctx *c);
void vctx_return_cache(struct vctx *c);
/* Set type/dims and allocate (unless shape-only float).  out must be empty. */
int vt_make(struct vctx *c, struct vt *out, int type, int ndim, const int64_t *dims);
size_t vt_count(int ndim, const int64_t *dims);
/* Borrowed view of src (no copy). */
void vt_view(struct vt *dst, const struct vt *src);
/* Deep copy. */
int vt_copy(struct vt *dst, const struct vt *src);
/* Decode a serialized TensorProto / an unpacked Onnx__TensorProto. */
struct Onnx__TensorProto;
struct ProtobufCAllocator;
extern struct ProtobufCAllocator vpb_allocator; /* protobuf-c over kite_malloc */
int vt_from_proto(const struct Onnx__TensorProto *tp, struct vt *out, kite_err *err);
int vt_from_proto_bytes(const void *data, size_t len, struct vt *out, kite_err *err);
/* Read an int64 tensor's elements into dst (max n); returns count or negative error. */
int vt_ints(const struct vt *t, int64_t *dst, int n);

/* ---- ops */
vop_fn vop_lookup(int op);
int vop_from_name(const char *name);
const char *vop_name(int op);
/* Run fn over [0,n) on the context's pool (inline if none). */
void vpar(struct vctx *c, size_t n, size_t grain, void (*fn)(size_t, size_t, int, void *),
          void *udata);
int vpar_workers(const struct vctx *c);

/* Test knob: 0 disables BatchNormalization folding and Relu/Clip fusion at load (default 1). */
extern int vmodel_fold_bn;
/* Benchmark/test knob (docs/VISION.md): 0 = choose automatically, 1 = always
 * im2col + sgemm (also for depthwise).  Not for production use. */
extern int vop_conv_force_gemm;
int vop_conv(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out);
/* Knob: 0 = OpenBLAS sgemm for im2col/1x1 convs, 1 = gemm_avx512.c where the
 * CPU has AVX-512 (default; env KITE_CONV_GEMM=blas sets 0 at first use). */
extern int vop_conv_gemm;
/* True when im2col/1x1 convs run on gemm_avx512.c (CPU, KITE_SIMD and vop_conv_gemm). */
bool vop_conv_uses_vgemm(void);
/* Conv whose output gets `res` (same shape, may be NULL) added before the fused
 * Relu/Clip: the residual Add folded into the conv's epilogue (graph_exec.c).
 * Returns KITE_EUNSUPPORTED with nothing done when res does not fit (shape,
 * depthwise conv); the caller then runs Conv and Add apart. */
int vop_conv_fused(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out,
                   const struct vt *res);
/* Knob: 0 = never fold a residual Add into the preceding Conv (env KITE_FUSE_ADD=0). */
extern int vmodel_fuse_add;
/* dwconv_avx2.c: depthwise 3x3 (stride 1/2, dilation 1) over one zero-bordered
 * plane with bias and the optional fused clamp; needs 16 readable floats past
 * the plane.  Call only when kite_simd_init() >= KITE_SIMD_AVX2. */
void vdw3x3_avx2(const float *xp, int64_t wp, const float *w, float bias, int64_t oh,
                 int64_t ow, int64_t sh, int64_t sw, bool clamp, float lo, float hi, float *y);
/* ---- winograd.c: F(4x4,3x3) for 3x3 / stride 1 / dilation 1 / group 1 Conv. */
/* Knob: 0 = never use Winograd (also env KITE_CONV_WINOGRAD=0), 1 = auto by vwino_use's
 * rule (default), 2 = whenever the node has Winograd weights (tests). */
extern int vop_conv_winograd;
/* True when vop_conv would run node n's conv (C in, M out, oh x ow output) by
 * Winograd: the rule measured in docs/VISION.md. */
bool vwino_use(int64_t C, int64_t M, int64_t oh, int64_t ow);
/* U = G g G^T of W [M][C][3][3], as 36 row-major M x C matrices (kite_malloc'd). */
float *vwino_weights(const float *w, int64_t M, int64_t C);
/* Tiles per work block: whole rows of tw tiles (of th rows), sized for cache. */
size_t vwino_tile_block(int64_t C, int64_t M, int64_t tw, int64_t th);
struct vwino_args {
    const float *x, *u, *bias; /* bias may be NULL */
    float *y;
    int64_t N, C, H, W, M, ph, pw, oh, ow;
    bool clamp;
    float lo, hi; /* -inf / +inf without a fused clamp */
    const float *res; /* fused residual (like y) added before the clamp, or NULL */
};
int vwino_conv(struct vctx *c, const struct vwino_args *a);
int vop_pool(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out);
int vop_global_pool(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out);
int vop_gemm(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out);
int vop_matmul(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out);
int vop_bn(struct vctx *c, const struct vnode *n, struct vt **in, struct vt **out);

/*
 * graph_exec.c: true when every node provably treats the samples of dim 0
 * independently (whitelist: Conv, pools, BN, activations, residual Add of two
 * activations, Flatten axis 1, Gemm on constant weights, ...), one float graph
 * input of rank >= 2.  kite_model_run then runs a batch one image at a time:
 * each image's activations stay in cache between layers (ResNet-50 batch 8 was
 * slower per image than batch 1 while the whole batch streamed through DRAM).
 */
bool vmodel_batch_separable(const kite_model *m);

/* Benchmark knob (bench/vision_bench.c): when non-NULL, an array of m->n_nodes
 * to which each node's wall time (ms) is added on every non-shape-only run.
 * Set only while a single model runs in a single thread of the caller. */
extern double *vmodel_prof_ms;

/* ---- graph_exec.c: run with typed tensors (inputs borrowed, outputs owned). */
int vmodel_run(const kite_model *m, const struct vt *inputs, int n_in, struct vt *outputs,
               int n_out, bool shape_only, kite_err *err);

#endif
