/*
 * fuzz_vindex.c — libFuzzer target for serialized ANN index bytes (RELIABILITY.md C,
 * "segment, index (HNSW graph) and manifest readers").
 *
 * Input: byte 0 picks the index type, the rest are the serialized index.  The
 * vectors it indexes are fixed (64 rows, deterministic).  vindex_deserialize must
 * reject anything inconsistent with KITE_ECORRUPT/EINVAL; whatever it accepts
 * must then search without a crash.
 *
 * Seeds: built with -DKITE_FUZZ_MAKE_SEEDS this file is a program that writes one
 * valid serialized index per type into a directory (tests/fuzz/corpus/vindex/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index.h"

#define N 64
#define DIM 16

static float g_vecs[N * DIM];
#define BIN_BITS 128
static uint8_t g_bits[N * BIN_BITS / 8];

static const struct {
    const char *type;
    int metric;
    int binary;
    const char *params;
} g_types[] = {
    {"HNSW", KITE_METRIC_L2, 0, "{\"M\":8,\"efConstruction\":32}"},
    {"IVF_FLAT", KITE_METRIC_L2, 0, "{\"nlist\":4}"},
    {"IVF_SQ8", KITE_METRIC_IP, 0, "{\"nlist\":4}"},
    {"IVF_PQ", KITE_METRIC_L2, 0, "{\"nlist\":4,\"m\":4,\"nbits\":4}"},
    {"SCANN", KITE_METRIC_L2, 0, "{\"nlist\":4}"},
    {"ANNOY", KITE_METRIC_L2, 0, "{\"n_trees\":4}"},
    {"BIN_IVF_FLAT", KITE_METRIC_HAMMING, 1, "{\"nlist\":4}"},
    {"HNSW", KITE_METRIC_HAMMING, 1, "{\"M\":8,\"efConstruction\":32}"},
};
#define N_TYPES (sizeof(g_types) / sizeof(g_types[0]))

static void init_vectors(void)
{
    static int done;
    if (done)
        return;
    uint32_t s = 12345;
    for (size_t i = 0; i < N * DIM; i++) {
        s = s * 1103515245u + 12345u;
        g_vecs[i] = (float)(s >> 8) / (float)(1 << 24);
    }
    for (size_t i = 0; i < sizeof(g_bits); i++) {
        s = s * 1103515245u + 12345u;
        g_bits[i] = (uint8_t)(s >> 16);
    }
    done = 1;
}

static struct vec_view view_for(size_t t)
{
    struct vec_view v = {.n = N};
    if (g_types[t].binary) {
        v.dtype = KITE_DT_BINARY_VECTOR;
        v.dim = BIN_BITS;
        v.data = g_bits;
    } else {
        v.dtype = KITE_DT_FLOAT_VECTOR;
        v.dim = DIM;
        v.data = g_vecs;
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    init_vectors();
    size_t t = data[0] % N_TYPES;
    struct vec_view v = view_for(t);
    struct vindex *ix = NULL;
    kite_err err;
    if (vindex_deserialize(g_types[t].type, g_types[t].metric, &v, data + 1, size - 1, &ix,
                           &err) != KITE_OK)
        return 0;
    struct vsearch_params sp;
    memset(&sp, 0, sizeof(sp));
    if (vindex_parse_search_params(g_types[t].type, "{}", 5, &sp, &err) == KITE_OK) {
        sp.metric = g_types[t].metric;
        struct kite_hit hits[5];
        size_t counts[1];
        struct vsearch_req req = {.queries = v.data, .nq = 1, .params = &sp,
                                  .n_allowed = SIZE_MAX};
        struct vsearch_out out = {.hits = hits, .counts = counts};
        (void)vindex_search(ix, &v, &req, &out, &err);
    }
    vindex_free(ix);
    return 0;
}

#ifdef KITE_FUZZ_MAKE_SEEDS
int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    init_vectors();
    for (size_t t = 0; t < N_TYPES; t++) {
        struct vec_view v = view_for(t);
        struct vindex_build_params bp = {.index_type = g_types[t].type,
                                         .metric = g_types[t].metric,
                                         .params_json = g_types[t].params, .seed = 42};
        struct vindex *ix = NULL;
        kite_err err;
        const char *resolved;
        char *norm = NULL;
        if (vindex_validate_build(g_types[t].type, g_types[t].metric, v.dtype, v.dim,
                                  g_types[t].params, &resolved, &norm, &err) ||
            (bp.params_json = norm, vindex_build(&bp, &v, &ix, &err))) {
            fprintf(stderr, "%s: %s\n", g_types[t].type, err.message);
            return 1;
        }
        struct kite_buf b;
        kite_buf_init(&b, 0);
        if (vindex_serialize(ix, &b))
            return 1;
        char path[512];
        snprintf(path, sizeof(path), "%s/%zu_%s", argv[1], t, g_types[t].type);
        FILE *f = fopen(path, "wb");
        uint8_t tag = (uint8_t)t;
        fwrite(&tag, 1, 1, f);
        fwrite(b.data, 1, b.len, f);
        fclose(f);
        kite_buf_free(&b);
        kite_free(norm);
        vindex_free(ix);
    }
    return 0;
}
#endif
