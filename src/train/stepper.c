/* The stepper's bookkeeping and its full-recompute path: every row's tokens are kept on the host,
 * and a full step runs the model's graph on the whole prefix and keeps the last position's logits. */
#include <stdlib.h>
#include <string.h>

#include "stepper_internal.h"

clf_status clf_stepper_new(clf_model_graph *mg, bool cached, const int32_t *src, int B, int Ts, int cap,
                           clf_stepper **out) {
    *out = NULL;
    if (!mg) return CLF_ERROR(CLF_ERR_INVALID_ARG, "stepper: mg is NULL");
    bool encdec = mg->model->cfg.arch == CLF_ARCH_ENCDEC;
    if (B < 1 || B > mg->max.batch)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "stepper: %d rows outside the graph's 1..%d", B, mg->max.batch);
    if (cap < 1 || cap > mg->max.tgt_len)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "stepper: %d target positions outside the graph's 1..%d", cap,
                         mg->max.tgt_len);
    if (encdec && (!src || Ts < 1 || Ts > mg->max.src_len))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "stepper: source of length %d outside the graph's 1..%d%s", Ts,
                         mg->max.src_len, src ? "" : " (src is NULL)");
    if (!encdec) Ts = 0;
    clf_stepper *s = calloc(1, sizeof *s);
    if (!s) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory for a stepper");
    s->mg = mg;
    s->B = B;
    s->Ts = Ts;
    s->cap = cap;
    s->V = mg->model->cfg.vocab_size;
    size_t ns = (size_t)B * (size_t)Ts, nt = (size_t)B * (size_t)cap;
    s->src = malloc((ns ? ns : 1) * sizeof *s->src);
    s->hist = malloc(nt * sizeof *s->hist);
    s->scratch = malloc((size_t)B * (size_t)(cap > Ts ? cap : Ts) * sizeof *s->scratch);
    s->tout = malloc(nt * sizeof *s->tout);
    clf_status st = s->src && s->hist && s->scratch && s->tout ? CLF_OK
                                                              : CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory for a stepper");
    if (st == CLF_OK && ns) memcpy(s->src, src, ns * sizeof *s->src);
    for (size_t i = 0; st == CLF_OK && i < ns; i++)
        if (src[i] < 0 || src[i] >= s->V)
            st = CLF_ERROR(CLF_ERR_INVALID_ARG, "source[%zu] = %d is outside the vocabulary [0, %d)", i, (int)src[i],
                           s->V);
    if (st == CLF_OK && cached) st = clf_stepper_cached_begin(s);
    if (st != CLF_OK) {
        clf_stepper_free(s);
        return st;
    }
    *out = s;
    return CLF_OK;
}

void clf_stepper_free(clf_stepper *s) {
    if (!s) return;
    clf_stepper_cached_end(s);
    free(s->src);
    free(s->hist);
    free(s->scratch);
    free(s->tout);
    free(s);
}

int clf_stepper_length(const clf_stepper *s) { return s->n; }

/* One forward pass of the whole graph over every row's prefix; logits [B, V] of the last position. */
static clf_status full_step(clf_stepper *s, float *logits) {
    clf_model_graph *mg = s->mg;
    int B = s->B, n = s->n, V = s->V;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < n; j++) {
            s->scratch[b * n + j] = s->hist[b * s->cap + j];
            s->tout[b * n + j] = CLF_PAD;
        }
    clf_batch batch = {.B = B, .Ts = s->Ts, .Tt = n, .src = s->src, .tgt_in = s->scratch, .tgt_out = s->tout};
    clf_run run = {{B, s->Ts, n, 0}, false, 0, 0, 0.0f};
    clf_status st = clf_model_graph_set_batch(mg, &batch, NULL);
    if (st == CLF_OK) st = clf_graph_forward(mg->graph, &run);
    if (st != CLF_OK || !logits) return st;
    /* only the last position of each row comes back: a strided read */
    size_t row = (size_t)V * 4;
    size_t origin[3] = {(size_t)(n - 1) * row, 0, 0}, host[3] = {0, 0, 0}, region[3] = {row, (size_t)B, 1};
    clf_device_note_wait(mg->model->dev);
    cl_int err = clEnqueueReadBufferRect(clf_device_queue(mg->model->dev), clf_tensor_buffer(mg->logits), CL_TRUE,
                                         origin, host, region, (size_t)n * row, 0, row, 0, logits, 0, NULL, NULL);
    return err == CL_SUCCESS ? CLF_OK : CLF_CL_ERROR(err, "reading %d rows of logits", B);
}

clf_status clf_stepper_step(clf_stepper *s, const int32_t *tokens, int n, float *logits) {
    if (!s || !tokens || n < 1) return CLF_ERROR(CLF_ERR_INVALID_ARG, "stepper: no tokens to feed (n %d)", n);
    for (int i = 0; i < s->B * n; i++)
        if (tokens[i] < 0 || tokens[i] >= s->V)
            return CLF_ERROR(CLF_ERR_INVALID_ARG, "token %d is outside the vocabulary [0, %d)", (int)tokens[i], s->V);
    clf_status st = CLF_OK;
    for (int j = 0; j < n && st == CLF_OK; j++) {
        if (s->n == s->cap) { /* the window slides: every position changes, the caches are stale */
            for (int b = 0; b < s->B; b++)
                memmove(s->hist + b * s->cap, s->hist + b * s->cap + 1, (size_t)(s->cap - 1) * sizeof *s->hist);
            s->n--;
            s->slid = true;
        }
        for (int b = 0; b < s->B; b++) s->hist[b * s->cap + s->n] = tokens[b * n + j];
        s->n++;
        if (s->kv && !s->slid) st = clf_stepper_cached_step(s, j == n - 1 ? logits : NULL);
    }
    if (st == CLF_OK && (!s->kv || s->slid)) st = full_step(s, logits);
    return st;
}

clf_status clf_stepper_reorder(clf_stepper *s, const int *parent) {
    if (!s || !parent) return CLF_ERROR(CLF_ERR_INVALID_ARG, "stepper: parent is NULL");
    for (int b = 0; b < s->B; b++)
        if (parent[b] < 0 || parent[b] >= s->B)
            return CLF_ERROR(CLF_ERR_INVALID_ARG, "stepper: parent[%d] = %d outside [0, %d)", b, parent[b], s->B);
    /* a row's prefix moves with its source (beam search repeats one source, so there it is moot) */
    size_t row = (size_t)s->cap, srow = (size_t)s->Ts;
    for (int b = 0; b < s->B; b++) memcpy(s->scratch + b * row, s->hist + (size_t)parent[b] * row, row * sizeof *s->hist);
    memcpy(s->hist, s->scratch, (size_t)s->B * row * sizeof *s->hist);
    s->src_moved = false;
    for (int b = 0; b < s->B; b++) {
        const int32_t *from = s->src + (size_t)parent[b] * srow;
        s->src_moved |= memcmp(from, s->src + (size_t)b * srow, srow * sizeof *s->src) != 0;
        memcpy(s->scratch + b * srow, from, srow * sizeof *s->src);
    }
    memcpy(s->src, s->scratch, (size_t)s->B * srow * sizeof *s->src);
    return s->kv && !s->slid ? clf_stepper_cached_reorder(s, parent) : CLF_OK;
}
