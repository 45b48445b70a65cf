/*
 * test_vindex.c — index-type and parameter validation (Milvus texts), AUTOINDEX
 * resolution and search-parameter parsing of vindex.c.
 */
#include <limits.h>

#include "alloc.h"
#include "index.h"
#include "test.h"

static int validate(const char *type, int metric, int dtype, uint32_t dim, const char *json,
                    const char **resolved, char **norm, kite_err *err)
{
    kite_err_clear(err);
    return vindex_validate_build(type, metric, dtype, dim, json, resolved, norm, err);
}

TEST(vindex_unknown_type_is_invalid)
{
    kite_err err;
    ASSERT_EQ_INT(validate("NOPE", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 8, NULL, NULL, NULL,
                           &err),
                  KITE_EINVAL);
    ASSERT_STR_EQ(err.message, "invalid index type: NOPE");
}

TEST(vindex_unimplemented_type_is_eindextype)
{
    kite_err err;
    ASSERT_EQ_INT(validate("DISKANN", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 8, NULL, NULL, NULL,
                           &err),
                  KITE_EINDEXTYPE);
    ASSERT_STR_EQ(err.message, "index type not supported: DISKANN");
    ASSERT_EQ_INT(kite_err_milvus_code(KITE_EINDEXTYPE), 701);
}

TEST(vindex_flat_types)
{
    kite_err err;
    const char *rt;
    char *norm;
    ASSERT(vindex_is_flat("FLAT"));
    ASSERT(vindex_is_flat("BIN_FLAT"));
    ASSERT(vindex_is_flat("flat"));
    ASSERT(!vindex_is_flat("HNSW"));
    ASSERT(!vindex_is_flat(NULL));
    ASSERT_OK(validate("FLAT", KITE_METRIC_COSINE, KITE_DT_FLOAT_VECTOR, 8, "{}", &rt, &norm,
                       &err));
    ASSERT_STR_EQ(rt, "FLAT");
    ASSERT_STR_EQ(norm, "{}");
    kite_free(norm);
    ASSERT_OK(validate("BIN_FLAT", KITE_METRIC_SUBSTRUCTURE, KITE_DT_BINARY_VECTOR, 64, NULL,
                       &rt, NULL, &err));
    ASSERT_OK(validate("BIN_FLAT", KITE_METRIC_TANIMOTO, KITE_DT_BINARY_VECTOR, 64, NULL, &rt,
                       NULL, &err));
    /* FLAT with a binary metric, BIN_FLAT on floats: rejected. */
    ASSERT_EQ_INT(validate("FLAT", KITE_METRIC_HAMMING, KITE_DT_FLOAT_VECTOR, 8, NULL, NULL, NULL,
                           &err),
                  KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "metric type HAMMING not found or not supported");
    ASSERT_CONTAINS(err.message, "[L2 IP COSINE]");
    ASSERT_EQ_INT(validate("BIN_FLAT", KITE_METRIC_HAMMING, KITE_DT_FLOAT_VECTOR, 8, NULL, NULL,
                           NULL, &err),
                  KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "binary vector is only supported");
    ASSERT_EQ_INT(validate("FLAT", KITE_METRIC_L2, KITE_DT_BINARY_VECTOR, 64, NULL, NULL, NULL,
                           &err),
                  KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "float or float16 vector are only supported");
}

TEST(vindex_hnsw_params)
{
    kite_err err;
    const char *rt;
    char *norm = NULL;
    ASSERT_OK(validate("HNSW", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 8, NULL, &rt, &norm, &err));
    ASSERT_STR_EQ(rt, "HNSW");
    ASSERT_STR_EQ(norm, "{\"M\":30,\"efConstruction\":360}");
    kite_free(norm);
    /* Numeric strings (REST) are accepted. */
    ASSERT_OK(validate("hnsw", KITE_METRIC_IP, KITE_DT_FLOAT16_VECTOR, 8,
                       "{\"M\":\"16\",\"efConstruction\":64}", &rt, &norm, &err));
    ASSERT_STR_EQ(norm, "{\"M\":16,\"efConstruction\":64}");
    kite_free(norm);
    ASSERT_EQ_INT(validate("HNSW", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 8, "{\"M\":1}", NULL,
                           NULL, &err),
                  KITE_EINVAL);
    ASSERT_STR_EQ(err.message, "Out of range in json: param 'M' (1) should be in range [2, 2048]");
    ASSERT_EQ_INT(validate("HNSW", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 8, "{\"M\":2049}", NULL,
                           NULL, &err),
                  KITE_EINVAL);
    ASSERT_EQ_INT(validate("HNSW", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 8,
                           "{\"efConstruction\":0}", NULL, NULL, &err),
                  KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "param 'efConstruction' (0) should be in range [1, 2147483647]");
    ASSERT_EQ_INT(validate("HNSW", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 8, "{\"M\":\"abc\"}",
                           NULL, NULL, &err),
                  KITE_EINVAL);
    ASSERT_STR_EQ(err.message, "Type conflict in json: param 'M' (\"abc\") should be integer");
    ASSERT_EQ_INT(validate("HNSW", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 8, "{\"M\":1.5}", NULL,
                           NULL, &err),
                  KITE_EINVAL);
    ASSERT_EQ_INT(validate("HNSW", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 8, "[1]", NULL, NULL,
                           &err),
                  KITE_EINVAL);
    ASSERT_EQ_INT(validate("HNSW", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 8, "{bad", NULL, NULL,
                           &err),
                  KITE_EINVAL);
    /* Binary HNSW: HAMMING/JACCARD only. */
    ASSERT_OK(validate("HNSW", KITE_METRIC_JACCARD, KITE_DT_BINARY_VECTOR, 64, NULL, &rt, NULL,
                       &err));
    ASSERT_EQ_INT(validate("HNSW", KITE_METRIC_SUBSTRUCTURE, KITE_DT_BINARY_VECTOR, 64, NULL,
                           NULL, NULL, &err),
                  KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "[HAMMING JACCARD]");
    ASSERT_EQ_INT(validate("HNSW", KITE_METRIC_L2, KITE_DT_BINARY_VECTOR, 64, NULL, NULL, NULL,
                           &err),
                  KITE_EINVAL);
}

TEST(vindex_ivf_params)
{
    kite_err err;
    const char *rt;
    char *norm = NULL;
    ASSERT_OK(validate("IVF_FLAT", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 8, "{}", &rt, &norm,
                       &err));
    ASSERT_STR_EQ(norm, "{\"nlist\":128}");
    kite_free(norm);
    ASSERT_EQ_INT(validate("IVF_FLAT", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 8,
                           "{\"nlist\":200000}", NULL, NULL, &err),
                  KITE_EINVAL);
    ASSERT_STR_EQ(err.message,
                  "Out of range in json: param 'nlist' (200000) should be in range [1, 65536]");
    ASSERT_EQ_INT(validate("IVF_FLAT", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 8, "{\"nlist\":0}",
                           NULL, NULL, &err),
                  KITE_EINVAL);
    /* IVF_PQ: m required, dim % m == 0. */
    ASSERT_EQ_INT(validate("IVF_PQ", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 16, "{\"nlist\":4}",
                           NULL, NULL, &err),
                  KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "param 'm' is required");
    ASSERT_EQ_INT(validate("IVF_PQ", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 16, "{\"m\":3}", NULL,
                           NULL, &err),
                  KITE_EINVAL);
    ASSERT_STR_EQ(err.message, "dimension must be able to be divided by `m`, dimension: 16, m: 3");
    ASSERT_OK(validate("SCANN", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 16, NULL, &rt, &norm, &err));
    ASSERT_STR_EQ(norm, "{\"nlist\":128,\"with_raw_data\":true}");
    kite_free(norm);
    ASSERT_EQ_INT(validate("SCANN", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 15, NULL, NULL, NULL, &err), KITE_EINVAL);
    ASSERT_EQ_INT(validate("SCANN", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 16, "{\"with_raw_data\":3}", NULL, NULL, &err), KITE_EINVAL);
    ASSERT_OK(validate("IVF_PQ", KITE_METRIC_IP, KITE_DT_FLOAT_VECTOR, 16, "{\"m\":4}", &rt,
                       &norm, &err));
    ASSERT_STR_EQ(norm, "{\"m\":4,\"nbits\":8,\"nlist\":128}");
    kite_free(norm);
    ASSERT_EQ_INT(validate("IVF_PQ", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 16,
                           "{\"m\":4,\"nbits\":0}", NULL, NULL, &err),
                  KITE_EINVAL);
    ASSERT_EQ_INT(validate("IVF_SQ8", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 16, "{\"nbits\":4}",
                           NULL, NULL, &err),
                  KITE_EINVAL);
    /* BIN_IVF_FLAT: binary, HAMMING/JACCARD. */
    ASSERT_OK(validate("BIN_IVF_FLAT", KITE_METRIC_HAMMING, KITE_DT_BINARY_VECTOR, 128,
                       "{\"nlist\":\"64\"}", &rt, &norm, &err));
    ASSERT_STR_EQ(norm, "{\"nlist\":64}");
    kite_free(norm);
    ASSERT_EQ_INT(validate("BIN_IVF_FLAT", KITE_METRIC_TANIMOTO, KITE_DT_BINARY_VECTOR, 128,
                           NULL, NULL, NULL, &err),
                  KITE_EINVAL);
    ASSERT_EQ_INT(validate("BIN_IVF_FLAT", KITE_METRIC_HAMMING, KITE_DT_BINARY_VECTOR, 12, NULL,
                           NULL, NULL, &err),
                  KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "multiple of 8");
}

TEST(vindex_autoindex)
{
    kite_err err;
    const char *rt;
    char *norm = NULL;
    ASSERT_OK(validate("AUTOINDEX", KITE_METRIC_COSINE, KITE_DT_FLOAT_VECTOR, 8, NULL, &rt, &norm,
                       &err));
    ASSERT_STR_EQ(rt, "HNSW");
    ASSERT_STR_EQ(norm, "{\"M\":18,\"efConstruction\":240}");
    kite_free(norm);
    ASSERT_OK(validate(NULL, KITE_METRIC_NONE, KITE_DT_BINARY_VECTOR, 64, NULL, &rt, &norm,
                       &err));
    ASSERT_STR_EQ(rt, "BIN_IVF_FLAT");
    ASSERT_STR_EQ(norm, "{\"nlist\":1024}");
    kite_free(norm);
    ASSERT_EQ_INT(validate("AUTOINDEX", KITE_METRIC_IP, KITE_DT_INT64, 0, NULL, &rt, NULL, &err),
                  KITE_EINDEXTYPE);
}

static int parse(const char *type, const char *json, int64_t k, struct vsearch_params *p,
                 kite_err *err)
{
    kite_err_clear(err);
    return vindex_parse_search_params(type, json, k, p, err);
}

TEST(vindex_search_params)
{
    kite_err err;
    struct vsearch_params p;
    ASSERT_OK(parse("HNSW", NULL, 10, &p, &err));
    ASSERT_EQ_INT(p.ef, 16);
    ASSERT_EQ_INT(p.k, 10);
    ASSERT_OK(parse("HNSW", "{}", 100, &p, &err));
    ASSERT_EQ_INT(p.ef, 100);
    ASSERT_OK(parse("HNSW", "{\"ef\":\"64\"}", 10, &p, &err));
    ASSERT_EQ_INT(p.ef, 64);
    ASSERT_OK(parse("HNSW", "{\"params\":{\"ef\":80}}", 10, &p, &err));
    ASSERT_EQ_INT(p.ef, 80);
    ASSERT_EQ_INT(parse("HNSW", "{\"ef\":5}", 10, &p, &err), KITE_EINVAL);
    ASSERT_STR_EQ(err.message, "ef(5) should be larger than k(10)");
    ASSERT_EQ_INT(parse("HNSW", "{\"ef\":0}", 1, &p, &err), KITE_EINVAL);
    ASSERT_EQ_INT(parse("HNSW", "{\"ef\":true}", 1, &p, &err), KITE_EINVAL);
    /* nprobe is ignored by HNSW (knowhere validates only the type's keys). */
    ASSERT_OK(parse("HNSW", "{\"nprobe\":0}", 10, &p, &err));

    ASSERT_OK(parse("IVF_FLAT", NULL, 10, &p, &err));
    ASSERT_EQ_INT(p.nprobe, 8);
    ASSERT_OK(parse("IVF_PQ", "{\"nprobe\":\"32\"}", 10, &p, &err));
    ASSERT_EQ_INT(p.nprobe, 32);
    ASSERT_EQ_INT(parse("IVF_FLAT", "{\"nprobe\":0}", 10, &p, &err), KITE_EINVAL);
    ASSERT_STR_EQ(err.message,
                  "Out of range in json: param 'nprobe' (0) should be in range [1, 65536]");
    ASSERT_EQ_INT(parse("IVF_FLAT", "{\"nprobe\":65537}", 10, &p, &err), KITE_EINVAL);

    ASSERT_OK(parse("SCANN", "{\"reorder_k\":50}", 10, &p, &err));
    ASSERT_EQ_INT(p.reorder_k, 50);
    ASSERT_EQ_INT(parse("SCANN", "{\"reorder_k\":5}", 10, &p, &err), KITE_EINVAL);
    ASSERT_OK(parse("ANNOY", NULL, 10, &p, &err));
    ASSERT_EQ_INT(p.search_k, -1);
    ASSERT_EQ_INT(parse("ANNOY", "{\"search_k\":3}", 10, &p, &err), KITE_EINVAL);

    ASSERT_EQ_INT(parse("WHAT", NULL, 10, &p, &err), KITE_EINVAL);
    ASSERT_EQ_INT(parse("FLAT", NULL, 0, &p, &err), KITE_EINVAL);
}

TEST(vindex_search_params_range)
{
    kite_err err;
    struct vsearch_params p;
    ASSERT_OK(parse("FLAT", "{\"radius\":1.5,\"range_filter\":\"0.5\"}", 10, &p, &err));
    ASSERT(p.has_radius && p.has_range_filter);
    ASSERT_NEAR(p.radius, 1.5, 1e-6);
    ASSERT_NEAR(p.range_filter, 0.5, 1e-6);
    ASSERT_EQ_INT(parse("FLAT", "{\"range_filter\":0.5}", 10, &p, &err), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "requires radius");
    ASSERT_EQ_INT(parse("FLAT", "{\"radius\":\"x\"}", 10, &p, &err), KITE_EINVAL);
    /* Range search on HNSW: default ef 512 and no ef >= k rule. */
    ASSERT_OK(parse("HNSW", "{\"radius\":2}", 10, &p, &err));
    ASSERT_EQ_INT(p.ef, 512);
    ASSERT_OK(parse(NULL, NULL, 10, &p, &err));
    ASSERT(!p.has_radius);
}
