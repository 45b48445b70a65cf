/*
 * ivf_fastscan.c — 4-bit PQ "fast scan" for SCANN lists (André, Kermarrec &
 * Le Scouarnec, "Cache locality is not enough: high-performance nearest
 * neighbor search with product quantization fast scan", VLDB 2015): the
 * per-query lookup tables are quantized to 8 bits and held in registers, and
 * 32 rows are scored at once with byte shuffles (vpshufb) instead of one table
 * load per sub-quantizer and row.
 *
 * Layout (derived from ix->codes in list order, rebuilt after build and load,
 * never serialised): each list is cut into blocks of IVF_FS_BLOCK = 32 rows
 * (the last one zero-padded); a block holds, for each sub-quantizer j, 16
 * bytes whose byte i packs the codes of block rows i (low nibble) and i + 16
 * (high nibble).  ix->fs_block_off[l] is the first block of list l.
 *
 * L2 without per-list tables: with residual r = x - c (c the list centroid)
 * and its reconstruction r^ = (C_j[code_j])_j,
 *   |q - c - r^|^2 = |q - c|^2 - 2 q.r^ + (|r^|^2 + 2 c.r^)
 * The last term depends on the row only and is stored (ix->fs_extra, one float
 * per row in list order), |q - c|^2 is one distance per probed list, and
 * -2 q.r^ = sum_j -2 q_j . C_j[code_j] needs one table per query, not per list
 * (FAISS' "precomputed tables" for IVFPQ, in 4 bytes per row).
 *
 * Accuracy: table j is stored as round((t_j[c] - min_j) / delta) with one
 * delta for all j, chosen so that the m-term sum fits 16 bits
 * (levels = min(255, 65535 / m)); estimated distance = sum_j min_j +
 * delta * acc.  SCANN re-ranks its shortlist with exact distances, so the
 * quantized estimate only has to order the shortlist well.
 *
 * Threading: the layout is read-only after ivf_fs_init; scanning uses the
 * caller's LUT buffer.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "ivf.h"
#include "simd.h"

bool ivf_fs_available(const struct ivf *ix)
{
    return ix->fs_codes != NULL;
}

int ivf_fs_init(struct ivf *ix, kite_err *err)
{
    if (ix->kind != IVF_KIND_SCANN || ix->pq.nbits != 4 || kite_simd()->level < KITE_SIMD_AVX2)
        return KITE_OK;
    uint32_t m = ix->pq.m;
    size_t blocks = 0, bbytes = (size_t)m * 16;
    ix->fs_block_off = kite_malloc(((size_t)ix->nlist + 1) * sizeof(uint32_t));
    if (!ix->fs_block_off)
        goto oom;
    for (uint32_t l = 0; l < ix->nlist; l++) {
        ix->fs_block_off[l] = (uint32_t)blocks;
        blocks += (ix->list_off[l + 1] - ix->list_off[l] + IVF_FS_BLOCK - 1) / IVF_FS_BLOCK;
    }
    ix->fs_block_off[ix->nlist] = (uint32_t)blocks;
    ix->fs_codes = kite_calloc(blocks ? blocks * bbytes : 1, 1);
    if (!ix->fs_codes)
        goto oom;
    if (ix->space.kind == VSP_L2) {
        ix->fs_extra = kite_malloc((ix->space.n ? ix->space.n : 1) * sizeof(float));
        if (!ix->fs_extra)
            goto oom;
        uint32_t dsub = ix->pq.dsub;
        for (uint32_t l = 0; l < ix->nlist; l++) {
            const float *c = ix->centroids + (size_t)l * ix->space.dim;
            for (uint32_t p = ix->list_off[l]; p < ix->list_off[l + 1]; p++) {
                const uint8_t *code = ix->codes + (size_t)p * m;
                double e = 0.0;
                for (uint32_t j = 0; j < m; j++) {
                    const float *cj = ix->pq.centroids + ((size_t)j * ix->pq.ksub + code[j]) * dsub;
                    for (uint32_t t = 0; t < dsub; t++)
                        e += (double)cj[t] * cj[t] + 2.0 * (double)c[j * dsub + t] * cj[t];
                }
                ix->fs_extra[p] = (float)e;
            }
        }
    }
    for (uint32_t l = 0; l < ix->nlist; l++) {
        uint32_t b = ix->list_off[l], e = ix->list_off[l + 1];
        for (uint32_t p = b; p < e; p++) {
            uint32_t r = p - b, blk = ix->fs_block_off[l] + r / IVF_FS_BLOCK, i = r % IVF_FS_BLOCK;
            const uint8_t *code = ix->codes + (size_t)p * m;
            uint8_t *dst = ix->fs_codes + (size_t)blk * bbytes;
            for (uint32_t j = 0; j < m; j++) {
                uint8_t c = code[j] & 15u;
                dst[(size_t)j * 16 + (i & 15u)] |= (uint8_t)(i < 16 ? c : c << 4);
            }
        }
    }
    return KITE_OK;
oom:
    ivf_fs_free(ix);
    return kite_err_set(err, KITE_ENOMEM, "out of memory for the SCANN fast-scan layout");
}

void ivf_fs_free(struct ivf *ix)
{
    kite_free(ix->fs_codes);
    kite_free(ix->fs_block_off);
    kite_free(ix->fs_extra);
    ix->fs_extra = NULL;
    ix->fs_codes = NULL;
    ix->fs_block_off = NULL;
}

size_t ivf_fs_memory_bytes(const struct ivf *ix)
{
    if (!ix->fs_codes)
        return 0;
    return (size_t)ix->fs_block_off[ix->nlist] * ix->pq.m * 16 +
           ((size_t)ix->nlist + 1) * sizeof(uint32_t) +
           (ix->fs_extra ? ix->space.n * sizeof(float) : 0);
}

void ivf_fs_quantize(const struct ivf *ix, const float *table, uint8_t *lut, float *offset,
                     float *delta)
{
    uint32_t m = ix->pq.m;
    float sum_min = 0.0f, max_range = 0.0f;
    for (uint32_t j = 0; j < m; j++) {
        const float *t = table + (size_t)j * 16;
        float lo = t[0], hi = t[0];
        for (int c = 1; c < 16; c++) {
            lo = t[c] < lo ? t[c] : lo;
            hi = t[c] > hi ? t[c] : hi;
        }
        sum_min += lo;
        max_range = hi - lo > max_range ? hi - lo : max_range;
    }
    uint32_t levels = 65535u / m < 255u ? 65535u / m : 255u;
    float d = max_range > 0.0f ? max_range / (float)levels : 1.0f;
    float inv = 1.0f / d;
    for (uint32_t j = 0; j < m; j++) {
        const float *t = table + (size_t)j * 16;
        float lo = t[0];
        for (int c = 1; c < 16; c++)
            lo = t[c] < lo ? t[c] : lo;
        for (int c = 0; c < 16; c++) {
            float v = (t[c] - lo) * inv + 0.5f;
            lut[(size_t)j * 16 + c] = v >= (float)levels ? (uint8_t)levels : v > 0.0f ? (uint8_t)v : 0;
        }
    }
    *offset = sum_min;
    *delta = d;
}

/* acc[0..32) = sum_j lut_j[code_j(row i)] for the 32 rows of one block. */
__attribute__((target("avx2"))) static void block_acc_avx2(const uint8_t *blk, const uint8_t *lut,
                                                           uint32_t m, uint16_t *acc)
{
    __m256i lo = _mm256_setzero_si256(), hi = lo; /* rows 0-7|16-23 and 8-15|24-31 as u16 */
    const __m256i nib = _mm256_set1_epi8(0x0F);
    for (uint32_t j = 0; j < m; j++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(blk + (size_t)j * 16));
        /* low lane: rows 0-15 (low nibbles), high lane: rows 16-31 (high nibbles) */
        __m256i codes = _mm256_and_si256(
            _mm256_inserti128_si256(_mm256_castsi128_si256(x), _mm_srli_epi16(x, 4), 1), nib);
        __m256i t = _mm256_broadcastsi128_si256(
            _mm_loadu_si128((const __m128i *)(const void *)(lut + (size_t)j * 16)));
        __m256i v = _mm256_shuffle_epi8(t, codes);
        lo = _mm256_add_epi16(lo, _mm256_unpacklo_epi8(v, _mm256_setzero_si256()));
        hi = _mm256_add_epi16(hi, _mm256_unpackhi_epi8(v, _mm256_setzero_si256()));
    }
    /* unpack order per lane: lo = rows 0-7 (lane 0) and 16-23 (lane 1); hi = 8-15, 24-31 */
    uint16_t a[16], b[16];
    _mm256_storeu_si256((__m256i *)(void *)a, lo);
    _mm256_storeu_si256((__m256i *)(void *)b, hi);
    memcpy(acc, a, 16);
    memcpy(acc + 8, b, 16);
    memcpy(acc + 16, a + 8, 16);
    memcpy(acc + 24, b + 8, 16);
}

size_t ivf_fs_scan_list(const struct ivf *ix, uint32_t l, const uint8_t *lut, float offset,
                        float delta, struct vtopk *heap)
{
    uint32_t b = ix->list_off[l], e = ix->list_off[l + 1], m = ix->pq.m;
    size_t bbytes = (size_t)m * 16;
    uint16_t acc[IVF_FS_BLOCK];
    for (uint32_t r0 = 0, blk = ix->fs_block_off[l]; b + r0 < e; r0 += IVF_FS_BLOCK, blk++) {
        block_acc_avx2(ix->fs_codes + (size_t)blk * bbytes, lut, m, acc);
        uint32_t cnt = e - (b + r0) < IVF_FS_BLOCK ? e - (b + r0) : IVF_FS_BLOCK;
        float worst = vtopk_worst(heap);
        for (uint32_t i = 0; i < cnt; i++) {
            float d = offset + delta * (float)acc[i];
            if (ix->fs_extra)
                d += ix->fs_extra[b + r0 + i];
            if (d < worst) {
                vtopk_push(heap, d, ix->ids[b + r0 + i]);
                worst = vtopk_worst(heap);
            }
        }
    }
    return e - b;
}
