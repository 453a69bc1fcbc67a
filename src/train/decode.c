/* Greedy decoding for the encoder-decoder: each step runs the graph on the target prefix and takes
 * the most likely next token of every unfinished row. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer_internal.h"

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

clf_status clf_model_greedy(clf_model_graph *mg, const int32_t *src, int B, int Ts, int max_out, int32_t *out,
                            int *lens) {
    int V = mg->model->cfg.vocab_size;
    if (max_out > mg->max.tgt_len) max_out = mg->max.tgt_len;
    int32_t *tin = malloc((size_t)B * (size_t)max_out * sizeof *tin), *tout = malloc((size_t)B * (size_t)max_out * sizeof *tout);
    float *logits = malloc((size_t)B * (size_t)max_out * (size_t)V * sizeof *logits);
    clf_status st = tin && tout && logits ? CLF_OK : CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory decoding");
    for (int b = 0; b < B; b++) lens[b] = -1;
    int unfinished = B;
    for (int t = 1; st == CLF_OK && t <= max_out && unfinished > 0; t++) {
        for (int b = 0; b < B; b++)
            for (int j = 0; j < t; j++) {
                tin[b * t + j] = j == 0 ? CLF_BOS : out[b * max_out + j - 1];
                tout[b * t + j] = CLF_PAD;
            }
        clf_batch batch = {.B = B, .Ts = Ts, .Tt = t, .src = (int32_t *)src, .tgt_in = tin, .tgt_out = tout};
        clf_run run = {{B, Ts, t, 0}, false, 0, 0, 0.0f};
        st = clf_model_graph_set_batch(mg, &batch, NULL);
        if (st == CLF_OK) st = clf_graph_forward(mg->graph, &run);
        if (st == CLF_OK)
            st = clf_buffer_read(mg->model->dev, clf_tensor_buffer(mg->logits), 0, (size_t)B * (size_t)t * (size_t)V * 4,
                                 logits);
        for (int b = 0; st == CLF_OK && b < B; b++) {
            int next = argmax(logits + ((size_t)b * (size_t)t + (size_t)(t - 1)) * (size_t)V, V);
            out[b * max_out + t - 1] = next;
            if (lens[b] < 0 && (next == CLF_EOS || next == CLF_PAD || next == CLF_BOS)) {
                lens[b] = t - 1;
                unfinished--;
            }
        }
    }
    free(tin);
    free(tout);
    free(logits);
    return st;
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

clf_status clf_model_continue(clf_model_graph *mg, const int32_t *prompt, int n, int max_new, float temperature,
                              int top_k, uint64_t seed, int32_t *out, int *n_out) {
    *n_out = 0;
    int V = mg->model->cfg.vocab_size, cap = mg->max.tgt_len;
    if (n < 1) return CLF_ERROR(CLF_ERR_INVALID_ARG, "an empty prompt");
    if (n > cap) return CLF_ERROR(CLF_ERR_INVALID_ARG, "prompt of %d tokens exceeds the model's %d", n, cap);
    int32_t *seq = malloc((size_t)cap * sizeof *seq), *tout = malloc((size_t)cap * sizeof *tout);
    float *logits = malloc((size_t)cap * (size_t)V * sizeof *logits), *scratch = malloc((size_t)V * sizeof *scratch);
    clf_status st = seq && tout && logits && scratch ? CLF_OK : CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    clf_rng rng;
    clf_rng_seed(&rng, seed);
    if (st == CLF_OK) memcpy(seq, prompt, (size_t)n * sizeof *seq);
    int len = n; /* tokens in seq; once it holds cap, the oldest is dropped for each new one */
    while (st == CLF_OK && *n_out < max_new) {
        for (int j = 0; j < len; j++) tout[j] = CLF_PAD;
        clf_batch batch = {.B = 1, .Ts = 0, .Tt = len, .tgt_in = seq, .tgt_out = tout};
        clf_run run = {{1, 0, len, 0}, false, 0, 0, 0.0f};
        st = clf_model_graph_set_batch(mg, &batch, NULL);
        if (st == CLF_OK) st = clf_graph_forward(mg->graph, &run);
        if (st == CLF_OK)
            st = clf_buffer_read(mg->model->dev, clf_tensor_buffer(mg->logits), 0, (size_t)len * (size_t)V * 4, logits);
        if (st != CLF_OK) break;
        int next = sample(logits + (size_t)(len - 1) * (size_t)V, V, temperature, top_k, &rng, scratch);
        if (next == CLF_EOS || next == CLF_PAD || next == CLF_BOS) break;
        out[(*n_out)++] = next;
        if (len == cap) memmove(seq, seq + 1, (size_t)(cap - 1) * sizeof *seq);
        else len++;
        seq[len - 1] = next;
    }
    free(seq);
    free(tout);
    free(logits);
    free(scratch);
    return st;
}
