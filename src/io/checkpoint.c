/* Checkpoints: parameters and optimizer state to and from safetensors files. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clformer/checkpoint.h"

clf_status clf_config_compare(const clf_config *want, const clf_config *have) {
#define CMP_INT(f)                                                                                             \
    if (want->f != have->f) return CLF_ERROR(CLF_ERR_FORMAT, "%s is %d in the checkpoint but %d here", #f,     \
                                             (int)have->f, (int)want->f);
    if (want->arch != have->arch)
        return CLF_ERROR(CLF_ERR_FORMAT, "arch is %s in the checkpoint but %s here", clf_arch_name(have->arch),
                         clf_arch_name(want->arch));
    if (want->norm != have->norm)
        return CLF_ERROR(CLF_ERR_FORMAT, "norm is %s in the checkpoint but %s here", clf_norm_name(have->norm),
                         clf_norm_name(want->norm));
    if (want->activation != have->activation)
        return CLF_ERROR(CLF_ERR_FORMAT, "activation is %s in the checkpoint but %s here",
                         clf_activation_name(have->activation), clf_activation_name(want->activation));
    CMP_INT(vocab_size)
    CMP_INT(d_model)
    CMP_INT(n_heads)
    CMP_INT(d_ff)
    CMP_INT(n_dec_layers)
    CMP_INT(max_len)
    CMP_INT(tie_embeddings)
    if (want->arch == CLF_ARCH_ENCDEC) CMP_INT(n_enc_layers)
#undef CMP_INT
    if (want->ln_eps != have->ln_eps)
        return CLF_ERROR(CLF_ERR_FORMAT, "ln_eps is %g in the checkpoint but %g here", have->ln_eps, want->ln_eps);
    if (want->dropout != have->dropout)
        return CLF_ERROR(CLF_ERR_FORMAT, "dropout is %g in the checkpoint but %g here", have->dropout, want->dropout);
    return CLF_OK;
}

static clf_status add_flat(clf_st_writer *w, const clf_model *m, const char *prefix, const float *flat) {
    for (size_t i = 0; i < m->layout.n; i++) {
        const clf_param_info *p = &m->layout.params[i];
        char name[200];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        int64_t shape[2] = {p->shape[0], p->shape[1]};
        clf_status st = clf_st_writer_add(w, name, CLF_ST_F32, p->rank, shape, flat + p->offset);
        if (st != CLF_OK) return st;
    }
    return CLF_OK;
}

clf_status clf_checkpoint_save(const char *path, clf_model *m, long step, bool with_optimizer,
                               const clf_meta_item *extra, size_t n_extra) {
    size_t n = m->layout.total;
    int copies = with_optimizer ? 3 : 1;
    float *flat = malloc(n * (size_t)copies * sizeof *flat);
    char *config = clf_config_to_json(&m->cfg);
    clf_st_writer *w = NULL;
    clf_status st = flat && config ? clf_st_writer_new(&w) : CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    if (st == CLF_OK) st = clf_model_read_params(m, flat);
    if (st == CLF_OK) st = add_flat(w, m, "", flat);
    char optim_step[32] = "0", step_text[32];
    if (st == CLF_OK && with_optimizer) {
        if (!m->adam_m) st = CLF_ERROR(CLF_ERR_INVALID_ARG, "this model has no optimizer state to save");
        if (st == CLF_OK) st = clf_buffer_read(m->dev, m->adam_m, 0, n * 4, flat + n);
        if (st == CLF_OK) st = clf_buffer_read(m->dev, m->adam_v, 0, n * 4, flat + 2 * n);
        int32_t t = 0;
        if (st == CLF_OK) st = clf_buffer_read(m->dev, m->adam_state, 0, 4, &t);
        snprintf(optim_step, sizeof optim_step, "%d", (int)t);
        if (st == CLF_OK) st = add_flat(w, m, "optim.m.", flat + n);
        if (st == CLF_OK) st = add_flat(w, m, "optim.v.", flat + 2 * n);
        if (st == CLF_OK) st = clf_st_writer_set_meta(w, "optim_step", optim_step);
    }
    snprintf(step_text, sizeof step_text, "%ld", step);
    if (st == CLF_OK) st = clf_st_writer_set_meta(w, "format", "clformer");
    if (st == CLF_OK) st = clf_st_writer_set_meta(w, "config", config);
    if (st == CLF_OK) st = clf_st_writer_set_meta(w, "step", step_text);
    for (size_t i = 0; st == CLF_OK && i < n_extra; i++) st = clf_st_writer_set_meta(w, extra[i].key, extra[i].value);
    if (st == CLF_OK) st = clf_st_writer_write(w, path);
    clf_st_writer_free(w);
    free(config);
    free(flat);
    return st == CLF_OK ? st : clf_error_context(st, "saving checkpoint %s", path);
}

/* Every value of a tensor finite (and >= 0 with nonneg: AdamW's second moment), so a checkpoint
 * whose checksum matches but whose numbers are broken is refused, not trained on. */
static clf_status check_values(const char *path, const clf_st_tensor *t, bool nonneg) {
    const float *x = t->data;
    for (size_t i = 0; i < t->numel; i++) {
        float v;
        memcpy(&v, x + i, sizeof v);
        if (!isfinite(v) || (nonneg && v < 0))
            return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s' holds %s%g at element %zu", path, t->name,
                             isfinite(v) ? "a negative second moment " : "a non-finite value ", (double)v, i);
    }
    return CLF_OK;
}

/* The file's tensors against the parameters its configuration implies, before any model is built
 * from it (a tiny file naming a huge configuration must not make a device allocate gigabytes):
 * every parameter present as F32 of its shape, no tensor that is not a parameter or its optimizer
 * state, the optimizer state complete or absent, and every value finite. */
static clf_status check_tensors(clf_st_file *f, const clf_config *cfg) {
    const char *path = clf_st_path(f);
    clf_param_layout l;
    clf_status st = clf_param_layout_build(cfg, 1, &l);
    if (st != CLF_OK) return clf_error_context(st, "%s: config", path);
    size_t n_optim = 0;
    for (size_t i = 0; st == CLF_OK && i < clf_st_count(f); i++) {
        const char *name = clf_st_tensor_at(f, i)->name, *base = name;
        bool optim = !strncmp(name, "optim.m.", 8) || !strncmp(name, "optim.v.", 8);
        if (optim) base = name + 8, n_optim++;
        if (!clf_param_find(&l, base))
            st = CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s' is not %s of this configuration (%s, %d+%d layers)", path,
                           name, optim ? "the optimizer state of a parameter" : "a parameter", clf_arch_name(cfg->arch),
                           cfg->arch == CLF_ARCH_ENCDEC ? cfg->n_enc_layers : 0, cfg->n_dec_layers);
    }
    static const char *prefixes[] = {"", "optim.m.", "optim.v."};
    int kinds = n_optim ? 3 : 1;
    for (int k = 0; k < kinds; k++) {
        for (size_t i = 0; st == CLF_OK && i < l.n; i++) {
            const clf_param_info *p = &l.params[i];
            char name[200];
            snprintf(name, sizeof name, "%s%s", prefixes[k], p->name);
            int64_t shape[2] = {p->shape[0], p->shape[1]};
            const clf_st_tensor *t;
            if (k > 0 && !clf_st_find(f, name))
                st = CLF_ERROR(CLF_ERR_FORMAT, "%s: the optimizer state is incomplete: tensor '%s' is missing", path, name);
            else st = clf_st_get(f, name, CLF_ST_F32, p->rank, shape, &t);
            if (st == CLF_OK) st = check_values(path, t, k == 2);
        }
    }
    clf_param_layout_free(&l);
    return st;
}

/* A non-negative integer in metadata[key], when present (required: when absent too). */
static clf_status check_count(clf_st_file *f, const char *key, bool required) {
    const char *v = clf_st_meta(f, key);
    if (!v) return required ? CLF_ERROR(CLF_ERR_FORMAT, "%s: metadata '%s' is missing", clf_st_path(f), key) : CLF_OK;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno || x < 0 || x > INT32_MAX)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: metadata '%s' = '%.40s' is not a step count in [0, 2^31)",
                         clf_st_path(f), key, v);
    return CLF_OK;
}

clf_status clf_checkpoint_open(const char *path, clf_st_file **f, clf_config *cfg) {
    *f = NULL;
    clf_st_file *file;
    clf_status st = clf_st_open(path, &file);
    if (st != CLF_OK) return st;
    const char *format = clf_st_meta(file, "format"), *config = clf_st_meta(file, "config");
    bool optim = false;
    for (size_t i = 0; i < clf_st_count(file); i++) optim |= !strncmp(clf_st_tensor_at(file, i)->name, "optim.", 6);
    if (!format || strcmp(format, "clformer") != 0)
        st = CLF_ERROR(CLF_ERR_FORMAT, "%s: not a clformer checkpoint (metadata 'format' is %s)", path,
                       format ? format : "missing");
    /* No 'checksum' is accepted: SPEC's checkpoint does not require one, so files written by other
     * implementations have none. clformer's own always carry it, and the reader verifies it. */
    else if (!config)
        st = CLF_ERROR(CLF_ERR_FORMAT, "%s: the metadata has no 'config'", path);
    else if ((st = clf_config_from_json(config, cfg)) != CLF_OK)
        clf_error_context(st, "%s", path);
    if (st == CLF_OK) st = check_count(file, "step", false);
    if (st == CLF_OK) st = check_count(file, "optim_step", optim);
    if (st == CLF_OK) st = check_tensors(file, cfg);
    if (st != CLF_OK) {
        clf_st_close(file);
        return st;
    }
    *f = file;
    return CLF_OK;
}

static clf_status load_flat(clf_st_file *f, const clf_model *m, const char *prefix, float *flat) {
    memset(flat, 0, m->layout.total * sizeof *flat);
    for (size_t i = 0; i < m->layout.n; i++) {
        const clf_param_info *p = &m->layout.params[i];
        char name[200];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        int64_t shape[2] = {p->shape[0], p->shape[1]};
        const clf_st_tensor *t;
        clf_status st = clf_st_get(f, name, CLF_ST_F32, p->rank, shape, &t);
        if (st != CLF_OK) return st;
        memcpy(flat + p->offset, t->data, p->count * sizeof(float));
    }
    return CLF_OK;
}

clf_status clf_checkpoint_load(clf_st_file *f, clf_model *m, bool optimizer) {
    const char *path = clf_st_path(f);
    clf_config cfg;
    clf_status st = clf_config_from_json(clf_st_meta(f, "config"), &cfg);
    if (st == CLF_OK) st = clf_config_compare(&m->cfg, &cfg);
    if (st != CLF_OK) return clf_error_context(st, "%s does not fit this model", path);
    /* every tensor must be a parameter, or optimizer state of one */
    for (size_t i = 0; i < clf_st_count(f); i++) {
        const char *name = clf_st_tensor_at(f, i)->name, *base = name;
        if (!strncmp(name, "optim.m.", 8) || !strncmp(name, "optim.v.", 8)) base = name + 8;
        if (!clf_param_find(&m->layout, base))
            return CLF_ERROR(CLF_ERR_FORMAT, "%s: tensor '%s' is not a parameter of this configuration", path, name);
    }
    size_t n = m->layout.total;
    float *flat = malloc(n * sizeof *flat);
    if (!flat) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory loading %s", path);
    st = load_flat(f, m, "", flat);
    if (st == CLF_OK) st = clf_model_write_params(m, flat);
    if (st == CLF_OK && optimizer) {
        const char *t = clf_st_meta(f, "optim_step");
        char *end = NULL;
        long steps = t ? strtol(t, &end, 10) : -1;
        if (!m->adam_m) st = CLF_ERROR(CLF_ERR_INVALID_ARG, "model has no optimizer state to load into");
        else if (!t || *end || steps < 0 || steps > INT32_MAX)
            st = CLF_ERROR(CLF_ERR_FORMAT, "%s has no optimizer state (metadata 'optim_step')", path);
        if (st == CLF_OK) st = load_flat(f, m, "optim.m.", flat);
        if (st == CLF_OK) st = clf_buffer_write(m->dev, m->adam_m, 0, n * 4, flat);
        if (st == CLF_OK) st = load_flat(f, m, "optim.v.", flat);
        if (st == CLF_OK) st = clf_buffer_write(m->dev, m->adam_v, 0, n * 4, flat);
        int32_t t32 = (int32_t)steps;
        if (st == CLF_OK) st = clf_buffer_write(m->dev, m->adam_state, 0, 4, &t32);
    }
    free(flat);
    return st;
}
