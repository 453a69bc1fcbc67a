/* Dropout masks on the device against the host twin of Philox (src/philox.c): bit-identical keep
 * decisions for many (index, site, step, seed), indices up to 2^32 - 1 and not multiples of 4;
 * the same results for every work-group size, for the four-per-work-item body and the scalar tail,
 * the 64-per-work-item wide kernel (16-lane Philox), and for a tensor processed in pieces. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clformer/philox.h"
#include "harness.h"
#include "ops/elementwise.h"

static uint64_t random_seed64(void) {
    return (uint64_t)harness_below(UINT32_MAX) << 32 | harness_below(UINT32_MAX);
}

static float *filled(size_t n, float v) {
    float *x = malloc(n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n; i++) x[i] = v;
    return x;
}

/* got[j] must be 1/(1-p) where the host keeps mask index mask0 + j, else 0: exactly. */
static void expect_mask(const char *what, const float *got, size_t n, const clf_dropout *d, uint32_t mask0) {
    uint32_t t = clf_dropout_threshold(d->p);
    float scale = 1.0f / (1.0f - d->p);
    for (size_t j = 0; j < n; j++) {
        uint32_t i = mask0 + (uint32_t)j;
        float want = clf_dropout_keep(i, d->site, d->step, d->seed, t) ? scale : 0.0f;
        ck_assert_msg(got[j] == want,
                      "%s: index %u (site %u, step %u, seed 0x%016llx, p %g): device %.9g, host %.9g (seed %llu)",
                      what, i, d->site, d->step, (unsigned long long)d->seed, (double)d->p, (double)got[j],
                      (double)want, (unsigned long long)harness_seed());
    }
}

START_TEST(device_mask_matches_host) {
    clf_device *dev = harness_device();
    const size_t n = 1031; /* not a multiple of 4: the body and its tail are both checked */
    float *ones = filled(n, 1.0f), *zeros = filled(n, 0.0f);
    cl_mem sb = harness_upload(ones, n), yb = harness_poisoned(n), db = harness_poisoned(n);
    const float ps[] = {0.1f, 0.5f, 0.9f};
    for (int c = 0; c < 48; c++) {
        clf_dropout d = {c < 3 ? ps[c] : (float)harness_uniform(0.01, 0.99), random_seed64(), harness_below(UINT32_MAX),
                         harness_below(UINT32_MAX)};
        if (c % 8 == 1) d.seed &= 0xFFFFFFFFull; /* zero high word */
        if (c % 8 == 2) d.seed <<= 32;           /* zero low word */
        /* mask indices from 0, from a random multiple of 4, and ending at 2^32 - 1 (vec 1: an odd start) */
        const int vecs[3] = {1, 4, 64};
        int vec = vecs[c % 3];
        const char *kind = vec == 1 ? "tail only" : vec == 4 ? "body" : "wide";
        uint32_t starts[3] = {0, harness_below(UINT32_MAX - 2 * n) & ~3u, (uint32_t)(0x100000000ull - n)};
        if (vec != 1) starts[2] &= ~3u;
        for (int k = 0; k < 3; k++) {
            clf_elementwise_cfg cfg = {0, vec, starts[k], 0};
            CLF_CK(clf_residual_dropout_fwd_cfg(dev, yb, NULL, sb, n, &d, &cfg));
            float *y = harness_download(yb, n);
            char what[32];
            snprintf(what, sizeof what, "fwd, %s", kind);
            expect_mask(what, y, n, &d, starts[k]);
            free(y);
            /* backward regenerates the same mask: 0 + drop(1) */
            CLF_CK(clf_buffer_write(dev, db, 0, n * sizeof(float), zeros));
            CLF_CK(clf_residual_dropout_bwd_cfg(dev, NULL, db, sb, n, &d, &cfg));
            float *g = harness_download(db, n);
            snprintf(what, sizeof what, "bwd, %s", kind);
            expect_mask(what, g, n, &d, starts[k]);
            free(g);
        }
    }
    free(ones), free(zeros);
    harness_release(sb), harness_release(yb), harness_release(db);
}
END_TEST

/* Every (work-group size, vector width) gives the bits of the default launch, forward and backward. */
START_TEST(independent_of_launch_shape) {
    clf_device *dev = harness_device();
    const size_t n = 100003;
    size_t max_wg = clf_device_get_info(dev)->max_work_group;
    const clf_elementwise_cfg cfgs[] = {{1, 4, 0, 0},   {13, 4, 0, 0},  {256, 4, 0, 0},
                                        {13, 1, 0, 0},  {64, 1, 0, 0},  {256, 1, 0, 0},
                                        {1, 64, 0, 0},  {13, 64, 0, 0}, {64, 64, 0, 0}, {256, 64, 0, 0}};
    clf_dropout d = {0.3f, random_seed64(), harness_below(1000), harness_below(100)};
    float *x = harness_random(n, -2, 2, NULL), *s = harness_random(n, -2, 2, NULL);
    float *dx0 = harness_random(n, -1, 1, NULL), *ds0 = harness_random(n, -1, 1, NULL);
    cl_mem xb = harness_upload(x, n), sb = harness_upload(s, n), yb = harness_poisoned(n);
    cl_mem dxb = harness_upload(dx0, n), dsb = harness_upload(ds0, n);
    CLF_CK(clf_residual_dropout_fwd(dev, yb, xb, sb, n, &d));
    CLF_CK(clf_residual_dropout_bwd(dev, dxb, dsb, sb, n, &d));
    float *y_ref = harness_download(yb, n), *dx_ref = harness_download(dxb, n), *ds_ref = harness_download(dsb, n);
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        if (cfgs[c].wg > max_wg) continue;
        CLF_CK(clf_buffer_fill_float(dev, yb, 0, n, NAN));
        CLF_CK(clf_buffer_write(dev, dxb, 0, n * sizeof(float), dx0));
        CLF_CK(clf_buffer_write(dev, dsb, 0, n * sizeof(float), ds0));
        CLF_CK(clf_residual_dropout_fwd_cfg(dev, yb, xb, sb, n, &d, &cfgs[c]));
        CLF_CK(clf_residual_dropout_bwd_cfg(dev, dxb, dsb, sb, n, &d, &cfgs[c]));
        float *y = harness_download(yb, n), *dx = harness_download(dxb, n), *ds = harness_download(dsb, n);
        ck_assert_msg(memcmp(y, y_ref, n * sizeof *y) == 0, "fwd differs at wg %zu, vec %d", cfgs[c].wg,
                      cfgs[c].vec);
        ck_assert_msg(memcmp(dx, dx_ref, n * sizeof *dx) == 0, "bwd dx differs at wg %zu, vec %d", cfgs[c].wg,
                      cfgs[c].vec);
        ck_assert_msg(memcmp(ds, ds_ref, n * sizeof *ds) == 0, "bwd ds differs at wg %zu, vec %d", cfgs[c].wg,
                      cfgs[c].vec);
        free(y), free(dx), free(ds);
    }
    free(y_ref), free(dx_ref), free(ds_ref), free(x), free(s), free(dx0), free(ds0);
    harness_release(xb), harness_release(sb), harness_release(yb), harness_release(dxb), harness_release(dsb);
}
END_TEST

/* A tensor processed in pieces with mask0 = the piece's offset gives the bits of one launch. */
START_TEST(pieces_match_whole) {
    clf_device *dev = harness_device();
    const size_t n = 4099, cut = 1028; /* wide to cut (a multiple of 4), body and tail to cut + 5, then scalar */
    clf_dropout d = {0.5f, random_seed64(), 7, 3};
    float *s = harness_random(n, -2, 2, NULL);
    cl_mem sb = harness_upload(s, n), yb = harness_poisoned(n), pb = harness_poisoned(n);
    CLF_CK(clf_residual_dropout_fwd(dev, yb, NULL, sb, n, &d));
    float *whole = harness_download(yb, n);
    const size_t starts[] = {0, cut, cut + 5, n};
    for (int k = 0; k < 3; k++) {
        size_t off = starts[k], len = starts[k + 1] - off;
        CLF_CK(clf_buffer_write(dev, pb, 0, len * sizeof *s, s + off));
        clf_elementwise_cfg cfg = {0, off % 4 ? 1 : k ? 4 : 64, (uint32_t)off, 0};
        CLF_CK(clf_residual_dropout_fwd_cfg(dev, pb, NULL, pb, len, &d, &cfg)); /* in place */
        float *got = harness_download(pb, len);
        ck_assert_msg(memcmp(got, whole + off, len * sizeof *got) == 0, "piece at %zu differs", off);
        free(got);
    }
    free(whole), free(s);
    harness_release(sb), harness_release(yb), harness_release(pb);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("dropout");
    TCase *tc = tcase_create("dropout");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, device_mask_matches_host);
    tcase_add_test(tc, independent_of_launch_shape);
    tcase_add_test(tc, pieces_match_whole);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
