/*
 * ivf.h — private header of the inverted-file indexes: IVF_FLAT, IVF_SQ8, IVF_PQ
 * (float vectors) and BIN_IVF_FLAT (binary), split by operation:
 * ivf_train.c (coarse k-means, list assignment, SQ8/PQ encoding: build),
 * plus SCANN (design 4),
 * ivf_search.c (probe nprobe lists, filters, range search),
 * ivf_serde.c (format, validation, memory).
 *
 * Design:
 *  1. Coarse quantiser: k-means (kmeans.c) on a deterministic sample of at most
 *     nlist * IVF_TRAIN_PER_LIST rows, seed from vindex_build_params.seed.
 *     COSINE clusters the normalised vectors; binary clusters in Hamming space
 *     with majority-vote centroids.
 *  2. Lists hold row ids grouped by list (CSR: list_off[nlist + 1], ids[n]).
 *     IVF_FLAT / BIN_IVF_FLAT keep a copy of the (COSINE: normalised) rows in
 *     list order, so a probe is one contiguous batched kernel call (as FAISS
 *     does); the copy is rebuilt from the segment on load, never serialised.
 *     IVF_SQ8 / IVF_PQ store codes in list order (codes of ids[j] at j).
 *  3. IVF_SQ8: per-dimension min and scale, code = round((x - min) / scale),
 *     0..255; error <= scale/2 per component.  IVF_PQ: residual (x - centroid)
 *     product quantisation with m sub-quantisers of 2^nbits centroids; search
 *     uses ADC lookup tables (pq.h).
 *  4. SCANN (after Google's ScaNN, Guo et al. 2020, without its anisotropic loss):
 *     IVF + residual PQ with 4-bit codes over 2-dim sub-vectors (m = dim / 2),
 *     scanned by ADC to a shortlist of reorder_k, then re-ranked with exact
 *     distances on the raw vectors (with_raw_data, the default); 4-bit codes are
 *     scanned with the register "fast scan" (ivf_fastscan.c).
 *  5. Centroids (float kinds) are resident as IEEE halves with one power-of-two
 *     scale, rounded right after k-means and used rounded everywhere (ivf_cent.c).
 *  6. Coarse step of a batch (float kinds, CPUs with AVX-512 VNNI): 8-bit centroid
 *     codes score every list with integer dot products, the best
 *     IVF_CQ_CANDIDATES(nprobe) are re-scored with exact fp32 distances and the
 *     nprobe best of those probed (ivf_coarse_vnni.c); k-means assignment of large
 *     training sets uses the same codes (kmeans.c).
 *
 * Threading: read-only after build; searches allocate their own scratch.
 */
#ifndef KITE_IVF_H
#define KITE_IVF_H

#include <stdint.h>

#include "index.h"
#include "pq.h"
#include "vindex_int.h"

#define IVF_MAGIC 0x20465649u /* "IVF " little-endian */
#define IVF_FORMAT_VERSION 1u
#define IVF_PQ_MAX_NBITS 16
#define IVF_TRAIN_PER_LIST 256
#define IVF_KMEANS_ITERS 20     /* float coarse k-means (blocked assignment, kmeans.c) */
#define IVF_BIN_KMEANS_ITERS 10 /* binary (Hamming) coarse k-means */
#define IVF_SCANN_PQ_TRAIN 65536 /* rows SCANN's 4-bit codebooks train on (at most) */

enum ivf_kind {
    IVF_KIND_FLAT = 1,
    IVF_KIND_SQ8 = 2,
    IVF_KIND_PQ = 3,
    IVF_KIND_BIN = 4,
    IVF_KIND_SCANN = 5, /* residual PQ with 4-bit codes of 2-dim sub-vectors + exact re-rank */
};

#define IVF_FLAG_RAW_DATA 1u /* SCANN: re-rank with the segment's raw vectors */

/* 8-bit centroid codes for a candidate pass (ivf_coarse_vnni.c). */
struct ivf_cq {
    int8_t *codes;           /* groups of 32 centroids: dim4 steps of 32 x 4 codes */
    float *cn;               /* padded n: |c|^2 (L2) or 0 (ip) */
    float *csum;             /* padded n: sum of the centroid's codes */
    float *scale;            /* dim: per-dimension code step */
    uint32_t n, dim, dim4;   /* centroids, dimensions, ceil(dim / 4) */
    bool ip;                 /* scores rank -q.c instead of |q - c|^2 */
};

struct ivf_config {
    int kind;
    int metric;
    int nlist;
    int pq_m, pq_nbits;
    bool with_raw_data;      /* SCANN */
    uint64_t seed;
    struct kite_pool *pool;
};

struct ivf {
    int kind;
    struct vspace space;
    uint32_t nlist;          /* effective: min(requested, n) (at least 1) */
    uint16_t *hcent;         /* float kinds: nlist * dim IEEE halves h, centroid = cscale * h
                                (ivf_cent.c); NULL when centroids holds them instead */
    float cscale;            /* power of two (ivf_cent.c design 1) */
    float *centroids;        /* float kinds, only when not representable as halves (a file
                                from before the half form): nlist * dim fp32; else NULL */
    uint8_t *bcentroids;     /* binary: nlist * dim/8 */
    uint32_t *list_off;      /* nlist + 1 */
    uint32_t *ids;           /* n, grouped by list */
    float *sq_min, *sq_scale;/* SQ8: dim each */
    uint8_t *codes;          /* SQ8: n * dim; PQ: n * pq_code_bytes; SCANN: NULL once the
                                fast-scan blocks hold the codes (one copy) */
    struct pq pq;            /* IVF_PQ and SCANN */
    uint8_t *lvec;           /* IVF_FLAT / BIN: prepared rows copied in list order */
    uint32_t max_list;       /* longest list (scratch sizing) */
    float *cnorm;            /* float kinds: |c_l|^2 per list (batched coarse step; derived) */
    uint32_t flags;          /* IVF_FLAG_* */
    /* SCANN fast-scan layout (ivf_fastscan.c; derived, not serialised; NULL if unused). */
    uint8_t *fs_codes;       /* blocks of IVF_FS_BLOCK rows: m * 16 bytes each */
    uint32_t *fs_block_off;  /* nlist + 1: first block of each list */
    float *fs_extra;         /* L2: n, per row in list order: |r^|^2 + 2 c.r^ */
    float *fs_cb;            /* dsub 2: codebooks transposed, m * (16 x, 16 y) */
    /* 8-bit coarse candidate pass (ivf_coarse_vnni.c; derived, not serialised; codes
     * NULL unless the CPU has AVX-512 VNNI). */
    struct ivf_cq cq;
};

/* Centroids of the float kinds (ivf_cent.c).  Adopt c (nlist * dim fp32, owned
 * from then on, freed or kept): round = build (round to the half form first),
 * else load (half form only if every value is exactly representable). */
int ivf_cent_adopt(struct ivf *ix, float *c, bool round, kite_err *err);
/* Resident bytes of the centroids. */
size_t ivf_cent_bytes(const struct ivf *ix);
/* Centroids l0 .. l0+cnt as fp32 rows: decoded into buf (cnt * dim floats), or
 * a pointer into the fp32 array. */
const float *ivf_cent_rows(const struct ivf *ix, uint32_t l0, uint32_t cnt, float *buf);
/* All centroids decoded into a new fp32 array (kite_free it); NULL: out of memory. */
float *ivf_cent_decode_all(const struct ivf *ix);
/* Coarse distance of a prepared query to centroid l: |q - c|^2 (L2, COSINE) or
 * -q.c (IP).  The single-query and batch paths share it (bit-identical values). */
float ivf_cent_dist(const struct ivf *ix, const float *q, uint32_t l);
/* The per-list base of PQ / SCANN scores: |q - c_l|^2 for L2, -q.c_l for IP and
 * COSINE (their ADC tables are inner products). */
float ivf_cent_base(const struct ivf *ix, const float *q, uint32_t l);
/* ivf_cent_dist for lists l0 .. l0+cnt into out. */
void ivf_cent_dist_range(const struct ivf *ix, const float *q, uint32_t l0, uint32_t cnt,
                         float *out);
/* Kernel: sum (q - s h)^2 (l2) or s * sum q h, at a kite_simd level (tests). */
float ivf_cent_half_dist(int level, const float *q, const uint16_t *h, float s, size_t d, bool l2);

/* Candidate lists re-scored exactly after the 8-bit pass (the rest are dropped). */
#define IVF_CQ_CANDIDATES(nprobe) ((nprobe) + (nprobe) / 4 + 8)

/* Build 8-bit codes of n centroids c (cnorm: their |c|^2; ip: rank by -q.c) when
 * the CPU has AVX-512 VNNI at dispatch level AVX-512, else leave cq->codes NULL. */
int ivf_cq_make(struct ivf_cq *cq, const float *c, const float *cnorm, uint32_t n, uint32_t dim,
                bool ip, kite_err *err);
/* ivf_cq_make for the index's centroids (float kinds; after ivf_finish_lists' norms). */
int ivf_cq_init(struct ivf *ix, kite_err *err);
void ivf_cq_free(struct ivf_cq *cq);
size_t ivf_cq_memory_bytes(const struct ivf_cq *cq);
static inline bool ivf_cq_available(const struct ivf *ix)
{
    return ix->cq.codes != NULL;
}
/* Scratch bytes per query for ivf_cq_block (the quantized query). */
static inline size_t ivf_cq_query_bytes(const struct ivf_cq *cq)
{
    return (size_t)cq->dim4 * 4;
}
/* Approximate scores of nq queries (contiguous, dim apart) against every centroid,
 * out[i * n + l], smaller = nearer, shifted by a per-query constant (rank only).
 * qq: nq * ivf_cq_query_bytes; ab: 2 * nq floats of scratch.  _ref: the same
 * floats from scalar code (tests). */
void ivf_cq_block(const struct ivf_cq *cq, const float *qs, size_t nq, uint8_t *qq, float *ab,
                  float *out);
void ivf_cq_block_ref(const struct ivf_cq *cq, const float *qs, size_t nq, uint8_t *qq,
                      float *ab, float *out);
/* Offer row[0 .. n) (scores of ivf_cq_block) to t, as (score, index); AVX-512:
 * call only when ivf_cq_make built codes. */
void ivf_cq_rank(const float *row, uint32_t n, struct vtopk *t);

#define IVF_FS_BLOCK 32

/* Build the fast-scan blocks from the list-ordered codes (SCANN, 4-bit, AVX2 CPUs),
 * then free ix->codes. */
int ivf_fs_init(struct ivf *ix, kite_err *err);
void ivf_fs_free(struct ivf *ix);
/* The m codes of list position p (in list l) from the blocks (ix->codes is NULL then). */
void ivf_fs_get_code(const struct ivf *ix, uint32_t l, uint32_t p, uint8_t *code);
bool ivf_fs_available(const struct ivf *ix);
size_t ivf_fs_memory_bytes(const struct ivf *ix);
/* Quantize an m x 16 float ADC table to bytes: estimate = offset + delta * sum(lut). */
void ivf_fs_quantize(const struct ivf *ix, const float *table, uint8_t *lut, float *offset,
                     float *delta);
/* The byte LUT of a prepared query for the fast scan (one per query; L2 doubles
 * the -q.C table, see ivf_fastscan.c); table: m * 16 floats of scratch. */
void ivf_fs_lut(const struct ivf *ix, const float *q, float *table, uint8_t *lut, float *offset,
                float *delta);
/* Score every row of list l from the byte LUT into heap (offset: + list base); returns rows. */
size_t ivf_fs_scan_list(const struct ivf *ix, uint32_t l, const uint8_t *lut, float offset,
                        float delta, struct vtopk *heap);

static inline bool ivf_uses_pq(const struct ivf *ix)
{
    return ix->kind == IVF_KIND_PQ || ix->kind == IVF_KIND_SCANN;
}

int ivf_build(const struct ivf_config *cfg, const struct vec_view *v, struct ivf **out,
              kite_err *err);
int ivf_search(const struct ivf *ix, const struct vec_view *v, const struct vsearch_req *req,
               struct vsearch_out *out, kite_err *err);
int ivf_serialize(const struct ivf *ix, struct kite_buf *out);
int ivf_deserialize(int metric, const struct vec_view *v, const uint8_t *data, size_t len,
                    struct ivf **out, kite_err *err);
size_t ivf_memory_bytes(const struct ivf *ix);
void ivf_free(struct ivf *ix);
/* Build lvec (IVF_FLAT, BIN) and max_list from the lists and the bound space. */
int ivf_finish_lists(struct ivf *ix, kite_err *err);
/* Coarse assignment of a prepared query/vector: the nprobe nearest lists. */
/* Coarse scores of nq prepared queries (contiguous, dim apart) against every
 * centroid, out[i * nlist + l], smaller = nearer: |c|^2 - 2 q.c for L2 / COSINE
 * (one GEMM-like kernel call; the ranking of |q - c|^2), -q.c for IP. */
void ivf_coarse_block(const struct ivf *ix, const struct vspace *sp, const float *qs, size_t nq,
                      float *out);
size_t ivf_nearest_lists(const struct ivf *ix, const void *q, size_t nprobe, struct vpair *tmp,
                         uint32_t *lists);

#endif
