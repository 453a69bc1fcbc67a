/* The whole model on the device against the float64 host reference: loss, logits and every
 * parameter gradient, for both archs, both norms, both activations and tied embeddings, with PAD
 * in sources and targets (a fully padded source row, an entirely padded target row). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clformer/model.h"
#include "graph_internal.h" /* fills_backward */
#include "harness.h"
#include "ref/ref_model.h"

typedef struct {
    clf_arch arch;
    clf_norm norm;
    clf_activation_kind act;
    bool tie;
    float smoothing;
} variant;

static ref_config to_ref(const clf_config *c) {
    ref_config r;
    ref_config_default(&r);
    r.arch = c->arch == CLF_ARCH_DECODER ? REF_ARCH_DECODER : REF_ARCH_ENCDEC;
    r.vocab_size = c->vocab_size;
    r.d_model = c->d_model;
    r.n_heads = c->n_heads;
    r.d_ff = c->d_ff;
    r.n_enc_layers = c->n_enc_layers;
    r.n_dec_layers = c->n_dec_layers;
    r.max_len = c->max_len;
    r.norm = c->norm == CLF_NORM_PRE ? REF_NORM_PRE : REF_NORM_POST;
    r.activation = c->activation == CLF_ACTIVATION_GELU ? REF_ACT_GELU : REF_ACT_RELU;
    r.ln_eps = c->ln_eps;
    r.tie_embeddings = c->tie_embeddings;
    return r;
}

/* Random ids in [0, 256) with PAD sprinkled in; row `pad_row` entirely PAD. */
static void fill_tokens(int32_t *x, int B, int T, int pad_row) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            x[b * T + t] = b == pad_row || harness_below(5) == 0 ? CLF_PAD : (int32_t)harness_below(256);
}

/* Every activation gradient's first writer stores it (the op table's overwrite bits): a backward
 * pass zeroes none. Fails when an op's bit is dropped, or when a bit is set without the launcher
 * storing (then the gradients above go wrong, NaN or stale bytes). */
static void expect_no_fills(const clf_model_graph *mg, const char *what) {
    ck_assert_msg(mg->graph->fills_backward == 0, "%s: the backward zeroed %zu gradients before their first writer",
                  what, mg->graph->fills_backward);
}

static void check_variant(const variant *v) {
    clf_device *dev = harness_device();
    clf_config c = clf_config_default();
    c.arch = v->arch;
    c.norm = v->norm;
    c.activation = v->act;
    c.tie_embeddings = v->tie;
    c.d_model = 16;
    c.n_heads = 2;
    c.d_ff = 24;
    c.n_enc_layers = 1;
    c.n_dec_layers = 2;
    c.max_len = 16;
    c.dropout = 0;
    char what[160];
    snprintf(what, sizeof what, "%s %s-norm %s%s smoothing %g", clf_arch_name(c.arch), clf_norm_name(c.norm),
             clf_activation_name(c.activation), c.tie_embeddings ? " tied" : "", v->smoothing);

    const int B = 3, Ts = 7, Tt = 5;
    int32_t src[3 * 7], tin[3 * 5], tout[3 * 5];
    fill_tokens(src, B, Ts, 1);  /* row 1: every key of its cross-attention is masked */
    fill_tokens(tin, B, Tt, -1);
    fill_tokens(tout, B, Tt, 2); /* row 2: no target counts */
    tin[0] = CLF_BOS;
    tout[0] = 65;

    ref_config rc = to_ref(&c);
    ref_params *rp, *rg;
    CLF_CK(ref_params_new(&rc, &rp));
    CLF_CK(ref_params_new(&rc, &rg));
    ref_params_init(rp, harness_seed());
    ref_batch rb = {B, Ts, Tt, src, tin, tout};
    double loss_ref;
    size_t nl = (size_t)B * Tt * (size_t)c.vocab_size;
    double *logits_ref = malloc(nl * sizeof *logits_ref);
    CLF_CK(ref_forward_backward(&rc, rp, &rb, v->smoothing, &loss_ref, logits_ref, rg));

    clf_model *m;
    CLF_CK(clf_model_new(dev, &c, true, &m));
    float *flat = calloc(m->layout.total, sizeof *flat);
    for (size_t i = 0; i < m->layout.n; i++) {
        const clf_param_info *p = &m->layout.params[i];
        ref_tensor *t = ref_params_find(rp, p->name);
        ck_assert_msg(t != NULL, "%s: the reference has no %s", what, p->name);
        ck_assert_uint_eq(t->numel, p->count);
        for (size_t j = 0; j < p->count; j++) flat[p->offset + j] = (float)t->data[j];
    }
    ck_assert_int_eq((int)m->layout.n, rp->count);
    CLF_CK(clf_model_write_params(m, flat));
    clf_model_graph *mg;
    clf_dims max = {B, c.arch == CLF_ARCH_ENCDEC ? Ts : 0, Tt, 0};
    CLF_CK(clf_model_graph_new(m, max, CLF_GRAPH_TRAINING, v->smoothing, &mg));
    clf_batch batch = {.B = B, .Ts = c.arch == CLF_ARCH_ENCDEC ? Ts : 0, .Tt = Tt, .src = src, .tgt_in = tin, .tgt_out = tout};
    long count = 0;
    CLF_CK(clf_model_graph_set_batch(mg, &batch, &count));
    clf_run run = {{B, batch.Ts, Tt, 0}, true, 7, 1, count ? 1.0f / (float)count : 0.0f};
    CLF_CK(clf_buffer_fill_float(dev, m->grads, 0, m->layout.total, 0.0f));
    CLF_CK(clf_graph_forward(mg->graph, &run));
    CLF_CK(clf_graph_backward(mg->graph, &run));
    expect_no_fills(mg, what);

    float loss;
    CLF_CK(clf_buffer_read(dev, clf_tensor_buffer(mg->loss), 0, 4, &loss));
    ck_assert_msg(fabs(loss - loss_ref) <= 1e-5 * fabs(loss_ref) + 1e-6, "%s: loss %.9g, reference %.9g (seed %llu)",
                  what, loss, loss_ref, (unsigned long long)harness_seed());
    float *logits = harness_download(clf_tensor_buffer(mg->logits), nl);
    snprintf(what + strlen(what), sizeof what - strlen(what), ": logits");
    harness_expect_close(what, logits, logits_ref, nl, 1e-5);
    what[strlen(what) - 8] = '\0';

    float *grads = malloc(m->layout.total * sizeof *grads);
    CLF_CK(clf_buffer_read(dev, m->grads, 0, m->layout.total * 4, grads));
    /* A gradient that is zero in exact arithmetic (the key bias: softmax ignores a shift shared by
     * all keys) comes out as float rounding noise of the terms that cancel, so each tensor's error is
     * measured against its own norm or a thousandth of the whole gradient's, whichever is larger. */
    double total = 0;
    for (size_t i = 0; i < rg->total; i++) total += rg->data[i] * rg->data[i];
    total = sqrt(total);
    for (size_t i = 0; i < m->layout.n; i++) {
        const clf_param_info *p = &m->layout.params[i];
        const double *ref = ref_params_find(rg, p->name)->data;
        double num = 0, den = 0;
        size_t worst = 0;
        for (size_t j = 0; j < p->count; j++) {
            double d = grads[p->offset + j] - ref[j];
            num += d * d;
            den += ref[j] * ref[j];
            if (fabs(d) > fabs(grads[p->offset + worst] - ref[worst]) || isnan(d)) worst = j;
        }
        double err = sqrt(num) / fmax(sqrt(den), 1e-3 * total);
        ck_assert_msg(err <= 1e-4, "%s: grad.%s: relative error %.3g > 1e-4; worst at %zu: got %.9g, ref %.9g (seed %llu)",
                      what, p->name, err, worst, grads[p->offset + worst], ref[worst], (unsigned long long)harness_seed());
    }
    free(grads);
    free(logits);
    free(flat);
    free(logits_ref);
    clf_model_graph_free(mg);
    clf_model_free(m);
    ref_params_free(rp);
    ref_params_free(rg);
}

START_TEST(matches_reference) {
    static const variant variants[] = {
        {CLF_ARCH_ENCDEC, CLF_NORM_POST, CLF_ACTIVATION_RELU, false, 0.0f},
        {CLF_ARCH_ENCDEC, CLF_NORM_PRE, CLF_ACTIVATION_GELU, false, 0.1f},
        {CLF_ARCH_ENCDEC, CLF_NORM_POST, CLF_ACTIVATION_GELU, true, 0.1f},
        {CLF_ARCH_DECODER, CLF_NORM_POST, CLF_ACTIVATION_GELU, false, 0.0f},
        {CLF_ARCH_DECODER, CLF_NORM_PRE, CLF_ACTIVATION_RELU, true, 0.1f},
    };
    check_variant(&variants[_i]);
}
END_TEST

/* Parameter gradients accumulate across runs: two micro-batches of two rows each, scaled by the
 * whole step's target count, give the gradients of one run over all four rows. */
START_TEST(micro_batches_accumulate) {
    clf_device *dev = harness_device();
    clf_config c = clf_config_default();
    c.d_model = 16;
    c.n_heads = 2;
    c.d_ff = 24;
    c.n_enc_layers = 1;
    c.n_dec_layers = 1;
    c.max_len = 16;
    c.dropout = 0;
    c.activation = CLF_ACTIVATION_GELU;
    const int B = 4, Ts = 6, Tt = 5;
    int32_t src[4 * 6], tin[4 * 5], tout[4 * 5];
    fill_tokens(src, B, Ts, -1);
    fill_tokens(tin, B, Tt, -1);
    fill_tokens(tout, B, Tt, -1);
    src[0] = 7; /* no source row entirely PAD */
    src[Ts] = 8;
    src[2 * Ts] = 9;
    src[3 * Ts] = 10;
    long total = 0;
    for (int i = 0; i < B * Tt; i++) total += tout[i] != CLF_PAD;
    clf_model *m;
    CLF_CK(clf_model_new(dev, &c, true, &m));
    float *flat = calloc(m->layout.total, sizeof *flat);
    clf_params_init(&m->layout, harness_seed(), flat);
    CLF_CK(clf_model_write_params(m, flat));
    clf_model_graph *mg;
    clf_dims max = {B, Ts, Tt, 0};
    CLF_CK(clf_model_graph_new(m, max, CLF_GRAPH_TRAINING, 0.1f, &mg));
    float *grads[2];
    for (int way = 0; way < 2; way++) { /* 0: one run of four rows; 1: two runs of two */
        CLF_CK(clf_buffer_fill_float(dev, m->grads, 0, m->layout.total, 0.0f));
        int parts = way ? 2 : 1, rows = B / parts;
        for (int p = 0; p < parts; p++) {
            clf_batch b = {.B = rows, .Ts = Ts, .Tt = Tt, .src = src + p * rows * Ts, .tgt_in = tin + p * rows * Tt,
                           .tgt_out = tout + p * rows * Tt};
            clf_run run = {{rows, Ts, Tt, 0}, true, 3, 1, total ? 1.0f / (float)total : 0.0f};
            CLF_CK(clf_model_graph_set_batch(mg, &b, NULL));
            CLF_CK(clf_graph_forward(mg->graph, &run));
            CLF_CK(clf_graph_backward(mg->graph, &run));
        }
        grads[way] = harness_download(m->grads, m->layout.total);
    }
    double *ref = harness_to_double(grads[0], m->layout.total);
    harness_expect_close("gradients of two micro-batches vs one batch", grads[1], ref, m->layout.total, 1e-5);
    free(ref);
    free(grads[0]);
    free(grads[1]);
    free(flat);
    clf_model_graph_free(mg);
    clf_model_free(m);
}
END_TEST

/* Recomputing each sub-layer's activations in the backward gives the very same loss and gradients
 * (dropout on: the masks must come out the same), in less activation memory: both archs and norms,
 * with dropout (residual and LayerNorm apart) and without (fused). */
START_TEST(recompute_matches_keeping) {
    clf_device *dev = harness_device();
    clf_config c = clf_config_default();
    c.arch = _i & 1 ? CLF_ARCH_DECODER : CLF_ARCH_ENCDEC;
    c.norm = _i & 2 ? CLF_NORM_PRE : CLF_NORM_POST;
    c.d_model = 16;
    c.n_heads = 2;
    c.d_ff = 40;
    c.n_enc_layers = 2;
    c.n_dec_layers = 2;
    c.max_len = 16;
    c.dropout = _i & 4 ? 0.0f : 0.25f;
    const int B = 3, Ts = 7, Tt = 9;
    int32_t src[3 * 7], tin[3 * 9], tout[3 * 9];
    fill_tokens(src, B, Ts, -1);
    fill_tokens(tin, B, Tt, -1);
    fill_tokens(tout, B, Tt, -1);
    for (int b = 0; b < B; b++) src[b * Ts] = 5 + b; /* no source row entirely PAD */
    clf_model *m;
    CLF_CK(clf_model_new(dev, &c, true, &m));
    float *flat = calloc(m->layout.total, sizeof *flat);
    clf_params_init(&m->layout, harness_seed(), flat);
    CLF_CK(clf_model_write_params(m, flat));
    clf_dims max = {B, c.arch == CLF_ARCH_DECODER ? 0 : Ts, Tt, 0};
    clf_batch b = {.B = B, .Ts = c.arch == CLF_ARCH_DECODER ? 0 : Ts, .Tt = Tt, .src = src, .tgt_in = tin,
                   .tgt_out = tout};
    float *grads[2], loss[2];
    size_t activations[2];
    for (int way = 0; way < 2; way++) {
        clf_model_graph *mg;
        CLF_CK(clf_model_graph_new(m, max, way ? CLF_GRAPH_TRAINING_RECOMPUTE : CLF_GRAPH_TRAINING, 0.1f, &mg));
        CLF_CK(clf_buffer_fill_float(dev, m->grads, 0, m->layout.total, 0.0f));
        long targets = 0;
        CLF_CK(clf_model_graph_set_batch(mg, &b, &targets));
        clf_run run = {{B, b.Ts, Tt, 0}, true, 11, 3, targets ? 1.0f / (float)targets : 0.0f};
        CLF_CK(clf_graph_forward(mg->graph, &run));
        CLF_CK(clf_graph_backward(mg->graph, &run));
        expect_no_fills(mg, way ? "recomputing" : "keeping");
        CLF_CK(clf_buffer_read(dev, clf_tensor_buffer(mg->loss), 0, sizeof(float), &loss[way]));
        grads[way] = harness_download(m->grads, m->layout.total);
        clf_graph_memory mem;
        clf_graph_memory_report(mg->graph, &mem);
        activations[way] = mem.activations;
        clf_model_graph_free(mg);
    }
    ck_assert_msg(memcmp(&loss[0], &loss[1], sizeof loss[0]) == 0, "loss %.9g kept vs %.9g recomputed (seed %llu)",
                  (double)loss[0], (double)loss[1], (unsigned long long)harness_seed());
    for (size_t i = 0; i < m->layout.total; i++)
        ck_assert_msg(memcmp(&grads[0][i], &grads[1][i], sizeof(float)) == 0,
                      "gradient %zu: %.9g kept vs %.9g recomputed (variant %d, seed %llu)", i, (double)grads[0][i],
                      (double)grads[1][i], _i, (unsigned long long)harness_seed());
    ck_assert_msg(activations[1] < activations[0], "recomputation keeps %zu activation bytes, keeping all %zu",
                  activations[1], activations[0]);
    free(grads[0]);
    free(grads[1]);
    free(flat);
    clf_model_free(m);
}
END_TEST

/* A tensor read in several slots of one node (self-attention straight on the embedding: q, k and v
 * one tensor) has several contributions to sum: it is zeroed once and none of them may store. The
 * table's gradient must equal that of the same graph with q, k, v three copies (identity residuals). */
START_TEST(input_in_three_slots_sums) {
    clf_device *dev = harness_device();
    enum { V = 19, D = 8, B = 2, T = 7 };
    int32_t tok[B * T], tgt[B * T];
    for (int i = 0; i < B * T; i++) tok[i] = (int32_t)harness_below(V), tgt[i] = (int32_t)harness_below(V);
    float *table = harness_random(V * D, -1, 1, NULL), *w = harness_random(V * D, -1, 1, NULL);
    float *grads[2];
    size_t fills[2];
    for (int way = 0; way < 2; way++) {
        cl_mem mt = harness_upload(table, V * D), mw = harness_upload(w, V * D);
        float zero[V * D] = {0};
        cl_mem gt = harness_upload(zero, V * D), gw = harness_upload(zero, V * D);
        clf_graph *g;
        CLF_CK(clf_graph_new(dev, (clf_dims){B, 0, T, 0}, &g));
        clf_tensor *pt = clf_graph_param(g, "table", mt, gt, V, D), *pw = clf_graph_param(g, "w", mw, gw, V, D);
        clf_tensor *it = clf_graph_input(g, "tokens", CLF_ROWS_TGT, 1, true);
        clf_tensor *ig = clf_graph_input(g, "targets", CLF_ROWS_TGT, 1, true);
        clf_tensor *e = clf_graph_embedding(g, pt, it, NULL, 1.0f), *q = e, *k = e, *v = e;
        if (way) {
            q = clf_graph_residual(g, NULL, e, 0.0f);
            k = clf_graph_residual(g, NULL, e, 0.0f);
            v = clf_graph_residual(g, NULL, e, 0.0f);
        }
        clf_tensor *o = clf_graph_attention(g, q, k, v, NULL, 2, true, 0.0f);
        clf_graph_cross_entropy(g, clf_graph_linear(g, o, pw, NULL, CLF_GRAPH_ACT_NONE), ig, V, 0.0f);
        CLF_CK(clf_graph_status(g));
        CLF_CK(clf_graph_plan(g, true));
        CLF_CK(clf_buffer_write(dev, clf_tensor_buffer(it), 0, sizeof tok, tok));
        CLF_CK(clf_buffer_write(dev, clf_tensor_buffer(ig), 0, sizeof tgt, tgt));
        clf_run run = {{B, 0, T, 0}, true, 5, 1, 1.0f / (B * T)};
        CLF_CK(clf_graph_forward(g, &run));
        CLF_CK(clf_graph_backward(g, &run));
        fills[way] = g->fills_backward;
        float *a = harness_download(gt, V * D), *b = harness_download(gw, V * D);
        grads[way] = malloc(2 * V * D * sizeof(float));
        memcpy(grads[way], a, V * D * sizeof(float));
        memcpy(grads[way] + V * D, b, V * D * sizeof(float));
        free(a), free(b);
        clf_graph_free(g);
        harness_release(gt), harness_release(gw), harness_release(mt), harness_release(mw);
    }
    ck_assert_msg(fills[0] == 1 && fills[1] == 0, "zero fills: %zu with q = k = v (want 1), %zu with copies (want 0)",
                  fills[0], fills[1]);
    double *ref = harness_to_double(grads[1], 2 * V * D);
    harness_expect_close("table and w gradients, q = k = v vs three copies", grads[0], ref, 2 * V * D, 1e-5);
    free(ref), free(grads[0]), free(grads[1]), free(table), free(w);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 900);
    tcase_add_loop_test(tc, matches_reference, 0, 5);
    tcase_add_test(tc, micro_batches_accumulate);
    tcase_add_test(tc, input_in_three_slots_sums);
    tcase_add_loop_test(tc, recompute_matches_keeping, 0, 8);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
