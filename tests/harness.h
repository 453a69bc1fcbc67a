/* What every test shares: the device (one context per test binary), the seed, random inputs,
 * poisoned outputs and the comparison that prints index, values, worst error and seed. */
#ifndef CLFORMER_TEST_HARNESS_H
#define CLFORMER_TEST_HARNESS_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "clformer/device.h"
#include "clformer/status.h"

/* Assert a clf_status is CLF_OK, showing the library's message otherwise. */
#define CLF_CK(expr)                                                                             \
    do {                                                                                         \
        clf_status st_ = (expr);                                                                 \
        ck_assert_msg(st_ == CLF_OK, "%s -> %s: %s (seed %llu)", #expr, clf_status_name(st_),   \
                      clf_errmsg(), (unsigned long long)harness_seed());                        \
    } while (0)

/* The device under test (CLFORMER_DEVICE selects it), opened on first use. A binary that finds no
 * OpenCL device at all exits 77, meson's SKIP. */
clf_device *harness_device(void);

/* The run's seed: CLF_TEST_SEED or the clock; printed once. */
uint64_t harness_seed(void);
/* Uniform in [lo, hi) and integers in [0, n), from the seeded generator. */
double harness_uniform(double lo, double hi);
uint32_t harness_below(uint32_t n);
/* n random floats in [lo, hi) (malloc'ed) and the same values as doubles, when ref is non-NULL. */
float *harness_random(size_t n, double lo, double hi, double **ref);
double *harness_to_double(const float *x, size_t n);

/* A device buffer holding x, and one of n floats filled with NaN so an unwritten element shows. */
cl_mem harness_upload(const float *x, size_t n);
cl_mem harness_upload_int(const int32_t *x, size_t n);
cl_mem harness_poisoned(size_t n);
/* Read n floats back (malloc'ed). */
float *harness_download(cl_mem buf, size_t n);
void harness_release(cl_mem buf);

/* ||got - ref|| / ||ref|| (||got - ref|| when ref is all zero); infinite when got has a NaN. */
double harness_rel_err(const float *got, const double *ref, size_t n);
/* Fail unless rel_err <= tol, naming what, the worst element (index, got, ref) and the seed. */
void harness_expect_close(const char *what, const float *got, const double *ref, size_t n, double tol);

/* Fail unless |got[i] - ref[i]| <= bound[i] for every i (bound 0: exact; NaN must match NaN), naming
 * what, the element that exceeds its bound by the largest factor and the seed. For results whose
 * error is bounded a priori, like a dot product's by k * u * sum |a_i b_i|, where a relative norm
 * would fail on legitimate cancellation. */
void harness_expect_bounded(const char *what, const float *got, const double *ref, const double *bound, size_t n);

/* Run a suite without forking (OpenCL contexts do not survive fork) and return the exit code. */
int harness_main(Suite *suite);

#endif
