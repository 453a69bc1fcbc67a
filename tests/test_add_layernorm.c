/* The residual add fused with LayerNorm, forward and backward, against the float64 references it
 * composes (residual add + LayerNorm, the reference backward checked by finite differences), and bit
 * for bit against the unfused kernels (same dropout mask, same rounding); with and without x, dsum,
 * dx and dropout, at awkward sizes, accumulating into prefilled gradients, deterministic, and with
 * bad arguments refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/elementwise.h"
#include "ops/layernorm.h"
#include "ref/fd.h"
#include "ref/ref_layernorm.h"

#define EPS 1e-5f
static const int sizes_n[] = {1, 7, 33, 257};
static const int sizes_d[] = {1, 13, 64, 100, 257, 512, 1100}; /* 100: rows end mid-chunk; 1100: past the
                                                                   * multipliers computed ahead (1024) */
static const clf_layernorm_cfg cfg_default = {0, 0}, cfg_gpu = {64, 0};

/* p == 0.25 at a site and step of its own; NULL: none. */
static const clf_dropout drop_on = {.p = 0.25f, .seed = 0x123456789abcdefull, .step = 7, .site = 3};

/* One case: the stream x (or none), the sub-layer output s, gamma, beta, dy and dsum, on both sides. */
typedef struct al_case {
    int n, d;
    size_t nd;
    float *f[6];  /* x, s, gamma, beta, dy, dsum */
    double *r[6]; /* the same as doubles */
    cl_mem m[6];
} al_case;
enum { X, S, G, B, DY, DSUM };

static al_case case_new(int n, int d) {
    al_case c = {.n = n, .d = d, .nd = (size_t)n * (size_t)d};
    const size_t len[6] = {c.nd, c.nd, (size_t)d, (size_t)d, c.nd, c.nd};
    const double lo[6] = {-2, -3, 0.5, -0.5, -1, -1}, hi[6] = {2, 3, 1.5, 0.5, 1, 1};
    for (int i = 0; i < 6; i++) {
        c.f[i] = harness_random(len[i], lo[i], hi[i], &c.r[i]);
        /* rows of s shifted by 1 to 3 either way, so no row's mean is near 0, where its relative error
         * would say nothing about the kernel */
        for (int r = 0; i == S && r < n; r++) {
            double shift = harness_uniform(1, 3) * (harness_below(2) ? 1 : -1);
            for (int k = 0; k < d; k++) c.r[i][(size_t)r * d + k] = c.f[i][(size_t)r * d + k] += (float)shift;
        }
        c.m[i] = harness_upload(c.f[i], len[i]);
    }
    return c;
}

static void case_free(al_case *c) {
    for (int i = 0; i < 6; i++) free(c->f[i]), free(c->r[i]), harness_release(c->m[i]);
}

static void expect_same(const char *what, cl_mem a, cl_mem b, size_t n) {
    float *x = harness_download(a, n), *y = harness_download(b, n);
    ck_assert_msg(memcmp(x, y, n * sizeof *x) == 0, "%s: fused and unfused differ (seed %llu)", what,
                  (unsigned long long)harness_seed());
    free(x), free(y);
}

/* Forward with or without x and dropout: y, mean, rstd and sum against the reference, and sum bit for
 * bit against clf_residual_dropout_fwd. Returns nothing; the outputs start poisoned. */
static void check_fwd(al_case *c, int has_x, const clf_dropout *drop, const clf_layernorm_cfg *cfg) {
    clf_device *dev = harness_device();
    int n = c->n, d = c->d;
    size_t nd = c->nd;
    cl_mem y = harness_poisoned(nd), sum = harness_poisoned(nd), mean = harness_poisoned((size_t)n),
           rstd = harness_poisoned((size_t)n), sum_ref = harness_poisoned(nd);
    CLF_CK(clf_add_layernorm_fwd_cfg(dev, y, sum, mean, rstd, has_x ? c->m[X] : NULL, c->m[S], c->m[G], c->m[B], n,
                                     d, EPS, drop, cfg));
    CLF_CK(clf_residual_dropout_fwd(dev, sum_ref, has_x ? c->m[X] : NULL, c->m[S], nd, drop));
    char what[128];
    snprintf(what, sizeof what, "add_layernorm_fwd sum n=%d d=%d x=%d p=%g wg=%d", n, d, has_x,
             drop ? (double)drop->p : 0.0, cfg->wg);
    expect_same(what, sum, sum_ref, nd);

    double *ry = malloc(nd * sizeof *ry), *rs = malloc(nd * sizeof *rs), *rm = malloc((size_t)n * sizeof *rm),
           *rr = malloc((size_t)n * sizeof *rr);
    ref_add_layernorm_fwd(ry, rs, rm, rr, has_x ? c->r[X] : NULL, c->r[S], c->r[G], c->r[B], n, d, EPS, drop);
    struct {
        cl_mem m;
        const double *ref;
        size_t len;
        const char *name;
    } outs[] = {{y, ry, nd, "y"}, {sum, rs, nd, "sum"}, {mean, rm, (size_t)n, "mean"}, {rstd, rr, (size_t)n, "rstd"}};
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) {
        float *got = harness_download(outs[i].m, outs[i].len);
        snprintf(what, sizeof what, "add_layernorm_fwd %s n=%d d=%d x=%d p=%g wg=%d", outs[i].name, n, d, has_x,
                 drop ? (double)drop->p : 0.0, cfg->wg);
        harness_expect_close(what, got, outs[i].ref, outs[i].len, 1e-5);
        free(got);
    }
    free(ry), free(rs), free(rm), free(rr);
    harness_release(y), harness_release(sum), harness_release(mean), harness_release(rstd), harness_release(sum_ref);
}

START_TEST(forward_matches_reference_and_residual) {
    for (size_t i = 0; i < sizeof sizes_n / sizeof *sizes_n; i++)
        for (size_t j = 0; j < sizeof sizes_d / sizeof *sizes_d; j++) {
            al_case c = case_new(sizes_n[i], sizes_d[j]);
            for (int v = 0; v < 4; v++) check_fwd(&c, v & 1, v & 2 ? &drop_on : NULL, &cfg_default);
            check_fwd(&c, 1, &drop_on, &cfg_gpu);
            case_free(&c);
        }
}
END_TEST

/* Backward into prefilled dx, ds, dgamma, dbeta: against the reference, and bit for bit against the
 * unfused path (LayerNorm's backward accumulating into a copy of dsum, then the residual backward).
 * Gradients named in cfg->overwrite start poisoned with NaN, their reference and unfused twins at 0:
 * the contribution alone, bit for bit what accumulating into zeros gives. */
static void check_bwd(al_case *c, int has_dx, int has_dsum, const clf_dropout *drop, const clf_layernorm_cfg *cfg) {
    clf_device *dev = harness_device();
    int n = c->n, d = c->d;
    size_t nd = c->nd;
    cl_mem y = harness_poisoned(nd), sum = harness_poisoned(nd), mean = harness_poisoned((size_t)n),
           rstd = harness_poisoned((size_t)n), ws = harness_poisoned(clf_layernorm_workspace_floats(n, d));
    CLF_CK(clf_add_layernorm_fwd_cfg(dev, y, sum, mean, rstd, c->m[X], c->m[S], c->m[G], c->m[B], n, d, EPS, drop,
                                     cfg));
    double *rdx, *rds, *rdg, *rdb;
    float *pre[4] = {harness_random(nd, -1, 1, &rdx), harness_random(nd, -1, 1, &rds),
                     harness_random((size_t)d, -1, 1, &rdg), harness_random((size_t)d, -1, 1, &rdb)};
    const size_t len[4] = {nd, nd, (size_t)d, (size_t)d};
    const bool fresh[4] = {cfg->overwrite & CLF_OVERWRITE_DX, cfg->overwrite & CLF_OVERWRITE_DS, false, false};
    double *rpre[4] = {rdx, rds, rdg, rdb};
    cl_mem g[4], u[4]; /* fused and unfused gradients, prefilled alike (overwritten: NaN, zeros) */
    for (int i = 0; i < 4; i++) {
        if (fresh[i]) memset(pre[i], 0, len[i] * sizeof *pre[i]), memset(rpre[i], 0, len[i] * sizeof *rpre[i]);
        g[i] = fresh[i] ? harness_poisoned(len[i]) : harness_upload(pre[i], len[i]);
        u[i] = harness_upload(pre[i], len[i]);
    }
    clf_layernorm_cfg plain = {cfg->wg, 0};
    CLF_CK(clf_add_layernorm_bwd_cfg(dev, has_dx ? g[0] : NULL, g[1], g[2], g[3], c->m[DY],
                                     has_dsum ? c->m[DSUM] : NULL, sum, mean, rstd, c->m[G], ws, n, d, drop, cfg));

    /* the unfused path */
    float *t0 = calloc(nd, sizeof *t0);
    if (has_dsum) memcpy(t0, c->f[DSUM], nd * sizeof *t0);
    cl_mem t = harness_upload(t0, nd);
    CLF_CK(clf_layernorm_bwd_cfg(dev, t, u[2], u[3], c->m[DY], sum, mean, rstd, c->m[G], ws, n, d, &plain));
    CLF_CK(clf_residual_dropout_bwd(dev, has_dx ? u[0] : NULL, u[1], t, nd, drop));

    /* the reference, from its own forward */
    double *rsum = malloc(nd * sizeof *rsum), *ry = malloc(nd * sizeof *ry);
    ref_add_layernorm_fwd(ry, rsum, NULL, NULL, c->r[X], c->r[S], c->r[G], c->r[B], n, d, EPS,
                          drop);
    ck_assert_int_eq(ref_add_layernorm_bwd(has_dx ? rdx : NULL, rds, rdg, rdb, c->r[DY],
                                           has_dsum ? c->r[DSUM] : NULL, rsum, c->r[G], n, d, EPS, drop), 0);
    const double *ref[4] = {rdx, rds, rdg, rdb};
    const char *names[4] = {"dx", "ds", "dgamma", "dbeta"};
    char what[128];
    for (int i = 0; i < 4; i++) {
        snprintf(what, sizeof what, "add_layernorm_bwd %s n=%d d=%d dx=%d dsum=%d p=%g wg=%d ow=%u", names[i], n, d,
                 has_dx, has_dsum, drop ? (double)drop->p : 0.0, cfg->wg, cfg->overwrite);
        float *got = harness_download(g[i], len[i]);
        harness_expect_close(what, got, ref[i], len[i], 1e-5); /* dx without has_dx: still the prefill */
        expect_same(what, g[i], u[i], len[i]);
        free(got), free(pre[i]), harness_release(g[i]), harness_release(u[i]);
    }
    free(rdx), free(rds), free(rdg), free(rdb), free(rsum), free(ry), free(t0);
    harness_release(t), harness_release(y), harness_release(sum), harness_release(mean), harness_release(rstd);
    harness_release(ws);
}

START_TEST(backward_matches_reference_and_unfused) {
    for (size_t i = 0; i < sizeof sizes_n / sizeof *sizes_n; i++)
        for (size_t j = 0; j < sizeof sizes_d / sizeof *sizes_d; j++) {
            al_case c = case_new(sizes_n[i], sizes_d[j]);
            for (int v = 0; v < 8; v++) check_bwd(&c, v & 1, (v >> 1) & 1, v & 4 ? &drop_on : NULL, &cfg_default);
            check_bwd(&c, 1, 1, &drop_on, &cfg_gpu);
            case_free(&c);
        }
}
END_TEST

/* Overwrite mode for dx, ds or both, with and without dsum and dropout, both launch layouts. */
START_TEST(backward_overwrites) {
    static const int ns[] = {1, 33}, ds[] = {13, 100, 1100};
    for (size_t i = 0; i < 2; i++)
        for (size_t j = 0; j < 3; j++) {
            al_case c = case_new(ns[i], ds[j]);
            for (unsigned ow = 1; ow <= 3; ow++)
                for (int v = 0; v < 4; v++) {
                    clf_layernorm_cfg cfg = {v == 3 ? 64 : 0, ow};
                    check_bwd(&c, 1, v & 1, v & 2 ? &drop_on : NULL, &cfg);
                }
            clf_layernorm_cfg ds_only = {0, CLF_OVERWRITE_DS};
            check_bwd(&c, 0, 1, &drop_on, &ds_only); /* no dx at all */
            case_free(&c);
        }
}
END_TEST

/* sum written over x (an in-place residual stream) gives what a separate sum gives. */
START_TEST(sum_may_overwrite_x) {
    clf_device *dev = harness_device();
    const int n = 33, d = 257;
    al_case c = case_new(n, d);
    size_t nd = c.nd;
    cl_mem y = harness_poisoned(nd), sum = harness_poisoned(nd), mean = harness_poisoned((size_t)n),
           rstd = harness_poisoned((size_t)n), y2 = harness_poisoned(nd), stream = harness_upload(c.f[X], nd);
    CLF_CK(clf_add_layernorm_fwd(dev, y, sum, mean, rstd, c.m[X], c.m[S], c.m[G], c.m[B], n, d, EPS, &drop_on));
    CLF_CK(clf_add_layernorm_fwd(dev, y2, stream, mean, rstd, stream, c.m[S], c.m[G], c.m[B], n, d, EPS, &drop_on));
    expect_same("in-place sum", sum, stream, nd);
    expect_same("in-place y", y, y2, nd);
    harness_release(y), harness_release(sum), harness_release(mean), harness_release(rstd), harness_release(y2);
    harness_release(stream);
    case_free(&c);
}
END_TEST

/* ---- the reference backward against finite differences of the reference forward ---- */

typedef struct fd_ctx {
    int n, d, has_x;
    double *x, *s, *gamma, *beta;
    const double *w, *v; /* loss = sum(w * y) + sum(v * sum) (v may be NULL) */
    const clf_dropout *drop;
} fd_ctx;

static double fd_loss(const double *unused, size_t n_unused, void *p) {
    (void)unused, (void)n_unused;
    fd_ctx *c = p;
    size_t nd = (size_t)c->n * (size_t)c->d;
    double *y = malloc(nd * sizeof *y), *sum = malloc(nd * sizeof *sum), l = 0;
    ref_add_layernorm_fwd(y, sum, NULL, NULL, c->has_x ? c->x : NULL, c->s, c->gamma, c->beta, c->n, c->d, EPS,
                          c->drop);
    for (size_t k = 0; k < nd; k++) l += c->w[k] * y[k] + (c->v ? c->v[k] * sum[k] : 0.0);
    free(y), free(sum);
    return l;
}

START_TEST(reference_backward_matches_finite_differences) {
    const int shapes[][2] = {{3, 7}, {2, 13}, {1, 5}, {4, 1}};
    for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++)
        for (int variant = 0; variant < 4; variant++) {
            int n = shapes[sh][0], d = shapes[sh][1], has_x = variant & 1;
            const clf_dropout *drop = variant & 2 ? &drop_on : NULL;
            size_t nd = (size_t)n * (size_t)d;
            double *x, *s, *g, *b, *w, *v;
            float *f[6] = {harness_random(nd, -2, 2, &x), harness_random(nd, -2, 2, &s),
                           harness_random((size_t)d, 0.5, 1.5, &g), harness_random((size_t)d, -1, 1, &b),
                           harness_random(nd, -1, 1, &w), harness_random(nd, -1, 1, &v)};
            double *sum = malloc(nd * sizeof *sum), *y = malloc(nd * sizeof *y), *dx = calloc(nd, sizeof *dx), *ds = calloc(nd, sizeof *ds),
                   *dg = calloc((size_t)d, sizeof *dg), *db = calloc((size_t)d, sizeof *db);
            ref_add_layernorm_fwd(y, sum, NULL, NULL, has_x ? x : NULL, s, g, b, n, d, EPS, drop);
            ck_assert_int_eq(ref_add_layernorm_bwd(dx, ds, dg, db, w, v, sum, g, n, d, EPS, drop), 0);
            fd_ctx c = {n, d, has_x, x, s, g, b, w, v, drop};
            double es = fd_check(fd_loss, s, nd, ds, &c, 1e-6), eg = fd_check(fd_loss, g, (size_t)d, dg, &c, 1e-6),
                   eb = fd_check(fd_loss, b, (size_t)d, db, &c, 1e-6),
                   ex = has_x ? fd_check(fd_loss, x, nd, dx, &c, 1e-6) : 0;
            ck_assert_msg(ex < 1e-6 && es < 1e-6 && eg < 1e-6 && eb < 1e-6,
                          "n=%d d=%d x=%d drop=%d: fd errors dx %g ds %g dgamma %g dbeta %g", n, d, has_x,
                          drop != NULL, ex, es, eg, eb);
            for (int k = 0; k < 6; k++) free(f[k]);
            free(x), free(s), free(g), free(b), free(w), free(v), free(sum), free(y), free(dx), free(ds), free(dg), free(db);
        }
}
END_TEST

START_TEST(results_are_bit_identical_between_runs) {
    clf_device *dev = harness_device();
    const int n = 257, d = 512;
    al_case c = case_new(n, d);
    size_t nd = c.nd;
    cl_mem y = harness_poisoned(nd), sum = harness_poisoned(nd), mean = harness_poisoned((size_t)n),
           rstd = harness_poisoned((size_t)n), ws = harness_poisoned(clf_layernorm_workspace_floats(n, d));
    float *out[2][6];
    for (int run = 0; run < 2; run++) {
        cl_mem dx = harness_upload(c.f[DSUM], nd), ds = harness_upload(c.f[DY], nd),
               dg = harness_upload(c.f[G], (size_t)d), db = harness_upload(c.f[B], (size_t)d);
        CLF_CK(clf_add_layernorm_fwd(dev, y, sum, mean, rstd, c.m[X], c.m[S], c.m[G], c.m[B], n, d, EPS, &drop_on));
        CLF_CK(clf_add_layernorm_bwd(dev, dx, ds, dg, db, c.m[DY], c.m[DSUM], sum, mean, rstd, c.m[G], ws, n, d,
                                     &drop_on));
        out[run][0] = harness_download(y, nd), out[run][1] = harness_download(sum, nd);
        out[run][2] = harness_download(dx, nd), out[run][3] = harness_download(ds, nd);
        out[run][4] = harness_download(dg, (size_t)d), out[run][5] = harness_download(db, (size_t)d);
        harness_release(dx), harness_release(ds), harness_release(dg), harness_release(db);
    }
    const size_t len[6] = {nd, nd, nd, nd, (size_t)d, (size_t)d};
    const char *names[6] = {"y", "sum", "dx", "ds", "dgamma", "dbeta"};
    for (int k = 0; k < 6; k++) {
        ck_assert_msg(memcmp(out[0][k], out[1][k], len[k] * sizeof(float)) == 0, "%s differs between runs", names[k]);
        free(out[0][k]), free(out[1][k]);
    }
    harness_release(y), harness_release(sum), harness_release(mean), harness_release(rstd), harness_release(ws);
    case_free(&c);
}
END_TEST

START_TEST(rejects_invalid_arguments) {
    clf_device *dev = harness_device();
    const int n = 7, d = 13;
    cl_mem a = harness_poisoned((size_t)n * d), b = harness_poisoned((size_t)n * d), big = harness_poisoned((size_t)n * d);
    cl_mem row = harness_poisoned((size_t)n), col = harness_poisoned((size_t)d), small = harness_poisoned(5);
    cl_mem ws = harness_poisoned(clf_layernorm_workspace_floats(n, d));
    const clf_dropout bad_p = {.p = 1.0f}, odd = {.p = NAN};
    const clf_layernorm_cfg bad_wg = {3, 0};
    ck_assert_int_eq(clf_add_layernorm_fwd(NULL, a, b, row, row, big, big, col, col, n, d, EPS, NULL),
                     CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_add_layernorm_fwd(dev, a, b, row, row, big, NULL, col, col, n, d, EPS, NULL),
                     CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "s"));
    ck_assert_int_eq(clf_add_layernorm_fwd(dev, a, NULL, row, row, big, big, col, col, n, d, EPS, NULL),
                     CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "sum"));
    ck_assert_int_eq(clf_add_layernorm_fwd(dev, a, a, row, row, big, big, col, col, n, d, EPS, NULL),
                     CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_add_layernorm_fwd(dev, a, b, row, row, small, big, col, col, n, d, EPS, NULL),
                     CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_add_layernorm_fwd(dev, a, b, row, row, big, big, col, col, 0, d, EPS, NULL),
                     CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_add_layernorm_fwd(dev, a, b, row, row, big, big, col, col, n, d, -1.0f, NULL),
                     CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_add_layernorm_fwd(dev, a, b, row, row, big, big, col, col, n, d, EPS, &bad_p),
                     CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "dropout"));
    ck_assert_int_eq(clf_add_layernorm_fwd(dev, a, b, row, row, big, big, col, col, n, d, EPS, &odd),
                     CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_add_layernorm_fwd_cfg(dev, a, b, row, row, big, big, col, col, n, d, EPS, NULL, &bad_wg),
                     CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_add_layernorm_bwd(dev, a, NULL, col, col, big, big, big, row, row, col, ws, n, d, NULL),
                     CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "ds"));
    ck_assert_int_eq(clf_add_layernorm_bwd(dev, a, a, col, col, big, big, big, row, row, col, ws, n, d, NULL),
                     CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_add_layernorm_bwd(dev, a, b, col, col, big, big, big, row, row, col, small, n, d, NULL),
                     CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "workspace"));
    ck_assert_int_eq(clf_add_layernorm_bwd(dev, a, b, col, col, big, small, big, row, row, col, ws, n, d, NULL),
                     CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "dsum"));
    ck_assert_int_eq(clf_add_layernorm_bwd(dev, a, b, col, col, big, big, NULL, row, row, col, ws, n, d, NULL),
                     CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_add_layernorm_bwd(dev, a, b, col, col, big, big, big, row, row, col, ws, n, d, &bad_p),
                     CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_add_layernorm_bwd(dev, a, b, col, col, big, big, big, row, row, col, ws, n, -3, NULL),
                     CLF_ERR_INVALID_ARG);
    CLF_CK(clf_add_layernorm_bwd(dev, NULL, b, col, col, big, NULL, big, row, row, col, ws, n, d, NULL));
    /* overwrite: of a dx that is NULL, of a gradient it has not */
    const clf_layernorm_cfg ow_dx = {0, CLF_OVERWRITE_DX}, ow_bad = {0, 4u};
    ck_assert_int_eq(clf_add_layernorm_bwd_cfg(dev, NULL, b, col, col, big, NULL, big, row, row, col, ws, n, d, NULL,
                                               &ow_dx),
                     CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "overwrite"));
    ck_assert_int_eq(clf_add_layernorm_bwd_cfg(dev, a, b, col, col, big, NULL, big, row, row, col, ws, n, d, NULL,
                                               &ow_bad),
                     CLF_ERR_INVALID_ARG);
    harness_release(a), harness_release(b), harness_release(big), harness_release(row), harness_release(col);
    harness_release(small), harness_release(ws);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("add_layernorm");
    TCase *tc = tcase_create("add_layernorm");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, reference_backward_matches_finite_differences);
    tcase_add_test(tc, forward_matches_reference_and_residual);
    tcase_add_test(tc, backward_matches_reference_and_unfused);
    tcase_add_test(tc, backward_overwrites);
    tcase_add_test(tc, sum_may_overwrite_x);
    tcase_add_test(tc, results_are_bit_identical_between_runs);
    tcase_add_test(tc, rejects_invalid_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
