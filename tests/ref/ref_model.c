/* The Transformer of SPEC.md in float64: configuration, named parameters, and the whole forward
 * and backward pass built from the blocks of ref_model_ops.c. */
#include "ref_model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_model_ops.h"

void ref_config_default(ref_config *cfg) {
    *cfg = (ref_config){.arch = REF_ARCH_ENCDEC,
                        .vocab_size = 259,
                        .d_model = 128,
                        .n_heads = 4,
                        .d_ff = 512,
                        .n_enc_layers = 2,
                        .n_dec_layers = 2,
                        .max_len = 256,
                        .norm = REF_NORM_POST,
                        .activation = REF_ACT_RELU,
                        .ln_eps = 1e-5,
                        .tie_embeddings = 0};
}

clf_status ref_config_check(const ref_config *cfg) {
    if (!cfg) return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_config: cfg is NULL");
    if (cfg->arch != REF_ARCH_ENCDEC && cfg->arch != REF_ARCH_DECODER)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_config: arch %d is neither encdec nor decoder", (int)cfg->arch);
    if (cfg->vocab_size <= REF_PAD)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_config: vocab_size %d must exceed PAD (%d)", cfg->vocab_size,
                         REF_PAD);
    if (cfg->d_model <= 0 || cfg->n_heads <= 0 || cfg->d_model % cfg->n_heads != 0)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_config: d_model %d is not a positive multiple of n_heads %d",
                         cfg->d_model, cfg->n_heads);
    if (cfg->d_ff <= 0) return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_config: d_ff %d <= 0", cfg->d_ff);
    if ((cfg->arch == REF_ARCH_ENCDEC && cfg->n_enc_layers < 0) || cfg->n_dec_layers < 0)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_config: negative layer count (%d, %d)", cfg->n_enc_layers,
                         cfg->n_dec_layers);
    if (cfg->max_len <= 0) return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_config: max_len %d <= 0", cfg->max_len);
    if (cfg->norm != REF_NORM_POST && cfg->norm != REF_NORM_PRE)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_config: norm %d is neither post nor pre", (int)cfg->norm);
    if (cfg->activation != REF_ACT_RELU && cfg->activation != REF_ACT_GELU)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_config: activation %d is neither relu nor gelu",
                         (int)cfg->activation);
    if (!(cfg->ln_eps > 0)) return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_config: ln_eps %g <= 0", cfg->ln_eps);
    if (cfg->tie_embeddings != 0 && cfg->tie_embeddings != 1)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_config: tie_embeddings %d is not 0 or 1", cfg->tie_embeddings);
    return CLF_OK;
}

/* ---- parameter layout ---- */

typedef struct layout {
    ref_tensor *t; /* NULL while counting */
    int n;
} layout;

static void add(layout *l, ref_tensor_kind kind, int rows, int cols, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void add(layout *l, ref_tensor_kind kind, int rows, int cols, const char *fmt, ...) {
    if (l->t) {
        ref_tensor *t = &l->t[l->n];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->name, sizeof t->name, fmt, ap);
        va_end(ap);
        t->ndim = cols ? 2 : 1;
        t->shape[0] = rows;
        t->shape[1] = cols ? cols : 1;
        t->numel = (size_t)rows * (size_t)t->shape[1];
        t->kind = kind;
    }
    l->n++;
}

static void add_linear(layout *l, const char *prefix, int out, int in) {
    add(l, REF_TENSOR_WEIGHT, out, in, "%s.weight", prefix);
    add(l, REF_TENSOR_BIAS, out, 0, "%s.bias", prefix);
}

static void add_attn(layout *l, const char *stack, int i, const char *which, int D) {
    static const char *names[4] = {"q", "k", "v", "o"};
    char prefix[64];
    for (int j = 0; j < 4; j++) {
        snprintf(prefix, sizeof prefix, "%s.layers.%d.%s.%s", stack, i, which, names[j]);
        add_linear(l, prefix, D, D);
    }
}

static void add_norm(layout *l, const char *prefix, int D) {
    add(l, REF_TENSOR_LN_WEIGHT, D, 0, "%s.weight", prefix);
    add(l, REF_TENSOR_LN_BIAS, D, 0, "%s.bias", prefix);
}

static void add_layer(layout *l, const char *stack, int i, int cross, const ref_config *cfg) {
    char prefix[64];
    add_attn(l, stack, i, "self_attn", cfg->d_model);
    if (cross) add_attn(l, stack, i, "cross_attn", cfg->d_model);
    snprintf(prefix, sizeof prefix, "%s.layers.%d.ffn.w1", stack, i);
    add_linear(l, prefix, cfg->d_ff, cfg->d_model);
    snprintf(prefix, sizeof prefix, "%s.layers.%d.ffn.w2", stack, i);
    add_linear(l, prefix, cfg->d_model, cfg->d_ff);
    for (int k = 1; k <= (cross ? 3 : 2); k++) {
        snprintf(prefix, sizeof prefix, "%s.layers.%d.norm%d", stack, i, k);
        add_norm(l, prefix, cfg->d_model);
    }
}

static void build_layout(const ref_config *cfg, layout *l) {
    int V = cfg->vocab_size, D = cfg->d_model, encdec = cfg->arch == REF_ARCH_ENCDEC;
    if (encdec) {
        if (!cfg->tie_embeddings) add(l, REF_TENSOR_WEIGHT, V, D, "src_embed.weight");
        add(l, REF_TENSOR_WEIGHT, V, D, "tgt_embed.weight");
        for (int i = 0; i < cfg->n_enc_layers; i++) add_layer(l, "encoder", i, 0, cfg);
        if (cfg->norm == REF_NORM_PRE) add_norm(l, "encoder.norm", D);
    } else {
        add(l, REF_TENSOR_WEIGHT, V, D, "tok_embed.weight");
    }
    for (int i = 0; i < cfg->n_dec_layers; i++) add_layer(l, "decoder", i, encdec, cfg);
    if (cfg->norm == REF_NORM_PRE) add_norm(l, "decoder.norm", D);
    if (!cfg->tie_embeddings) add(l, REF_TENSOR_WEIGHT, V, D, "generator.weight");
}

int refm_param_count(const ref_config *cfg) {
    layout l = {0};
    build_layout(cfg, &l);
    return l.n;
}

clf_status ref_params_new(const ref_config *cfg, ref_params **out) {
    if (!out) return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_params_new: out is NULL");
    *out = NULL;
    clf_status st = ref_config_check(cfg);
    if (st != CLF_OK) return st;
    layout l = {0};
    build_layout(cfg, &l);
    ref_params *p = calloc(1, sizeof *p);
    if (!p) return CLF_ERROR(CLF_ERR_NO_MEMORY, "ref_params_new: list");
    p->tensors = calloc((size_t)l.n, sizeof *p->tensors);
    if (!p->tensors) {
        free(p);
        return CLF_ERROR(CLF_ERR_NO_MEMORY, "ref_params_new: %d tensors", l.n);
    }
    l = (layout){.t = p->tensors};
    build_layout(cfg, &l);
    p->count = l.n;
    for (int i = 0; i < p->count; i++) p->total += p->tensors[i].numel;
    p->data = calloc(p->total, sizeof *p->data);
    if (!p->data) {
        ref_params_free(p);
        return CLF_ERROR(CLF_ERR_NO_MEMORY, "ref_params_new: %zu values", p->total);
    }
    size_t off = 0;
    for (int i = 0; i < p->count; i++) {
        p->tensors[i].data = p->data + off;
        off += p->tensors[i].numel;
    }
    *out = p;
    return CLF_OK;
}

void ref_params_free(ref_params *p) {
    if (!p) return;
    free(p->data);
    free(p->tensors);
    free(p);
}

ref_tensor *ref_params_find(const ref_params *p, const char *name) {
    if (!p || !name) return NULL;
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->tensors[i].name, name) == 0) return &p->tensors[i];
    return NULL;
}

void ref_params_zero(ref_params *p) {
    if (p) memset(p->data, 0, p->total * sizeof *p->data);
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ref_params_init(ref_params *p, uint64_t seed) {
    uint64_t s = seed;
    for (int i = 0; i < p->count; i++) {
        ref_tensor *t = &p->tensors[i];
        double a = sqrt(6.0 / (t->shape[0] + t->shape[1]));
        for (size_t k = 0; k < t->numel; k++) {
            double u = (double)(splitmix64(&s) >> 11) * 0x1p-53;
            t->data[k] = t->kind == REF_TENSOR_WEIGHT      ? a * (2.0 * u - 1.0)
                         : t->kind == REF_TENSOR_LN_WEIGHT ? 1.0
                                                           : 0.0;
        }
    }
}
