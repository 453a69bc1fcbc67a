/* The float64 model reference (tests/ref/ref_model.c): every parameter gradient against central
 * finite differences of its own forward pass, for both architectures, both norm placements, both
 * activations, tied and untied embeddings and two label-smoothing rates; PAD handling (fully
 * masked attention rows, all-PAD targets), causality, names, shapes and argument checks.
 * CLF_REF_DUMP=<dir> also writes a few runs for tools/ref_model_torch.py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ref/ref_model.h"

enum { B = 3, TS = 5, TT = 4, V = 259 };

static ref_config tiny(ref_arch arch, ref_norm norm, ref_activation act, int tie) {
    ref_config c;
    ref_config_default(&c);
    c.arch = arch;
    c.d_model = 8;
    c.n_heads = 2;
    c.d_ff = 12;
    c.n_enc_layers = 2;
    c.n_dec_layers = 2;
    c.max_len = 8;
    c.norm = norm;
    c.activation = act;
    c.tie_embeddings = tie;
    return c;
}

static int32_t word(void) { /* any id but PAD */
    int32_t t = (int32_t)harness_below(V);
    return t == REF_PAD ? 0 : t;
}

/* src row 0 has PAD in the middle and at the end, row 1 is all PAD (its cross-attention queries
 * see only masked keys), row 2 none. Target row 0 has PAD inside tgt_in and a PAD label, row 2 is
 * all PAD (every decoder self-attention query of it is fully masked, and it has no loss). */
typedef struct batch_data {
    int32_t src[B * TS], tgt_in[B * TT], tgt_out[B * TT];
    ref_batch b;
} batch_data;

static void make_batch(batch_data *d) {
    for (int i = 0; i < B * TS; i++) d->src[i] = word();
    for (int i = 0; i < B * TT; i++) d->tgt_in[i] = word(), d->tgt_out[i] = word();
    d->src[0 * TS + 2] = d->src[0 * TS + 4] = REF_PAD;
    for (int t = 0; t < TS; t++) d->src[1 * TS + t] = REF_PAD;
    d->tgt_in[0 * TT + 1] = REF_PAD;
    d->tgt_in[0 * TT + 3] = d->tgt_out[0 * TT + 3] = REF_PAD;
    for (int t = 0; t < TT; t++) d->tgt_in[2 * TT + t] = d->tgt_out[2 * TT + t] = REF_PAD;
    d->b = (ref_batch){.B = B, .Ts = TS, .Tt = TT, .src = d->src, .tgt_in = d->tgt_in, .tgt_out = d->tgt_out};
}

/* Xavier init, then every tensor moved off its special values (LN weight 1, biases 0), so a
 * backward that forgets a gamma or a bias cannot pass by luck. */
static ref_params *random_params(const ref_config *cfg) {
    ref_params *p;
    CLF_CK(ref_params_new(cfg, &p));
    ref_params_init(p, ((uint64_t)harness_below(UINT32_MAX) << 32) | harness_below(UINT32_MAX));
    for (size_t i = 0; i < p->total; i++) p->data[i] += harness_uniform(-0.2, 0.2);
    return p;
}

static double loss_of(const ref_config *cfg, const ref_params *p, const ref_batch *b, double eps) {
    double l;
    CLF_CK(ref_forward_backward(cfg, p, b, eps, &l, NULL, NULL));
    return l;
}

static const char *describe(const ref_config *c, double eps) {
    static char s[96];
    snprintf(s, sizeof s, "%s/%s/%s/%s/ls=%g", c->arch == REF_ARCH_ENCDEC ? "encdec" : "decoder",
             c->norm == REF_NORM_PRE ? "pre" : "post", c->activation == REF_ACT_GELU ? "gelu" : "relu",
             c->tie_embeddings ? "tied" : "untied", eps);
    return s;
}

/* An element of t to probe: embedding rows mostly from tokens the batch uses (other rows have
 * zero gradient), anything elsewhere. */
static size_t pick(const ref_tensor *t, const batch_data *d, int d_model) {
    if (!strstr(t->name, "embed") || harness_below(4) == 0) return harness_below((uint32_t)t->numel);
    int from_src = strcmp(t->name, "src_embed.weight") == 0 || (strcmp(t->name, "tgt_embed.weight") == 0 &&
                                                                 harness_below(2) == 0);
    int32_t tok = from_src ? d->src[harness_below(B * TS)] : d->tgt_in[harness_below(B * TT)];
    return (size_t)tok * (size_t)d_model + harness_below((uint32_t)d_model);
}

enum { PROBES = 20 };
#define FD_H 1e-5
#define FD_TOL 1e-6
/* Below this gradient norm the comparison is absolute (1e-8): central differences carry ~3e-10 of
 * rounding noise, and some gradients are exactly zero (k.bias, unused embedding rows). */
#define FD_FLOOR 1e-2

static void check_config(const ref_config *cfg, double eps, int dump_index) {
    batch_data d;
    make_batch(&d);
    ref_params *p = NULL, *g;
    /* ReLU kinks: redraw until no ReLU input lies within FD reach of 0 */
    for (int tries = 0;; tries++) {
        ck_assert_int_lt(tries, 50);
        ref_params_free(p);
        p = random_params(cfg);
        double margin;
        CLF_CK(ref_model_relu_margin(cfg, p, &d.b, &margin));
        if (margin > 1e-4) break;
    }
    CLF_CK(ref_params_new(cfg, &g));
    double loss;
    double *logits = malloc((size_t)B * TT * V * sizeof *logits);
    ck_assert_ptr_nonnull(logits);
    CLF_CK(ref_forward_backward(cfg, p, &d.b, eps, &loss, logits, g));
    ck_assert_msg(isfinite(loss) && loss > 0, "%s: loss %g", describe(cfg, eps), loss);
    for (size_t i = 0; i < g->total; i++) ck_assert_msg(isfinite(g->data[i]), "%s: NaN gradient", describe(cfg, eps));
    for (size_t i = 0; i < (size_t)B * TT * V; i++) ck_assert(isfinite(logits[i]));

    for (int k = 0; k < p->count; k++) {
        ref_tensor *t = &p->tensors[k];
        const ref_tensor *gt = ref_params_find(g, t->name);
        ck_assert_ptr_nonnull(gt);
        int n = t->numel <= PROBES ? (int)t->numel : PROBES;
        double num = 0, den = 0, worst = 0, wa = 0, wn = 0;
        size_t wi = 0;
        for (int j = 0; j < n; j++) {
            size_t i = t->numel <= PROBES ? (size_t)j : pick(t, &d, cfg->d_model);
            double keep = t->data[i];
            t->data[i] = keep + FD_H;
            double up = loss_of(cfg, p, &d.b, eps);
            t->data[i] = keep - FD_H;
            double down = loss_of(cfg, p, &d.b, eps);
            t->data[i] = keep;
            double fd = (up - down) / (2 * FD_H), an = gt->data[i];
            num += (an - fd) * (an - fd);
            den += fd * fd;
            if (fabs(an - fd) > worst) worst = fabs(an - fd), wi = i, wa = an, wn = fd;
        }
        double err = sqrt(num) / fmax(sqrt(den), FD_FLOOR);
        ck_assert_msg(err < FD_TOL,
                      "%s: %s gradient off by %.3g (relative); worst element %zu: analytic %.12g, numeric %.12g "
                      "(seed %llu)",
                      describe(cfg, eps), t->name, err, wi, wa, wn, (unsigned long long)harness_seed());
    }
    const char *dir = getenv("CLF_REF_DUMP");
    if (dir && *dir && dump_index >= 0) {
        char path[512];
        snprintf(path, sizeof path, "%s/ref_model_%02d.safetensors", dir, dump_index);
        CLF_CK(ref_model_dump(path, cfg, p, &d.b, eps, loss, logits, g));
    }
    free(logits);
    ref_params_free(g);
    ref_params_free(p);
}

/* _i runs over 16 configurations: arch x norm x activation x tie; each with eps 0 and 0.1. */
START_TEST(gradients_match_finite_differences) {
    ref_config c = tiny(_i & 1 ? REF_ARCH_DECODER : REF_ARCH_ENCDEC, _i & 2 ? REF_NORM_PRE : REF_NORM_POST,
                        _i & 4 ? REF_ACT_GELU : REF_ACT_RELU, (_i >> 3) & 1);
    if (_i == 5) c.n_heads = 1; /* one head, and an odd number of layers */
    if (_i == 6) c.n_enc_layers = 1, c.n_dec_layers = 3;
    if (_i == 11) c.n_heads = 4;
    check_config(&c, 0.0, 2 * _i);
    check_config(&c, 0.1, 2 * _i + 1);
}
END_TEST

/* The documented order, written out for one encoder and one decoder layer. */
static const char *const encdec_pre_untied[] = {
    "src_embed.weight", "tgt_embed.weight",
    "encoder.layers.0.self_attn.q.weight", "encoder.layers.0.self_attn.q.bias",
    "encoder.layers.0.self_attn.k.weight", "encoder.layers.0.self_attn.k.bias",
    "encoder.layers.0.self_attn.v.weight", "encoder.layers.0.self_attn.v.bias",
    "encoder.layers.0.self_attn.o.weight", "encoder.layers.0.self_attn.o.bias",
    "encoder.layers.0.ffn.w1.weight", "encoder.layers.0.ffn.w1.bias",
    "encoder.layers.0.ffn.w2.weight", "encoder.layers.0.ffn.w2.bias",
    "encoder.layers.0.norm1.weight", "encoder.layers.0.norm1.bias",
    "encoder.layers.0.norm2.weight", "encoder.layers.0.norm2.bias",
    "encoder.norm.weight", "encoder.norm.bias",
    "decoder.layers.0.self_attn.q.weight", "decoder.layers.0.self_attn.q.bias",
    "decoder.layers.0.self_attn.k.weight", "decoder.layers.0.self_attn.k.bias",
    "decoder.layers.0.self_attn.v.weight", "decoder.layers.0.self_attn.v.bias",
    "decoder.layers.0.self_attn.o.weight", "decoder.layers.0.self_attn.o.bias",
    "decoder.layers.0.cross_attn.q.weight", "decoder.layers.0.cross_attn.q.bias",
    "decoder.layers.0.cross_attn.k.weight", "decoder.layers.0.cross_attn.k.bias",
    "decoder.layers.0.cross_attn.v.weight", "decoder.layers.0.cross_attn.v.bias",
    "decoder.layers.0.cross_attn.o.weight", "decoder.layers.0.cross_attn.o.bias",
    "decoder.layers.0.ffn.w1.weight", "decoder.layers.0.ffn.w1.bias",
    "decoder.layers.0.ffn.w2.weight", "decoder.layers.0.ffn.w2.bias",
    "decoder.layers.0.norm1.weight", "decoder.layers.0.norm1.bias",
    "decoder.layers.0.norm2.weight", "decoder.layers.0.norm2.bias",
    "decoder.layers.0.norm3.weight", "decoder.layers.0.norm3.bias",
    "decoder.norm.weight", "decoder.norm.bias",
    "generator.weight",
};

static const char *const decoder_post_tied[] = {
    "tok_embed.weight",
    "decoder.layers.0.self_attn.q.weight", "decoder.layers.0.self_attn.q.bias",
    "decoder.layers.0.self_attn.k.weight", "decoder.layers.0.self_attn.k.bias",
    "decoder.layers.0.self_attn.v.weight", "decoder.layers.0.self_attn.v.bias",
    "decoder.layers.0.self_attn.o.weight", "decoder.layers.0.self_attn.o.bias",
    "decoder.layers.0.ffn.w1.weight", "decoder.layers.0.ffn.w1.bias",
    "decoder.layers.0.ffn.w2.weight", "decoder.layers.0.ffn.w2.bias",
    "decoder.layers.0.norm1.weight", "decoder.layers.0.norm1.bias",
    "decoder.layers.0.norm2.weight", "decoder.layers.0.norm2.bias",
};

static void expect_names(const ref_config *c, const char *const *names, int n) {
    ref_params *p;
    CLF_CK(ref_params_new(c, &p));
    ck_assert_int_eq(p->count, n);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const ref_tensor *t = &p->tensors[i];
        ck_assert_str_eq(t->name, names[i]);
        ck_assert_ptr_eq(t->data, p->data + off);
        ck_assert_ptr_eq(ref_params_find(p, names[i]), t);
        off += t->numel;
    }
    ck_assert_uint_eq(off, p->total);
    ck_assert_ptr_null(ref_params_find(p, "no.such.weight"));
    ref_params_free(p);
}

START_TEST(names_order_and_shapes) {
    ref_config c = tiny(REF_ARCH_ENCDEC, REF_NORM_PRE, REF_ACT_RELU, 0);
    c.n_enc_layers = c.n_dec_layers = 1;
    expect_names(&c, encdec_pre_untied, (int)(sizeof encdec_pre_untied / sizeof *encdec_pre_untied));
    c = tiny(REF_ARCH_DECODER, REF_NORM_POST, REF_ACT_RELU, 1);
    c.n_enc_layers = 5; /* ignored by a decoder-only model */
    c.n_dec_layers = 1;
    expect_names(&c, decoder_post_tied, (int)(sizeof decoder_post_tied / sizeof *decoder_post_tied));

    /* shapes and presence across the variants */
    for (int v = 0; v < 8; v++) {
        c = tiny(v & 1 ? REF_ARCH_DECODER : REF_ARCH_ENCDEC, v & 2 ? REF_NORM_PRE : REF_NORM_POST, REF_ACT_GELU,
                 (v >> 2) & 1);
        ref_params *p;
        CLF_CK(ref_params_new(&c, &p));
        int encdec = c.arch == REF_ARCH_ENCDEC, pre = c.norm == REF_NORM_PRE, tie = c.tie_embeddings;
        struct { const char *name; int present, rows, cols, ndim; ref_tensor_kind kind; } want[] = {
            {"src_embed.weight", encdec && !tie, V, 8, 2, REF_TENSOR_WEIGHT},
            {"tgt_embed.weight", encdec, V, 8, 2, REF_TENSOR_WEIGHT},
            {"tok_embed.weight", !encdec, V, 8, 2, REF_TENSOR_WEIGHT},
            {"generator.weight", !tie, V, 8, 2, REF_TENSOR_WEIGHT},
            {"encoder.layers.1.self_attn.v.weight", encdec, 8, 8, 2, REF_TENSOR_WEIGHT},
            {"encoder.layers.0.ffn.w1.weight", encdec, 12, 8, 2, REF_TENSOR_WEIGHT},
            {"encoder.layers.2.ffn.w1.weight", 0, 0, 0, 0, REF_TENSOR_WEIGHT},
            {"decoder.layers.1.cross_attn.o.bias", encdec, 8, 1, 1, REF_TENSOR_BIAS},
            {"decoder.layers.1.self_attn.o.bias", 1, 8, 1, 1, REF_TENSOR_BIAS},
            {"decoder.layers.0.ffn.w1.bias", 1, 12, 1, 1, REF_TENSOR_BIAS},
            {"decoder.layers.0.ffn.w2.weight", 1, 8, 12, 2, REF_TENSOR_WEIGHT},
            {"decoder.layers.0.norm3.weight", encdec, 8, 1, 1, REF_TENSOR_LN_WEIGHT},
            {"decoder.layers.1.norm2.bias", 1, 8, 1, 1, REF_TENSOR_LN_BIAS},
            {"encoder.norm.weight", encdec && pre, 8, 1, 1, REF_TENSOR_LN_WEIGHT},
            {"decoder.norm.bias", pre, 8, 1, 1, REF_TENSOR_LN_BIAS},
        };
        for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
            const ref_tensor *t = ref_params_find(p, want[i].name);
            ck_assert_msg((t != NULL) == want[i].present, "variant %d: %s present %d", v, want[i].name, t != NULL);
            if (!t) continue;
            ck_assert_int_eq(t->ndim, want[i].ndim);
            ck_assert_int_eq(t->shape[0], want[i].rows);
            ck_assert_int_eq(t->shape[1], want[i].cols);
            ck_assert_uint_eq(t->numel, (size_t)want[i].rows * want[i].cols);
            ck_assert_int_eq(t->kind, want[i].kind);
        }
        /* init: LN weights 1, biases 0, weights inside the Xavier bound and not all equal */
        ref_params_init(p, 42);
        for (int i = 0; i < p->count; i++) {
            const ref_tensor *t = &p->tensors[i];
            double a = sqrt(6.0 / (t->shape[0] + t->shape[1])), lo = INFINITY, hi = -INFINITY;
            for (size_t k = 0; k < t->numel; k++) lo = fmin(lo, t->data[k]), hi = fmax(hi, t->data[k]);
            if (t->kind == REF_TENSOR_WEIGHT) ck_assert(lo >= -a && hi <= a && hi > lo);
            else ck_assert(lo == hi && lo == (t->kind == REF_TENSOR_LN_WEIGHT ? 1.0 : 0.0));
        }
        ref_params_free(p);
    }
}
END_TEST

/* logits [B, Tt, V] are written exactly (a poisoned guard after them stays), finite even for
 * fully masked rows, the same with or without gradients, and the loss is SPEC's formula on them. */
START_TEST(logits_and_loss) {
    for (int v = 0; v < 2; v++) {
        ref_config c = tiny(v ? REF_ARCH_DECODER : REF_ARCH_ENCDEC, REF_NORM_PRE, REF_ACT_GELU, 0);
        batch_data d;
        make_batch(&d);
        ref_params *p = random_params(&c), *g;
        CLF_CK(ref_params_new(&c, &g));
        size_t n = (size_t)B * TT * V;
        double *l1 = malloc((n + 8) * sizeof *l1), *l2 = malloc(n * sizeof *l2), loss1, loss2;
        for (size_t i = 0; i < n + 8; i++) l1[i] = NAN;
        CLF_CK(ref_forward_backward(&c, p, &d.b, 0.1, &loss1, l1, NULL));
        CLF_CK(ref_forward_backward(&c, p, &d.b, 0.1, &loss2, l2, g));
        for (size_t i = 0; i < n; i++) ck_assert(isfinite(l1[i]) && l1[i] == l2[i]);
        for (size_t i = n; i < n + 8; i++) ck_assert(isnan(l1[i]));
        ck_assert(loss1 == loss2);
        double total = 0;
        int count = 0;
        for (int r = 0; r < B * TT; r++) {
            if (d.tgt_out[r] == REF_PAD) continue;
            const double *l = l1 + (size_t)r * V;
            double s = 0, mean = 0;
            for (int k = 0; k < V; k++) s += exp(l[k]), mean += l[k] / V;
            total += 0.9 * (log(s) - l[d.tgt_out[r]]) + 0.1 * (log(s) - mean);
            count++;
        }
        ck_assert_int_eq(count, 7); /* row 0 has 3 labels, row 1 has 4, row 2 none */
        ck_assert_msg(fabs(total / count - loss1) < 1e-12 * fabs(loss1), "loss %.17g vs %.17g", loss1, total / count);
        free(l1);
        free(l2);
        ref_params_free(g);
        ref_params_free(p);
    }
}
END_TEST

/* No target left: loss exactly 0 and every gradient zero (grads are overwritten, not added to). */
START_TEST(all_pad_targets_give_zero) {
    for (int v = 0; v < 4; v++) {
        ref_config c = tiny(v & 1 ? REF_ARCH_DECODER : REF_ARCH_ENCDEC, v & 2 ? REF_NORM_PRE : REF_NORM_POST,
                            REF_ACT_RELU, v & 1);
        batch_data d;
        make_batch(&d);
        for (int i = 0; i < B * TT; i++) d.tgt_out[i] = REF_PAD;
        ref_params *p = random_params(&c), *g;
        CLF_CK(ref_params_new(&c, &g));
        for (size_t i = 0; i < g->total; i++) g->data[i] = 1.0;
        double loss = NAN, *logits = malloc((size_t)B * TT * V * sizeof *logits);
        CLF_CK(ref_forward_backward(&c, p, &d.b, 0.1, &loss, logits, g));
        ck_assert(loss == 0.0);
        for (size_t i = 0; i < g->total; i++) ck_assert(g->data[i] == 0.0);
        for (size_t i = 0; i < (size_t)B * TT * V; i++) ck_assert(isfinite(logits[i]));
        free(logits);
        ref_params_free(g);
        ref_params_free(p);
    }
}
END_TEST

static double *logits_of(const ref_config *c, const ref_params *p, const ref_batch *b) {
    double *l = malloc((size_t)b->B * b->Tt * V * sizeof *l);
    ck_assert_ptr_nonnull(l);
    CLF_CK(ref_forward_backward(c, p, b, 0.0, NULL, l, NULL));
    return l;
}

/* logits rows [B, Tt] of a and b agree at (row, t) for t < upto; exact when tol is 0 */
static void same_rows(const double *a, int Ta, const double *b, int Tb, int row_a, int row_b, int upto, double tol,
                      const char *what) {
    for (int t = 0; t < upto; t++)
        for (int k = 0; k < V; k++) {
            double x = a[((size_t)row_a * Ta + t) * V + k], y = b[((size_t)row_b * Tb + t) * V + k];
            ck_assert_msg(fabs(x - y) <= tol * fabs(y), "%s: row %d position %d class %d: %.17g vs %.17g", what, row_a,
                          t, k, x, y);
        }
}

/* What the masks promise: causality, rows that do not see each other, PAD keys that are never
 * read wherever they stand, and a fully masked cross-attention that ignores the encoder. */
START_TEST(masks_do_what_spec_says) {
    for (int v = 0; v < 4; v++) {
        ref_config c = tiny(v & 1 ? REF_ARCH_DECODER : REF_ARCH_ENCDEC, v & 2 ? REF_NORM_PRE : REF_NORM_POST,
                            REF_ACT_GELU, 0);
        int encdec = c.arch == REF_ARCH_ENCDEC;
        batch_data d;
        make_batch(&d);
        ref_params *p = random_params(&c);
        double *base = logits_of(&c, p, &d.b);

        /* causal: a later input token changes nothing before it */
        batch_data e = d;
        e.b.src = e.src, e.b.tgt_in = e.tgt_in, e.b.tgt_out = e.tgt_out;
        e.tgt_in[1 * TT + 2] = (e.tgt_in[1 * TT + 2] + 1) % 200;
        double *l = logits_of(&c, p, &e.b);
        same_rows(l, TT, base, TT, 1, 1, 2, 0.0, "causal");
        ck_assert(l[((size_t)1 * TT + 2) * V] != base[((size_t)1 * TT + 2) * V]);
        free(l);

        /* one row alone gives the same logits as inside the batch */
        for (int r = 0; r < B; r++) {
            ref_batch one = {.B = 1, .Ts = TS, .Tt = TT, .src = d.src + r * TS, .tgt_in = d.tgt_in + r * TT,
                             .tgt_out = d.tgt_out + r * TT};
            l = logits_of(&c, p, &one);
            same_rows(l, TT, base, TT, 0, r, TT, 0.0, "row alone");
            free(l);
        }

        /* PAD columns appended to source and target change nothing before them */
        enum { TS2 = TS + 2, TT2 = TT + 2 };
        int32_t src2[B * TS2], in2[B * TT2], out2[B * TT2];
        for (int r = 0; r < B; r++) {
            for (int t = 0; t < TS2; t++) src2[r * TS2 + t] = t < TS ? d.src[r * TS + t] : REF_PAD;
            for (int t = 0; t < TT2; t++) {
                in2[r * TT2 + t] = t < TT ? d.tgt_in[r * TT + t] : REF_PAD;
                out2[r * TT2 + t] = t < TT ? d.tgt_out[r * TT + t] : REF_PAD;
            }
        }
        ref_batch wide = {.B = B, .Ts = TS2, .Tt = TT2, .src = src2, .tgt_in = in2, .tgt_out = out2};
        l = logits_of(&c, p, &wide);
        for (int r = 0; r < B; r++) same_rows(l, TT2, base, TT, r, r, TT, 0.0, "PAD appended");
        ck_assert(loss_of(&c, p, &wide, 0.1) == loss_of(&c, p, &d.b, 0.1));
        free(l);

        /* the PAD embedding row reaches only queries standing on PAD: in encdec nothing at all */
        ref_tensor *emb = ref_params_find(p, encdec ? "src_embed.weight" : "tok_embed.weight");
        for (int k = 0; k < c.d_model; k++) emb->data[(size_t)REF_PAD * c.d_model + k] += 0.5;
        l = logits_of(&c, p, &d.b);
        for (int r = 0; r < B; r++)
            for (int t = 0; t < TT; t++)
                if (encdec || d.tgt_in[r * TT + t] != REF_PAD) /* position t alone: shift both by t */
                    same_rows(l + (size_t)t * V, TT, base + (size_t)t * V, TT, r, r, 1, 0.0, "PAD embedding row");
        free(l);

        /* the all-PAD source row: cross-attention outputs its bias, whatever the encoder holds */
        if (encdec) {
            for (int i = 0; i < p->count; i++)
                if (strncmp(p->tensors[i].name, "encoder.", 8) == 0)
                    for (size_t k = 0; k < p->tensors[i].numel; k++) p->tensors[i].data[k] += 0.25;
            l = logits_of(&c, p, &d.b);
            same_rows(l, TT, base, TT, 1, 1, TT, 0.0, "fully masked cross-attention");
            ck_assert(l[0] != base[0]);
            free(l);
        }
        free(base);
        ref_params_free(p);
    }
}
END_TEST

START_TEST(invalid_arguments) {
    ref_config c = tiny(REF_ARCH_ENCDEC, REF_NORM_POST, REF_ACT_RELU, 0);
    batch_data d;
    make_batch(&d);
    ref_params *p = random_params(&c), *g, *other;
    CLF_CK(ref_params_new(&c, &g));
    double loss;
    ref_config bad = c;
    bad.n_heads = 3;
    ck_assert_int_eq(ref_config_check(&bad), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "n_heads"));
    ck_assert_int_eq(ref_params_new(&bad, &other), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_null(other);
    bad = c, bad.vocab_size = 256;
    ck_assert_int_eq(ref_config_check(&bad), CLF_ERR_INVALID_ARG);
    bad = c, bad.ln_eps = 0;
    ck_assert_int_eq(ref_config_check(&bad), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(ref_config_check(NULL), CLF_ERR_INVALID_ARG);

    ck_assert_int_eq(ref_forward_backward(&c, NULL, &d.b, 0, &loss, NULL, NULL), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(ref_forward_backward(&c, p, NULL, 0, &loss, NULL, NULL), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(ref_forward_backward(&c, p, &d.b, -0.1, &loss, NULL, NULL), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(ref_forward_backward(&c, p, &d.b, 0, &loss, NULL, p), CLF_ERR_INVALID_ARG);
    ref_batch b = d.b;
    b.Tt = c.max_len + 1;
    ck_assert_int_eq(ref_forward_backward(&c, p, &b, 0, &loss, NULL, NULL), CLF_ERR_INVALID_ARG);
    b = d.b, b.src = NULL;
    ck_assert_int_eq(ref_forward_backward(&c, p, &b, 0, &loss, NULL, NULL), CLF_ERR_INVALID_ARG);
    d.tgt_in[3] = V;
    ck_assert_int_eq(ref_forward_backward(&c, p, &d.b, 0, &loss, NULL, NULL), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "tgt_in[3]"));
    d.tgt_in[3] = 5;
    d.src[0] = -1;
    ck_assert_int_eq(ref_forward_backward(&c, p, &d.b, 0, &loss, NULL, NULL), CLF_ERR_INVALID_ARG);
    d.src[0] = 5;
    /* params or grads laid out for another config */
    ref_config c2 = c;
    c2.tie_embeddings = 1;
    CLF_CK(ref_params_new(&c2, &other));
    ck_assert_int_eq(ref_forward_backward(&c, other, &d.b, 0, &loss, NULL, NULL), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(ref_forward_backward(&c, p, &d.b, 0, &loss, NULL, other), CLF_ERR_INVALID_ARG);
    ref_params_free(other);
    c2 = c, c2.d_ff = 10;
    CLF_CK(ref_params_new(&c2, &other));
    ck_assert_int_eq(ref_forward_backward(&c, other, &d.b, 0, &loss, NULL, NULL), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "ffn.w1"));
    ref_params_free(other);
    CLF_CK(ref_forward_backward(&c, p, &d.b, 0, &loss, NULL, g));
    ref_params_free(g);
    ref_params_free(p);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("ref_model");
    TCase *tc = tcase_create("ref_model");
    tcase_add_test(tc, names_order_and_shapes);
    tcase_add_test(tc, logits_and_loss);
    tcase_add_test(tc, all_pad_targets_give_zero);
    tcase_add_test(tc, masks_do_what_spec_says);
    tcase_add_test(tc, invalid_arguments);
    tcase_add_loop_test(tc, gradients_match_finite_differences, 0, 16);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
