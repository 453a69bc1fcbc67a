/* The element-wise ops against their float64 references: residual add with dropout (forward and
 * accumulating backward), axpy and scale, at awkward sizes; the reference backward by finite
 * differences; determinism, the keep rate, in-place use and invalid arguments. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/elementwise.h"
#include "ref/fd.h"
#include "ref/ref_elementwise.h"

static const size_t sizes[] = {1, 7, 13, 33, 257, 1000003};
static const float rates[] = {0.0f, 0.1f, 0.5f};
#define N_SIZES (sizeof sizes / sizeof sizes[0])
#define N_RATES (sizeof rates / sizeof rates[0])

static clf_dropout random_dropout(float p) {
    uint64_t seed = (uint64_t)harness_below(UINT32_MAX) << 32 | harness_below(UINT32_MAX);
    return (clf_dropout){p, seed, harness_below(1u << 20), harness_below(64)};
}

START_TEST(fwd_matches_reference) {
    for (size_t a = 0; a < N_SIZES; a++)
        for (size_t b = 0; b < N_RATES; b++)
            for (int with_x = 0; with_x < 2; with_x++) {
                size_t n = sizes[a];
                clf_dropout d = random_dropout(rates[b]);
                double *xr, *sr, *yr = malloc(n * sizeof *yr);
                float *x = harness_random(n, -2, 2, &xr), *s = harness_random(n, -2, 2, &sr);
                cl_mem xb = harness_upload(x, n), sb = harness_upload(s, n), yb = harness_poisoned(n);
                CLF_CK(clf_residual_dropout_fwd(harness_device(), yb, with_x ? xb : NULL, sb, n, &d));
                ref_residual_dropout_fwd(yr, with_x ? xr : NULL, sr, n, &d, 0);
                float *y = harness_download(yb, n);
                harness_expect_close(with_x ? "residual_dropout_fwd" : "residual_dropout_fwd (no x)", y, yr, n,
                                     1e-5);
                free(y), free(x), free(s), free(xr), free(sr), free(yr);
                harness_release(xb), harness_release(sb), harness_release(yb);
            }
}
END_TEST

START_TEST(bwd_matches_reference) {
    for (size_t a = 0; a < N_SIZES; a++)
        for (size_t b = 0; b < N_RATES; b++)
            for (int with_dx = 0; with_dx < 2; with_dx++) {
                size_t n = sizes[a];
                clf_dropout d = random_dropout(rates[b]);
                double *dxr, *dsr, *dyr;
                /* prefilled accumulators: the result must be prefill + contribution */
                float *dx = harness_random(n, -1, 1, &dxr), *ds = harness_random(n, -1, 1, &dsr);
                float *dy = harness_random(n, -2, 2, &dyr);
                cl_mem dxb = harness_upload(dx, n), dsb = harness_upload(ds, n), dyb = harness_upload(dy, n);
                CLF_CK(clf_residual_dropout_bwd(harness_device(), with_dx ? dxb : NULL, dsb, dyb, n, &d));
                ref_residual_dropout_bwd(with_dx ? dxr : NULL, dsr, dyr, n, &d, 0);
                float *gx = harness_download(dxb, n), *gs = harness_download(dsb, n);
                harness_expect_close("residual_dropout_bwd ds", gs, dsr, n, 1e-5);
                if (with_dx) harness_expect_close("residual_dropout_bwd dx", gx, dxr, n, 1e-5);
                else ck_assert(memcmp(gx, dx, n * sizeof *dx) == 0); /* dx NULL: the buffer is untouched */
                free(gx), free(gs), free(dx), free(ds), free(dy), free(dxr), free(dsr), free(dyr);
                harness_release(dxb), harness_release(dsb), harness_release(dyb);
            }
}
END_TEST

/* The overwrite bits of the backward: a gradient named there comes back as the contribution alone
 * from a buffer poisoned with NaN, bit for bit what accumulating into zeros gives; the other one
 * still accumulates. Every launch shape: the scalar tail (vec 1), body + tail (4), wide (64). */
START_TEST(bwd_overwrite) {
    static const size_t ns[] = {1, 7, 13, 33, 257, 4099};
    static const int vecs[] = {1, 4, 64};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < 2; b++)
            for (size_t v = 0; v < 3; v++)
                for (unsigned ow = 1; ow <= 3; ow++) {
                    size_t n = ns[a];
                    clf_dropout d = random_dropout(rates[2 * b]);
                    clf_elementwise_cfg acc = {0, vecs[v], 0, 0}, cfg = {0, vecs[v], 0, ow};
                    double *dxr, *dsr, *dyr;
                    float *dx = harness_random(n, -1, 1, &dxr), *ds = harness_random(n, -1, 1, &dsr);
                    float *dy = harness_random(n, -2, 2, &dyr), *zero = calloc(n, sizeof *zero);
                    bool ox = ow & CLF_OVERWRITE_DX, os = ow & CLF_OVERWRITE_DS;
                    if (ox) memset(dxr, 0, n * sizeof *dxr);
                    if (os) memset(dsr, 0, n * sizeof *dsr);
                    cl_mem dxb = ox ? harness_poisoned(n) : harness_upload(dx, n);
                    cl_mem dsb = os ? harness_poisoned(n) : harness_upload(ds, n), dyb = harness_upload(dy, n);
                    cl_mem zx = harness_upload(ox ? zero : dx, n), zs = harness_upload(os ? zero : ds, n);
                    CLF_CK(clf_residual_dropout_bwd_cfg(harness_device(), dxb, dsb, dyb, n, &d, &cfg));
                    CLF_CK(clf_residual_dropout_bwd_cfg(harness_device(), zx, zs, dyb, n, &d, &acc));
                    ref_residual_dropout_bwd(dxr, dsr, dyr, n, &d, 0);
                    float *gx = harness_download(dxb, n), *gs = harness_download(dsb, n);
                    float *zgx = harness_download(zx, n), *zgs = harness_download(zs, n);
                    harness_expect_close("residual_dropout_bwd overwrite: dx", gx, dxr, n, 1e-5);
                    harness_expect_close("residual_dropout_bwd overwrite: ds", gs, dsr, n, 1e-5);
                    ck_assert_msg(!memcmp(gx, zgx, n * sizeof *gx) && !memcmp(gs, zgs, n * sizeof *gs),
                                  "overwrite %u, n %zu, vec %d: not the bits of accumulating into zeros (seed %llu)",
                                  ow, n, vecs[v], (unsigned long long)harness_seed());
                    free(gx), free(gs), free(zgx), free(zgs), free(dx), free(ds), free(dy), free(zero);
                    free(dxr), free(dsr), free(dyr);
                    harness_release(dxb), harness_release(dsb), harness_release(dyb), harness_release(zx),
                        harness_release(zs);
                }
    /* without dx only ds may be overwritten */
    cl_mem a = harness_poisoned(8), c = harness_poisoned(8);
    clf_elementwise_cfg bad_dx = {0, 0, 0, CLF_OVERWRITE_DX}, bad_bit = {0, 0, 0, 4u};
    ck_assert_int_eq(clf_residual_dropout_bwd_cfg(harness_device(), NULL, a, c, 8, NULL, &bad_dx), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_residual_dropout_bwd_cfg(harness_device(), NULL, a, c, 8, NULL, &bad_bit), CLF_ERR_INVALID_ARG);
    harness_release(a), harness_release(c);
}
END_TEST

/* loss = sum_i w_i * y_i with y = x + drop(s); v holds [x; s]. */
typedef struct fd_ctx {
    const double *w;
    const clf_dropout *d;
    size_t n;
} fd_ctx;

static double fd_loss(const double *v, size_t n2, void *p) {
    fd_ctx *c = p;
    (void)n2;
    double *y = malloc(c->n * sizeof *y), sum = 0;
    ref_residual_dropout_fwd(y, v, v + c->n, c->n, c->d, 0);
    for (size_t i = 0; i < c->n; i++) sum += c->w[i] * y[i];
    free(y);
    return sum;
}

START_TEST(reference_backward_matches_fd) {
    const float ps[] = {0.0f, 0.5f};
    for (int j = 0; j < 2; j++) {
        size_t n = 37;
        clf_dropout d = random_dropout(ps[j]);
        double *v = malloc(2 * n * sizeof *v), *g = calloc(2 * n, sizeof *g), *w;
        free(harness_random(n, -1, 1, &w));
        for (size_t i = 0; i < 2 * n; i++) v[i] = harness_uniform(-2, 2);
        ref_residual_dropout_bwd(g, g + n, w, n, &d, 0); /* zero accumulators: the gradient itself */
        fd_ctx c = {w, &d, n};
        double err = fd_check(fd_loss, v, 2 * n, g, &c, 1e-3);
        ck_assert_msg(err < 1e-8, "p=%g: FD relative error %g (seed %llu)", (double)ps[j], err,
                      (unsigned long long)harness_seed());
        free(v), free(g), free(w);
    }
}
END_TEST

START_TEST(axpy_and_scale_match_reference) {
    const float alphas[] = {1.0f, -0.5f, 2.75f};
    for (size_t a = 0; a < N_SIZES; a++)
        for (int j = 0; j < 3; j++) {
            size_t n = sizes[a];
            double *dr, *sr, *yr = malloc(n * sizeof *yr);
            float *dst = harness_random(n, -1, 1, &dr), *src = harness_random(n, -2, 2, &sr);
            cl_mem db = harness_upload(dst, n), sb = harness_upload(src, n), yb = harness_poisoned(n);
            CLF_CK(clf_axpy(harness_device(), db, sb, n, alphas[j]));
            CLF_CK(clf_scale(harness_device(), yb, sb, n, alphas[j]));
            ref_axpy(dr, sr, n, alphas[j]);
            ref_scale(yr, sr, n, alphas[j]);
            float *gd = harness_download(db, n), *gy = harness_download(yb, n);
            harness_expect_close("axpy", gd, dr, n, 1e-5);
            harness_expect_close("scale", gy, yr, n, 1e-5);
            if (alphas[j] == 1.0f) ck_assert(memcmp(gy, src, n * sizeof *src) == 0); /* a copy */
            free(gd), free(gy), free(dst), free(src), free(dr), free(sr), free(yr);
            harness_release(db), harness_release(sb), harness_release(yb);
        }
}
END_TEST

/* The residual stream updated in place (y == x), and scale in place. */
START_TEST(in_place) {
    size_t n = 1000003;
    clf_dropout d = random_dropout(0.1f);
    double *xr, *sr, *yr = malloc(n * sizeof *yr);
    float *x = harness_random(n, -2, 2, &xr), *s = harness_random(n, -2, 2, &sr);
    cl_mem xb = harness_upload(x, n), sb = harness_upload(s, n);
    CLF_CK(clf_residual_dropout_fwd(harness_device(), xb, xb, sb, n, &d));
    ref_residual_dropout_fwd(yr, xr, sr, n, &d, 0);
    float *y = harness_download(xb, n);
    harness_expect_close("residual_dropout_fwd in place", y, yr, n, 1e-5);
    CLF_CK(clf_scale(harness_device(), sb, sb, n, -3.0f));
    ref_scale(yr, sr, n, -3.0);
    free(y);
    y = harness_download(sb, n);
    harness_expect_close("scale in place", y, yr, n, 1e-5);
    free(y), free(x), free(s), free(xr), free(sr), free(yr);
    harness_release(xb), harness_release(sb);
}
END_TEST

START_TEST(deterministic) {
    size_t n = 1000003;
    clf_dropout d = random_dropout(0.1f);
    float *x = harness_random(n, -2, 2, NULL), *s = harness_random(n, -2, 2, NULL);
    cl_mem xb = harness_upload(x, n), sb = harness_upload(s, n), out[2], acc[2];
    float *got[2], *gacc[2];
    for (int r = 0; r < 2; r++) {
        out[r] = harness_poisoned(n);
        acc[r] = harness_upload(x, n);
        CLF_CK(clf_residual_dropout_fwd(harness_device(), out[r], xb, sb, n, &d));
        CLF_CK(clf_residual_dropout_bwd(harness_device(), NULL, acc[r], sb, n, &d));
        got[r] = harness_download(out[r], n);
        gacc[r] = harness_download(acc[r], n);
    }
    ck_assert(memcmp(got[0], got[1], n * sizeof(float)) == 0);
    ck_assert(memcmp(gacc[0], gacc[1], n * sizeof(float)) == 0);
    for (int r = 0; r < 2; r++) free(got[r]), free(gacc[r]), harness_release(out[r]), harness_release(acc[r]);
    free(x), free(s);
    harness_release(xb), harness_release(sb);
}
END_TEST

/* Every output of drop(1) is 0 or exactly 1/(1-p), and the kept fraction is 1 - p. */
START_TEST(keep_rate_matches_p) {
    size_t n = 1000003;
    float *ones = malloc(n * sizeof *ones);
    for (size_t i = 0; i < n; i++) ones[i] = 1.0f;
    cl_mem sb = harness_upload(ones, n), yb = harness_poisoned(n);
    for (size_t b = 0; b < N_RATES; b++) {
        clf_dropout d = random_dropout(rates[b]);
        CLF_CK(clf_residual_dropout_fwd(harness_device(), yb, NULL, sb, n, &d));
        float *y = harness_download(yb, n), scale = 1.0f / (1.0f - d.p);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            ck_assert_msg(y[i] == 0.0f || y[i] == scale, "p=%g: y[%zu] = %.9g (seed %llu)", (double)d.p, i,
                          (double)y[i], (unsigned long long)harness_seed());
            kept += y[i] != 0.0f;
        }
        double rate = (double)kept / (double)n;
        ck_assert_msg(fabs(rate - (1.0 - d.p)) < 0.003, "p=%g: kept %g (seed %llu)", (double)d.p, rate,
                      (unsigned long long)harness_seed());
        free(y);
    }
    free(ones);
    harness_release(sb), harness_release(yb);
}
END_TEST

#define EXPECT_INVALID(expr, word)                                                                   \
    do {                                                                                             \
        ck_assert_int_eq((expr), CLF_ERR_INVALID_ARG);                                               \
        ck_assert_msg(strstr(clf_errmsg(), (word)) != NULL, "%s: message '%s' lacks '%s'", #expr,    \
                      clf_errmsg(), (word));                                                         \
    } while (0)

START_TEST(invalid_arguments) {
    clf_device *dev = harness_device();
    size_t n = 16;
    cl_mem a = harness_poisoned(n), b = harness_poisoned(n), c = harness_poisoned(n);
    clf_dropout ok = random_dropout(0.1f), one = ok, neg = ok, pnan = ok;
    one.p = 1.0f;
    neg.p = -0.1f;
    pnan.p = NAN;
    EXPECT_INVALID(clf_residual_dropout_fwd(dev, a, b, c, n, &one), "p =");
    EXPECT_INVALID(clf_residual_dropout_fwd(dev, a, b, c, n, &neg), "p =");
    EXPECT_INVALID(clf_residual_dropout_fwd(dev, a, b, c, n, &pnan), "p =");
    EXPECT_INVALID(clf_residual_dropout_bwd(dev, a, b, c, n, &one), "p =");
    EXPECT_INVALID(clf_residual_dropout_fwd(dev, NULL, b, c, n, &ok), "y is NULL");
    EXPECT_INVALID(clf_residual_dropout_fwd(dev, a, b, NULL, n, &ok), "s is NULL");
    EXPECT_INVALID(clf_residual_dropout_fwd(dev, a, b, c, 0, &ok), "n is 0");
    EXPECT_INVALID(clf_residual_dropout_fwd(NULL, a, b, c, n, &ok), "dev");
    EXPECT_INVALID(clf_residual_dropout_bwd(dev, a, NULL, c, n, &ok), "ds is NULL");
    EXPECT_INVALID(clf_residual_dropout_bwd(dev, a, b, NULL, n, &ok), "dy is NULL");
    EXPECT_INVALID(clf_residual_dropout_bwd(dev, a, a, c, n, &ok), "same buffer");
    EXPECT_INVALID(clf_axpy(dev, NULL, b, n, 1.0f), "dst is NULL");
    EXPECT_INVALID(clf_axpy(dev, a, NULL, n, 1.0f), "src is NULL");
    EXPECT_INVALID(clf_axpy(dev, a, b, n, NAN), "alpha");
    EXPECT_INVALID(clf_scale(dev, NULL, b, n, 1.0f), "dst is NULL");
    EXPECT_INVALID(clf_scale(dev, a, b, 0, 1.0f), "n is 0");
    size_t max_wg = clf_device_get_info(dev)->max_work_group;
    EXPECT_INVALID(clf_residual_dropout_fwd_cfg(dev, a, b, c, n, &ok, &(clf_elementwise_cfg){0, 3, 0, 0}), "vec");
    EXPECT_INVALID(clf_residual_dropout_fwd_cfg(dev, a, b, c, n, &ok, &(clf_elementwise_cfg){0, 4, 2, 0}), "mask0");
    EXPECT_INVALID(clf_residual_dropout_bwd_cfg(dev, a, b, c, n, &ok, &(clf_elementwise_cfg){0, 64, 6, 0}), "mask0");
    EXPECT_INVALID(clf_residual_dropout_fwd_cfg(dev, a, b, c, n, &ok, &(clf_elementwise_cfg){0, 16, 0, 0}), "vec");
    EXPECT_INVALID(clf_residual_dropout_fwd_cfg(dev, a, b, c, n, &ok, &(clf_elementwise_cfg){0, 1, 0xFFFFFFF8u, 0}),
                   "2^32");
    EXPECT_INVALID(clf_residual_dropout_bwd_cfg(dev, a, b, c, n, &ok, &(clf_elementwise_cfg){max_wg + 1, 4, 0, 0}),
                   "work-group");
    /* nothing above touched the outputs */
    float *got = harness_download(a, n);
    for (size_t i = 0; i < n; i++) ck_assert(isnan(got[i]));
    free(got);
    /* NULL dropout and x: a plain copy of s */
    float *s = harness_random(n, -1, 1, NULL);
    CLF_CK(clf_buffer_write(dev, c, 0, n * sizeof *s, s));
    CLF_CK(clf_residual_dropout_fwd(dev, a, NULL, c, n, NULL));
    got = harness_download(a, n);
    ck_assert(memcmp(got, s, n * sizeof *s) == 0);
    free(got), free(s);
    harness_release(a), harness_release(b), harness_release(c);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("elementwise");
    TCase *tc = tcase_create("elementwise");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, fwd_matches_reference);
    tcase_add_test(tc, bwd_matches_reference);
    tcase_add_test(tc, bwd_overwrite);
    tcase_add_test(tc, reference_backward_matches_fd);
    tcase_add_test(tc, axpy_and_scale_match_reference);
    tcase_add_test(tc, in_place);
    tcase_add_test(tc, deterministic);
    tcase_add_test(tc, keep_rate_matches_p);
    tcase_add_test(tc, invalid_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
