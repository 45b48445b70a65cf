/*
 * vision.h — images in, feature vectors out.  The public face of src/vision.
 *
 * Three layers, usable separately:
 *
 *   1. kite_image_*   decode JPEG/PNG/WebP/GIF(first frame)/BMP from bytes or a
 *                     file (format sniffed from magic bytes, never the name),
 *                     EXIF orientation applied, alpha composited onto white,
 *                     size caps checked from the header BEFORE pixels are
 *                     allocated; resize (area average when shrinking, bilinear
 *                     when growing), shorter-side resize + centre crop or pad,
 *                     normalisation into a float tensor.
 *   2. kite_model_*   our own ONNX runtime (Conv, Gemm, pools, ...; see
 *                     docs/VISION.md for the op list).  A loaded model is
 *                     immutable; kite_model_run() may be called from many
 *                     threads at once (each call owns its activations).
 *   3. kite_embed_*   the pipeline the app calls: open a model + preprocessing
 *                     config once, then embed files/buffers/images to unit-length
 *                     float vectors.
 *
 * Conventions (STYLE.md §3): fallible calls return KITE_OK or a negative
 * KITE_E* code and fill the optional kite_err; `_new/_open/_load/_decode`
 * return owned objects released by the matching `_free/_close` (NULL-safe).
 * Parameter blocks have `size` first and an `_init()` that sets defaults.
 *
 * Threading model: kite_image values are plain data owned by one thread at a
 * time.  kite_model and kite_embed are read-only after open; concurrent
 * kite_model_run()/kite_embed_*() calls on one handle are safe.  Inside one
 * call the work is spread over the handle's kite_pool (OpenBLAS itself is kept
 * single-threaded so the two never oversubscribe the CPU).
 */
#ifndef KITE_VISION_H
#define KITE_VISION_H

#include <stddef.h>
#include <stdint.h>

#include "kite/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

struct kite_pool;

/* ===================================================================== images */

enum kite_image_format {
    KITE_IMAGE_UNKNOWN = 0,
    KITE_IMAGE_JPEG,
    KITE_IMAGE_PNG,
    KITE_IMAGE_WEBP,
    KITE_IMAGE_GIF,
    KITE_IMAGE_BMP,
};

/* Decoded image: 8-bit RGB, interleaved, rows top to bottom, no padding. */
typedef struct kite_image {
    uint32_t width;
    uint32_t height;
    uint8_t *rgb; /* width * height * 3 bytes, owned */
    int format;   /* enum kite_image_format it was decoded from (UNKNOWN if made) */
} kite_image;

/* Decoder limits, checked against the header before any pixel allocation. */
typedef struct kite_image_limits {
    uint32_t size;       /* sizeof(kite_image_limits) */
    uint32_t max_side;   /* default 8192 */
    uint64_t max_pixels; /* default 40,000,000 */
    uint64_t max_bytes;  /* largest encoded file accepted by kite_image_load, default 256 MiB */
} kite_image_limits;

KITE_API void kite_image_limits_init(kite_image_limits *lim);

/* Format from magic bytes (KITE_IMAGE_UNKNOWN if none matches). */
KITE_API int kite_image_sniff(const void *data, size_t len);
KITE_API const char *kite_image_format_name(int format);

/*
 * Decode an encoded image held in memory.  lim may be NULL (defaults).
 * Errors: KITE_EUNSUPPORTED (unknown format), KITE_ELIMIT (over the caps),
 * KITE_ECORRUPT (malformed/truncated), KITE_ENOMEM.  *out is owned by the caller.
 */
KITE_API int kite_image_decode(const void *data, size_t len, const kite_image_limits *lim,
                               kite_image **out, kite_err *err) KITE_MUST_CHECK;
/* Read a file and decode it (KITE_EIO if unreadable). */
KITE_API int kite_image_load(const char *path, const kite_image_limits *lim, kite_image **out,
                             kite_err *err) KITE_MUST_CHECK;
/* New zero-filled (black) image. */
KITE_API int kite_image_new(uint32_t width, uint32_t height, kite_image **out) KITE_MUST_CHECK;
KITE_API void kite_image_free(kite_image *img);

/*
 * Resize to exactly width x height.  Per axis: when shrinking, each output pixel
 * is the exact area average of the source pixels it covers (fractional
 * coverage weighted); when growing (or equal), bilinear with pixel centres at
 * +0.5 (align_corners = false) and edge clamping.  Results rounded to nearest.
 */
KITE_API int kite_image_resize(const kite_image *src, uint32_t width, uint32_t height,
                               kite_image **out, kite_err *err) KITE_MUST_CHECK;

enum kite_fit { KITE_FIT_CROP = 0, KITE_FIT_PAD = 1, KITE_FIT_STRETCH = 2 };
enum kite_channel_order { KITE_RGB = 0, KITE_BGR = 1 };
enum kite_layout { KITE_NCHW = 0, KITE_NHWC = 1 };

/*
 * Preprocessing for one model input.  value = (pixel * scale - mean[c]) / std[c]
 * with c in the output channel order.
 */
typedef struct kite_preprocess {
    uint32_t size;          /* sizeof(kite_preprocess) */
    uint32_t width;         /* model input width, default 224 */
    uint32_t height;        /* model input height, default 224 */
    uint32_t resize_shorter;/* shorter side is resized to this first; 0 = max(width, height)
                               for CROP, fit-inside for PAD */
    int fit;                /* enum kite_fit, default CROP (centre crop) */
    uint8_t pad_rgb[3];     /* fill colour for PAD, default 0,0,0 */
    float scale;            /* default 1/255 */
    float mean[3];          /* default 0 */
    float std[3];           /* default 1 */
    int channel_order;      /* enum kite_channel_order, default RGB */
    int layout;             /* enum kite_layout, default NCHW */
} kite_preprocess;

KITE_API void kite_preprocess_init(kite_preprocess *pp);
/* ImageNet mean/std (torchvision) on RGB in [0,1], NCHW. */
KITE_API void kite_preprocess_init_imagenet(kite_preprocess *pp);

/* Resize shorter side + centre crop / pad to pp->width x pp->height. */
KITE_API int kite_image_fit(const kite_image *src, const kite_preprocess *pp, kite_image **out,
                            kite_err *err) KITE_MUST_CHECK;
/*
 * Normalise an image that is already pp->width x pp->height into `out`
 * (3 * width * height floats, layout and channel order from pp).
 */
KITE_API int kite_image_to_tensor(const kite_image *img, const kite_preprocess *pp, float *out,
                                  kite_err *err) KITE_MUST_CHECK;

/* ====================================================================== model */

#define KITE_MODEL_MAX_DIMS 8

typedef struct kite_model kite_model;

/* A dense float32 tensor view (row-major).  data is borrowed or owned as stated. */
typedef struct kite_tensor {
    int ndim;
    int64_t dims[KITE_MODEL_MAX_DIMS];
    float *data;
} kite_tensor;

/*
 * Load an ONNX model from a file or buffer.  Refuses external data, unsupported
 * ops (named in the message), unsupported data types and malformed graphs
 * (KITE_EUNSUPPORTED / KITE_ECORRUPT / KITE_EINVAL).  pool (borrowed, may be
 * NULL = single-threaded) must outlive the model.
 */
KITE_API int kite_model_load(const char *path, struct kite_pool *pool, kite_model **out,
                             kite_err *err) KITE_MUST_CHECK;
KITE_API int kite_model_load_buffer(const void *data, size_t len, struct kite_pool *pool,
                                    kite_model **out, kite_err *err) KITE_MUST_CHECK;
KITE_API void kite_model_free(kite_model *m);

KITE_API int kite_model_input_count(const kite_model *m);
KITE_API int kite_model_output_count(const kite_model *m);
/* Declared shape of input/output i; symbolic dims are reported as -1.  Name is borrowed. */
KITE_API int kite_model_input_info(const kite_model *m, int i, const char **name, int *ndim,
                                   int64_t dims[KITE_MODEL_MAX_DIMS]);
KITE_API int kite_model_output_info(const kite_model *m, int i, const char **name, int *ndim,
                                    int64_t dims[KITE_MODEL_MAX_DIMS]);

/*
 * Run the model.  inputs[i] are borrowed float tensors, in graph input order.
 * outputs[i].data are newly allocated (free each with kite_free) and dims filled,
 * for the first n_out graph outputs.
 */
KITE_API int kite_model_run(const kite_model *m, const kite_tensor *inputs, int n_in,
                            kite_tensor *outputs, int n_out, kite_err *err) KITE_MUST_CHECK;

/*
 * Convert the nsfwjs (tfjs layers) MobileNetV2 package in `dir`
 * (model.min.js + group1-shard1of1.min.js, or model.json + shard binaries) to an
 * ONNX file at out_path: the network up to and including layer `cut_layer`
 * (e.g. "block_13_expand_relu"), then GlobalAveragePool, Flatten and
 * LpNormalization(p=2).  Input "input" is NCHW float RGB in [0,1].
 */
KITE_API int kite_model_import_tfjs(const char *dir, const char *out_path, const char *cut_layer,
                                    kite_err *err) KITE_MUST_CHECK;

/* ====================================================================== embed */

enum kite_pooling { KITE_POOL_NONE = 0, KITE_POOL_AVG = 1, KITE_POOL_MAX = 2 };

typedef struct kite_embed_opts {
    uint32_t size;             /* sizeof(kite_embed_opts) */
    const char *model_path;    /* ONNX file (required) */
    kite_preprocess pre;       /* default kite_preprocess_init (RGB [0,1] 224x224 NCHW) */
    int pooling;               /* applied to a 4-D NCHW output; default NONE */
    int batch_max;             /* images per model run in kite_embed_images, default 8 */
    int n_threads;             /* pool size when pool is NULL; 0 = CPU count */
    struct kite_pool *pool;    /* borrowed; NULL = the embedder makes its own */
    kite_image_limits limits;  /* decoder caps */
} kite_embed_opts;

typedef struct kite_embed kite_embed;

KITE_API void kite_embed_opts_init(kite_embed_opts *o);
KITE_API int kite_embed_open(const kite_embed_opts *o, kite_embed **out, kite_err *err)
    KITE_MUST_CHECK;
KITE_API void kite_embed_close(kite_embed *e);
/* Dimension of the vectors produced (known after open). */
KITE_API int kite_embed_dim(const kite_embed *e);
/* Embed one image: out gets kite_embed_dim() floats, L2-normalised. */
KITE_API int kite_embed_image(kite_embed *e, const kite_image *img, float *out, kite_err *err)
    KITE_MUST_CHECK;
KITE_API int kite_embed_buffer(kite_embed *e, const void *data, size_t len, float *out,
                               kite_err *err) KITE_MUST_CHECK;
KITE_API int kite_embed_file(kite_embed *e, const char *path, float *out, kite_err *err)
    KITE_MUST_CHECK;
/* Embed n images in batches of batch_max: out is n * dim floats. */
KITE_API int kite_embed_images(kite_embed *e, const kite_image *const *imgs, size_t n, float *out,
                               kite_err *err) KITE_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
