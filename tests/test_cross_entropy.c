/* Fused cross-entropy: loss rows, mean loss and dlogits against the float64 reference, the
 * reference gradient against finite differences, pad rows, determinism and argument checks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/cross_entropy.h"
#include "ref/fd.h"
#include "ref/ref_cross_entropy.h"

#define PAD 256

/* Random targets in [0, v) other than PAD; a row is PAD with probability pad_prob. Returns the
 * number of non-pad rows. */
static int random_targets(int32_t *t, int n, int v, double pad_prob) {
    int count = 0;
    for (int r = 0; r < n; r++) {
        if (harness_uniform(0, 1) < pad_prob) {
            t[r] = PAD;
            continue;
        }
        do t[r] = (int32_t)harness_below((uint32_t)v);
        while (t[r] == PAD);
        count++;
    }
    return count;
}

typedef struct ce_out {
    float *loss_rows, *dlogits, loss;
} ce_out;

/* The launch configuration under test (NULL: the device's default). */
static const clf_cross_entropy_cfg *forced_cfg;
static void default_cfg(void) { forced_cfg = NULL; } /* each test starts on the default, even after a failure */

/* Run forward+backward and the reduction on device, reading everything back. */
static ce_out run_device(const float *logits, const int32_t *targets, int n, int v, float eps, float inv_count,
                         int with_grad) {
    clf_device *dev = harness_device();
    size_t nv = (size_t)n * v;
    cl_mem d_logits = harness_upload(logits, nv), d_t = harness_upload_int(targets, (size_t)n);
    cl_mem d_rows = harness_poisoned((size_t)n), d_loss = harness_poisoned(1);
    cl_mem d_dx = with_grad ? harness_poisoned(nv) : NULL;
    CLF_CK(clf_cross_entropy_fwd_bwd_cfg(dev, d_rows, d_dx, d_logits, d_t, n, v, PAD, eps, inv_count, forced_cfg));
    CLF_CK(clf_loss_reduce(dev, d_loss, d_rows, n, inv_count));
    ce_out o = {harness_download(d_rows, (size_t)n), with_grad ? harness_download(d_dx, nv) : NULL, 0};
    float *l = harness_download(d_loss, 1);
    o.loss = l[0];
    free(l);
    harness_release(d_logits);
    harness_release(d_t);
    harness_release(d_rows);
    harness_release(d_loss);
    if (d_dx) harness_release(d_dx);
    return o;
}

static void free_out(ce_out *o) {
    free(o->loss_rows);
    free(o->dlogits);
}

/* One shape against the reference; offset shifts every logit (exp would overflow without the max). */
static void check_case(int n, int v, float eps, double pad_prob, double offset, int with_grad) {
    size_t nv = (size_t)n * v;
    float *logits = harness_random(nv, -6 + offset, 6 + offset, NULL);
    double *ref_logits = harness_to_double(logits, nv);
    int32_t *t = malloc((size_t)n * sizeof *t);
    int count = random_targets(t, n, v, pad_prob);
    float inv_count = count ? 1.0f / (float)count : 0.0f;

    double *ref_rows = malloc((size_t)n * sizeof *ref_rows), *ref_dx = malloc(nv * sizeof *ref_dx);
    double ref_loss = ref_cross_entropy(ref_rows, ref_dx, ref_logits, t, n, v, PAD, eps, inv_count);
    ce_out o = run_device(logits, t, n, v, eps, inv_count, with_grad);

    /* Row losses element by element: 1e-5 relative, plus the rounding of the final lse - x
     * subtraction, u (|lse| + max |x|), that any float32 evaluation carries: a row whose target
     * dominates has a loss far smaller than the terms it is the difference of (a relative measure
     * alone would fail there on correct results). Pad rows must be exactly 0. */
    double *bound = malloc((size_t)n * sizeof *bound), loss_bound = 1e-5 * fabs(ref_loss);
    for (int r = 0; r < n; r++) {
        const double *x = ref_logits + (size_t)r * v;
        double m = x[0], big = 0, sum = 0;
        for (int j = 0; j < v; j++) m = fmax(m, x[j]), big = fmax(big, fabs(x[j]));
        for (int j = 0; j < v; j++) sum += exp(x[j] - m);
        double rounding = 8 * 0x1p-24 * (fabs(m + log(sum)) + big);
        bound[r] = t[r] == PAD ? 0 : 1e-5 * fabs(ref_rows[r]) + rounding;
        if (t[r] != PAD) loss_bound += inv_count * rounding;
    }
    char what[96];
    snprintf(what, sizeof what, "loss_rows n=%d v=%d eps=%g off=%g", n, v, (double)eps, offset);
    harness_expect_bounded(what, o.loss_rows, ref_rows, bound, (size_t)n);
    snprintf(what, sizeof what, "loss n=%d v=%d eps=%g off=%g", n, v, (double)eps, offset);
    harness_expect_bounded(what, &o.loss, &ref_loss, &loss_bound, 1);
    free(bound);
    if (with_grad) { /* likewise: p - 1 at a dominant target cancels; p carries lse's rounding */
        double *gbound = malloc(nv * sizeof *gbound);
        for (int r = 0; r < n; r++) {
            const double *x = ref_logits + (size_t)r * v;
            double m = x[0], big = 0, sum = 0;
            for (int j = 0; j < v; j++) m = fmax(m, x[j]), big = fmax(big, fabs(x[j]));
            for (int j = 0; j < v; j++) sum += exp(x[j] - m);
            double lse = m + log(sum);
            for (int j = 0; j < v; j++) {
                size_t e = (size_t)r * v + j;
                gbound[e] = t[r] == PAD ? 0
                                        : 1e-5 * fabs(ref_dx[e]) +
                                              inv_count * 8 * 0x1p-24 * (1 + exp(x[j] - lse) * (fabs(lse) + big));
            }
        }
        snprintf(what, sizeof what, "dlogits n=%d v=%d eps=%g off=%g", n, v, (double)eps, offset);
        harness_expect_bounded(what, o.dlogits, ref_dx, gbound, nv);
        free(gbound);
        for (int r = 0; r < n; r++)
            if (t[r] == PAD)
                for (int j = 0; j < v; j++) ck_assert_msg(o.dlogits[(size_t)r * v + j] == 0.0f, "pad row %d", r);
    }
    free_out(&o);
    free(logits);
    free(ref_logits);
    free(t);
    free(ref_rows);
    free(ref_dx);
}

START_TEST(matches_reference) {
    const int ns[] = {1, 7, 33, 257}, vs[] = {1, 7, 259, 1000};
    const float epss[] = {0.0f, 0.1f};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (int e = 0; e < 2; e++) check_case(ns[a], vs[b], epss[e], 0.25, 0, 1);
}
END_TEST

/* Rows of 32000 take the wide work-group path. */
START_TEST(matches_reference_wide_rows) {
    const int ns[] = {1, 7, 33};
    for (int a = 0; a < 3; a++) {
        check_case(ns[a], 32000, 0.0f, 0.2, 0, 1);
        check_case(ns[a], 32000, 0.1f, 0.2, 0, 1);
    }
    check_case(5, 2049, 0.1f, 0.0, 0, 1);
}
END_TEST

/* Row lengths around the CPU walk's vector width (16): none, one and many elements past the last full
 * vector, which one more vector ending at the row's end covers, its shared lanes counted once. */
START_TEST(vector_tails) {
    const int vs[] = {15, 16, 17, 31, 47, 63};
    for (int b = 0; b < 6; b++) {
        check_case(13, vs[b], 0.1f, 0.25, 0, 1);
        check_case(7, vs[b], 0.0f, 0.0, 0, 0);
    }
}
END_TEST

/* On CPUs a work-group takes up to 16 rows and finishes their losses together: row counts below,
 * at and past a group, primes, and counts that leave the last group partly filled, with pad rows
 * among them, at row lengths around the vector width and the two vocabularies of the benchmark. */
START_TEST(row_groups) {
    const int ns[] = {1, 7, 16, 17, 131, 263, 1031}, vs[] = {1, 15, 16, 17, 259, 1000};
    for (int a = 0; a < 7; a++)
        for (int b = 0; b < 6; b++) {
            if ((long)ns[a] * vs[b] > 300000) continue; /* keeps the binary quick; 263 x 1000 runs */
            check_case(ns[a], vs[b], 0.1f, 0.3, 0, 1);
        }
    check_case(263, 259, 0.0f, 0.0, 0, 0);
    check_case(1031, 17, 0.1f, 0.5, 0, 0);
}
END_TEST

/* The GPU layouts (a work-group of 64 or 256 per row, vectors of 4 or 8, one row per group), forced
 * here so that CPU-only CI runs the code GPUs take: row lengths below, at and past a group's reach,
 * with and without a vector tail, pad rows, smoothing, loss only. */
START_TEST(gpu_layouts) {
    const clf_cross_entropy_cfg cfgs[] = {{64, 4, 1}, {256, 4, 1}, {64, 8, 1}, {64, 4, 3}};
    const int vs[] = {1, 3, 7, 64, 259, 1000, 2049};
    for (int c = 0; c < 4; c++) {
        forced_cfg = &cfgs[c];
        for (int b = 0; b < 7; b++) {
            check_case(7, vs[b], 0.1f, 0.25, 0, 1);
            check_case(1, vs[b], 0.0f, 0.0, 3.0, 1);
        }
        check_case(33, 259, 0.1f, 0.25, 0, 0);
    }
    forced_cfg = NULL;
}
END_TEST

START_TEST(large_logits_stay_finite) {
    check_case(33, 259, 0.1f, 0.1, 80, 1);
    check_case(7, 32000, 0.0f, 0.0, 80, 1);
}
END_TEST

START_TEST(loss_only_without_dlogits) {
    check_case(33, 259, 0.1f, 0.25, 0, 0);
    check_case(7, 32000, 0.1f, 0.25, 0, 0);
}
END_TEST

START_TEST(all_pad_rows_give_zero) {
    const int vs[] = {7, 259, 32000};
    for (int b = 0; b < 3; b++) {
        int n = 13, v = vs[b];
        float *logits = harness_random((size_t)n * v, -5, 5, NULL);
        int32_t t[13];
        for (int r = 0; r < n; r++) t[r] = PAD;
        ce_out o = run_device(logits, t, n, v, 0.1f, 0.0f, 1);
        ck_assert(o.loss == 0.0f && !signbit(o.loss));
        for (int r = 0; r < n; r++) ck_assert(o.loss_rows[r] == 0.0f);
        for (size_t i = 0; i < (size_t)n * v; i++) ck_assert_msg(o.dlogits[i] == 0.0f, "dlogits[%zu]", i);
        free_out(&o);
        free(logits);
    }
}
END_TEST

typedef struct fd_ctx {
    const int32_t *t;
    int n, v;
    double eps, inv_count;
} fd_ctx;

static double fd_loss(const double *x, size_t nx, void *ctx) {
    fd_ctx *c = ctx;
    double rows[16];
    (void)nx;
    return ref_cross_entropy(rows, NULL, x, c->t, c->n, c->v, PAD, c->eps, c->inv_count);
}

START_TEST(reference_gradient_matches_fd) {
    const int vs[] = {1, 7, 259};
    for (int b = 0; b < 3; b++)
        for (int e = 0; e < 2; e++) {
            int n = 5, v = vs[b];
            int32_t t[5] = {0, PAD, v - 1, v / 2 == PAD ? 0 : v / 2, PAD};
            fd_ctx c = {t, n, v, e ? 0.1 : 0.0, 1.0 / 3};
            size_t nv = (size_t)n * v;
            double *x, rows[5], *dx = malloc(nv * sizeof *dx);
            free(harness_random(nv, -4, 4, &x));
            ref_cross_entropy(rows, dx, x, t, n, v, PAD, c.eps, c.inv_count);
            double err = fd_check(fd_loss, x, nv, dx, &c, 1e-5);
            ck_assert_msg(err < 1e-7, "v=%d eps=%g: fd rel err %g", v, c.eps, err);
            free(x);
            free(dx);
        }
}
END_TEST

START_TEST(deterministic) {
    int n = 257, v = 1000;
    size_t nv = (size_t)n * v;
    float *logits = harness_random(nv, -8, 8, NULL);
    int32_t *t = malloc((size_t)n * sizeof *t);
    int count = random_targets(t, n, v, 0.1);
    float inv = 1.0f / (float)count;
    ce_out a = run_device(logits, t, n, v, 0.1f, inv, 1), b = run_device(logits, t, n, v, 0.1f, inv, 1);
    ck_assert(memcmp(a.loss_rows, b.loss_rows, (size_t)n * sizeof(float)) == 0);
    ck_assert(memcmp(a.dlogits, b.dlogits, nv * sizeof(float)) == 0);
    ck_assert(memcmp(&a.loss, &b.loss, sizeof(float)) == 0);
    free_out(&a);
    free_out(&b);
    free(logits);
    free(t);
}
END_TEST

/* A target the host failed to validate shows as NaN instead of reading past the row. */
START_TEST(out_of_range_target_is_nan) {
    int n = 3, v = 7;
    float *logits = harness_random((size_t)n * v, -1, 1, NULL);
    int32_t t[3] = {1, 9, -2};
    ce_out o = run_device(logits, t, n, v, 0.0f, 1.0f / 3, 1);
    ck_assert(isfinite(o.loss_rows[0]) && isnan(o.loss_rows[1]) && isnan(o.loss_rows[2]) && isnan(o.loss));
    for (int j = 0; j < v; j++) ck_assert(isnan(o.dlogits[v + j]) && isfinite(o.dlogits[j]));
    free_out(&o);
    free(logits);
}
END_TEST

/* The same inside a group of rows whose losses are finished together: only the bad rows turn NaN,
 * pad rows stay zero. */
START_TEST(out_of_range_target_in_a_group) {
    int n = 37, v = 259;
    float *logits = harness_random((size_t)n * v, -3, 3, NULL);
    int32_t t[37];
    for (int r = 0; r < n; r++) t[r] = r % 5 == 0 ? PAD : r % 11 == 3 ? v + r : r % 13 == 4 ? -1 : r;
    ce_out o = run_device(logits, t, n, v, 0.1f, 1.0f / 29, 1);
    for (int r = 0; r < n; r++) {
        int bad = t[r] != PAD && (t[r] < 0 || t[r] >= v);
        ck_assert_msg(bad ? isnan(o.loss_rows[r]) : t[r] == PAD ? o.loss_rows[r] == 0.0f : isfinite(o.loss_rows[r]),
                      "row %d", r);
        for (int j = 0; j < v; j++) {
            float g = o.dlogits[(size_t)r * v + j];
            ck_assert_msg(bad ? isnan(g) : t[r] == PAD ? g == 0.0f : isfinite(g), "row %d col %d", r, j);
        }
    }
    ck_assert(isnan(o.loss));
    free_out(&o);
    free(logits);
}
END_TEST

START_TEST(rejects_invalid_arguments) {
    clf_device *dev = harness_device();
    cl_mem rows = harness_poisoned(4), dx = harness_poisoned(28), x = harness_poisoned(28);
    int32_t t0[4] = {0, 1, 2, 3};
    cl_mem t = harness_upload_int(t0, 4);
    ck_assert_int_eq(clf_cross_entropy_fwd_bwd(dev, NULL, dx, x, t, 4, 7, PAD, 0, 0.25f), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "loss_rows"));
    ck_assert_int_eq(clf_cross_entropy_fwd_bwd(dev, rows, dx, NULL, t, 4, 7, PAD, 0, 0.25f), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "logits"));
    ck_assert_int_eq(clf_cross_entropy_fwd_bwd(dev, rows, dx, x, NULL, 4, 7, PAD, 0, 0.25f), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "targets"));
    ck_assert_int_eq(clf_cross_entropy_fwd_bwd(NULL, rows, dx, x, t, 4, 7, PAD, 0, 0.25f), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_cross_entropy_fwd_bwd(dev, rows, dx, x, t, 0, 7, PAD, 0, 0.25f), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_cross_entropy_fwd_bwd(dev, rows, dx, x, t, 4, -1, PAD, 0, 0.25f), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_cross_entropy_fwd_bwd(dev, rows, dx, x, t, 4, 7, PAD, -0.1f, 0.25f), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "label_smoothing"));
    ck_assert_int_eq(clf_cross_entropy_fwd_bwd(dev, rows, dx, x, t, 4, 7, PAD, NAN, 0.25f), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_cross_entropy_fwd_bwd(dev, rows, dx, x, t, 4, 7, PAD, 0, -1.0f), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "inv_count"));
    ck_assert_int_eq(clf_cross_entropy_fwd_bwd(dev, rows, dx, x, t, 4, 7, PAD, 0, NAN), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_loss_reduce(dev, NULL, rows, 4, 0.25f), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "loss"));
    ck_assert_int_eq(clf_loss_reduce(dev, rows, NULL, 4, 0.25f), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "loss_rows"));
    ck_assert_int_eq(clf_loss_reduce(dev, rows, rows, 0, 0.25f), CLF_ERR_INVALID_ARG);
    const clf_cross_entropy_cfg bad[] = {{3, 4, 1}, {64, 5, 1}, {1, 16, 17}, {-2, 0, 0}};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(clf_cross_entropy_fwd_bwd_cfg(dev, rows, dx, x, t, 4, 5, PAD, 0.1f, 0.25f, &bad[i]),
                         CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_loss_reduce(dev, rows, rows, 4, INFINITY), CLF_ERR_INVALID_ARG);
    harness_release(rows);
    harness_release(dx);
    harness_release(x);
    harness_release(t);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("cross_entropy");
    TCase *tc = tcase_create("cross_entropy");
    tcase_set_timeout(tc, 900);
    tcase_add_checked_fixture(tc, default_cfg, NULL);
    tcase_add_test(tc, matches_reference);
    tcase_add_test(tc, matches_reference_wide_rows);
    tcase_add_test(tc, vector_tails);
    tcase_add_test(tc, row_groups);
    tcase_add_test(tc, gpu_layouts);
    tcase_add_test(tc, large_logits_stay_finite);
    tcase_add_test(tc, loss_only_without_dlogits);
    tcase_add_test(tc, all_pad_rows_give_zero);
    tcase_add_test(tc, reference_gradient_matches_fd);
    tcase_add_test(tc, deterministic);
    tcase_add_test(tc, out_of_range_target_is_nan);
    tcase_add_test(tc, out_of_range_target_in_a_group);
    tcase_add_test(tc, rejects_invalid_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
