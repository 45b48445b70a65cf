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
 * One copy of the codes: once the blocks are built, the list-ordered codes
 * (ix->codes) are freed; ivf_fs_get_code() reads a row's codes back out of
 * its block for the paths that score one row at a time (filters) and for
 * serialisation, which keeps the format's row-major code array.
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
    if (ix->pq.dsub == 2) {
        /* Codebooks transposed for ivf_fs_lut: per sub-space 16 x then 16 y. */
        ix->fs_cb = kite_malloc((size_t)m * 32 * sizeof(float));
        if (!ix->fs_cb)
            goto oom;
        for (uint32_t j = 0; j < m; j++)
            for (uint32_t c = 0; c < 16; c++) {
                const float *cj = ix->pq.centroids + ((size_t)j * 16 + c) * 2;
                ix->fs_cb[(size_t)j * 32 + c] = cj[0];
                ix->fs_cb[(size_t)j * 32 + 16 + c] = cj[1];
            }
    }
    ix->fs_codes = kite_calloc(blocks ? blocks * bbytes : 1, 1);
    if (!ix->fs_codes)
        goto oom;
    if (ix->space.kind == VSP_L2) {
        ix->fs_extra = kite_malloc((ix->space.n ? ix->space.n : 1) * sizeof(float));
        if (!ix->fs_extra)
            goto oom;
        uint32_t dsub = ix->pq.dsub;
        float *cb = kite_malloc((size_t)ix->space.dim * sizeof(float));
        if (!cb)
            goto oom;
        for (uint32_t l = 0; l < ix->nlist; l++) {
            const float *c = ivf_cent_rows(ix, l, 1, cb);
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
        kite_free(cb);
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
    kite_free(ix->codes); /* the blocks are now the only copy */
    ix->codes = NULL;
    return KITE_OK;
oom:
    ivf_fs_free(ix);
    return kite_err_set(err, KITE_ENOMEM, "out of memory for the SCANN fast-scan layout");
}

void ivf_fs_get_code(const struct ivf *ix, uint32_t l, uint32_t p, uint8_t *code)
{
    uint32_t m = ix->pq.m, r = p - ix->list_off[l];
    uint32_t i = r % IVF_FS_BLOCK, shift = i < 16 ? 0 : 4;
    const uint8_t *blk = ix->fs_codes + ((size_t)ix->fs_block_off[l] + r / IVF_FS_BLOCK) * m * 16;
    for (uint32_t j = 0; j < m; j++)
        code[j] = (uint8_t)((blk[(size_t)j * 16 + (i & 15u)] >> shift) & 15u);
}

void ivf_fs_free(struct ivf *ix)
{
    kite_free(ix->fs_codes);
    kite_free(ix->fs_block_off);
    kite_free(ix->fs_extra);
    kite_free(ix->fs_cb);
    ix->fs_cb = NULL;
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
           (ix->fs_extra ? ix->space.n * sizeof(float) : 0) +
           (ix->fs_cb ? (size_t)ix->pq.m * 32 * sizeof(float) : 0);
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

/*
 * Fused table + quantization for 2-dim sub-vectors (SCANN): t_j[c] = -mul *
 * (q_2j x_jc + q_2j+1 y_jc), 16 floats = two registers per sub-space, then
 * the same byte mapping as ivf_fs_quantize.  table: m * 16 floats of scratch.
 */
__attribute__((target("avx2,fma"))) static void lut2_avx2(const struct ivf *ix, const float *q,
                                                         float mul, float *table, uint8_t *lut,
                                                         float *offset, float *delta)
{
    uint32_t m = ix->pq.m;
    const __m256 nm = _mm256_set1_ps(-mul);
    __m256 vmax = _mm256_set1_ps(0.0f);
    float sum_min = 0.0f;
    for (uint32_t j = 0; j < m; j++) {
        const float *cb = ix->fs_cb + (size_t)j * 32;
        __m256 qx = _mm256_mul_ps(_mm256_set1_ps(q[2 * j]), nm);
        __m256 qy = _mm256_mul_ps(_mm256_set1_ps(q[2 * j + 1]), nm);
        __m256 t0 = _mm256_fmadd_ps(qy, _mm256_loadu_ps(cb + 16),
                                    _mm256_mul_ps(qx, _mm256_loadu_ps(cb)));
        __m256 t1 = _mm256_fmadd_ps(qy, _mm256_loadu_ps(cb + 24),
                                    _mm256_mul_ps(qx, _mm256_loadu_ps(cb + 8)));
        __m256 lo = _mm256_min_ps(t0, t1), hi = _mm256_max_ps(t0, t1);
        __m128 l4 = _mm_min_ps(_mm256_castps256_ps128(lo), _mm256_extractf128_ps(lo, 1));
        l4 = _mm_min_ps(l4, _mm_movehl_ps(l4, l4));
        l4 = _mm_min_ss(l4, _mm_shuffle_ps(l4, l4, 1));
        __m256 lov = _mm256_broadcastss_ps(l4);
        /* store t - lo: the quantization pass needs no per-row minimum again */
        _mm256_storeu_ps(table + (size_t)j * 16, _mm256_sub_ps(t0, lov));
        _mm256_storeu_ps(table + (size_t)j * 16 + 8, _mm256_sub_ps(t1, lov));
        vmax = _mm256_max_ps(vmax, _mm256_sub_ps(hi, lov));
        sum_min += _mm_cvtss_f32(l4);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    float max_range = _mm_cvtss_f32(m4);
    uint32_t levels = 65535u / m < 255u ? 65535u / m : 255u;
    float d = max_range > 0.0f ? max_range / (float)levels : 1.0f;
    const __m256 inv = _mm256_set1_ps(1.0f / d), half = _mm256_set1_ps(0.5f);
    const __m256 top = _mm256_set1_ps((float)levels);
    for (uint32_t j = 0; j < m; j++) {
        __m256 v0 = _mm256_fmadd_ps(_mm256_loadu_ps(table + (size_t)j * 16), inv, half);
        __m256 v1 = _mm256_fmadd_ps(_mm256_loadu_ps(table + (size_t)j * 16 + 8), inv, half);
        v0 = _mm256_min_ps(_mm256_max_ps(v0, _mm256_setzero_ps()), top);
        v1 = _mm256_min_ps(_mm256_max_ps(v1, _mm256_setzero_ps()), top);
        __m256i w = _mm256_packus_epi32(_mm256_cvttps_epi32(v0), _mm256_cvttps_epi32(v1));
        w = _mm256_permute4x64_epi64(w, 0xD8); /* u16: c0-7 | c8-15 */
        __m128i b = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
        _mm_storeu_si128((__m128i *)(void *)(lut + (size_t)j * 16), b);
    }
    *offset = sum_min;
    *delta = d;
}

void ivf_fs_lut(const struct ivf *ix, const float *q, float *table, uint8_t *lut, float *offset,
                float *delta)
{
    float mul = ix->space.kind == VSP_L2 ? 2.0f : 1.0f;
    if (ix->fs_cb) {
        lut2_avx2(ix, q, mul, table, lut, offset, delta);
        return;
    }
    pq_table_ip(&ix->pq, q, table); /* -q_j . C_jk */
    if (mul != 1.0f) {
        size_t tn = (size_t)ix->pq.m * ix->pq.ksub;
        for (size_t i = 0; i < tn; i++)
            table[i] *= mul;
    }
    ivf_fs_quantize(ix, table, lut, offset, delta);
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

/*
 * AVX-512BW: two sub-quantizers per step.  The 32 code bytes of j and j + 1
 * become four 128-bit lanes (j rows 0-15, j+1 rows 0-15, j rows 16-31, j+1 rows
 * 16-31) shuffled through [lut_j, lut_j+1, lut_j, lut_j+1]; lanes 0+1 and 2+3
 * are summed at the end.  An odd last j pairs with a zero code block and LUT.
 * Same integer sums as block_acc_avx2.
 */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static void
block_acc_avx512(const uint8_t *blk, const uint8_t *lut, uint32_t m, uint16_t *acc)
{
    const __m512i nib = _mm512_set1_epi8(0x0F), z = _mm512_setzero_si512();
    __m512i lo = z, hi = z;
    for (uint32_t j = 0; j < m; j += 2) {
        __m256i x, t;
        if (j + 2 <= m) {
            x = _mm256_loadu_si256((const __m256i *)(const void *)(blk + (size_t)j * 16));
            t = _mm256_loadu_si256((const __m256i *)(const void *)(lut + (size_t)j * 16));
        } else {
            x = _mm256_zextsi128_si256(
                _mm_loadu_si128((const __m128i *)(const void *)(blk + (size_t)j * 16)));
            t = _mm256_zextsi128_si256(
                _mm_loadu_si128((const __m128i *)(const void *)(lut + (size_t)j * 16)));
        }
        __m512i codes = _mm512_and_si512(
            _mm512_inserti64x4(_mm512_castsi256_si512(x), _mm256_srli_epi16(x, 4), 1), nib);
        __m512i v = _mm512_shuffle_epi8(_mm512_broadcast_i64x4(t), codes);
        lo = _mm512_add_epi16(lo, _mm512_unpacklo_epi8(v, z));
        hi = _mm512_add_epi16(hi, _mm512_unpackhi_epi8(v, z));
    }
    __m256i lo_a = _mm512_castsi512_si256(lo), lo_b = _mm512_extracti64x4_epi64(lo, 1);
    __m256i hi_a = _mm512_castsi512_si256(hi), hi_b = _mm512_extracti64x4_epi64(hi, 1);
    _mm_storeu_si128((__m128i *)(void *)acc,
                     _mm_add_epi16(_mm256_castsi256_si128(lo_a), _mm256_extracti128_si256(lo_a, 1)));
    _mm_storeu_si128((__m128i *)(void *)(acc + 8),
                     _mm_add_epi16(_mm256_castsi256_si128(hi_a), _mm256_extracti128_si256(hi_a, 1)));
    _mm_storeu_si128((__m128i *)(void *)(acc + 16),
                     _mm_add_epi16(_mm256_castsi256_si128(lo_b), _mm256_extracti128_si256(lo_b, 1)));
    _mm_storeu_si128((__m128i *)(void *)(acc + 24),
                     _mm_add_epi16(_mm256_castsi256_si128(hi_b), _mm256_extracti128_si256(hi_b, 1)));
}

/*
 * Distances of a block's cnt rows, offset + delta * acc (+ extra), in the
 * scalar loop's operation order (same floats), and the mask of rows below
 * worst: rows that cannot enter the heap cost no scalar work.
 */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static uint32_t
epilogue_avx512(const uint16_t *acc, uint32_t cnt, float offset, float delta, const float *extra,
                float worst, float *dist)
{
    __mmask16 m0 = cnt >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cnt) - 1u);
    __mmask16 m1 = cnt >= 32 ? (__mmask16)0xFFFF
                             : cnt > 16 ? (__mmask16)((1u << (cnt - 16)) - 1u) : (__mmask16)0;
    const __m512 vo = _mm512_set1_ps(offset), vd = _mm512_set1_ps(delta);
    const __m512 vw = _mm512_set1_ps(worst);
    __m512 a0 = _mm512_cvtepi32_ps(
        _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)acc)));
    __m512 a1 = _mm512_cvtepi32_ps(
        _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(acc + 16))));
    __m512 d0 = _mm512_add_ps(vo, _mm512_mul_ps(vd, a0));
    __m512 d1 = _mm512_add_ps(vo, _mm512_mul_ps(vd, a1));
    if (extra) {
        d0 = _mm512_add_ps(d0, _mm512_maskz_loadu_ps(m0, extra));
        d1 = _mm512_add_ps(d1, _mm512_maskz_loadu_ps(m1, extra + 16));
    }
    _mm512_storeu_ps(dist, d0);
    _mm512_storeu_ps(dist + 16, d1);
    uint32_t k0 = _mm512_mask_cmp_ps_mask(m0, d0, vw, _CMP_LT_OQ);
    uint32_t k1 = _mm512_mask_cmp_ps_mask(m1, d1, vw, _CMP_LT_OQ);
    return k0 | k1 << 16;
}

size_t ivf_fs_scan_list(const struct ivf *ix, uint32_t l, const uint8_t *lut, float offset,
                        float delta, struct vtopk *heap)
{
    uint32_t b = ix->list_off[l], e = ix->list_off[l + 1], m = ix->pq.m;
    size_t bbytes = (size_t)m * 16;
    uint16_t acc[IVF_FS_BLOCK];
    bool wide = kite_simd()->level >= KITE_SIMD_AVX512;
    for (uint32_t r0 = 0, blk = ix->fs_block_off[l]; b + r0 < e; r0 += IVF_FS_BLOCK, blk++) {
        if (wide)
            block_acc_avx512(ix->fs_codes + (size_t)blk * bbytes, lut, m, acc);
        else
            block_acc_avx2(ix->fs_codes + (size_t)blk * bbytes, lut, m, acc);
        uint32_t cnt = e - (b + r0) < IVF_FS_BLOCK ? e - (b + r0) : IVF_FS_BLOCK;
        float worst = vtopk_worst(heap);
        if (wide) {
            float dist[IVF_FS_BLOCK];
            const float *extra = ix->fs_extra ? ix->fs_extra + b + r0 : NULL;
            uint32_t mask = epilogue_avx512(acc, cnt, offset, delta, extra, worst, dist);
            while (mask) {
                uint32_t i = (uint32_t)__builtin_ctz(mask);
                mask &= mask - 1;
                if (dist[i] < worst) {
                    vtopk_push(heap, dist[i], ix->ids[b + r0 + i]);
                    worst = vtopk_worst(heap);
                }
            }
            continue;
        }
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
