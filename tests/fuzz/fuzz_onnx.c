/*
 * fuzz_onnx.c — arbitrary bytes loaded as an ONNX model (protobuf parse, graph
 * checks, topological sort, load-time shape inference); a model that loads is
 * run once on a small input when its declared input is float of rank <= 4
 * with small known dims.
 * Seed corpus: tests/fuzz/corpus/onnx (small valid models).
 * Links: kite_vision, kite_core (+ protobuf-c, openblas, codec libraries).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "vision.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kite_model *m = NULL;
    kite_err err;
    int ndim = 0;
    int64_t dims[KITE_MODEL_MAX_DIMS];
    if (kite_model_load_buffer(data, size, NULL, &m, &err) != KITE_OK)
        return 0;
    if (kite_model_input_count(m) == 1 && kite_model_output_count(m) >= 1 &&
        kite_model_input_info(m, 0, NULL, &ndim, dims) == KITE_OK && ndim >= 1 && ndim <= 4) {
        size_t n = 1;
        for (int i = 0; i < ndim; i++) {
            if (dims[i] < 0)
                dims[i] = 1;
            n *= (size_t)(dims[i] ? dims[i] : 1);
        }
        if (n <= 4096) {
            kite_tensor in, out;
            float *x = calloc(n, sizeof(float));
            memset(&in, 0, sizeof(in));
            in.ndim = ndim;
            memcpy(in.dims, dims, sizeof(int64_t) * (size_t)ndim);
            in.data = x;
            if (x && kite_model_run(m, &in, 1, &out, 1, &err) == KITE_OK)
                kite_free(out.data);
            free(x);
        }
    }
    kite_model_free(m);
    return 0;
}
