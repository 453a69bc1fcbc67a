/* Incremental decoding's encode and step graphs (see decoder_cache.h), recorded with the model's own
 * builders, planned once for the model graph's largest shape. */
#include "decoder_cache.h"

#include <stdlib.h>

#include "names.h"

static clf_status alloc_layers(clf_tensor ***p, int n) {
    *p = calloc((size_t)(n > 0 ? n : 1), sizeof **p);
    return *p ? CLF_OK : CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory for the decoding graphs");
}

static clf_status build_encode(clf_decoder_graphs *d) {
    clf_model *m = d->model;
    const clf_config *c = &m->cfg;
    clf_dims max = {d->max.batch, d->max.src_len, 1, d->max.tokens};
    clf_status st = clf_graph_new(m->dev, max, &d->encode);
    if (st != CLF_OK) return st;
    clf_graph *g = d->encode;
    clf_tensor *pe = clf_graph_constant(g, "positional", m->pe, c->max_len, c->d_model);
    d->src = clf_graph_input(g, "src", CLF_ROWS_SRC, 1, true);
    d->src_mask = clf_graph_input(g, "src_mask", CLF_ROWS_SRC, 1, true);
    clf_tensor *memory = clf_model_build_encoder(m, g, d->src, d->src_mask, pe);
    for (int i = 0; i < c->n_dec_layers; i++) {
        char p[128];
        clf_name_format(p, sizeof p, "decoder.layers.%d.cross_attn.k", i);
        d->cross_k_out[i] = clf_model_build_linear(m, g, memory, p);
        clf_name_format(p, sizeof p, "decoder.layers.%d.cross_attn.v", i);
        d->cross_v_out[i] = clf_model_build_linear(m, g, memory, p);
    }
    return clf_graph_plan(g, false);
}

static clf_status build_step(clf_decoder_graphs *d) {
    clf_model *m = d->model;
    const clf_config *c = &m->cfg;
    bool encdec = c->arch == CLF_ARCH_ENCDEC;
    clf_status st = clf_graph_new(m->dev, d->max, &d->step);
    if (st != CLF_OK) return st;
    clf_graph *g = d->step;
    clf_tensor *pe = clf_graph_constant(g, "positional", m->pe, c->max_len, c->d_model);
    d->token = clf_graph_input(g, "token", CLF_ROWS_BATCH, 1, true);
    d->position = d->hooks.position = clf_graph_input(g, "position", CLF_ROWS_FIXED, 1, true);
    d->self_mask = clf_graph_input(g, "self_mask", CLF_ROWS_TGT, 1, true);
    if (encdec) {
        d->step_src_mask = clf_graph_input(g, "src_mask", CLF_ROWS_SRC, 1, true);
        for (int i = 0; i < c->n_dec_layers; i++) {
            char p[64];
            clf_name_format(p, sizeof p, "cross_k.%d", i);
            d->hooks.cross_k[i] = clf_graph_input(g, p, CLF_ROWS_SRC, c->d_model, false);
            clf_name_format(p, sizeof p, "cross_v.%d", i);
            d->hooks.cross_v[i] = clf_graph_input(g, p, CLF_ROWS_SRC, c->d_model, false);
        }
    }
    d->logits = clf_model_build_decoder_step(m, g, d->token, d->self_mask, d->step_src_mask, pe, &d->hooks);
    st = clf_graph_plan(g, false);
    if (st != CLF_OK) return st;
    /* reordering moves the caches and, with a source, the cross-attention keys and values */
    size_t rows = clf_tensor_rows(d->hooks.k_cache[0], &d->max);
    if (encdec && clf_tensor_rows(d->hooks.cross_k[0], &d->max) > rows) rows = clf_tensor_rows(d->hooks.cross_k[0], &d->max);
    size_t bytes = rows * (size_t)c->d_model * 4;
    st = clf_buffer_alloc(m->dev, bytes, "key/value cache scratch", &d->scratch);
    if (st == CLF_OK) st = clf_buffer_alloc(m->dev, (size_t)d->max.batch * 4, "key/value cache reorder", &d->index);
    return st;
}

clf_status clf_decoder_graphs_new(clf_model *m, clf_dims max, clf_decoder_graphs **out) {
    *out = NULL;
    if (!m) return CLF_ERROR(CLF_ERR_INVALID_ARG, "decoding graphs: model is NULL");
    if (m->cfg.n_dec_layers < 1) return CLF_ERROR(CLF_ERR_INVALID_ARG, "decoding graphs: the model has no decoder layer");
    clf_decoder_graphs *d = calloc(1, sizeof *d);
    if (!d) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory for the decoding graphs");
    d->model = m;
    d->max = max;
    int L = m->cfg.n_dec_layers;
    clf_status st = alloc_layers(&d->cross_k_out, L);
    if (st == CLF_OK) st = alloc_layers(&d->cross_v_out, L);
    if (st == CLF_OK) st = alloc_layers(&d->hooks.cross_k, L);
    if (st == CLF_OK) st = alloc_layers(&d->hooks.cross_v, L);
    if (st == CLF_OK) st = alloc_layers(&d->hooks.k_cache, L);
    if (st == CLF_OK) st = alloc_layers(&d->hooks.v_cache, L);
    if (st == CLF_OK && m->cfg.arch == CLF_ARCH_ENCDEC) st = build_encode(d);
    if (st == CLF_OK) st = build_step(d);
    if (st != CLF_OK) {
        clf_decoder_graphs_free(d);
        return clf_error_context(st, "building the incremental decoding graphs");
    }
    *out = d;
    return CLF_OK;
}

void clf_decoder_graphs_free(clf_decoder_graphs *d) {
    if (!d) return;
    clf_graph_free(d->encode);
    clf_graph_free(d->step);
    clf_buffer_release(d->model->dev, d->scratch);
    clf_buffer_release(d->model->dev, d->index);
    free(d->cross_k_out);
    free(d->cross_v_out);
    free(d->hooks.cross_k);
    free(d->hooks.cross_v);
    free(d->hooks.k_cache);
    free(d->hooks.v_cache);
    free(d);
}
