/* The model's device state: the flat parameter buffer and its views, gradients and AdamW state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clformer/model.h"
#include "ops/adamw.h"
#include "ops/embedding.h"

static clf_status alloc_views(clf_model *m, cl_mem flat, cl_mem **views) {
    *views = calloc(m->layout.n, sizeof **views);
    if (!*views) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    for (size_t i = 0; i < m->layout.n; i++) {
        const clf_param_info *p = &m->layout.params[i];
        clf_status st = clf_buffer_view(m->dev, flat, p->offset * 4, p->count * 4, &(*views)[i]);
        if (st != CLF_OK) return clf_error_context(st, "parameter %s", p->name);
    }
    return CLF_OK;
}

clf_status clf_model_new(clf_device *dev, const clf_config *cfg, bool training, clf_model **out) {
    *out = NULL;
    clf_model *m = calloc(1, sizeof *m);
    if (!m) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    m->dev = dev;
    m->cfg = *cfg;
    m->training = training;
    size_t align = clf_device_get_info(dev)->mem_base_align / 4;
    clf_status st = clf_param_layout_build(cfg, align ? align : 1, &m->layout);
    size_t bytes = m->layout.total * 4;
    if (st == CLF_OK) st = clf_buffer_alloc(dev, bytes, "parameters", &m->params);
    if (st == CLF_OK) st = alloc_views(m, m->params, &m->views);
    if (training) {
        if (st == CLF_OK) st = clf_buffer_alloc(dev, bytes, "gradients", &m->grads);
        if (st == CLF_OK) st = clf_buffer_alloc(dev, bytes, "AdamW first moments", &m->adam_m);
        if (st == CLF_OK) st = clf_buffer_alloc(dev, bytes, "AdamW second moments", &m->adam_v);
        if (st == CLF_OK) st = clf_buffer_alloc(dev, 4, "AdamW step count", &m->adam_state);
        if (st == CLF_OK) st = clf_buffer_alloc(dev, 4, "gradient norm", &m->grad_norm);
        size_t ws = clf_grad_norm_workspace_floats(m->layout.total);
        if (st == CLF_OK) st = clf_buffer_alloc(dev, (ws ? ws : 1) * 4, "gradient norm scratch", &m->norm_workspace);
        if (st == CLF_OK) st = alloc_views(m, m->grads, &m->grad_views);
        if (st == CLF_OK) st = clf_buffer_fill_float(dev, m->grads, 0, m->layout.total, 0.0f);
        if (st == CLF_OK) st = clf_buffer_fill_float(dev, m->adam_m, 0, m->layout.total, 0.0f);
        if (st == CLF_OK) st = clf_buffer_fill_float(dev, m->adam_v, 0, m->layout.total, 0.0f);
        if (st == CLF_OK) st = clf_buffer_fill_float(dev, m->adam_state, 0, 1, 0.0f); /* int 0 == float +0 bits */
    }
    if (st == CLF_OK) {
        size_t n = (size_t)cfg->max_len * (size_t)cfg->d_model;
        float *pe = malloc(n * sizeof *pe);
        if (!pe) st = CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
        else {
            clf_positional_table(pe, cfg->max_len, cfg->d_model);
            st = clf_buffer_alloc(dev, n * 4, "positional table", &m->pe);
            if (st == CLF_OK) st = clf_buffer_write(dev, m->pe, 0, n * 4, pe);
            free(pe);
        }
    }
    if (st != CLF_OK) {
        clf_model_free(m);
        return st;
    }
    *out = m;
    return CLF_OK;
}

void clf_model_free(clf_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->layout.n; i++) {
        if (m->views) clf_buffer_release(m->dev, m->views[i]);
        if (m->grad_views) clf_buffer_release(m->dev, m->grad_views[i]);
    }
    free(m->views);
    free(m->grad_views);
    cl_mem bufs[] = {m->params, m->grads, m->adam_m, m->adam_v, m->adam_state, m->grad_norm, m->norm_workspace, m->pe};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) clf_buffer_release(m->dev, bufs[i]);
    clf_param_layout_free(&m->layout);
    free(m);
}

clf_status clf_model_write_params(clf_model *m, const float *flat) {
    return clf_buffer_write(m->dev, m->params, 0, m->layout.total * 4, flat);
}

clf_status clf_model_read_params(clf_model *m, float *flat) {
    return clf_buffer_read(m->dev, m->params, 0, m->layout.total * 4, flat);
}

cl_mem clf_model_param(const clf_model *m, const char *name, bool grad) {
    if (m->cfg.tie_embeddings && (!strcmp(name, "generator.weight") || !strcmp(name, "src_embed.weight")))
        name = m->cfg.arch == CLF_ARCH_DECODER ? "tok_embed.weight" : "tgt_embed.weight";
    for (size_t i = 0; i < m->layout.n; i++)
        if (!strcmp(m->layout.params[i].name, name)) {
            if (grad) return m->grad_views ? m->grad_views[i] : NULL;
            return m->views[i];
        }
    return NULL;
}
