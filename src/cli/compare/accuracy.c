/* Each check uploads fixed-seed inputs, runs the device's kernels, runs the float64 reference and
 * keeps the worst relative-norm error (the tests' measure: ||got - ref|| / ||ref||). Outputs start
 * as NaN so an element the kernel never wrote shows as an infinite error; accumulating outputs start
 * from random values, as the scheduler uses them. */
#include "accuracy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clformer/data.h"
#include "clformer/rng.h"
#include "ops/adamw.h"
#include "ops/attention.h"
#include "ops/cross_entropy.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/layernorm.h"
#include "ops/linear.h"
#include "ref/ref_error.h"
#include "ref/ref_adamw.h"
#include "ref/ref_attention.h"
#include "ref/ref_cross_entropy.h"
#include "ref/ref_elementwise.h"
#include "ref/ref_embedding.h"
#include "ref/ref_layernorm.h"
#include "ref/ref_linear.h"

#define MAX_BUFS 32
#define MAX_HOST 64

/* What one family's check holds: its buffers and host arrays (freed together) and the worst error. */
typedef struct acc {
    clf_device *dev;
    clf_rng rng;
    cl_mem bufs[MAX_BUFS];
    int n_bufs;
    void *host[MAX_HOST];
    int n_host;
    double worst;
    char worst_what[32];
} acc;

static void *keep(acc *a, void *p) {
    if (p && a->n_host < MAX_HOST) a->host[a->n_host++] = p;
    else free(p), p = NULL; /* a check with more arrays than MAX_HOST is a bug; fail it as out of memory */
    return p;
}

static double *dalloc(acc *a, size_t n) { return keep(a, calloc(n ? n : 1, sizeof(double))); }

/* n random floats in [lo, hi) and, when ref is non-NULL, the same values as doubles. */
static float *rnd(acc *a, size_t n, double lo, double hi, double **ref) {
    if (ref) *ref = NULL;
    float *x = keep(a, malloc((n ? n : 1) * sizeof *x));
    double *d = ref ? dalloc(a, n) : NULL;
    if (!x || (ref && !d)) return NULL;
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(lo + (hi - lo) * clf_rng_uniform(&a->rng));
        if (d) d[i] = x[i];
    }
    if (ref) *ref = d;
    return x;
}

static clf_status buf(acc *a, size_t bytes, const void *init, cl_mem *out) {
    if (a->n_bufs == MAX_BUFS) return CLF_ERROR(CLF_ERR_NO_MEMORY, "compare: too many buffers in one check");
    clf_status st = clf_buffer_alloc(a->dev, bytes ? bytes : 4, "compare check", out);
    if (st != CLF_OK) return st;
    a->bufs[a->n_bufs++] = *out;
    return init ? clf_buffer_write(a->dev, *out, 0, bytes, init) : CLF_OK;
}

static clf_status up(acc *a, const float *x, size_t n, cl_mem *out) { return buf(a, n * sizeof *x, x, out); }
static clf_status up_int(acc *a, const int32_t *x, size_t n, cl_mem *out) { return buf(a, n * sizeof *x, x, out); }

/* A buffer of n NaNs: an element a kernel does not write stays NaN. */
static clf_status nan_buf(acc *a, size_t n, cl_mem *out) {
    clf_status st = buf(a, n * sizeof(float), NULL, out);
    return st == CLF_OK ? clf_buffer_fill_float(a->dev, *out, 0, n, NAN) : st;
}


/* Read n floats of b and fold their error against ref into the worst. */
static clf_status check(acc *a, cl_mem b, const double *ref, size_t n, const char *what) {
    float *got = malloc((n ? n : 1) * sizeof *got);
    if (!got) return CLF_ERROR(CLF_ERR_NO_MEMORY, "compare: %zu floats to read %s", n, what);
    clf_status st = clf_buffer_read(a->dev, b, 0, n * sizeof *got, got);
    if (st == CLF_OK) {
        double e = ref_rel_err(got, ref, n);
        if (!(e <= a->worst)) { /* NaN and inf included */
            a->worst = e;
            snprintf(a->worst_what, sizeof a->worst_what, "%s", what);
        }
    }
    free(got);
    return st;
}

#define TRY(x)                                                                                   \
    do {                                                                                         \
        clf_status st_ = (x);                                                                    \
        if (st_ != CLF_OK) return st_;                                                           \
    } while (0)
#define NEED(p)                                                                                  \
    do {                                                                                         \
        if (!(p)) return CLF_ERROR(CLF_ERR_NO_MEMORY, "compare: out of host memory");           \
    } while (0)

/* Linear with bias and GELU (the GEMMs and the epilogue), forward and backward. */
static clf_status check_linear(acc *a) {
    const int n = 67, in = 45, out = 37;
    const clf_activation act = CLF_ACT_GELU;
    size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
    double *rx, *rw, *rb, *rdy, *rdx, *rdw, *rdb;
    float *x = rnd(a, nx, -1, 1, &rx), *w = rnd(a, nw, -0.5, 0.5, &rw), *b = rnd(a, (size_t)out, -0.5, 0.5, &rb);
    float *dy = rnd(a, ny, -1, 1, &rdy), *dx0 = rnd(a, nx, -1, 1, &rdx), *dw0 = rnd(a, nw, -1, 1, &rdw);
    float *db0 = rnd(a, (size_t)out, -1, 1, &rdb);
    double *ry = dalloc(a, ny), *rpre = dalloc(a, ny);
    NEED(x && w && b && dy && dx0 && dw0 && db0 && ry && rpre);
    cl_mem mx, mw, mb, my, mpre, mdy, mdx, mdw, mdb, ws;
    TRY(up(a, x, nx, &mx));
    TRY(up(a, w, nw, &mw));
    TRY(up(a, b, (size_t)out, &mb));
    TRY(nan_buf(a, ny, &my));
    TRY(nan_buf(a, ny, &mpre));
    TRY(clf_linear_fwd(a->dev, my, mpre, mx, mw, mb, n, in, out, act));
    ref_linear_fwd(ry, rpre, rx, rw, rb, n, in, out, act);
    TRY(check(a, my, ry, ny, "y"));
    TRY(check(a, mpre, rpre, ny, "pre"));
    TRY(up(a, dy, ny, &mdy));
    TRY(up(a, dx0, nx, &mdx));
    TRY(up(a, dw0, nw, &mdw));
    TRY(up(a, db0, (size_t)out, &mdb));
    TRY(nan_buf(a, clf_linear_workspace_floats(n, out, act), &ws));
    TRY(clf_linear_bwd(a->dev, mdx, mdw, mdb, mdy, mx, mw, my, mpre, ws, n, in, out, act));
    ref_linear_bwd(rdx, rdw, rdb, rdy, rx, rw, rpre, n, in, out, act);
    TRY(check(a, mdx, rdx, nx, "dx"));
    TRY(check(a, mdw, rdw, nw, "dW"));
    return check(a, mdb, rdb, (size_t)out, "db");
}

/* Fused attention, causal, with a padding mask and dropout, forward and backward. */
static clf_status check_attention(acc *a) {
    clf_attention_shape s = {2, 2, 17, 17, 16, 1};
    clf_dropout drop = {0.1f, 0x5eed1234u, 3, 1};
    size_t nq = (size_t)s.batch * s.tq * s.heads * s.dh, nl = (size_t)s.batch * s.heads * s.tq;
    int32_t *mask = keep(a, malloc((size_t)s.batch * s.tk * sizeof *mask));
    double *rq, *rk, *rv, *rdo;
    float *q = rnd(a, nq, -2, 2, &rq), *k = rnd(a, nq, -2, 2, &rk), *v = rnd(a, nq, -1, 1, &rv);
    float *dout = rnd(a, nq, -1, 1, &rdo);
    double *ro = dalloc(a, nq), *rl = dalloc(a, nl), *rdq = dalloc(a, nq), *rdk = dalloc(a, nq), *rdv = dalloc(a, nq);
    NEED(mask && q && k && v && dout && ro && rl && rdq && rdk && rdv);
    for (int i = 0; i < s.batch * s.tk; i++) mask[i] = clf_rng_uniform(&a->rng) < 0.8;
    cl_mem mq, mk, mv, mo, ml, mm, mdo, mdq, mdk, mdv, ws;
    TRY(up(a, q, nq, &mq));
    TRY(up(a, k, nq, &mk));
    TRY(up(a, v, nq, &mv));
    TRY(up_int(a, mask, (size_t)s.batch * s.tk, &mm));
    TRY(nan_buf(a, nq, &mo));
    TRY(nan_buf(a, nl, &ml));
    TRY(clf_attention_fwd(a->dev, mo, ml, mq, mk, mv, mm, &s, &drop));
    ref_attention_fwd(ro, rl, NULL, rq, rk, rv, mask, &s, &drop);
    TRY(check(a, mo, ro, nq, "out"));
    TRY(check(a, ml, rl, nl, "lse"));
    TRY(up(a, dout, nq, &mdo));
    cl_mem *grads[] = {&mdq, &mdk, &mdv};
    for (int i = 0; i < 3; i++) { /* the reference overwrites: start the accumulating outputs at zero */
        TRY(buf(a, nq * sizeof(float), NULL, grads[i]));
        TRY(clf_buffer_fill_float(a->dev, *grads[i], 0, nq, 0.0f));
    }
    TRY(nan_buf(a, clf_attention_workspace_floats(&s), &ws));
    TRY(clf_attention_bwd(a->dev, mdq, mdk, mdv, mdo, mq, mk, mv, mo, ml, mm, ws, &s, &drop));
    ref_attention_bwd(rdq, rdk, rdv, rdo, rq, rk, rv, mask, &s, &drop);
    TRY(check(a, mdq, rdq, nq, "dq"));
    TRY(check(a, mdk, rdk, nq, "dk"));
    return check(a, mdv, rdv, nq, "dv");
}

static clf_status check_layernorm(acc *a) {
    const int n = 37, d = 130;
    const float eps = 1e-5f;
    size_t nd = (size_t)n * d;
    double *rx, *rg, *rb, *rdy, *rdx, *rdg, *rdb;
    float *x = rnd(a, nd, -3, 3, &rx), *g = rnd(a, (size_t)d, 0.5, 1.5, &rg), *b = rnd(a, (size_t)d, -0.5, 0.5, &rb);
    float *dy = rnd(a, nd, -1, 1, &rdy), *dx0 = rnd(a, nd, -1, 1, &rdx), *dg0 = rnd(a, (size_t)d, -1, 1, &rdg);
    float *db0 = rnd(a, (size_t)d, -1, 1, &rdb);
    double *ry = dalloc(a, nd), *rm = dalloc(a, (size_t)n), *rr = dalloc(a, (size_t)n);
    NEED(x && g && b && dy && dx0 && dg0 && db0 && ry && rm && rr);
    cl_mem mx, mg, mb, my, mm, mr, mdy, mdx, mdg, mdb, ws;
    TRY(up(a, x, nd, &mx));
    TRY(up(a, g, (size_t)d, &mg));
    TRY(up(a, b, (size_t)d, &mb));
    TRY(nan_buf(a, nd, &my));
    TRY(nan_buf(a, (size_t)n, &mm));
    TRY(nan_buf(a, (size_t)n, &mr));
    TRY(clf_layernorm_fwd(a->dev, my, mm, mr, mx, mg, mb, n, d, eps));
    ref_layernorm_fwd(ry, rm, rr, rx, rg, rb, n, d, eps);
    TRY(check(a, my, ry, nd, "y"));
    TRY(check(a, mm, rm, (size_t)n, "mean"));
    TRY(check(a, mr, rr, (size_t)n, "rstd"));
    TRY(up(a, dy, nd, &mdy));
    TRY(up(a, dx0, nd, &mdx));
    TRY(up(a, dg0, (size_t)d, &mdg));
    TRY(up(a, db0, (size_t)d, &mdb));
    TRY(nan_buf(a, clf_layernorm_workspace_floats(n, d), &ws));
    TRY(clf_layernorm_bwd(a->dev, mdx, mdg, mdb, mdy, mx, mm, mr, mg, ws, n, d));
    ref_layernorm_bwd(rdx, rdg, rdb, rdy, rx, rg, n, d, eps);
    TRY(check(a, mdx, rdx, nd, "dx"));
    TRY(check(a, mdg, rdg, (size_t)d, "dgamma"));
    return check(a, mdb, rdb, (size_t)d, "dbeta");
}

/* Label smoothing and PAD rows, per-row losses, the gradient and the reduced loss. */
static clf_status check_cross_entropy(acc *a) {
    const int n = 33, v = CLF_BYTE_VOCAB, pad = CLF_PAD;
    const float smooth = 0.1f;
    size_t nv = (size_t)n * v;
    double *rl;
    float *logits = rnd(a, nv, -4, 4, &rl);
    int32_t *tgt = keep(a, malloc((size_t)n * sizeof *tgt));
    double *rrows = dalloc(a, (size_t)n), *rdl = dalloc(a, nv);
    NEED(logits && tgt && rrows && rdl);
    int count = 0;
    for (int i = 0; i < n; i++) {
        tgt[i] = i % 5 == 4 ? pad : (int32_t)clf_rng_below(&a->rng, (uint64_t)v);
        count += tgt[i] != pad;
    }
    float inv = 1.0f / (float)count;
    cl_mem ml, mt, mrows, mdl, mloss;
    TRY(up(a, logits, nv, &ml));
    TRY(up_int(a, tgt, (size_t)n, &mt));
    TRY(nan_buf(a, (size_t)n, &mrows));
    TRY(nan_buf(a, nv, &mdl));
    TRY(nan_buf(a, 1, &mloss));
    TRY(clf_cross_entropy_fwd_bwd(a->dev, mrows, mdl, ml, mt, n, v, pad, smooth, inv));
    TRY(clf_loss_reduce(a->dev, mloss, mrows, n, inv));
    double loss = ref_cross_entropy(rrows, rdl, rl, tgt, n, v, pad, smooth, inv);
    TRY(check(a, mrows, rrows, (size_t)n, "loss rows"));
    TRY(check(a, mdl, rdl, nv, "dlogits"));
    return check(a, mloss, &loss, 1, "loss");
}

/* Gradient norm with clipping and three AdamW steps, decay on a prefix. */
static clf_status check_adamw(acc *a) {
    const size_t n = 1001, n_decay = 600;
    const clf_adamw_params hp = {1e-2f, 0.9f, 0.98f, 1e-9f, 0.01f, 1.0f};
    const ref_adamw_params rp = {hp.lr, hp.beta1, hp.beta2, hp.eps, hp.weight_decay, hp.max_norm};
    double *rp_, *rm = dalloc(a, n), *rv = dalloc(a, n), norm = 0;
    float *p = rnd(a, n, -1, 1, &rp_);
    NEED(p && rm && rv);
    cl_mem mp, mm, mv, mst, mg, mn, ws;
    TRY(up(a, p, n, &mp));
    TRY(buf(a, n * sizeof(float), NULL, &mm));
    TRY(clf_buffer_fill_float(a->dev, mm, 0, n, 0.0f));
    TRY(buf(a, n * sizeof(float), NULL, &mv));
    TRY(clf_buffer_fill_float(a->dev, mv, 0, n, 0.0f));
    int32_t zero = 0;
    TRY(up_int(a, &zero, 1, &mst));
    TRY(buf(a, n * sizeof(float), NULL, &mg));
    TRY(nan_buf(a, 1, &mn));
    TRY(nan_buf(a, clf_grad_norm_workspace_floats(n), &ws));
    int t = 0;
    for (int step = 0; step < 3; step++) {
        double *rg;
        float *g = rnd(a, n, -2, 2, &rg);
        NEED(g);
        TRY(clf_buffer_write(a->dev, mg, 0, n * sizeof *g, g));
        TRY(clf_grad_norm(a->dev, mn, mg, ws, n));
        norm = ref_grad_norm(rg, n);
        TRY(check(a, mn, &norm, 1, "grad norm"));
        TRY(clf_adamw_step(a->dev, mp, mm, mv, mst, mg, mn, n, n_decay, &hp));
        ref_adamw_step(rp_, rm, rv, &t, rg, norm, n, n_decay, &rp);
    }
    TRY(check(a, mp, rp_, n, "params"));
    TRY(check(a, mm, rm, n, "m"));
    return check(a, mv, rv, n, "v");
}

/* Token embedding with the positional table, forward and the deterministic backward. */
static clf_status check_embedding(acc *a) {
    const int t = 13, n = 2 * t, d = 32, vocab = 50;
    const float scale = sqrtf((float)d);
    size_t nd = (size_t)n * d, vd = (size_t)vocab * d;
    double *rtab, *rdt, *rdo;
    float *tab = rnd(a, vd, -1, 1, &rtab), *dt0 = rnd(a, vd, -1, 1, &rdt), *dout = rnd(a, nd, -1, 1, &rdo);
    float *pe = keep(a, malloc((size_t)t * d * sizeof *pe));
    int32_t *tok = keep(a, malloc((size_t)n * sizeof *tok));
    double *rpe = dalloc(a, (size_t)t * d), *ro = dalloc(a, nd);
    NEED(tab && dt0 && dout && pe && tok && rpe && ro);
    clf_positional_table(pe, t, d);
    for (int i = 0; i < t * d; i++) rpe[i] = pe[i];
    for (int i = 0; i < n; i++) tok[i] = (int32_t)clf_rng_below(&a->rng, 16); /* repeated ids: sums in bwd */
    cl_mem mtab, mpe, mtok, mo, mdt, mdo, ws;
    TRY(up(a, tab, vd, &mtab));
    TRY(up(a, pe, (size_t)t * d, &mpe));
    TRY(up_int(a, tok, (size_t)n, &mtok));
    TRY(nan_buf(a, nd, &mo));
    TRY(clf_embedding_fwd(a->dev, mo, mtab, mtok, mpe, n, t, d, vocab, scale));
    ref_embedding_fwd(ro, rtab, tok, rpe, n, t, d, scale);
    TRY(check(a, mo, ro, nd, "out"));
    TRY(up(a, dt0, vd, &mdt));
    TRY(up(a, dout, nd, &mdo));
    TRY(nan_buf(a, clf_embedding_workspace_floats(n, d, vocab), &ws));
    TRY(clf_embedding_bwd(a->dev, mdt, mdo, mtok, ws, n, d, vocab, scale));
    ref_embedding_bwd(rdt, rdo, tok, n, d, scale);
    return check(a, mdt, rdt, vd, "dtable");
}

/* The residual add with Philox dropout: the device's masks must equal the host twin's. */
static clf_status check_residual(acc *a) {
    const size_t n = 1001;
    const clf_dropout drop = {0.1f, 0xC0FFEEull, 5, 2};
    double *rx, *rs, *rdy, *rdx, *rds, *ry = dalloc(a, n);
    float *x = rnd(a, n, -1, 1, &rx), *s = rnd(a, n, -1, 1, &rs), *dy = rnd(a, n, -1, 1, &rdy);
    float *dx0 = rnd(a, n, -1, 1, &rdx), *ds0 = rnd(a, n, -1, 1, &rds);
    NEED(ry && x && s && dy && dx0 && ds0);
    cl_mem mx, ms, my, mdy, mdx, mds;
    TRY(up(a, x, n, &mx));
    TRY(up(a, s, n, &ms));
    TRY(nan_buf(a, n, &my));
    TRY(clf_residual_dropout_fwd(a->dev, my, mx, ms, n, &drop));
    ref_residual_dropout_fwd(ry, rx, rs, n, &drop, 0);
    TRY(check(a, my, ry, n, "y"));
    TRY(up(a, dy, n, &mdy));
    TRY(up(a, dx0, n, &mdx));
    TRY(up(a, ds0, n, &mds));
    TRY(clf_residual_dropout_bwd(a->dev, mdx, mds, mdy, n, &drop));
    ref_residual_dropout_bwd(rdx, rds, rdy, n, &drop, 0);
    TRY(check(a, mdx, rdx, n, "dx"));
    return check(a, mds, rds, n, "ds");
}

static const struct {
    const char *key, *label;
    double tol;
    clf_status (*run)(acc *);
} families[] = {
    {"linear", "linear / GEMM fwd+bwd (gelu, bias)", 1e-4, check_linear},
    {"attention", "fused attention fwd+bwd", 1e-5, check_attention},
    {"layernorm", "layernorm fwd+bwd", 1e-5, check_layernorm},
    {"cross_entropy", "cross-entropy fwd+bwd", 1e-5, check_cross_entropy},
    {"adamw", "grad norm + AdamW (3 steps)", 1e-5, check_adamw},
    {"embedding", "embedding fwd+bwd", 1e-5, check_embedding},
    {"residual_dropout", "residual + dropout fwd+bwd", 1e-5, check_residual},
};

int cmp_accuracy_run(cmp_report *r, size_t d, clf_device *dev, uint64_t seed) {
    int failed = 0;
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        char key[64];
        snprintf(key, sizeof key, "accuracy/%s", families[f].key);
        cmp_row *row = cmp_row_get(r, key, "accuracy", families[f].label, "", CMP_BETTER_LOWER, families[f].tol);
        acc a = {.dev = dev};
        clf_rng_seed(&a.rng, seed + f); /* each family its own stream: the same inputs on every device */
        clf_error_clear();
        clf_status st = families[f].run(&a);
        if (st == CLF_OK) st = clf_device_finish(dev);
        for (int i = 0; i < a.n_bufs; i++) clf_buffer_release(dev, a.bufs[i]);
        for (int i = 0; i < a.n_host; i++) free(a.host[i]);
        if (st != CLF_OK) {
            cmp_put_fail(row, d, "%s", clf_errmsg());
        } else {
            cmp_put(row, d, a.worst, -1);
            cmp_put_text(row, d, "worst output: %s", a.worst_what);
        }
        if (row && row->cells[d].failed) failed++;
    }
    return failed;
}

void cmp_accuracy_losses(cmp_report *r, double tol) {
    size_t ref = r->n_dev;
    for (size_t d = 0; d < r->n_dev && ref == r->n_dev; d++)
        if (r->dev[d].n_losses > 0) ref = d;
    if (ref == r->n_dev) return;
    char label[160];
    const cmp_device *rd = &r->dev[ref];
    cmp_row *last = cmp_row_get(r, "losses/final", "losses", "final loss of the fixed-seed run", "", CMP_BETTER_NONE, 0);
    snprintf(label, sizeof label, "worst rel. loss difference vs %s", rd->selector);
    cmp_row *diff = cmp_row_get(r, "losses/vs_first", "losses", label, "", CMP_BETTER_LOWER, tol);
    for (size_t d = 0; d < r->n_dev; d++) {
        const cmp_device *dv = &r->dev[d];
        if (dv->n_losses == 0) continue;
        cmp_put(last, d, dv->losses[dv->n_losses - 1], -1);
        if (last) last->cells[d].failed = !isfinite(dv->losses[dv->n_losses - 1]);
        if (d == ref) {
            cmp_put(diff, d, 0, -1);
            cmp_put_text(diff, d, "the reference");
            continue;
        }
        double worst = 0;
        int at = 0;
        for (int i = 0; i < dv->n_losses && i < rd->n_losses; i++) {
            double e = fabs(dv->losses[i] - rd->losses[i]) / fmax(fabs(rd->losses[i]), 1e-12);
            if (!(e <= worst)) worst = e, at = i + 1;
        }
        if (dv->n_losses != rd->n_losses) worst = INFINITY;
        cmp_put(diff, d, worst, -1);
        if (at) cmp_put_text(diff, d, "worst at step %d", at);
    }
}
