#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ref/ref_error.h"

/* Built with LeakSanitizer (the sanitizer suite)? */
#if defined(__SANITIZE_ADDRESS__)
#define HARNESS_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define HARNESS_LSAN 1
#endif
#endif
#ifdef HARNESS_LSAN
#include <sanitizer/lsan_interface.h>
#endif

static clf_device *g_device;
static uint64_t g_seed, g_state;
static int g_seeded;

uint64_t harness_seed(void) {
    if (!g_seeded) {
        const char *s = getenv("CLF_TEST_SEED");
        g_seed = s && *s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
        g_state = g_seed ? g_seed : 0x9E3779B97F4A7C15ull;
        g_seeded = 1;
        fprintf(stderr, "test seed %llu (set CLF_TEST_SEED to repeat)\n", (unsigned long long)g_seed);
    }
    return g_seed;
}

static uint64_t next_u64(void) { /* splitmix64 */
    harness_seed();
    uint64_t z = (g_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double harness_uniform(double lo, double hi) { return lo + (hi - lo) * (double)(next_u64() >> 11) * 0x1p-53; }
uint32_t harness_below(uint32_t n) { return n ? (uint32_t)(next_u64() % n) : 0; }

float *harness_random(size_t n, double lo, double hi, double **ref) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n; i++) x[i] = (float)harness_uniform(lo, hi);
    if (ref) *ref = harness_to_double(x, n);
    return x;
}

double *harness_to_double(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

clf_device *harness_device(void) {
    if (g_device) return g_device;
    clf_status st = clf_device_open(NULL, &g_device);
    if (st == CLF_ERR_NO_DEVICE) {
        fprintf(stderr, "SKIP: %s\n", clf_errmsg());
        exit(77);
    }
    ck_assert_msg(st == CLF_OK, "opening the device: %s", clf_errmsg());
    return g_device;
}

cl_mem harness_upload(const float *x, size_t n) {
    cl_mem m;
    CLF_CK(clf_buffer_alloc(harness_device(), (n ? n : 1) * sizeof(float), "test input", &m));
    CLF_CK(clf_buffer_write(harness_device(), m, 0, n * sizeof(float), x));
    return m;
}

cl_mem harness_upload_int(const int32_t *x, size_t n) {
    cl_mem m;
    CLF_CK(clf_buffer_alloc(harness_device(), (n ? n : 1) * sizeof(int32_t), "test input", &m));
    CLF_CK(clf_buffer_write(harness_device(), m, 0, n * sizeof(int32_t), x));
    return m;
}

cl_mem harness_poisoned(size_t n) {
    cl_mem m;
    CLF_CK(clf_buffer_alloc(harness_device(), (n ? n : 1) * sizeof(float), "test output", &m));
    CLF_CK(clf_buffer_fill_float(harness_device(), m, 0, n ? n : 1, NAN));
    return m;
}

float *harness_download(cl_mem buf, size_t n) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    CLF_CK(clf_buffer_read(harness_device(), buf, 0, n * sizeof(float), x));
    return x;
}

void harness_release(cl_mem buf) { clf_buffer_release(harness_device(), buf); }

double harness_rel_err(const float *got, const double *ref, size_t n) { return ref_rel_err(got, ref, n); }

void harness_expect_close(const char *what, const float *got, const double *ref, size_t n, double tol) {
    double err = harness_rel_err(got, ref, n);
    if (err <= tol) return;
    size_t worst = 0;
    double wd = -1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (isnan(d)) d = INFINITY;
        if (d > wd) {
            wd = d;
            worst = i;
        }
    }
    ck_abort_msg("%s: relative error %.3g > %.3g over %zu elements; worst at %zu: got %.9g, ref %.9g "
                 "(seed %llu)",
                 what, err, tol, n, worst, n ? (double)got[worst] : 0.0, n ? ref[worst] : 0.0,
                 (unsigned long long)harness_seed());
}

void harness_expect_bounded(const char *what, const float *got, const double *ref, const double *bound, size_t n) {
    size_t worst = n;
    double worst_ratio = 1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]), ratio;
        if (isnan(ref[i]) && isnan(got[i])) continue;
        if (isnan(d) || isinf(d))
            ratio = INFINITY;
        else if (d == 0)
            continue;
        else
            ratio = bound[i] > 0 ? d / bound[i] : INFINITY;
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            worst = i;
        }
    }
    if (worst == n) return;
    ck_abort_msg("%s: element %zu is off by %.3g times its error bound %.3g: got %.9g, ref %.9g (seed %llu)", what,
                 worst, worst_ratio, bound[worst], (double)got[worst], ref[worst],
                 (unsigned long long)harness_seed());
}

int harness_main(Suite *suite) {
    harness_seed();
    SRunner *sr = srunner_create(suite);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (g_device) clf_device_free(g_device);
    g_device = NULL;
#ifdef HARNESS_LSAN
    /* The leak check now, while the driver's threads sit idle, instead of at exit, where they are torn
     * down while LeakSanitizer stops the world and its tracer now and then dies of it ("Tracer caught
     * signal 11", a known sanitizer-runtime flake). The check is the same; the exit one is skipped. */
    __lsan_do_leak_check();
#endif
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
