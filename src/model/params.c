/* Parameter names, shapes and flat layout per SPEC's checkpoint table, and initialisation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

#include "clformer/params.h"
#include "clformer/rng.h"

typedef struct {
    clf_param_info *p;
    size_t n, cap;
    bool oom;
} plist;

static void add(plist *l, const char *name, int rows, int cols, clf_init init) {
    if (l->oom) return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        clf_param_info *p = realloc(l->p, cap * sizeof *p);
        if (!p) {
            l->oom = true;
            return;
        }
        l->p = p;
        l->cap = cap;
    }
    clf_param_info *x = &l->p[l->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    x->rank = cols ? 2 : 1;
    x->shape[0] = rows;
    x->shape[1] = cols;
    x->count = (size_t)rows * (size_t)(cols ? cols : 1);
    x->init = init;
}

static void add_linear(plist *l, const char *prefix, int out, int in) {
    char name[120];
    clf_name_format(name, sizeof name, "%s.weight", prefix);
    add(l, name, out, in, CLF_INIT_XAVIER);
    clf_name_format(name, sizeof name, "%s.bias", prefix);
    add(l, name, out, 0, CLF_INIT_ZERO);
}

static void add_norm(plist *l, const char *prefix, int d) {
    char name[120];
    clf_name_format(name, sizeof name, "%s.weight", prefix);
    add(l, name, d, 0, CLF_INIT_ONE);
    clf_name_format(name, sizeof name, "%s.bias", prefix);
    add(l, name, d, 0, CLF_INIT_ZERO);
}

static void add_attention(plist *l, const char *prefix, int d) {
    static const char *proj[] = {"q", "k", "v", "o"};
    char name[120];
    for (int i = 0; i < 4; i++) {
        clf_name_format(name, sizeof name, "%s.%s", prefix, proj[i]);
        add_linear(l, name, d, d);
    }
}

static void add_layer(plist *l, const clf_config *c, const char *stack, int i, bool cross) {
    char p[100];
    clf_name_format(p, sizeof p, "%s.layers.%d.self_attn", stack, i);
    add_attention(l, p, c->d_model);
    if (cross) {
        clf_name_format(p, sizeof p, "%s.layers.%d.cross_attn", stack, i);
        add_attention(l, p, c->d_model);
    }
    clf_name_format(p, sizeof p, "%s.layers.%d.ffn.w1", stack, i);
    add_linear(l, p, c->d_ff, c->d_model);
    clf_name_format(p, sizeof p, "%s.layers.%d.ffn.w2", stack, i);
    add_linear(l, p, c->d_model, c->d_ff);
    int norms = cross ? 3 : 2;
    for (int k = 1; k <= norms; k++) {
        clf_name_format(p, sizeof p, "%s.layers.%d.norm%d", stack, i, k);
        add_norm(l, p, c->d_model);
    }
}

clf_status clf_param_layout_build(const clf_config *c, size_t align, clf_param_layout *out) {
    memset(out, 0, sizeof *out);
    clf_status st = clf_config_validate(c);
    if (st != CLF_OK) return st;
    plist l = {0};
    int V = c->vocab_size, D = c->d_model;
    if (c->arch == CLF_ARCH_ENCDEC) {
        if (!c->tie_embeddings) add(&l, "src_embed.weight", V, D, CLF_INIT_XAVIER);
        add(&l, "tgt_embed.weight", V, D, CLF_INIT_XAVIER);
        for (int i = 0; i < c->n_enc_layers; i++) add_layer(&l, c, "encoder", i, false);
        if (c->norm == CLF_NORM_PRE) add_norm(&l, "encoder.norm", D);
        for (int i = 0; i < c->n_dec_layers; i++) add_layer(&l, c, "decoder", i, true);
    } else {
        add(&l, "tok_embed.weight", V, D, CLF_INIT_XAVIER);
        for (int i = 0; i < c->n_dec_layers; i++) add_layer(&l, c, "decoder", i, false);
    }
    if (c->norm == CLF_NORM_PRE) add_norm(&l, "decoder.norm", D);
    if (!c->tie_embeddings) add(&l, "generator.weight", V, D, CLF_INIT_XAVIER);
    if (l.oom) {
        free(l.p);
        return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory listing parameters");
    }
    if (align == 0) align = 1;
    /* 2-D weights first: decay covers [0, n_decay) */
    size_t off = 0;
    for (int pass = 2; pass >= 1; pass--)
        for (size_t i = 0; i < l.n; i++) {
            if (l.p[i].rank != pass) continue;
            off = (off + align - 1) / align * align;
            l.p[i].offset = off;
            off += l.p[i].count;
            if (pass == 2) out->n_decay = off;
        }
    out->params = l.p;
    out->n = l.n;
    out->total = (off + align - 1) / align * align;
    return CLF_OK;
}

void clf_param_layout_free(clf_param_layout *l) {
    free(l->params);
    memset(l, 0, sizeof *l);
}

const clf_param_info *clf_param_find(const clf_param_layout *l, const char *name) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->params[i].name, name)) return &l->params[i];
    return NULL;
}

void clf_params_init(const clf_param_layout *l, uint64_t seed, float *flat) {
    memset(flat, 0, l->total * sizeof *flat);
    uint64_t s = seed ^ 0x5EEDC0DEull;
    for (size_t i = 0; i < l->n; i++) {
        const clf_param_info *p = &l->params[i];
        float *x = flat + p->offset;
        if (p->init == CLF_INIT_ONE)
            for (size_t j = 0; j < p->count; j++) x[j] = 1.0f;
        if (p->init != CLF_INIT_XAVIER) continue;
        /* torch.nn.init.xavier_uniform_: U(-a, a), a = sqrt(6 / (fan_in + fan_out)) */
        double a = sqrt(6.0 / (double)(p->shape[0] + p->shape[1]));
        for (size_t j = 0; j < p->count; j++)
            x[j] = (float)(a * (2.0 * (double)(clf_splitmix64(&s) >> 11) * 0x1p-53 - 1.0));
    }
}
