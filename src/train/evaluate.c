/* Held-out evaluation: loss, perplexity and token accuracy from the forward pass, exact match of
 * greedily decoded sequences, and a few decoded samples to show. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer_internal.h"

/* Whether decoded row b equals the batch's target row (target bytes then EOS in tgt_out). */
static bool exact(const clf_batch *b, int row, const int32_t *out, int max_out, int len) {
    int n = 0;
    while (n < b->Tt && b->tgt_out[row * b->Tt + n] != CLF_EOS && b->tgt_out[row * b->Tt + n] != CLF_PAD) n++;
    if (len != n) return false;
    for (int j = 0; j < n; j++)
        if (out[row * max_out + j] != b->tgt_out[row * b->Tt + j]) return false;
    return true;
}

clf_status clf_evaluate(const clf_evaluator *t, bool want_exact, clf_eval_report *rep) {
    memset(rep, 0, sizeof *rep);
    bool seq2seq = clf_dataset_kind(t->ds) == CLF_DATA_SEQ2SEQ;
    int V = t->mg->model->cfg.vocab_size;
    clf_batch b = {0};
    size_t cursor = 0;
    bool done = false;
    double loss_sum = 0;
    long tokens = 0, correct = 0, seqs = 0, exact_ok = 0;
    float *logits = NULL;
    int32_t *out = NULL;
    int *lens = NULL;
    clf_device *dev = t->mg->model->dev;
    clf_status st = clf_device_finish(dev);
    while (st == CLF_OK) {
        st = clf_batcher_heldout(t->bt, &cursor, &b, &done);
        if (st != CLF_OK || done) break;
        size_t nl = (size_t)b.B * (size_t)b.Tt * (size_t)V;
        float *nlog = realloc(logits, nl * sizeof *logits);
        if (!nlog) {
            st = CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory evaluating");
            break;
        }
        logits = nlog;
        clf_run run = {{b.B, b.Ts, b.Tt, 0}, false, 0, 0, b.n_tgt_tokens ? 1.0f / (float)b.n_tgt_tokens : 0.0f};
        float loss = 0;
        st = clf_model_graph_set_batch(t->mg, &b, NULL);
        if (st == CLF_OK) st = clf_graph_forward(t->mg->graph, &run);
        if (st == CLF_OK) st = clf_buffer_read(dev, clf_tensor_buffer(t->mg->loss), 0, 4, &loss);
        if (st == CLF_OK) st = clf_buffer_read(dev, clf_tensor_buffer(t->mg->logits), 0, nl * 4, logits);
        if (st != CLF_OK) break;
        loss_sum += (double)loss * (double)b.n_tgt_tokens;
        tokens += b.n_tgt_tokens;
        for (size_t i = 0; i < (size_t)b.B * (size_t)b.Tt; i++) {
            if (b.tgt_out[i] == CLF_PAD) continue;
            const float *row = logits + i * (size_t)V;
            int best = 0;
            for (int v = 1; v < V; v++)
                if (row[v] > row[best]) best = v;
            correct += best == b.tgt_out[i];
        }
        if (want_exact && seq2seq) {
            int32_t *o2 = realloc(out, (size_t)b.B * (size_t)b.Tt * sizeof *out);
            int *l2 = realloc(lens, (size_t)b.B * sizeof *lens);
            if (o2) out = o2;
            if (l2) lens = l2;
            if (!o2 || !l2) {
                st = CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory decoding");
                break;
            }
            /* a right answer ends by the batch's width: decoding further cannot match, and would
             * leave the batch's token budget */
            st = clf_model_greedy(t->mg, b.src, b.B, b.Ts, b.Tt, out, lens);
            for (int r = 0; st == CLF_OK && r < b.B; r++) exact_ok += exact(&b, r, out, b.Tt, lens[r]);
        }
        seqs += b.B;
    }
    clf_batch_free(&b);
    free(logits);
    free(out);
    free(lens);
    if (st != CLF_OK) return clf_error_context(st, "evaluating on held-out data");
    rep->tokens = tokens;
    rep->sequences = seqs;
    rep->loss = tokens ? loss_sum / (double)tokens : 0;
    rep->perplexity = exp(rep->loss);
    rep->token_accuracy = tokens ? (double)correct / (double)tokens : 0;
    rep->exact_match = want_exact && seq2seq && seqs ? (double)exact_ok / (double)seqs : -1;
    return CLF_OK;
}

/* Bytes as text: printable ASCII kept, others as \xNN. */
static void render(const int32_t *x, int n, char *out, int width) {
    int k = 0;
    for (int i = 0; i < n && k < width - 5; i++) {
        int c = x[i];
        if (c >= 32 && c < 127) out[k++] = (char)c;
        else k += snprintf(out + k, (size_t)(width - k), "\\x%02x", c & 0xff);
    }
    out[k] = '\0';
}

clf_status clf_evaluate_samples(const clf_evaluator *t, int n, int width, char *src, char *tgt, char *got, int *n_out) {
    *n_out = 0;
    if (clf_dataset_kind(t->ds) != CLF_DATA_SEQ2SEQ) return CLF_OK;
    clf_batch b = {0};
    size_t cursor = 0;
    bool done = false;
    clf_status st = clf_batcher_heldout(t->bt, &cursor, &b, &done);
    if (st == CLF_OK && !done && b.B > 0) {
        int max_out = b.Tt;
        int rows = b.B < n ? b.B : n;
        int32_t *out = malloc((size_t)b.B * (size_t)max_out * sizeof *out);
        int *lens = malloc((size_t)b.B * sizeof *lens);
        st = out && lens ? clf_model_greedy(t->mg, b.src, b.B, b.Ts, max_out, out, lens)
                         : CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
        for (int r = 0; st == CLF_OK && r < rows; r++) {
            /* spread the samples over the batch */
            int row = (int)((long)r * b.B / rows);
            int ns = 0, nt = 0;
            while (ns < b.Ts && b.src[row * b.Ts + ns] != CLF_PAD) ns++;
            while (nt < b.Tt && b.tgt_out[row * b.Tt + nt] != CLF_EOS && b.tgt_out[row * b.Tt + nt] != CLF_PAD) nt++;
            render(b.src + row * b.Ts, ns, src + r * width, width);
            render(b.tgt_out + row * b.Tt, nt, tgt + r * width, width);
            render(out + row * max_out, lens[row] < 0 ? max_out : lens[row], got + r * width, width);
            (*n_out)++;
        }
        free(out);
        free(lens);
    }
    clf_batch_free(&b);
    return st;
}

static clf_evaluator evaluator_of(clf_trainer *t) {
    clf_evaluator e = {t->mg, t->bt, t->ds, t->max_tgt};
    return e;
}

clf_status clf_trainer_evaluate(clf_trainer *t, bool exact, clf_eval_report *out) {
    clf_evaluator e = evaluator_of(t);
    return clf_evaluate(&e, exact, out);
}

clf_status clf_trainer_samples(clf_trainer *t, int n, int width, char *src, char *tgt, char *got, int *n_out) {
    clf_evaluator e = evaluator_of(t);
    return clf_evaluate_samples(&e, n, width, src, tgt, got, n_out);
}
