/* LayerNorm forward and backward against the float64 reference, which is itself checked by finite
 * differences; awkward sizes, accumulation into prefilled gradients, determinism, bad arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/layernorm.h"
#include "ref/fd.h"
#include "ref/ref_layernorm.h"

#define EPS 1e-5f
static const int sizes_n[] = {1, 7, 33, 257};
static const int sizes_d[] = {1, 7, 13, 64, 257, 1000};
/* Work-items per row: the device's default, one (the CPU layout), and a tree of 64 (the GPU layout). */
static const clf_layernorm_cfg cfgs[] = {{0, 0}, {1, 0}, {64, 0}};
#define N_CFGS (sizeof cfgs / sizeof *cfgs)

/* Inputs of one case: x with a per-row offset and spread, gamma around 1, beta around 0. */
typedef struct ln_case {
    int n, d;
    float *x, *gamma, *beta;
    double *xd, *gd, *bd;
    cl_mem mx, mg, mb;
} ln_case;

static ln_case case_new(int n, int d, double offset, double min_spread) {
    ln_case c = {.n = n, .d = d};
    size_t nd = (size_t)n * (size_t)d;
    c.x = harness_random(nd, -1, 1, NULL);
    for (int r = 0; r < n; r++) {
        double shift = offset + harness_uniform(-3, 3), spread = harness_uniform(min_spread, 4);
        for (int k = 0; k < d; k++) c.x[(size_t)r * d + k] = (float)(shift + spread * c.x[(size_t)r * d + k]);
    }
    c.xd = harness_to_double(c.x, nd);
    c.gamma = harness_random((size_t)d, 0.5, 1.5, &c.gd);
    c.beta = harness_random((size_t)d, -0.5, 0.5, &c.bd);
    c.mx = harness_upload(c.x, nd);
    c.mg = harness_upload(c.gamma, (size_t)d);
    c.mb = harness_upload(c.beta, (size_t)d);
    return c;
}

static void case_free(ln_case *c) {
    free(c->x), free(c->gamma), free(c->beta), free(c->xd), free(c->gd), free(c->bd);
    harness_release(c->mx), harness_release(c->mg), harness_release(c->mb);
}

static void check_fwd(int n, int d, double offset, const clf_layernorm_cfg *cfg) {
    clf_device *dev = harness_device();
    ln_case c = case_new(n, d, offset, offset ? 0.5 : 0.1);
    size_t nd = (size_t)n * (size_t)d;
    cl_mem y = harness_poisoned(nd), mean = harness_poisoned((size_t)n), rstd = harness_poisoned((size_t)n);
    CLF_CK(clf_layernorm_fwd_cfg(dev, y, mean, rstd, c.mx, c.mg, c.mb, n, d, EPS, cfg));
    double *ry = malloc(nd * sizeof *ry), *rm = malloc((size_t)n * sizeof *rm), *rr = malloc((size_t)n * sizeof *rr);
    ref_layernorm_fwd(ry, rm, rr, c.xd, c.gd, c.bd, n, d, EPS);
    float *gy = harness_download(y, nd), *gm = harness_download(mean, (size_t)n), *gr = harness_download(rstd, (size_t)n);
    char what[96];
    snprintf(what, sizeof what, "layernorm_fwd y n=%d d=%d offset=%g wg=%d", n, d, offset, cfg->wg);
    harness_expect_close(what, gy, ry, nd, 1e-5);
    snprintf(what, sizeof what, "layernorm_fwd mean n=%d d=%d offset=%g wg=%d", n, d, offset, cfg->wg);
    harness_expect_close(what, gm, rm, (size_t)n, 1e-5);
    snprintf(what, sizeof what, "layernorm_fwd rstd n=%d d=%d offset=%g wg=%d", n, d, offset, cfg->wg);
    harness_expect_close(what, gr, rr, (size_t)n, 1e-5);
    free(ry), free(rm), free(rr), free(gy), free(gm), free(gr);
    harness_release(y), harness_release(mean), harness_release(rstd);
    case_free(&c);
}

START_TEST(forward_matches_reference) {
    for (size_t i = 0; i < sizeof sizes_n / sizeof *sizes_n; i++)
        for (size_t j = 0; j < sizeof sizes_d / sizeof *sizes_d; j++)
            for (size_t k = 0; k < N_CFGS; k++) check_fwd(sizes_n[i], sizes_d[j], 0, &cfgs[k]);
}
END_TEST

/* Rows whose mean is tens of standard deviations: E[x^2] - E[x]^2 loses about 1e-3 of the variance
 * here. (Past |mean| / std of a few hundred, the mean's own rounding to float is the limit.) */
START_TEST(forward_survives_offset) {
    for (size_t k = 0; k < N_CFGS; k++) {
        check_fwd(33, 1000, 30, &cfgs[k]);
        check_fwd(7, 257, -40, &cfgs[k]);
        check_fwd(4, 1024, 25, &cfgs[k]);
    }
}
END_TEST

/* Backward into gradients prefilled with `fill` (random when fill is NaN). With `cancel` > 0, row
 * n-1-r of dy is minus row r plus noise of that size, so dbeta's column sums cancel to about `cancel`
 * of their terms: rounding in any partial sum that is not compensated shows at 1e-5. With
 * cfg->overwrite, dx starts poisoned with NaN and must come back as the contribution alone, bit for
 * bit what accumulating into zeros gives. */
static void check_bwd(int n, int d, double fill, double cancel, const clf_layernorm_cfg *cfg) {
    clf_device *dev = harness_device();
    ln_case c = case_new(n, d, 0, 0.1);
    size_t nd = (size_t)n * (size_t)d;
    cl_mem y = harness_poisoned(nd), mean = harness_poisoned((size_t)n), rstd = harness_poisoned((size_t)n);
    CLF_CK(clf_layernorm_fwd_cfg(dev, y, mean, rstd, c.mx, c.mg, c.mb, n, d, EPS, cfg));
    double *dyd;
    float *dy = harness_random(nd, -1, 1, &dyd);
    if (cancel > 0) {
        for (int r = 0; r < n / 2; r++)
            for (int k = 0; k < d; k++)
                dy[(size_t)(n - 1 - r) * d + k] = (float)(-dy[(size_t)r * d + k] + cancel * harness_uniform(-1, 1));
        for (size_t k = 0; k < nd; k++) dyd[k] = dy[k];
    }
    float *dx0 = harness_random(nd, -1, 1, NULL), *dg0 = harness_random((size_t)d, -1, 1, NULL),
          *db0 = harness_random((size_t)d, -1, 1, NULL);
    if (!isnan(fill)) {
        for (size_t k = 0; k < nd; k++) dx0[k] = (float)fill;
        for (int k = 0; k < d; k++) dg0[k] = db0[k] = (float)fill;
    }
    bool ow = cfg->overwrite & CLF_OVERWRITE_DX;
    if (ow) memset(dx0, 0, nd * sizeof *dx0);
    double *rdx = harness_to_double(dx0, nd), *rdg = harness_to_double(dg0, (size_t)d),
           *rdb = harness_to_double(db0, (size_t)d);
    cl_mem mdy = harness_upload(dy, nd), mdx = ow ? harness_poisoned(nd) : harness_upload(dx0, nd),
           mdg = harness_upload(dg0, (size_t)d), mdb = harness_upload(db0, (size_t)d),
           ws = harness_poisoned(clf_layernorm_workspace_floats(n, d));
    CLF_CK(clf_layernorm_bwd_cfg(dev, mdx, mdg, mdb, mdy, c.mx, mean, rstd, c.mg, ws, n, d, cfg));
    ref_layernorm_bwd(rdx, rdg, rdb, dyd, c.xd, c.gd, n, d, EPS);
    float *gdx = harness_download(mdx, nd), *gdg = harness_download(mdg, (size_t)d), *gdb = harness_download(mdb, (size_t)d);
    char what[96];
    snprintf(what, sizeof what, "layernorm_bwd dx n=%d d=%d fill=%g cancel=%g wg=%d ow=%u", n, d, fill, cancel,
             cfg->wg, cfg->overwrite);
    harness_expect_close(what, gdx, rdx, nd, 1e-5);
    if (ow) { /* the same bits as the accumulating launch into zeros */
        clf_layernorm_cfg acc = {cfg->wg, 0};
        cl_mem zdx = harness_upload(dx0, nd), zdg = harness_upload(dg0, (size_t)d), zdb = harness_upload(db0, (size_t)d);
        CLF_CK(clf_layernorm_bwd_cfg(dev, zdx, zdg, zdb, mdy, c.mx, mean, rstd, c.mg, ws, n, d, &acc));
        float *zgx = harness_download(zdx, nd);
        ck_assert_msg(memcmp(zgx, gdx, nd * sizeof *gdx) == 0, "%s: not the bits of accumulating into zeros", what);
        free(zgx);
        harness_release(zdx), harness_release(zdg), harness_release(zdb);
    }
    snprintf(what, sizeof what, "layernorm_bwd dgamma n=%d d=%d fill=%g cancel=%g wg=%d", n, d, fill, cancel,
             cfg->wg);
    harness_expect_close(what, gdg, rdg, (size_t)d, 1e-5);
    snprintf(what, sizeof what, "layernorm_bwd dbeta n=%d d=%d fill=%g cancel=%g wg=%d", n, d, fill, cancel,
             cfg->wg);
    harness_expect_close(what, gdb, rdb, (size_t)d, 1e-5);
    free(dyd), free(dy), free(dx0), free(dg0), free(db0), free(rdx), free(rdg), free(rdb);
    free(gdx), free(gdg), free(gdb);
    harness_release(y), harness_release(mean), harness_release(rstd), harness_release(mdy), harness_release(mdx);
    harness_release(mdg), harness_release(mdb), harness_release(ws);
    case_free(&c);
}

START_TEST(backward_accumulates_into_prefilled) {
    for (size_t i = 0; i < sizeof sizes_n / sizeof *sizes_n; i++)
        for (size_t j = 0; j < sizeof sizes_d / sizeof *sizes_d; j++)
            for (size_t k = 0; k < N_CFGS; k++) check_bwd(sizes_n[i], sizes_d[j], NAN, 0, &cfgs[k]);
}
END_TEST

/* Overwrite mode: dx poisoned, the contribution alone (the first writer of a gradient). */
START_TEST(backward_overwrites_dx) {
    for (size_t i = 0; i < sizeof sizes_n / sizeof *sizes_n; i++)
        for (size_t j = 0; j < sizeof sizes_d / sizeof *sizes_d; j++)
            for (size_t k = 1; k < N_CFGS; k++) {
                clf_layernorm_cfg cfg = {cfgs[k].wg, CLF_OVERWRITE_DX};
                check_bwd(sizes_n[i], sizes_d[j], NAN, 0, &cfg);
            }
}
END_TEST

/* From zero the contribution alone is compared, with nothing to hide its rounding behind. */
START_TEST(backward_contribution_alone) {
    for (size_t k = 0; k < N_CFGS; k++) {
        check_bwd(33, 257, 0, 0, &cfgs[k]);
        check_bwd(257, 1000, 0, 0, &cfgs[k]);
        check_bwd(7, 13, 0, 0, &cfgs[k]);
    }
}
END_TEST

/* dbeta's column sums cancel to 1e-3 of their terms (n even: every row has its partner). */
START_TEST(backward_sums_survive_cancellation) {
    for (size_t k = 0; k < N_CFGS; k++) {
        check_bwd(256, 72, 0, 1e-3, &cfgs[k]);
        check_bwd(100, 13, 0, 1e-3, &cfgs[k]);
    }
}
END_TEST

/* ---- the reference against finite differences of its own forward ---- */

typedef struct fd_ctx {
    int n, d;
    double *x, *gamma, *beta;
    const double *w; /* loss = sum(w * y) */
} fd_ctx;

static double fd_loss(const double *unused, size_t n_unused, void *p) {
    (void)unused, (void)n_unused;
    fd_ctx *c = p;
    size_t nd = (size_t)c->n * (size_t)c->d;
    double *y = malloc(nd * sizeof *y), s = 0;
    ref_layernorm_fwd(y, NULL, NULL, c->x, c->gamma, c->beta, c->n, c->d, EPS);
    for (size_t k = 0; k < nd; k++) s += c->w[k] * y[k];
    free(y);
    return s;
}

START_TEST(reference_backward_matches_finite_differences) {
    const int shapes[][2] = {{3, 7}, {2, 13}, {1, 5}, {4, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int n = shapes[s][0], d = shapes[s][1];
        size_t nd = (size_t)n * (size_t)d;
        double *x, *g, *b, *w;
        float *f[4] = {harness_random(nd, -2, 2, &x), harness_random((size_t)d, 0.5, 1.5, &g),
                       harness_random((size_t)d, -1, 1, &b), harness_random(nd, -1, 1, &w)};
        double *dx = calloc(nd, sizeof *dx), *dg = calloc((size_t)d, sizeof *dg), *db = calloc((size_t)d, sizeof *db);
        ref_layernorm_bwd(dx, dg, db, w, x, g, n, d, EPS);
        fd_ctx c = {n, d, x, g, b, w};
        double ex = fd_check(fd_loss, x, nd, dx, &c, 1e-6), eg = fd_check(fd_loss, g, (size_t)d, dg, &c, 1e-6),
               eb = fd_check(fd_loss, b, (size_t)d, db, &c, 1e-6);
        /* d = 1: y = beta whatever x is; the analytic dx is exactly zero and so is the numeric one */
        ck_assert_msg(ex < 1e-6 && eg < 1e-6 && eb < 1e-6, "n=%d d=%d: fd errors dx %g dgamma %g dbeta %g", n, d,
                      ex, eg, eb);
        for (int k = 0; k < 4; k++) free(f[k]);
        free(x), free(g), free(b), free(w), free(dx), free(dg), free(db);
    }
}
END_TEST

static void check_deterministic(const clf_layernorm_cfg *cfg) {
    clf_device *dev = harness_device();
    const int n = 257, d = 1000;
    size_t nd = (size_t)n * d;
    ln_case c = case_new(n, d, 0, 0.1);
    float *dy = harness_random(nd, -1, 1, NULL), *dx0 = harness_random(nd, -1, 1, NULL);
    float *dg0 = harness_random((size_t)d, -1, 1, NULL);
    cl_mem y = harness_poisoned(nd), mean = harness_poisoned((size_t)n), rstd = harness_poisoned((size_t)n);
    cl_mem mdy = harness_upload(dy, nd), ws = harness_poisoned(clf_layernorm_workspace_floats(n, d));
    float *out[2][4];
    for (int run = 0; run < 2; run++) {
        cl_mem mdx = harness_upload(dx0, nd), mdg = harness_upload(dg0, (size_t)d), mdb = harness_upload(dg0, (size_t)d);
        CLF_CK(clf_layernorm_fwd_cfg(dev, y, mean, rstd, c.mx, c.mg, c.mb, n, d, EPS, cfg));
        out[run][0] = harness_download(y, nd);
        CLF_CK(clf_layernorm_bwd_cfg(dev, mdx, mdg, mdb, mdy, c.mx, mean, rstd, c.mg, ws, n, d, cfg));
        out[run][1] = harness_download(mdx, nd);
        out[run][2] = harness_download(mdg, (size_t)d);
        out[run][3] = harness_download(mdb, (size_t)d);
        harness_release(mdx), harness_release(mdg), harness_release(mdb);
    }
    const size_t len[4] = {nd, nd, (size_t)d, (size_t)d};
    const char *names[4] = {"y", "dx", "dgamma", "dbeta"};
    for (int k = 0; k < 4; k++) {
        ck_assert_msg(memcmp(out[0][k], out[1][k], len[k] * sizeof(float)) == 0, "%s differs between runs (wg %d)", names[k], cfg->wg);
        free(out[0][k]), free(out[1][k]);
    }
    free(dy), free(dx0), free(dg0);
    harness_release(y), harness_release(mean), harness_release(rstd), harness_release(mdy), harness_release(ws);
    case_free(&c);
}

START_TEST(results_are_bit_identical_between_runs) {
    for (size_t k = 0; k < N_CFGS; k++) check_deterministic(&cfgs[k]);
}
END_TEST

START_TEST(rejects_invalid_arguments) {
    clf_device *dev = harness_device();
    const int n = 7, d = 13;
    cl_mem big = harness_poisoned((size_t)n * d), row = harness_poisoned((size_t)n), col = harness_poisoned((size_t)d);
    cl_mem small = harness_poisoned(5), ws = harness_poisoned(clf_layernorm_workspace_floats(n, d));
    ck_assert_uint_gt(clf_layernorm_workspace_floats(n, d), 0);
    ck_assert_int_eq(clf_layernorm_fwd(NULL, big, row, row, big, col, col, n, d, EPS), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_layernorm_fwd(dev, NULL, row, row, big, col, col, n, d, EPS), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "y"));
    ck_assert_int_eq(clf_layernorm_fwd(dev, big, row, row, big, NULL, col, n, d, EPS), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "gamma"));
    ck_assert_int_eq(clf_layernorm_fwd(dev, big, row, row, big, col, col, 0, d, EPS), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_layernorm_fwd(dev, big, row, row, big, col, col, n, -1, EPS), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_layernorm_fwd(dev, big, row, row, big, col, col, n, d, NAN), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_layernorm_fwd(dev, big, row, row, big, col, col, n, d, -1e-5f), CLF_ERR_INVALID_ARG);
    /* shape mismatch: x smaller than n x d, beta shorter than d */
    ck_assert_int_eq(clf_layernorm_fwd(dev, big, row, row, small, col, col, n, d, EPS), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "x"));
    ck_assert_int_eq(clf_layernorm_fwd(dev, big, row, row, big, col, small, n, d, EPS), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "beta"));
    ck_assert_int_eq(clf_layernorm_bwd(dev, big, col, col, big, big, row, row, col, NULL, n, d), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "workspace"));
    ck_assert_int_eq(clf_layernorm_bwd(dev, big, col, col, big, big, row, row, col, small, n, d), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_layernorm_bwd(dev, big, small, col, big, big, row, row, col, ws, n, d), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "dgamma"));
    ck_assert_int_eq(clf_layernorm_bwd(dev, big, col, col, big, big, NULL, row, col, ws, n, d), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "mean"));
    ck_assert_int_eq(clf_layernorm_bwd(dev, big, col, col, big, big, row, row, col, ws, n, 0), CLF_ERR_INVALID_ARG);
    CLF_CK(clf_layernorm_bwd(dev, big, col, col, big, big, row, row, col, ws, n, d)); /* NaN in, NaN out: no error */
    ck_assert_uint_eq(clf_layernorm_workspace_floats(0, d), 0);
    const clf_layernorm_cfg odd = {3, 0}, huge = {1 << 30, 0};
    ck_assert_int_eq(clf_layernorm_fwd_cfg(dev, big, row, row, big, col, col, n, d, EPS, &odd), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "wg"));
    ck_assert_int_eq(clf_layernorm_bwd_cfg(dev, big, col, col, big, big, row, row, col, ws, n, d, &huge),
                     CLF_ERR_INVALID_ARG);
    /* the plain backward has dx only */
    const clf_layernorm_cfg ds_bit = {0, CLF_OVERWRITE_DS};
    ck_assert_int_eq(clf_layernorm_bwd_cfg(dev, big, col, col, big, big, row, row, col, ws, n, d, &ds_bit),
                     CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "overwrite"));
    harness_release(big), harness_release(row), harness_release(col), harness_release(small), harness_release(ws);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("layernorm");
    TCase *tc = tcase_create("layernorm");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, reference_backward_matches_finite_differences);
    tcase_add_test(tc, forward_matches_reference);
    tcase_add_test(tc, forward_survives_offset);
    tcase_add_test(tc, backward_accumulates_into_prefilled);
    tcase_add_test(tc, backward_contribution_alone);
    tcase_add_test(tc, backward_overwrites_dx);
    tcase_add_test(tc, backward_sums_survive_cancellation);
    tcase_add_test(tc, results_are_bit_identical_between_runs);
    tcase_add_test(tc, rejects_invalid_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
