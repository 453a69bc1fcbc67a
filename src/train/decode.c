/* Greedy decoding for the encoder-decoder (the most likely next token of every row until each has
 * ended) and decoder-only continuation (greedy or sampled), both over a stepper: incremental with
 * the key/value cache, or the full recompute of every prefix kept as the reference path. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stepper.h"
#include "trainer_internal.h"

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static clf_status greedy(clf_model_graph *mg, bool cached, const int32_t *src, int B, int Ts, int max_out,
                         int32_t *out, int *lens) {
    if (!mg || !src || !out || !lens || B < 1 || max_out < 1)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "greedy decoding: missing buffers or sizes (B %d, max_out %d)", B,
                         max_out);
    int V = mg->model->cfg.vocab_size;
    int steps = max_out < mg->max.tgt_len ? max_out : mg->max.tgt_len; /* out keeps the stride max_out */
    int32_t *tok = malloc((size_t)B * sizeof *tok);
    float *logits = malloc((size_t)B * (size_t)V * sizeof *logits);
    clf_stepper *s = NULL;
    clf_status st = tok && logits ? clf_stepper_new(mg, cached, src, B, Ts, steps, &s)
                                  : CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory decoding");
    for (int b = 0; st == CLF_OK && b < B; b++) { /* B was checked by the stepper */
        lens[b] = -1;
        if (tok) tok[b] = CLF_BOS;
    }
    int unfinished = B;
    for (int t = 1; st == CLF_OK && t <= steps && unfinished > 0; t++) {
        st = clf_stepper_step(s, tok, 1, logits);
        for (int b = 0; st == CLF_OK && b < B; b++) {
            int next = argmax(logits + (size_t)b * (size_t)V, V);
            out[b * max_out + t - 1] = tok[b] = next;
            if (lens[b] < 0 && clf_decode_ends(next)) {
                lens[b] = t - 1;
                unfinished--;
            }
        }
    }
    clf_stepper_free(s);
    free(tok);
    free(logits);
    return st;
}

clf_status clf_model_greedy(clf_model_graph *mg, const int32_t *src, int B, int Ts, int max_out, int32_t *out,
                            int *lens) {
    return greedy(mg, CLF_DECODE_CACHED, src, B, Ts, max_out, out, lens);
}

clf_status clf_model_greedy_full(clf_model_graph *mg, const int32_t *src, int B, int Ts, int max_out, int32_t *out,
                                 int *lens) {
    return greedy(mg, false, src, B, Ts, max_out, out, lens);
}

/* Sample one token from logits / temperature over the top_k largest (all when top_k <= 0). */
static int sample(const float *logits, int V, float temperature, int top_k, clf_rng *rng, float *scratch) {
    if (temperature <= 0) return argmax(logits, V);
    float threshold = -INFINITY;
    if (top_k > 0 && top_k < V) { /* the k-th largest value, by partial selection */
        memcpy(scratch, logits, (size_t)V * sizeof *scratch);
        for (int i = 0; i < top_k; i++) {
            int best = i;
            for (int j = i + 1; j < V; j++)
                if (scratch[j] > scratch[best]) best = j;
            float tmp = scratch[i];
            scratch[i] = scratch[best];
            scratch[best] = tmp;
        }
        threshold = scratch[top_k - 1];
    }
    float mx = logits[argmax(logits, V)];
    double total = 0;
    for (int v = 0; v < V; v++) total += logits[v] >= threshold ? exp((double)(logits[v] - mx) / temperature) : 0.0;
    double r = clf_rng_uniform(rng) * total, acc = 0;
    for (int v = 0; v < V; v++) {
        if (logits[v] < threshold) continue;
        acc += exp((double)(logits[v] - mx) / temperature);
        if (acc >= r) return v;
    }
    return argmax(logits, V);
}

static clf_status cont(clf_model_graph *mg, bool cached, const int32_t *prompt, int n, int max_new,
                       float temperature, int top_k, uint64_t seed, int32_t *out, int *n_out) {
    if (!n_out) return CLF_ERROR(CLF_ERR_INVALID_ARG, "continuation: n_out is NULL");
    *n_out = 0;
    if (!mg || !prompt || !out) return CLF_ERROR(CLF_ERR_INVALID_ARG, "continuation: missing buffers");
    int V = mg->model->cfg.vocab_size, cap = mg->max.tgt_len;
    if (n < 1) return CLF_ERROR(CLF_ERR_INVALID_ARG, "an empty prompt");
    if (n > cap) return CLF_ERROR(CLF_ERR_INVALID_ARG, "prompt of %d tokens exceeds the model's %d", n, cap);
    if (max_new < 1) return CLF_OK;
    float *logits = malloc((size_t)V * sizeof *logits), *scratch = malloc((size_t)V * sizeof *scratch);
    clf_stepper *s = NULL;
    /* once the window holds cap tokens, the oldest is dropped for each new one (the stepper slides) */
    clf_status st = logits && scratch ? clf_stepper_new(mg, cached, NULL, 1, 0, cap, &s)
                                      : CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    clf_rng rng;
    clf_rng_seed(&rng, seed);
    if (st == CLF_OK) st = clf_stepper_step(s, prompt, n, logits);
    while (st == CLF_OK) {
        int32_t next = sample(logits, V, temperature, top_k, &rng, scratch);
        if (clf_decode_ends(next)) break;
        out[(*n_out)++] = next;
        if (*n_out == max_new) break;
        st = clf_stepper_step(s, &next, 1, logits);
    }
    clf_stepper_free(s);
    free(logits);
    free(scratch);
    return st;
}

clf_status clf_model_continue(clf_model_graph *mg, const int32_t *prompt, int n, int max_new, float temperature,
                              int top_k, uint64_t seed, int32_t *out, int *n_out) {
    return cont(mg, CLF_DECODE_CACHED, prompt, n, max_new, temperature, top_k, seed, out, n_out);
}

clf_status clf_model_continue_full(clf_model_graph *mg, const int32_t *prompt, int n, int max_new, float temperature,
                                   int top_k, uint64_t seed, int32_t *out, int *n_out) {
    return cont(mg, false, prompt, n, max_new, temperature, top_k, seed, out, n_out);
}
