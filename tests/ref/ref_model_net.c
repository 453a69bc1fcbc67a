/* The network of SPEC.md in float64: sub-layers (attention, FFN) with their residual and
 * LayerNorm, the stacks, the generator and the loss, forward and then backward in reverse. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_model.h"
#include "ref_model_ops.h"

/* ---- scratch: every buffer of one call, zero-filled, freed together ---- */

typedef struct arena {
    void **ptr;
    size_t n, cap;
    int failed;
} arena;

static double *arena_get(arena *a, size_t n) {
    if (a->failed) return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        void **p = realloc(a->ptr, cap * sizeof *p);
        if (!p) {
            a->failed = 1;
            return NULL;
        }
        a->ptr = p;
        a->cap = cap;
    }
    double *d = calloc(n ? n : 1, sizeof *d);
    if (!d) {
        a->failed = 1;
        return NULL;
    }
    a->ptr[a->n++] = d;
    return d;
}

static void arena_free(arena *a) {
    for (size_t i = 0; i < a->n; i++) free(a->ptr[i]);
    free(a->ptr);
}

/* ---- parameters bound by name: values and (when wanted) gradients ---- */

typedef struct bound {
    const double *w;
    double *g; /* NULL without gradients */
} bound;

typedef struct binder {
    const ref_params *params, *grads;
    const char *missing; /* first name not found */
    char missing_buf[64];
} binder;

static bound bind(binder *bd, int rows, int cols, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static bound bind(binder *bd, int rows, int cols, const char *fmt, ...) {
    char name[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    bound b = {0};
    ref_tensor *t = ref_params_find(bd->params, name);
    ref_tensor *g = bd->grads ? ref_params_find(bd->grads, name) : NULL;
    size_t numel = (size_t)rows * (size_t)(cols ? cols : 1);
    if (!t || t->numel != numel || t->shape[0] != rows || (bd->grads && (!g || g->numel != numel))) {
        if (!bd->missing) {
            snprintf(bd->missing_buf, sizeof bd->missing_buf, "%s", name);
            bd->missing = bd->missing_buf;
        }
        return b;
    }
    b.w = t->data;
    b.g = g ? g->data : NULL;
    return b;
}

typedef struct lin {
    bound w, b;
} lin;

static lin bind_lin(binder *bd, const char *prefix, int out, int in) {
    return (lin){bind(bd, out, in, "%s.weight", prefix), bind(bd, out, 0, "%s.bias", prefix)};
}

/* ---- one sub-layer: post: y = LN(x + f(x)); pre: y = x + f(LN(x)) ---- */

enum { SUB_SELF, SUB_CROSS, SUB_FFN };

typedef struct sub {
    int kind, causal;
    lin q, k, v, o;     /* attention */
    lin w1, w2;         /* FFN */
    bound ln_g, ln_b;   /* this sub-layer's LayerNorm */
    int N, Nkv, Tq, Tkv; /* rows of the query side and of the key/value side */
    const int32_t *key_tok; /* [B, Tkv] */
    /* forward cache */
    const double *x;    /* [N, D] input, the residual stream */
    double *u;          /* [N, D] what f reads: LN(x) (pre) or x (post) */
    double *ln_in;      /* [N, D] LayerNorm input: x (pre) or x + f(x) (post) */
    double *mean, *rstd; /* [N] */
    double *y;          /* [N, D] output */
    const double *kv;   /* [Nkv, D] keys/values source: u (self) or the encoder memory (cross) */
    double *Q, *K, *V, *O, *P; /* [N, D], [Nkv, D] x2, [N, D], [B, H, Tq, Tkv] */
    double *h, *a;      /* [N, d_ff] FFN pre-activation and activation */
} sub;

typedef struct net {
    const ref_config *cfg;
    int B, D, H, F;
    arena *ar;
    double relu_margin;
} net;

static void sub_bind(binder *bd, sub *s, int kind, const char *stack, int layer, int norm_idx, const ref_config *cfg) {
    char p[64];
    int D = cfg->d_model;
    s->kind = kind;
    if (kind == SUB_FFN) {
        snprintf(p, sizeof p, "%s.layers.%d.ffn.w1", stack, layer);
        s->w1 = bind_lin(bd, p, cfg->d_ff, D);
        snprintf(p, sizeof p, "%s.layers.%d.ffn.w2", stack, layer);
        s->w2 = bind_lin(bd, p, D, cfg->d_ff);
    } else {
        const char *which = kind == SUB_SELF ? "self_attn" : "cross_attn";
        lin *l[4] = {&s->q, &s->k, &s->v, &s->o};
        static const char *names[4] = {"q", "k", "v", "o"};
        for (int j = 0; j < 4; j++) {
            snprintf(p, sizeof p, "%s.layers.%d.%s.%s", stack, layer, which, names[j]);
            *l[j] = bind_lin(bd, p, D, D);
        }
    }
    s->ln_g = bind(bd, D, 0, "%s.layers.%d.norm%d.weight", stack, layer, norm_idx);
    s->ln_b = bind(bd, D, 0, "%s.layers.%d.norm%d.bias", stack, layer, norm_idx);
}

/* f(u) into out [N, D]. */
static void sub_fn_fwd(net *m, sub *s, double *out) {
    int B = m->B, D = m->D, F = m->F;
    if (s->kind == SUB_FFN) {
        s->h = arena_get(m->ar, (size_t)s->N * F);
        s->a = arena_get(m->ar, (size_t)s->N * F);
        if (!s->a) return;
        refm_linear_fwd(s->h, s->u, s->w1.w.w, s->w1.b.w, s->N, D, F);
        refm_act_fwd(s->a, s->h, (size_t)s->N * F, m->cfg->activation);
        if (m->cfg->activation == REF_ACT_RELU)
            for (size_t i = 0; i < (size_t)s->N * F; i++)
                if (fabs(s->h[i]) < m->relu_margin) m->relu_margin = fabs(s->h[i]);
        refm_linear_fwd(out, s->a, s->w2.w.w, s->w2.b.w, s->N, F, D);
        return;
    }
    if (s->kind == SUB_SELF) s->kv = s->u;
    s->Q = arena_get(m->ar, (size_t)s->N * D);
    s->K = arena_get(m->ar, (size_t)s->Nkv * D);
    s->V = arena_get(m->ar, (size_t)s->Nkv * D);
    s->O = arena_get(m->ar, (size_t)s->N * D);
    s->P = arena_get(m->ar, (size_t)B * m->H * s->Tq * s->Tkv);
    if (!s->P) return;
    refm_linear_fwd(s->Q, s->u, s->q.w.w, s->q.b.w, s->N, D, D);
    refm_linear_fwd(s->K, s->kv, s->k.w.w, s->k.b.w, s->Nkv, D, D);
    refm_linear_fwd(s->V, s->kv, s->v.w.w, s->v.b.w, s->Nkv, D, D);
    refm_attn_fwd(s->O, s->P, s->Q, s->K, s->V, s->key_tok, s->causal, B, s->Tq, s->Tkv, D, m->H);
    refm_linear_fwd(out, s->O, s->o.w.w, s->o.b.w, s->N, D, D);
}

/* du += df/du^T dout; dkv (cross only, [Nkv, D]) += the key/value side's share. */
static void sub_fn_bwd(net *m, sub *s, double *du, double *dkv, const double *dout) {
    int B = m->B, D = m->D, F = m->F;
    if (s->kind == SUB_FFN) {
        double *da = arena_get(m->ar, (size_t)s->N * F), *dh = arena_get(m->ar, (size_t)s->N * F);
        if (!dh) return;
        refm_linear_bwd(da, s->w2.w.g, s->w2.b.g, dout, s->a, s->w2.w.w, s->N, F, D);
        refm_act_bwd(dh, da, s->h, (size_t)s->N * F, m->cfg->activation);
        refm_linear_bwd(du, s->w1.w.g, s->w1.b.g, dh, s->u, s->w1.w.w, s->N, D, F);
        return;
    }
    if (s->kind == SUB_SELF) dkv = du; /* keys and values are read from u too */
    double *dO = arena_get(m->ar, (size_t)s->N * D), *dQ = arena_get(m->ar, (size_t)s->N * D);
    double *dK = arena_get(m->ar, (size_t)s->Nkv * D), *dV = arena_get(m->ar, (size_t)s->Nkv * D);
    if (!dV) return;
    refm_linear_bwd(dO, s->o.w.g, s->o.b.g, dout, s->O, s->o.w.w, s->N, D, D);
    refm_attn_bwd(dQ, dK, dV, dO, s->P, s->Q, s->K, s->V, B, s->Tq, s->Tkv, D, m->H);
    refm_linear_bwd(du, s->q.w.g, s->q.b.g, dQ, s->u, s->q.w.w, s->N, D, D);
    refm_linear_bwd(dkv, s->k.w.g, s->k.b.g, dK, s->kv, s->k.w.w, s->Nkv, D, D);
    refm_linear_bwd(dkv, s->v.w.g, s->v.b.g, dV, s->kv, s->v.w.w, s->Nkv, D, D);
}

static void sub_fwd(net *m, sub *s, const double *x) {
    size_t nd = (size_t)s->N * m->D;
    s->x = x;
    s->mean = arena_get(m->ar, (size_t)s->N);
    s->rstd = arena_get(m->ar, (size_t)s->N);
    s->y = arena_get(m->ar, nd);
    double *f = arena_get(m->ar, nd);
    if (!f) return;
    if (m->cfg->norm == REF_NORM_PRE) {
        s->u = arena_get(m->ar, nd);
        s->ln_in = (double *)x;
        if (!s->u) return;
        refm_layernorm_fwd(s->u, s->mean, s->rstd, x, s->ln_g.w, s->ln_b.w, s->N, m->D, m->cfg->ln_eps);
        sub_fn_fwd(m, s, f);
        for (size_t i = 0; i < nd; i++) s->y[i] = x[i] + f[i];
    } else {
        s->u = (double *)x;
        s->ln_in = arena_get(m->ar, nd);
        if (!s->ln_in) return;
        sub_fn_fwd(m, s, f);
        for (size_t i = 0; i < nd; i++) s->ln_in[i] = x[i] + f[i];
        refm_layernorm_fwd(s->y, s->mean, s->rstd, s->ln_in, s->ln_g.w, s->ln_b.w, s->N, m->D, m->cfg->ln_eps);
    }
}

/* dx += dy/dx^T dy; dkv as in sub_fn_bwd. */
static void sub_bwd(net *m, sub *s, double *dx, double *dkv, const double *dy) {
    size_t nd = (size_t)s->N * m->D;
    double *tmp = arena_get(m->ar, nd);
    if (!tmp) return;
    if (m->cfg->norm == REF_NORM_PRE) {
        for (size_t i = 0; i < nd; i++) dx[i] += dy[i];
        sub_fn_bwd(m, s, tmp, dkv, dy); /* tmp = du */
        refm_layernorm_bwd(dx, s->ln_g.g, s->ln_b.g, tmp, s->ln_in, s->mean, s->rstd, s->ln_g.w, s->N, m->D);
    } else {
        /* tmp = d(x + f(x)); u is x itself, so f's input gradient lands in dx */
        refm_layernorm_bwd(tmp, s->ln_g.g, s->ln_b.g, dy, s->ln_in, s->mean, s->rstd, s->ln_g.w, s->N, m->D);
        for (size_t i = 0; i < nd; i++) dx[i] += tmp[i];
        sub_fn_bwd(m, s, dx, dkv, tmp);
    }
}

/* ---- the whole model ---- */

static clf_status check_tokens(const char *what, const int32_t *tok, size_t n, int V) {
    if (!tok) return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_forward_backward: batch %s is NULL", what);
    for (size_t i = 0; i < n; i++)
        if (tok[i] < 0 || tok[i] >= V)
            return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_forward_backward: batch %s[%zu] = %d outside [0, %d)", what, i,
                             (int)tok[i], V);
    return CLF_OK;
}

static clf_status check_batch(const ref_config *cfg, const ref_batch *bt) {
    if (!bt) return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_forward_backward: batch is NULL");
    int encdec = cfg->arch == REF_ARCH_ENCDEC;
    if (bt->B <= 0 || bt->Tt <= 0 || bt->Tt > cfg->max_len || (encdec && (bt->Ts <= 0 || bt->Ts > cfg->max_len)))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_forward_backward: batch shape B %d, Ts %d, Tt %d (max_len %d)",
                         bt->B, bt->Ts, bt->Tt, cfg->max_len);
    clf_status st;
    size_t nt = (size_t)bt->B * bt->Tt;
    if (encdec && (st = check_tokens("src", bt->src, (size_t)bt->B * bt->Ts, cfg->vocab_size)) != CLF_OK) return st;
    if ((st = check_tokens("tgt_in", bt->tgt_in, nt, cfg->vocab_size)) != CLF_OK) return st;
    return check_tokens("tgt_out", bt->tgt_out, nt, cfg->vocab_size);
}

static clf_status run(const ref_config *cfg, const ref_params *params, const ref_batch *bt, double eps, double *loss,
                      double *logits_out, ref_params *grads, double *relu_margin) {
    clf_status st = ref_config_check(cfg);
    if (st != CLF_OK) return st;
    if (!params) return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_forward_backward: params is NULL");
    if ((st = check_batch(cfg, bt)) != CLF_OK) return st;
    if (!(eps >= 0 && eps <= 1))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_forward_backward: label_smoothing %g outside [0, 1]", eps);
    if (grads == params) return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_forward_backward: grads is params");

    int encdec = cfg->arch == REF_ARCH_ENCDEC, D = cfg->d_model, V = cfg->vocab_size, B = bt->B;
    int Ts = bt->Ts, Tt = bt->Tt, Ns = B * Ts, Nt = B * Tt;
    int n_enc = encdec ? cfg->n_enc_layers : 0, per_dec = encdec ? 3 : 2;
    int n_enc_sub = 2 * n_enc, n_dec_sub = per_dec * cfg->n_dec_layers;
    arena ar = {0};
    net m = {.cfg = cfg, .B = B, .D = D, .H = cfg->n_heads, .F = cfg->d_ff, .ar = &ar, .relu_margin = INFINITY};

    /* bind every parameter by its SPEC name; a list of another shape is an error */
    binder bd = {.params = params, .grads = grads};
    const char *tok_name = encdec ? "tgt_embed.weight" : "tok_embed.weight";
    bound e_tgt = bind(&bd, V, D, "%s", tok_name);
    bound e_src = encdec ? (cfg->tie_embeddings ? e_tgt : bind(&bd, V, D, "src_embed.weight")) : (bound){0};
    bound gen = cfg->tie_embeddings ? e_tgt : bind(&bd, V, D, "generator.weight");
    bound enc_ng = {0}, enc_nb = {0}, dec_ng = {0}, dec_nb = {0};
    if (cfg->norm == REF_NORM_PRE) {
        if (encdec) enc_ng = bind(&bd, D, 0, "encoder.norm.weight"), enc_nb = bind(&bd, D, 0, "encoder.norm.bias");
        dec_ng = bind(&bd, D, 0, "decoder.norm.weight"), dec_nb = bind(&bd, D, 0, "decoder.norm.bias");
    }
    sub *subs = calloc((size_t)(n_enc_sub + n_dec_sub) + 1, sizeof *subs);
    if (!subs) return CLF_ERROR(CLF_ERR_NO_MEMORY, "ref_forward_backward: sub-layers");
    sub *enc = subs, *dec = subs + n_enc_sub;
    for (int i = 0; i < n_enc; i++) {
        sub_bind(&bd, &enc[2 * i], SUB_SELF, "encoder", i, 1, cfg);
        sub_bind(&bd, &enc[2 * i + 1], SUB_FFN, "encoder", i, 2, cfg);
        for (int j = 0; j < 2; j++) {
            enc[2 * i + j].N = enc[2 * i + j].Nkv = Ns;
            enc[2 * i + j].Tq = enc[2 * i + j].Tkv = Ts;
        }
        enc[2 * i].key_tok = bt->src; /* the FFN reads no keys */
    }
    for (int i = 0; i < cfg->n_dec_layers; i++) {
        sub *l = &dec[per_dec * i];
        sub_bind(&bd, &l[0], SUB_SELF, "decoder", i, 1, cfg);
        if (encdec) sub_bind(&bd, &l[1], SUB_CROSS, "decoder", i, 2, cfg);
        sub_bind(&bd, &l[per_dec - 1], SUB_FFN, "decoder", i, per_dec, cfg);
        for (int j = 0; j < per_dec; j++) {
            l[j].N = l[j].Nkv = Nt;
            l[j].Tq = l[j].Tkv = Tt;
        }
        l[0].key_tok = bt->tgt_in;
        l[0].causal = 1;
        if (encdec) {
            l[1].Nkv = Ns;
            l[1].Tkv = Ts;
            l[1].key_tok = bt->src;
        }
    }
    int expect = refm_param_count(cfg); /* no extra tensors either */
    if (bd.missing || params->count != expect || (grads && grads->count != expect)) {
        free(subs);
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_forward_backward: params/grads do not match the config (%s)",
                         bd.missing ? bd.missing : "tensor count");
    }

    /* forward: encoder */
    double *xs = NULL, *mem = NULL, *mem_mean = NULL, *mem_rstd = NULL, *enc_out = NULL;
    if (encdec) {
        xs = arena_get(&ar, (size_t)Ns * D);
        if (xs) refm_embed_fwd(xs, bt->src, e_src.w, B, Ts, D);
        const double *x = xs;
        for (int i = 0; i < n_enc_sub && !ar.failed; i++) {
            sub_fwd(&m, &enc[i], x);
            x = enc[i].y;
        }
        enc_out = (double *)x;
        mem = enc_out;
        if (cfg->norm == REF_NORM_PRE) {
            mem = arena_get(&ar, (size_t)Ns * D);
            mem_mean = arena_get(&ar, (size_t)Ns);
            mem_rstd = arena_get(&ar, (size_t)Ns);
            if (mem_rstd) refm_layernorm_fwd(mem, mem_mean, mem_rstd, enc_out, enc_ng.w, enc_nb.w, Ns, D, cfg->ln_eps);
        }
        for (int i = 0; i < cfg->n_dec_layers; i++) dec[per_dec * i + 1].kv = mem;
    }
    /* decoder */
    double *xt = arena_get(&ar, (size_t)Nt * D);
    if (xt) refm_embed_fwd(xt, bt->tgt_in, e_tgt.w, B, Tt, D);
    const double *x = xt;
    for (int i = 0; i < n_dec_sub && !ar.failed; i++) {
        sub_fwd(&m, &dec[i], x);
        x = dec[i].y;
    }
    const double *dec_out = x, *yfin = x;
    double *dec_mean = NULL, *dec_rstd = NULL;
    if (cfg->norm == REF_NORM_PRE) {
        double *y = arena_get(&ar, (size_t)Nt * D);
        dec_mean = arena_get(&ar, (size_t)Nt);
        dec_rstd = arena_get(&ar, (size_t)Nt);
        if (dec_rstd) refm_layernorm_fwd(y, dec_mean, dec_rstd, dec_out, dec_ng.w, dec_nb.w, Nt, D, cfg->ln_eps);
        yfin = y;
    }
    double *logits = logits_out ? logits_out : arena_get(&ar, (size_t)Nt * V);
    double *dlogits = grads ? arena_get(&ar, (size_t)Nt * V) : NULL;
    if (ar.failed) goto out_nomem;
    refm_linear_fwd(logits, yfin, gen.w, NULL, Nt, D, V);
    int count = 0;
    double l = refm_xent(dlogits, logits, bt->tgt_out, Nt, V, eps, &count);
    if (loss) *loss = l;
    if (relu_margin) *relu_margin = m.relu_margin;
    if (!grads) goto out;
    ref_params_zero(grads);
    if (count == 0) goto out; /* no target left: zero gradients */

    /* backward: generator and final norm */
    double *dy = arena_get(&ar, (size_t)Nt * D);
    if (!dy) goto out_nomem;
    refm_linear_bwd(dy, gen.g, NULL, dlogits, yfin, gen.w, Nt, D, V);
    if (cfg->norm == REF_NORM_PRE) {
        double *d = arena_get(&ar, (size_t)Nt * D);
        if (!d) goto out_nomem;
        refm_layernorm_bwd(d, dec_ng.g, dec_nb.g, dy, dec_out, dec_mean, dec_rstd, dec_ng.w, Nt, D);
        dy = d;
    }
    /* decoder stack in reverse; cross-attention gradients gather in dmem */
    double *dmem = encdec ? arena_get(&ar, (size_t)Ns * D) : NULL;
    for (int i = n_dec_sub - 1; i >= 0; i--) {
        double *dx = arena_get(&ar, (size_t)Nt * D);
        if (!dx) goto out_nomem;
        sub_bwd(&m, &dec[i], dx, dmem, dy);
        dy = dx;
    }
    if (ar.failed) goto out_nomem;
    refm_embed_bwd(e_tgt.g, dy, bt->tgt_in, B, Tt, D);
    if (encdec) {
        double *de = dmem;
        if (cfg->norm == REF_NORM_PRE) {
            de = arena_get(&ar, (size_t)Ns * D);
            if (!de) goto out_nomem;
            refm_layernorm_bwd(de, enc_ng.g, enc_nb.g, dmem, enc_out, mem_mean, mem_rstd, enc_ng.w, Ns, D);
        }
        for (int i = n_enc_sub - 1; i >= 0; i--) {
            double *dx = arena_get(&ar, (size_t)Ns * D);
            if (!dx) goto out_nomem;
            sub_bwd(&m, &enc[i], dx, NULL, de);
            de = dx;
        }
        if (ar.failed) goto out_nomem;
        refm_embed_bwd(e_src.g, de, bt->src, B, Ts, D);
    }
out:
    arena_free(&ar);
    free(subs);
    return CLF_OK;
out_nomem:
    arena_free(&ar);
    free(subs);
    return CLF_ERROR(CLF_ERR_NO_MEMORY, "ref_forward_backward: scratch for B %d, Ts %d, Tt %d", B, Ts, Tt);
}

clf_status ref_forward_backward(const ref_config *cfg, const ref_params *params, const ref_batch *batch,
                                double label_smoothing, double *loss, double *logits, ref_params *grads) {
    return run(cfg, params, batch, label_smoothing, loss, logits, grads, NULL);
}

clf_status ref_model_relu_margin(const ref_config *cfg, const ref_params *params, const ref_batch *batch,
                                 double *margin) {
    if (!margin) return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_model_relu_margin: margin is NULL");
    return run(cfg, params, batch, 0.0, NULL, NULL, NULL, margin);
}
