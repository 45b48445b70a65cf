/*
 * graph_exec.c — executes a loaded graph.
 *
 * Threading model: a run owns its value table (activations); the model is
 * only read, so concurrent runs on one model are safe.  Parallelism inside a
 * run comes from the ops (vpar over the model's kite_pool).
 *
 * Invariants:
 *   1. Values are visited in the model's topological order; an activation is
 *      freed right after its last reader (model->last_use) unless it is a graph
 *      output or a constant.
 *   2. Constants and caller inputs are borrowed views, never freed or written.
 *   3. Large dead buffers go to the run's spares and, when the run ends, to the
 *      model's buffer cache for the next run (onnx_int.h invariant 4).
 *   4. kite_model_run splits a batch into single-image runs only for models
 *      that vmodel_batch_separable() accepted at load; results are the same.
 *   5. A Conv immediately followed (in node order) by an Add that is the only
 *      reader of the conv's output runs as one node (try_fuse_add): the other
 *      Add operand is added in the conv's epilogue, before the Add's fused
 *      Relu/Clip, and the conv's own output value is never materialised.  Same
 *      arithmetic as Add(conv + bias, other) (one rounding order), one memory
 *      pass less per ResNet block.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "err.h"
#include "onnx_int.h"
#include "pool.h"

struct vpar_job {
    void (*fn)(size_t, size_t, int, void *);
    void *udata;
};

static void vpar_tramp(size_t b, size_t e, int worker, void *ud)
{
    struct vpar_job *j = ud;
    j->fn(b, e, worker, j->udata);
}

void vpar(struct vctx *c, size_t n, size_t grain, void (*fn)(size_t, size_t, int, void *),
          void *udata)
{
    struct vpar_job j = {fn, udata};
    if (!n)
        return;
    if (!c->pool || n <= grain) {
        fn(0, n, 0, udata);
        return;
    }
    kite_pool_parallel_for(c->pool, n, grain ? grain : 1, vpar_tramp, &j);
}

int vpar_workers(const struct vctx *c)
{
    return c->pool ? kite_pool_size(c->pool) : 1;
}

static int check_input(const kite_model *m, int i, const struct vt *t, kite_err *err)
{
    const struct vdecl *d = &m->in_decl[i];
    if (t->type != d->type)
        return kite_err_set(err, KITE_EINVAL, "input '%s': expected %s data",
                            m->names[m->inputs[i]], d->type == VT_F32 ? "float32" : "int64");
    if (d->ndim < 0)
        return KITE_OK;
    if (t->ndim != d->ndim)
        return kite_err_set(err, KITE_EINVAL, "input '%s': expected rank %d, not %d",
                            m->names[m->inputs[i]], d->ndim, t->ndim);
    for (int k = 0; k < d->ndim; k++)
        if (d->dims[k] >= 0 && d->dims[k] != t->dims[k])
            return kite_err_set(err, KITE_EINVAL, "input '%s': dimension %d is %lld, expected %lld",
                                m->names[m->inputs[i]], k, (long long)t->dims[k],
                                (long long)d->dims[k]);
    if (vt_count(t->ndim, t->dims) != t->len)
        return kite_err_set(err, KITE_EINVAL, "input '%s': length does not match dims",
                            m->names[m->inputs[i]]);
    return KITE_OK;
}

double *vmodel_prof_ms;

static int run_node(struct vctx *c, const struct vnode *n, struct vt *vals)
{
    struct vt *in[16], *out[8], absent_out[8];
    vop_fn fn = vop_lookup(n->op);
    int rc;
    if (!fn || n->n_out < 1)
        return kite_err_set(c->err, KITE_EINTERNAL, "node '%s' has no kernel or no output",
                            n->name);
    if (n->n_in > 16 || n->n_out > 8)
        return kite_err_set(c->err, KITE_EUNSUPPORTED, "node '%s' has too many inputs/outputs",
                            n->name);
    memset(absent_out, 0, sizeof(absent_out));
    for (int j = 0; j < n->n_in; j++) {
        in[j] = n->in[j] >= 0 ? &vals[n->in[j]] : NULL;
        if (in[j] && !in[j]->type)
            return kite_err_set(c->err, KITE_EINTERNAL, "node '%s': input not computed",
                                n->name);
    }
    for (int j = 0; j < n->n_out; j++)
        out[j] = n->out[j] >= 0 ? &vals[n->out[j]] : &absent_out[j];
    if (vmodel_prof_ms && !c->shape_only) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = fn(c, n, in, out);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        vmodel_prof_ms[n - c->m->nodes] +=
            (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    } else {
        rc = fn(c, n, in, out);
    }
    for (int j = 0; j < n->n_out; j++)
        vt_clear(&absent_out[j]);
    if (rc != KITE_OK && c->err)
        kite_err_prefix(c->err, "node '%s' (%s)", n->name, vop_name(n->op));
    return rc;
}

int vmodel_fuse_add = -1; /* -1 = not yet read from KITE_FUSE_ADD */

static void fuse_env_init(void)
{
    const char *e = getenv("KITE_FUSE_ADD");
    if (vmodel_fuse_add < 0)
        vmodel_fuse_add = e && e[0] == '0' ? 0 : 1;
}

/*
 * Run nodes i (Conv) and i + 1 (Add) as one fused conv when invariant 5
 * allows.  Returns 1 when done, 0 when not fusable (nothing done), or a
 * negative error.
 */
static int try_fuse_add(struct vctx *c, int i, struct vt *vals)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    const kite_model *m = c->m;
    const struct vnode *n = &m->nodes[i], *add;
    struct vnode conv;
    struct vt *in[3], *out[1];
    int v, other, rc;
    pthread_once(&once, fuse_env_init);
    if (!vmodel_fuse_add || c->shape_only || n->op != OP_CONV || i + 1 >= m->n_nodes ||
        n->n_out != 1 || n->n_in > 3 || n->a.has_min || n->a.has_max)
        return 0;
    add = &m->nodes[i + 1];
    v = n->out[0];
    if (add->op != OP_ADD || add->n_in != 2 || add->n_out != 1 || add->out[0] < 0 || v < 0 ||
        m->last_use[v] != i + 1 || m->keep[v] || (add->in[0] == v) == (add->in[1] == v))
        return 0;
    other = add->in[0] == v ? add->in[1] : add->in[0];
    if (other < 0 || vals[other].type != VT_F32 || !vals[other].data)
        return 0;
    for (int j = 0; j < n->n_in; j++) {
        in[j] = n->in[j] >= 0 ? &vals[n->in[j]] : NULL;
        if (in[j] && !in[j]->type)
            return 0;
    }
    conv = *n; /* shallow: the add's Relu/Clip becomes the conv's */
    conv.a.has_min = add->a.has_min;
    conv.a.has_max = add->a.has_max;
    conv.a.fmin = add->a.fmin;
    conv.a.fmax = add->a.fmax;
    out[0] = &vals[add->out[0]];
    if (vmodel_prof_ms) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = vop_conv_fused(c, &conv, in, out, &vals[other]);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        vmodel_prof_ms[i] +=
            (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    } else {
        rc = vop_conv_fused(c, &conv, in, out, &vals[other]);
    }
    if (rc == KITE_EUNSUPPORTED)
        return 0;
    if (rc != KITE_OK) {
        if (c->err)
            kite_err_prefix(c->err, "node '%s' (Conv + Add '%s')", n->name, add->name);
        return rc;
    }
    return 1;
}

/* After node i ran: free its inputs at their last use and its outputs nobody reads. */
static void release_after(struct vctx *c, int i, struct vt *vals)
{
    const kite_model *m = c->m;
    const struct vnode *n = &m->nodes[i];
    for (int j = 0; j < n->n_in; j++) {
        int v = n->in[j];
        if (v >= 0 && m->last_use[v] == i && !m->keep[v])
            vt_release(c, &vals[v]);
    }
    for (int j = 0; j < n->n_out; j++) {
        int v = n->out[j];
        if (v >= 0 && m->last_use[v] < 0 && !m->keep[v])
            vt_release(c, &vals[v]);
    }
}

int vmodel_run(const kite_model *m, const struct vt *inputs, int n_in, struct vt *outputs,
               int n_out, bool shape_only, kite_err *err)
{
    struct vctx c;
    struct vt *vals;
    int rc = KITE_OK;
    memset(&c, 0, sizeof(c));
    c.m = m;
    c.pool = m->pool;
    c.shape_only = shape_only;
    c.err = err;
    if (n_in != m->n_inputs)
        return kite_err_set(err, KITE_EINVAL, "model takes %d inputs, got %d", m->n_inputs,
                            n_in);
    if (n_out < 0 || n_out > m->n_outputs)
        return kite_err_set(err, KITE_EINVAL, "model has %d outputs, asked for %d", m->n_outputs,
                            n_out);
    vals = kite_calloc((size_t)m->n_values + 1, sizeof(struct vt));
    if (!vals)
        return kite_err_set(err, KITE_ENOMEM, "out of memory for the value table");
    vctx_take_cache(&c);
    for (int v = 0; v < m->n_values; v++)
        if (m->consts[v].type)
            vt_view(&vals[v], &m->consts[v]);
    for (int i = 0; i < n_in; i++) {
        if (!shape_only && (rc = check_input(m, i, &inputs[i], err)) != KITE_OK)
            goto out_free;
        vt_view(&vals[m->inputs[i]], &inputs[i]);
    }
    for (int i = 0; i < m->n_nodes; i++) {
        int fused = try_fuse_add(&c, i, vals);
        if (fused < 0) {
            rc = fused;
            goto out_free;
        }
        if (fused) {
            release_after(&c, i, vals);
            release_after(&c, ++i, vals);
            continue;
        }
        rc = run_node(&c, &m->nodes[i], vals);
        if (rc != KITE_OK)
            goto out_free;
        release_after(&c, i, vals);
    }
    for (int i = 0; i < n_out; i++) {
        struct vt *v = &vals[m->outputs[i]];
        if (!v->type) {
            rc = kite_err_set(err, KITE_EINTERNAL, "output '%s' was not computed",
                              m->names[m->outputs[i]]);
            goto out_free;
        }
        if (v->owned || (shape_only && !v->data)) {
            outputs[i] = *v;
            memset(v, 0, sizeof(*v));
        } else if ((rc = vt_copy(&outputs[i], v)) != KITE_OK) {
            rc = kite_err_set(err, rc, "out of memory copying output");
            goto out_free;
        }
    }
out_free:
    if (rc != KITE_OK)
        for (int i = 0; i < n_out; i++)
            vt_clear(&outputs[i]);
    for (int v = 0; v < m->n_values; v++)
        vt_release(&c, &vals[v]);
    vctx_return_cache(&c);
    kite_free(vals);
    return rc;
}

static bool is_const(const kite_model *m, int v)
{
    return v >= 0 && m->consts[v].type != 0;
}

/* Axis attribute that can never name dim 0 of an activation of rank >= 2. */
static bool axis_not_batch(const struct vnode *n, int64_t dflt)
{
    int64_t axis = n->a.has_axis ? n->a.axis : dflt;
    return axis >= 1 || axis == -1;
}

bool vmodel_batch_separable(const kite_model *m)
{
    if (m->n_inputs != 1 || m->in_decl[0].type != VT_F32 || m->in_decl[0].ndim < 2)
        return false;
    for (int i = 0; i < m->n_nodes; i++) {
        const struct vnode *n = &m->nodes[i];
        bool ok;
        switch (n->op) {
        case OP_CONV: case OP_BN: case OP_RELU: case OP_CLIP: case OP_SIGMOID:
        case OP_MAXPOOL: case OP_AVGPOOL: case OP_GAP: case OP_GMP: case OP_IDENTITY:
        case OP_DROPOUT:
            ok = !is_const(m, n->in[0]); /* weights/bounds are the other inputs */
            break;
        case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: {
            /* both activations (both carry the batch in dim 0), or a scalar constant */
            ok = n->n_in == 2;
            for (int k = 0; ok && k < 2; k++)
                ok = !is_const(m, n->in[k]) || m->consts[n->in[k]].len == 1;
            ok = ok && !(is_const(m, n->in[0]) && is_const(m, n->in[1]));
            break;
        }
        case OP_FLATTEN:
            ok = n->a.has_axis ? n->a.axis == 1 : true; /* default axis 1 */
            break;
        case OP_GEMM: /* rows of A are samples; B and C constants */
            ok = !n->a.trans_a && !is_const(m, n->in[0]) && is_const(m, n->in[1]) &&
                 (n->n_in < 3 || n->in[2] < 0 || is_const(m, n->in[2]));
            break;
        case OP_SOFTMAX: case OP_LPNORM:
            ok = axis_not_batch(n, n->op == OP_SOFTMAX && m->opset < 13 ? 1 : -1);
            break;
        case OP_PAD: { /* constant pads that leave dim 0 alone */
            const struct vt *p = m->opset >= 11 && n->n_in > 1 && is_const(m, n->in[1])
                                     ? &m->consts[n->in[1]] : NULL;
            if (m->opset < 11)
                ok = n->a.n_pads >= 2 && n->a.pads[0] == 0 && n->a.pads[n->a.n_pads / 2] == 0;
            else
                ok = p && p->type == VT_I64 && p->len >= 2 && p->len % 2 == 0 &&
                     ((const int64_t *)p->data)[0] == 0 &&
                     ((const int64_t *)p->data)[p->len / 2] == 0;
            break;
        }
        default:
            ok = false; /* Reshape, Shape, Gather, Concat, Transpose, MatMul, ...: whole batch */
            break;
        }
        if (!ok)
            return false;
    }
    return true;
}

/*
 * Batch of a separable model, one image per vmodel_run: same results as the
 * whole-batch run (every kernel already works per image), outputs stitched
 * along dim 0.  Returns KITE_EUNSUPPORTED (nothing allocated) when an output
 * turns out not to have the batch in dim 0, so the caller runs the whole batch.
 */
static int run_split(const kite_model *m, const struct vt *input, struct vt *out, int n_out,
                     kite_err *err)
{
    int64_t N = input->dims[0];
    size_t per_in = input->len / (size_t)N;
    int rc = KITE_OK;
    for (int64_t b = 0; b < N && rc == KITE_OK; b++) {
        struct vt one = *input, part[16];
        memset(part, 0, sizeof(part));
        one.dims[0] = 1;
        one.len = per_in;
        one.owned = false;
        one.data = (float *)input->data + (size_t)b * per_in;
        if ((rc = vmodel_run(m, &one, 1, part, n_out, false, err)) != KITE_OK)
            break;
        for (int i = 0; i < n_out && rc == KITE_OK; i++) {
            size_t esz = part[i].type == VT_I64 ? sizeof(int64_t) : sizeof(float);
            if (part[i].ndim < 1 || part[i].dims[0] != 1) {
                rc = KITE_EUNSUPPORTED;
            } else if (b == 0) {
                int64_t d[VT_MAX_DIMS];
                memcpy(d, part[i].dims, sizeof(d));
                d[0] = N;
                rc = vt_make(NULL, &out[i], part[i].type, part[i].ndim, d);
                if (rc != KITE_OK)
                    rc = kite_err_set(err, rc, "out of memory for outputs");
            } else if (out[i].type != part[i].type || out[i].len != part[i].len * (size_t)N) {
                rc = KITE_EUNSUPPORTED;
            }
            if (rc == KITE_OK && part[i].len)
                memcpy((char *)out[i].data + (size_t)b * part[i].len * esz, part[i].data,
                       part[i].len * esz);
        }
        for (int i = 0; i < n_out; i++)
            vt_clear(&part[i]);
    }
    if (rc != KITE_OK)
        for (int i = 0; i < n_out; i++)
            vt_clear(&out[i]);
    return rc;
}

int kite_model_run(const kite_model *m, const kite_tensor *inputs, int n_in, kite_tensor *outputs,
                   int n_out, kite_err *err)
{
    struct vt in[16], out[16];
    int rc;
    if (!m || (!inputs && n_in) || (!outputs && n_out))
        return kite_err_set(err, KITE_EINVAL, "kite_model_run: model, inputs and outputs needed");
    if (n_in > 16 || n_out > 16 || n_in < 0)
        return kite_err_set(err, KITE_EINVAL, "kite_model_run: at most 16 inputs/outputs");
    memset(in, 0, sizeof(in));
    memset(out, 0, sizeof(out));
    for (int i = 0; i < n_in; i++) {
        if (inputs[i].ndim < 0 || inputs[i].ndim > VT_MAX_DIMS || !inputs[i].data)
            return kite_err_set(err, KITE_EINVAL, "input %d: invalid tensor", i);
        in[i].type = VT_F32;
        in[i].ndim = inputs[i].ndim;
        memcpy(in[i].dims, inputs[i].dims, sizeof(in[i].dims));
        in[i].len = vt_count(in[i].ndim, in[i].dims);
        in[i].data = inputs[i].data;
        if (in[i].len == SIZE_MAX)
            return kite_err_set(err, KITE_EINVAL, "input %d: invalid dims", i);
    }
    rc = KITE_EUNSUPPORTED;
    if (m->batch_split && n_in == 1 && n_out >= 1 && in[0].ndim >= 2 && in[0].dims[0] > 1 &&
        check_input(m, 0, &in[0], err) == KITE_OK)
        rc = run_split(m, &in[0], out, n_out, err);
    if (rc == KITE_EUNSUPPORTED) /* not separable after all: the whole batch at once */
        rc = vmodel_run(m, in, n_in, out, n_out, false, err);
    if (rc != KITE_OK)
        return rc;
    for (int i = 0; i < n_out; i++) {
        float *f;
        memset(&outputs[i], 0, sizeof(outputs[i]));
        outputs[i].ndim = out[i].ndim;
        memcpy(outputs[i].dims, out[i].dims, sizeof(out[i].dims));
        f = kite_malloc(out[i].len ? out[i].len * sizeof(float) : 1);
        if (!f) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory for outputs");
            for (int k = 0; k < i; k++)
                kite_free(outputs[k].data);
            break;
        }
        for (size_t k = 0; k < out[i].len; k++)
            f[k] = out[i].type == VT_F32 ? ((float *)out[i].data)[k]
                                         : (float)((int64_t *)out[i].data)[k];
        outputs[i].data = f;
    }
    for (int i = 0; i < n_out; i++)
        vt_clear(&out[i]);
    return rc;
}
