/* The stepper's cached path: the sources are encoded once (with every decoder layer's cross-attention
 * keys and values), then each step runs one position per row through the step graph, whose
 * self-attention keeps earlier positions' keys and values in per-layer caches. Beam search reorders
 * rows by gathering the caches on the device. */
#include <stdlib.h>
#include <string.h>

#include "model/decoder_cache.h"
#include "ops/kv_cache.h"
#include "stepper_internal.h"

struct clf_decode_state {
    clf_decoder_graphs *d;
    int32_t *mask;  /* [B, cap]: 1 where a fed, non-PAD position may be attended */
    int32_t *token; /* [B] */
    int32_t *perm;  /* [B, max(cap, Ts)]: a reorder's scratch */
    int32_t position;
};

static clf_dims dims_of(const clf_stepper *s) {
    clf_dims d = {s->B, s->Ts, s->cap, 0};
    return d;
}

/* Encode the sources and leave each layer's cross-attention keys and values in the step graph. */
static clf_status encode(clf_stepper *s, clf_decoder_graphs *d) {
    clf_device *dev = s->mg->model->dev;
    size_t ns = (size_t)s->B * (size_t)s->Ts;
    int32_t *mask = malloc(ns * sizeof *mask);
    if (!mask) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory encoding");
    for (size_t i = 0; i < ns; i++) mask[i] = s->src[i] != CLF_PAD;
    clf_status st = clf_buffer_write(dev, clf_tensor_buffer(d->src), 0, ns * 4, s->src);
    if (st == CLF_OK) st = clf_buffer_write(dev, clf_tensor_buffer(d->src_mask), 0, ns * 4, mask);
    if (st == CLF_OK) st = clf_buffer_write(dev, clf_tensor_buffer(d->step_src_mask), 0, ns * 4, mask);
    free(mask);
    clf_run run = {{s->B, s->Ts, 1, 0}, false, 0, 0, 0.0f};
    if (st == CLF_OK) st = clf_graph_forward(d->encode, &run);
    size_t bytes = ns * (size_t)s->mg->model->cfg.d_model * 4;
    cl_command_queue q = clf_device_queue(dev);
    for (int i = 0; st == CLF_OK && i < s->mg->model->cfg.n_dec_layers; i++) {
        cl_int err = clEnqueueCopyBuffer(q, clf_tensor_buffer(d->cross_k_out[i]),
                                         clf_tensor_buffer(d->hooks.cross_k[i]), 0, 0, bytes, 0, NULL, NULL);
        if (err == CL_SUCCESS)
            err = clEnqueueCopyBuffer(q, clf_tensor_buffer(d->cross_v_out[i]), clf_tensor_buffer(d->hooks.cross_v[i]),
                                      0, 0, bytes, 0, NULL, NULL);
        if (err != CL_SUCCESS) st = CLF_CL_ERROR(err, "copying layer %d's cross-attention keys and values", i);
    }
    return st;
}

clf_status clf_stepper_cached_begin(clf_stepper *s) {
    clf_model_graph *mg = s->mg;
    clf_status st = mg->decode ? CLF_OK : clf_decoder_graphs_new(mg->model, mg->max, &mg->decode);
    if (st != CLF_OK) return st;
    struct clf_decode_state *kv = calloc(1, sizeof *kv);
    if (!kv) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory for decoding");
    s->kv = kv;
    kv->d = mg->decode;
    size_t nt = (size_t)s->B * (size_t)s->cap;
    kv->mask = calloc(nt, sizeof *kv->mask);
    kv->perm = malloc((size_t)s->B * (size_t)(s->cap > s->Ts ? s->cap : s->Ts) * sizeof *kv->perm);
    kv->token = malloc((size_t)s->B * sizeof *kv->token);
    if (!kv->mask || !kv->perm || !kv->token) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory for decoding");
    return mg->model->cfg.arch == CLF_ARCH_ENCDEC ? encode(s, kv->d) : CLF_OK;
}

clf_status clf_stepper_cached_step(clf_stepper *s, float *logits) {
    struct clf_decode_state *kv = s->kv;
    clf_decoder_graphs *d = kv->d;
    clf_device *dev = s->mg->model->dev;
    int32_t p = s->n - 1; /* < cap <= max_len: the positional table has the row */
    for (int b = 0; b < s->B; b++) {
        kv->token[b] = s->hist[b * s->cap + p];
        kv->mask[b * s->cap + p] = kv->token[b] != CLF_PAD;
    }
    /* the uploads do not block: the step ends with a wait (the logits' read, or a finish), and the
     * host arrays change only at the next step */
    cl_command_queue q = clf_device_queue(dev);
    kv->position = p;
    cl_int err = clEnqueueWriteBuffer(q, clf_tensor_buffer(d->token), CL_FALSE, 0, (size_t)s->B * 4, kv->token, 0,
                                      NULL, NULL);
    if (err == CL_SUCCESS)
        err = clEnqueueWriteBuffer(q, clf_tensor_buffer(d->position), CL_FALSE, 0, 4, &kv->position, 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clEnqueueWriteBuffer(q, clf_tensor_buffer(d->self_mask), CL_FALSE, 0, (size_t)s->B * (size_t)s->cap * 4,
                                   kv->mask, 0, NULL, NULL);
    clf_status st = err == CL_SUCCESS ? CLF_OK : CLF_CL_ERROR(err, "uploading a decoding step's inputs");
    clf_run run = {dims_of(s), false, 0, 0, 0.0f};
    if (st == CLF_OK) st = clf_graph_forward(d->step, &run);
    if (st == CLF_OK)
        st = logits ? clf_buffer_read(dev, clf_tensor_buffer(d->logits), 0, (size_t)s->B * (size_t)s->V * 4, logits)
                    : clf_device_finish(dev);
    if (st != CLF_OK) clf_device_finish(dev); /* nothing may still read the host arrays */
    return st;
}

/* buf [B, T, d] = buf[parent rows] for the first n positions, through the scratch buffer. */
static clf_status gather(clf_stepper *s, cl_mem buf, int T, int n) {
    clf_decoder_graphs *d = s->kv->d;
    clf_device *dev = s->mg->model->dev;
    int dm = s->mg->model->cfg.d_model;
    size_t bytes = (size_t)s->B * (size_t)T * (size_t)dm * 4;
    cl_int err = clEnqueueCopyBuffer(clf_device_queue(dev), buf, d->scratch, 0, 0, bytes, 0, NULL, NULL);
    if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "copying %zu bytes for a reorder", bytes);
    return clf_kv_cache_gather(dev, buf, d->scratch, d->index, s->B, T, n, dm);
}

/* Called after stepper.c moved the rows of s->hist and s->src. */
clf_status clf_stepper_cached_reorder(clf_stepper *s, const int *parent) {
    struct clf_decode_state *kv = s->kv;
    clf_decoder_graphs *d = kv->d;
    clf_device *dev = s->mg->model->dev;
    int B = s->B, T = s->cap;
    for (int b = 0; b < B; b++) {
        kv->token[b] = parent[b];
        memcpy(kv->perm + (size_t)b * (size_t)T, kv->mask + (size_t)parent[b] * (size_t)T, (size_t)T * sizeof *kv->perm);
    }
    memcpy(kv->mask, kv->perm, (size_t)B * (size_t)T * sizeof *kv->mask);
    clf_status st = clf_buffer_write(dev, d->index, 0, (size_t)B * 4, kv->token);
    /* sources move only when rows had different ones (beam search repeats one: nothing to do) */
    bool cross = d->encode && s->src_moved;
    for (int i = 0; st == CLF_OK && i < s->mg->model->cfg.n_dec_layers; i++) {
        st = gather(s, clf_tensor_buffer(d->hooks.k_cache[i]), T, s->n);
        if (st == CLF_OK) st = gather(s, clf_tensor_buffer(d->hooks.v_cache[i]), T, s->n);
        if (st == CLF_OK && cross) st = gather(s, clf_tensor_buffer(d->hooks.cross_k[i]), s->Ts, s->Ts);
        if (st == CLF_OK && cross) st = gather(s, clf_tensor_buffer(d->hooks.cross_v[i]), s->Ts, s->Ts);
    }
    if (st == CLF_OK && cross) { /* the source mask follows its rows */
        size_t ns = (size_t)B * (size_t)s->Ts;
        for (size_t i = 0; i < ns; i++) kv->perm[i] = s->src[i] != CLF_PAD;
        st = clf_buffer_write(dev, clf_tensor_buffer(d->step_src_mask), 0, ns * 4, kv->perm);
    }
    return st;
}

void clf_stepper_cached_end(clf_stepper *s) {
    if (!s->kv) return;
    free(s->kv->mask);
    free(s->kv->perm);
    free(s->kv->token);
    free(s->kv);
    s->kv = NULL;
}
