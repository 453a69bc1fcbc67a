/* The Transformer of SPEC recorded onto a graph: embeddings, encoder and decoder stacks (post- or
 * pre-norm), generator and loss. Only the forward pass is written here; the scheduler derives the
 * backward pass from it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoder_cache.h"
#include "names.h"

#include "clformer/model.h"

typedef struct builder {
    clf_model *m;
    clf_graph *g;
    bool training;
    clf_decode_hooks *step; /* incremental decoding's step graph (decoder_cache.c); NULL otherwise */
} builder;

static clf_tensor *param(builder *b, const char *name) {
    if (b->m->cfg.tie_embeddings && !strcmp(name, "generator.weight"))
        name = b->m->cfg.arch == CLF_ARCH_DECODER ? "tok_embed.weight" : "tgt_embed.weight";
    const clf_param_info *p = clf_param_find(&b->m->layout, name);
    cl_mem value = clf_model_param(b->m, name, false);
    if (!p || !value) {
        clf_graph_param(b->g, name, NULL, NULL, 1, 1); /* records the error */
        return NULL;
    }
    cl_mem grad = b->training ? clf_model_param(b->m, name, true) : NULL;
    return clf_graph_param(b->g, name, value, grad, p->shape[0], p->rank == 2 ? p->shape[1] : 1);
}

/* Parameters of a tied model resolve to the one shared matrix; the graph sees one tensor per use,
 * and their gradients accumulate into the same buffer. */
static clf_tensor *paramf(builder *b, const char *fmt, const char *prefix, const char *leaf) {
    char name[128];
    clf_name_format(name, sizeof name, fmt, prefix, leaf);
    return param(b, name);
}

static clf_tensor *linear(builder *b, clf_tensor *x, const char *prefix, clf_graph_act act) {
    return clf_graph_linear(b->g, x, paramf(b, "%s.%s", prefix, "weight"), paramf(b, "%s.%s", prefix, "bias"), act);
}

static clf_tensor *layernorm(builder *b, clf_tensor *x, const char *prefix) {
    return clf_graph_layernorm(b->g, x, paramf(b, "%s.%s", prefix, "weight"), paramf(b, "%s.%s", prefix, "bias"),
                               b->m->cfg.ln_eps);
}

/* MHA(xq, xkv, mask): projections, attention over heads, output projection. In a decode step
 * (b->step), self-attention appends this position's keys and values to the layer's caches and
 * attends over them (the mask hides later positions, so it is not causal), and cross-attention
 * (xkv NULL) reads the keys and values the encoder pass computed once. */
static clf_tensor *mha(builder *b, clf_tensor *xq, clf_tensor *xkv, clf_tensor *kmask, bool causal, const char *prefix) {
    char p[128];
    clf_name_format(p, sizeof p, "%s.q", prefix);
    clf_tensor *q = linear(b, xq, p, CLF_GRAPH_ACT_NONE), *k, *v;
    clf_decode_hooks *step = b->step;
    if (step && !xkv) {
        k = step->cross_k[step->layer];
        v = step->cross_v[step->layer];
    } else {
        clf_name_format(p, sizeof p, "%s.k", prefix);
        k = linear(b, xkv, p, CLF_GRAPH_ACT_NONE);
        clf_name_format(p, sizeof p, "%s.v", prefix);
        v = linear(b, xkv, p, CLF_GRAPH_ACT_NONE);
    }
    if (step && xkv) {
        k = step->k_cache[step->layer] = clf_graph_kv_append(b->g, k, step->position);
        v = step->v_cache[step->layer] = clf_graph_kv_append(b->g, v, step->position);
        causal = false;
    }
    clf_tensor *o = clf_graph_attention(b->g, q, k, v, kmask, b->m->cfg.n_heads, causal, b->m->cfg.dropout);
    clf_name_format(p, sizeof p, "%s.o", prefix);
    return linear(b, o, p, CLF_GRAPH_ACT_NONE);
}

static clf_tensor *ffn(builder *b, clf_tensor *x, const char *prefix) {
    char p[128];
    clf_name_format(p, sizeof p, "%s.w1", prefix);
    clf_graph_act act = b->m->cfg.activation == CLF_ACTIVATION_GELU ? CLF_GRAPH_ACT_GELU : CLF_GRAPH_ACT_RELU;
    clf_tensor *h = linear(b, x, p, act);
    clf_name_format(p, sizeof p, "%s.w2", prefix);
    return linear(b, h, p, CLF_GRAPH_ACT_NONE);
}

/* The residual stream between sub-layers: x, and with pre-norm also xn, x through the norm of the
 * sub-layer (or stack) that reads it next, made in the same pass as x. */
typedef struct stream {
    clf_tensor *x, *xn;
} stream;

/* The stream as the embedding leaves it; with pre-norm, first_norm normalizes it for the first reader. */
static stream stream_start(builder *b, clf_tensor *x, const char *first_norm) {
    stream s = {x, b->m->cfg.norm == CLF_NORM_PRE ? layernorm(b, x, first_norm) : NULL};
    return s;
}

/* What the next reader takes: the normalized stream with pre-norm, the stream itself with post-norm. */
static clf_tensor *stream_out(const builder *b, const stream *s) {
    return b->m->cfg.norm == CLF_NORM_PRE ? s->xn : s->x;
}

/* One sub-layer with its residual and norm, the add and the norm in one op (apart while training
 * with dropout, where the separate residual kernel generates its random numbers faster):
 * post: x = LN(x + Drop(f(x))) by the sub-layer's own norm; pre: x = x + Drop(f(xn)), xn = LN'(x) by
 * the norm of the next reader (next_norm: the next sub-layer's, or the stack's final norm). */
typedef enum { SUB_SELF, SUB_CROSS, SUB_FFN } sublayer;

static void sub(builder *b, stream *st, sublayer kind, const char *layer, int norm_index, const char *next_norm,
                clf_tensor *mem, clf_tensor *mem_mask, clf_tensor *self_mask, bool causal) {
    char norm[128], p[128];
    bool pre = b->m->cfg.norm == CLF_NORM_PRE;
    if (pre) snprintf(norm, sizeof norm, "%s", next_norm);
    else clf_name_format(norm, sizeof norm, "%s.norm%d", layer, norm_index);
    clf_graph_begin_segment(b->g); /* the unit of recomputation */
    clf_tensor *in = stream_out(b, st), *out;
    if (kind == SUB_SELF) {
        clf_name_format(p, sizeof p, "%s.self_attn", layer);
        out = mha(b, in, in, self_mask, causal, p);
    } else if (kind == SUB_CROSS) {
        clf_name_format(p, sizeof p, "%s.cross_attn", layer);
        out = mha(b, in, mem, mem_mask, false, p);
    } else {
        clf_name_format(p, sizeof p, "%s.ffn", layer);
        out = ffn(b, in, p);
    }
    clf_tensor *sum = NULL, *y;
    float p_drop = b->m->cfg.dropout;
    if (p_drop == 0.0f || !b->training) { /* fused; with dropout it is slower for now (scalar random numbers) */
        y = clf_graph_add_layernorm(b->g, st->x, out, p_drop, paramf(b, "%s.%s", norm, "weight"),
                                    paramf(b, "%s.%s", norm, "bias"), b->m->cfg.ln_eps, pre ? &sum : NULL);
    } else {
        sum = clf_graph_residual(b->g, st->x, out, p_drop);
        y = layernorm(b, sum, norm);
    }
    if (pre) {
        st->x = sum;
        st->xn = y;
    } else {
        st->x = y;
    }
    clf_graph_end_segment(b->g);
}

static clf_tensor *embed(builder *b, clf_tensor *tokens, const char *table_name, clf_tensor *pe) {
    clf_tensor *e = clf_graph_embedding_at(b->g, param(b, table_name), tokens, pe, b->step ? b->step->position : NULL,
                                           sqrtf((float)b->m->cfg.d_model));
    return clf_graph_residual(b->g, NULL, e, b->m->cfg.dropout); /* embedding dropout */
}

/* The encoder stack on src; returns its memory (after the final norm with pre-norm). */
static clf_tensor *encoder(builder *b, clf_tensor *src, clf_tensor *src_mask, clf_tensor *pe) {
    const clf_config *c = &b->m->cfg;
    clf_tensor *x = embed(b, src, c->tie_embeddings ? "tgt_embed.weight" : "src_embed.weight", pe);
    stream st = stream_start(b, x, c->n_enc_layers > 0 ? "encoder.layers.0.norm1" : "encoder.norm");
    for (int i = 0; i < c->n_enc_layers; i++) {
        char layer[64], norm2[96], next[96];
        clf_name_format(layer, sizeof layer, "encoder.layers.%d", i);
        clf_name_format(norm2, sizeof norm2, "%s.norm2", layer);
        if (i + 1 < c->n_enc_layers) clf_name_format(next, sizeof next, "encoder.layers.%d.norm1", i + 1);
        else snprintf(next, sizeof next, "encoder.norm");
        sub(b, &st, SUB_SELF, layer, 1, norm2, NULL, NULL, src_mask, false);
        sub(b, &st, SUB_FFN, layer, 2, next, NULL, NULL, NULL, false);
    }
    return stream_out(b, &st);
}

/* The decoder stack and generator on tokens; returns the logits. */
static clf_tensor *decoder(builder *b, clf_tensor *tokens, clf_tensor *tgt_mask, clf_tensor *memory,
                           clf_tensor *src_mask, clf_tensor *pe) {
    const clf_config *c = &b->m->cfg;
    bool encdec = c->arch == CLF_ARCH_ENCDEC;
    clf_tensor *y = embed(b, tokens, encdec ? "tgt_embed.weight" : "tok_embed.weight", pe);
    stream st = stream_start(b, y, "decoder.layers.0.norm1");
    int subs = encdec ? 3 : 2; /* sub-layers per layer, each with norm<k> */
    for (int i = 0; i < c->n_dec_layers; i++) {
        char layer[64], next[96];
        clf_name_format(layer, sizeof layer, "decoder.layers.%d", i);
        if (b->step) b->step->layer = i;
        for (int k = 1; k <= subs; k++) { /* self-attention, cross-attention (encdec), feed-forward */
            if (k < subs) clf_name_format(next, sizeof next, "%s.norm%d", layer, k + 1);
            else if (i + 1 < c->n_dec_layers) clf_name_format(next, sizeof next, "decoder.layers.%d.norm1", i + 1);
            else snprintf(next, sizeof next, "decoder.norm");
            sublayer kind = k == 1 ? SUB_SELF : k < subs ? SUB_CROSS : SUB_FFN;
            sub(b, &st, kind, layer, k, next, kind == SUB_CROSS ? memory : NULL, kind == SUB_CROSS ? src_mask : NULL,
                kind == SUB_SELF ? tgt_mask : NULL, kind == SUB_SELF);
        }
    }
    return clf_graph_linear(b->g, stream_out(b, &st), param(b, "generator.weight"), NULL, CLF_GRAPH_ACT_NONE);
}

static clf_status build(builder *b, clf_model_graph *mg, float label_smoothing) {
    const clf_config *c = &b->m->cfg;
    clf_graph *g = b->g;
    bool encdec = c->arch == CLF_ARCH_ENCDEC;
    clf_tensor *pe = clf_graph_constant(g, "positional", b->m->pe, c->max_len, c->d_model);
    clf_tensor *memory = NULL;
    if (encdec) {
        mg->src = clf_graph_input(g, "src", CLF_ROWS_SRC, 1, true);
        mg->src_mask = clf_graph_input(g, "src_mask", CLF_ROWS_SRC, 1, true);
        memory = encoder(b, mg->src, mg->src_mask, pe);
    }
    mg->tgt_in = clf_graph_input(g, "tgt_in", CLF_ROWS_TGT, 1, true);
    mg->tgt_mask = clf_graph_input(g, "tgt_mask", CLF_ROWS_TGT, 1, true);
    mg->tgt_out = clf_graph_input(g, "tgt_out", CLF_ROWS_TGT, 1, true);
    mg->logits = decoder(b, mg->tgt_in, mg->tgt_mask, memory, mg->src_mask, pe);
    mg->loss = clf_graph_cross_entropy(g, mg->logits, mg->tgt_out, CLF_PAD, label_smoothing);
    return clf_graph_status(g);
}

/* ---- the pieces incremental decoding reuses (decoder_cache.h) ---- */

clf_tensor *clf_model_build_encoder(clf_model *m, clf_graph *g, clf_tensor *src, clf_tensor *src_mask, clf_tensor *pe) {
    builder b = {m, g, false, NULL};
    return encoder(&b, src, src_mask, pe);
}

clf_tensor *clf_model_build_linear(clf_model *m, clf_graph *g, clf_tensor *x, const char *prefix) {
    builder b = {m, g, false, NULL};
    return linear(&b, x, prefix, CLF_GRAPH_ACT_NONE);
}

clf_tensor *clf_model_build_decoder_step(clf_model *m, clf_graph *g, clf_tensor *tokens, clf_tensor *self_mask,
                                         clf_tensor *src_mask, clf_tensor *pe, clf_decode_hooks *step) {
    builder b = {m, g, false, step};
    return decoder(&b, tokens, self_mask, NULL, src_mask, pe);
}

clf_status clf_model_graph_new(clf_model *m, clf_dims max, clf_graph_mode mode, float label_smoothing,
                               clf_model_graph **out) {
    *out = NULL;
    bool training = mode != CLF_GRAPH_INFERENCE;
    if (training && !m->training) return CLF_ERROR(CLF_ERR_INVALID_ARG, "a training graph needs a model made for training");
    if (max.src_len > m->cfg.max_len || max.tgt_len > m->cfg.max_len)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "sequence length %d exceeds max_len %d",
                         max.src_len > max.tgt_len ? max.src_len : max.tgt_len, m->cfg.max_len);
    if (m->cfg.arch == CLF_ARCH_DECODER) max.src_len = 0;
    clf_model_graph *mg = calloc(1, sizeof *mg);
    if (!mg) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    mg->model = m;
    mg->max = max;
    size_t per_slot = (size_t)max.batch * (size_t)(2 * max.src_len + 3 * max.tgt_len);
    for (int i = 0; i < 2; i++) mg->staging[i] = malloc((per_slot ? per_slot : 1) * sizeof(int32_t));
    clf_status st = mg->staging[0] && mg->staging[1] ? clf_graph_new(m->dev, max, &mg->graph)
                                                     : CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    if (st == CLF_OK) {
        builder b = {m, mg->graph, training, NULL};
        st = build(&b, mg, label_smoothing);
    }
    if (st == CLF_OK)
        st = mode == CLF_GRAPH_TRAINING_RECOMPUTE ? clf_graph_plan_recompute(mg->graph)
                                                  : clf_graph_plan(mg->graph, training);
    if (st != CLF_OK) {
        clf_model_graph_free(mg);
        return clf_error_context(st, "building the model's graph");
    }
    *out = mg;
    return CLF_OK;
}

void clf_model_graph_free(clf_model_graph *mg) {
    if (!mg) return;
    for (int i = 0; i < 2; i++) {
        if (mg->uploaded[i]) {
            clWaitForEvents(1, &mg->uploaded[i]);
            clReleaseEvent(mg->uploaded[i]);
        }
        free(mg->staging[i]);
    }
    clf_graph_free(mg->graph);
    clf_decoder_graphs_free(mg->decode);
    free(mg);
}

static clf_status check_ids(const char *what, const int32_t *x, size_t n, int vocab) {
    for (size_t i = 0; i < n; i++)
        if (x[i] < 0 || x[i] >= vocab)
            return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s[%zu] = %d is outside the vocabulary [0, %d)", what, i, (int)x[i],
                             vocab);
    return CLF_OK;
}

static clf_status upload(clf_model_graph *mg, const clf_tensor *t, const int32_t *src, size_t n, cl_event *ev) {
    if (n == 0) return CLF_OK;
    cl_command_queue q = clf_device_queue(mg->model->dev);
    cl_int err = clEnqueueWriteBuffer(q, clf_tensor_buffer(t), CL_FALSE, 0, n * 4, src, 0, NULL, ev);
    if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "uploading %zu batch values", n);
    return CLF_OK;
}

clf_status clf_model_graph_set_batch(clf_model_graph *mg, const clf_batch *b, long *targets) {
    const clf_config *c = &mg->model->cfg;
    bool encdec = c->arch == CLF_ARCH_ENCDEC;
    if (b->B < 1 || b->B > mg->max.batch || b->Tt < 1 || b->Tt > mg->max.tgt_len ||
        (encdec && (b->Ts < 1 || b->Ts > mg->max.src_len || !b->src)) || !b->tgt_in || !b->tgt_out)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "batch %d x (%d, %d) does not fit the graph's %d x (%d, %d)", b->B,
                         b->Ts, b->Tt, mg->max.batch, mg->max.src_len, mg->max.tgt_len);
    size_t ns = encdec ? (size_t)b->B * (size_t)b->Ts : 0, nt = (size_t)b->B * (size_t)b->Tt;
    clf_status st = encdec ? check_ids("source", b->src, ns, c->vocab_size) : CLF_OK;
    if (st == CLF_OK) st = check_ids("target input", b->tgt_in, nt, c->vocab_size);
    if (st == CLF_OK) st = check_ids("target output", b->tgt_out, nt, c->vocab_size);
    if (st != CLF_OK) return st;

    /* the staging slot's previous upload (two batches ago) must be done before it is reused */
    int s = mg->slot;
    mg->slot ^= 1;
    if (mg->uploaded[s]) {
        clf_device_note_wait(mg->model->dev);
        cl_int err = clWaitForEvents(1, &mg->uploaded[s]);
        clReleaseEvent(mg->uploaded[s]);
        mg->uploaded[s] = NULL;
        if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "waiting for an earlier upload");
    }
    int32_t *src = mg->staging[s], *src_mask = src + ns, *tgt_in = src_mask + ns, *tgt_mask = tgt_in + nt,
            *tgt_out = tgt_mask + nt;
    long count = 0;
    for (size_t i = 0; i < ns; i++) {
        src[i] = b->src[i];
        src_mask[i] = b->src[i] != CLF_PAD;
    }
    for (size_t i = 0; i < nt; i++) {
        tgt_in[i] = b->tgt_in[i];
        tgt_mask[i] = b->tgt_in[i] != CLF_PAD;
        tgt_out[i] = b->tgt_out[i];
        count += b->tgt_out[i] != CLF_PAD;
    }
    if (encdec) {
        st = upload(mg, mg->src, src, ns, NULL);
        if (st == CLF_OK) st = upload(mg, mg->src_mask, src_mask, ns, NULL);
    }
    if (st == CLF_OK) st = upload(mg, mg->tgt_in, tgt_in, nt, NULL);
    if (st == CLF_OK) st = upload(mg, mg->tgt_mask, tgt_mask, nt, NULL);
    /* the queue is in order: the last upload's event marks them all done */
    if (st == CLF_OK) st = upload(mg, mg->tgt_out, tgt_out, nt, &mg->uploaded[s]);
    if (targets) *targets = count;
    return st;
}
