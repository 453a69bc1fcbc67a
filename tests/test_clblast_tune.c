/* CLBlast tuning (src/gemm_clblast_tune.h) on the test device with one candidate besides CLBlast's own:
 * the first call measures and writes the file, the next start applies it without measuring, CLBlast's
 * SGEMM stays correct against a float64 reference after the override at awkward sizes (both of
 * CLBlast's paths), corrupt and stale files are measured again, the switches behave. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gemm_clblast_tune.h"
#include "harness.h"
#include "ref/ref_linear.h"

static char g_dir[256];

static void rm_dir(void) {
    if (!g_dir[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    g_dir[0] = '\0';
}

/* The device opened first (the driver's own cache stays where the test environment put it), then a
 * fresh cache folder and a fresh process's view of the tuning. */
static void setup(void) {
    harness_device();
    rm_dir();
    snprintf(g_dir, sizeof g_dir, "/tmp/clformer-test-clblast-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    setenv("XDG_CACHE_HOME", g_dir, 1);
    unsetenv("CLFORMER_NO_CACHE");
    setenv("CLFORMER_CLBLAST_TUNE", "on", 1);
    /* one set besides CLBlast's own: each is a build of seconds on PoCL (20 s cold on a loaded machine) */
    clf_clblast_tune_limit(1, 120e3);
    clf_clblast_tune_forget();
}

static void teardown(void) {
    rm_dir();
    clf_clblast_tune_limit(0, 0);
    clf_clblast_tune_forget();
    unsetenv("CLFORMER_CLBLAST_TUNE");
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 4096);
    size_t n = fread(buf, 1, 4095, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void spit(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static clf_clblast_tune_stats stats(void) {
    clf_clblast_tune_stats s;
    clf_clblast_tune_stats_get(&s);
    return s;
}

/* CLBlast (tuned first, through clf_gemm_clblast) against ref_gemm: padded leading dimensions, C
 * pre-filled at random (beta != 0) or poisoned with NaN (beta = 0). */
static void expect_gemm(bool ta, bool tb, size_t m, size_t n, size_t k, size_t batch, float alpha, float beta) {
    size_t lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1, ldc = n + 3;
    size_t sa = (ta ? k : m) * lda, sb = (tb ? n : k) * ldb, sc = m * ldc;
    double *ra, *rb, *rc;
    float *a = harness_random(batch * sa, -1, 1, &ra), *b = harness_random(batch * sb, -1, 1, &rb);
    float *c = harness_random(batch * sc, -1, 1, &rc);
    cl_mem da = harness_upload(a, batch * sa), db = harness_upload(b, batch * sb);
    cl_mem dc = beta == 0.0f ? harness_poisoned(batch * sc) : harness_upload(c, batch * sc);
    if (beta == 0.0f) /* the padding was NaN too, and must stay so: the reference says the same */
        for (size_t i = 0; i < batch * sc; i++) rc[i] = NAN;
    for (size_t e = 0; e < batch; e++)
        ref_gemm(ta, tb, m, n, k, alpha, ra + e * sa, lda, rb + e * sb, ldb, beta, rc + e * sc, ldc);
    clf_gemm_shape s = {.g = {.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k, .alpha = alpha, .beta = beta,
                              .a = da, .lda = lda, .b = db, .ldb = ldb, .c = dc, .ldc = ldc, .batch = batch,
                              .stride_a = sa, .stride_b = sb, .stride_c = sc},
                        .batch = batch, .lda = lda, .ldb = ldb, .ldc = ldc};
    CLF_CK(clf_gemm_clblast(harness_device(), &s));
    float *got = harness_download(dc, batch * sc);
    /* the padding's NaN (beta = 0) compared as such, the matrices by relative norm */
    float *gm = malloc(batch * m * n * sizeof *gm);
    double *rm = malloc(batch * m * n * sizeof *rm);
    size_t at = 0;
    for (size_t e = 0; e < batch; e++)
        for (size_t i = 0; i < m; i++) {
            for (size_t j = 0; j < ldc; j++) {
                size_t x = e * sc + i * ldc + j;
                if (j < n) {
                    gm[at] = got[x];
                    rm[at++] = rc[x];
                } else if (beta == 0.0f) {
                    ck_assert_msg(got[x] != got[x], "padding of C written at %zu", x);
                } else {
                    ck_assert_msg(got[x] == c[x], "padding of C changed at %zu", x);
                }
            }
        }
    char what[96];
    snprintf(what, sizeof what, "CLBlast tuned %c%c %zux%zux%zu batch %zu", ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k,
             batch);
    harness_expect_close(what, gm, rm, at, 1e-4);
    free(gm);
    free(rm);
    free(got);
    harness_release(da);
    harness_release(db);
    harness_release(dc);
    free(a);
    free(b);
    free(c);
    free(ra);
    free(rb);
    free(rc);
}

START_TEST(measures_then_loads_and_stays_correct) {
    clf_device *dev = harness_device();
    char path[4400];
    clf_clblast_tune_file(dev, path, sizeof path);
    ck_assert_msg(strstr(path, "/clblast-") && strstr(path, ".txt"), "file %s", path);
    ck_assert_int_eq(access(path, F_OK), -1);

    CLF_CK(clf_clblast_tune(dev));
    clf_clblast_tune_stats s = stats();
    ck_assert_int_eq(s.measured, 1);
    ck_assert_int_eq(s.loaded, 0);
    ck_assert_int_eq(s.tried, 2); /* CLBlast's own and one set */
    ck_assert(s.default_ms > 0 && s.chosen_ms > 0 && s.chosen_ms <= s.default_ms);
    ck_assert(!clf_clblast_tune_pristine(dev));
    fprintf(stderr, "CLBlast tuning on %s: %.1f s, CLBlast's own %.1f ms, chosen '%s' %.1f ms\n",
            clf_device_get_info(dev)->name, s.ms / 1000, s.default_ms, s.choice, s.chosen_ms);
    char *text = slurp(path);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(!strncmp(text, "clformer-clblast-tune 1 ", 24), "file starts: %.60s", text);
    char want[64];
    snprintf(want, sizeof want, "\nchoice %s\n", s.choice);
    ck_assert_msg(strstr(text, want), "no '%s' in %s", want + 1, text);
    free(text);

    /* the same call again: nothing; a fresh start: the file, no measurement */
    CLF_CK(clf_clblast_tune(dev));
    ck_assert_int_eq(stats().measured, 1);
    clf_clblast_tune_forget();
    CLF_CK(clf_clblast_tune(dev));
    s = stats();
    ck_assert_int_eq(s.measured, 0);
    ck_assert_int_eq(s.loaded, 1);
    ck_assert_int_eq(s.tried, 0);

    /* the overridden CLBlast: its direct path (small) and the indirect one (from 512^3 on) */
    const size_t sizes[][3] = {{1, 1, 1}, {7, 13, 33}, {33, 7, 13}, {257, 13, 7}, {13, 257, 33}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int t = (int)(i % 4);
        expect_gemm(t & 1, t >> 1 & 1, sizes[i][0], sizes[i][1], sizes[i][2], 1, 0.75f, i % 2 ? 0.0f : -0.5f);
    }
    expect_gemm(false, true, 19, 37, 23, 3, 1.5f, 0.25f);
    expect_gemm(false, false, 577, 519, 513, 1, 1.0f, 0.0f);
    expect_gemm(true, true, 513, 521, 515, 1, -0.5f, 0.5f);
}
END_TEST

/* Each measurement here times CLBlast's own set only (a budget spent at once): a few seconds. */
START_TEST(bad_files_measure_again) {
    clf_device *dev = harness_device();
    char path[4400];
    clf_clblast_tune_file(dev, path, sizeof path);
    clf_clblast_tune_limit(1, 1e-3);
    CLF_CK(clf_clblast_tune(dev));
    ck_assert_int_eq(stats().measured, 1);
    char *text = slurp(path), head[64];
    ck_assert_ptr_nonnull(text);
    ck_assert(sscanf(text, "%63[^\n]", head) == 1 && strlen(head) == 40);
    free(text);
    /* the set "cpu" as the table has it, then with one value changed, then incomplete */
    const char *cpu = "Xgemm 0 1 32 2 16 16 64 8 8 64 0 0 0 0 4 4\n"
                      "XgemmDirect 2 8 8 8 8 1 1 4 4 32\nGemmRoutine 512\n";
    const char *cpu_changed = "Xgemm 0 1 32 2 16 16 64 8 8 64 0 0 0 0 4 2\n"
                              "XgemmDirect 2 8 8 8 8 1 1 4 4 32\nGemmRoutine 512\n";
    char good[512], changed[512], cut[512], other[512];
    snprintf(good, sizeof good, "%s\n# by hand\nchoice cpu\n%s", head, cpu);
    snprintf(changed, sizeof changed, "%s\nchoice cpu\n%s", head, cpu_changed);
    snprintf(cut, sizeof cut, "%s\nchoice cpu\nXgemm 0 1 32 2 16 16 64 8 8 64 0 0 0 0 4 4\n", head);
    snprintf(other, sizeof other, "%s\nchoice gpu-of-the-future\n", head);
    char trailing[512]; /* a value too many */
    snprintf(trailing, sizeof trailing, "%s\nchoice cpu\nXgemm 0 1 32 2 16 16 64 8 8 64 0 0 0 0 4 4 4\n", head);
    const struct {
        const char *text;
        bool loads;
    } files[] = {
        {good, true},
        {changed, false},
        {cut, false},
        {other, false},
        {trailing, false},
        {"garbage\n", false},
        {"", false},
        {"clformer-clblast-tune 1 0123456789abcdef\nchoice clblast\n", false}, /* another candidate table */
        {"clformer-clblast-tune 7 0000000000000000\nchoice clblast\n", false}, /* another version */
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        spit(path, files[i].text);
        clf_clblast_tune_forget();
        CLF_CK(clf_clblast_tune(dev));
        clf_clblast_tune_stats s = stats();
        ck_assert_msg(s.measured == !files[i].loads && s.loaded == files[i].loads,
                      "file %zu: measured %d loaded %d", i, s.measured, s.loaded);
        if (files[i].loads) ck_assert_str_eq(s.choice, "cpu");
        text = slurp(path);
        ck_assert_ptr_nonnull(text);
        ck_assert_msg(!strncmp(text, head, strlen(head)), "file %zu not rewritten: %.60s", i, text);
        free(text);
    }
}
END_TEST

START_TEST(budget_and_switches) {
    clf_device *dev = harness_device();
    bool on;
    const struct {
        const char *clblast, *all;
        int on;
    } cases[] = {{"on", "off", 1}, {"off", NULL, 0}, {NULL, "off", 0}, {"auto", NULL, -1}, {"", NULL, -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].clblast) setenv("CLFORMER_CLBLAST_TUNE", cases[i].clblast, 1);
        else unsetenv("CLFORMER_CLBLAST_TUNE");
        if (cases[i].all) setenv("CLFORMER_TUNE", cases[i].all, 1);
        else unsetenv("CLFORMER_TUNE");
        CLF_CK(clf_clblast_tune_enabled(dev, &on));
        bool want = cases[i].on < 0 ? clf_device_get_info(dev)->is_gpu : cases[i].on;
        ck_assert_msg(on == want, "case %zu: %d", i, on);
    }
    setenv("CLFORMER_CLBLAST_TUNE", "sometimes", 1);
    ck_assert_int_eq(clf_clblast_tune_enabled(dev, &on), CLF_ERR_INVALID_ARG);
    ck_assert_msg(strstr(clf_errmsg(), "auto, on or off"), "%s", clf_errmsg());
    setenv("CLFORMER_TUNE", "off", 1); /* as the suite runs */

    /* off: nothing read, measured or written */
    setenv("CLFORMER_CLBLAST_TUNE", "off", 1);
    CLF_CK(clf_clblast_tune(dev));
    ck_assert_int_eq(stats().measured + stats().loaded, 0);
    char path[4400];
    clf_clblast_tune_file(dev, path, sizeof path);
    ck_assert_int_eq(access(path, F_OK), -1);

    /* a budget spent by CLBlast's own timing: no set tried, CLBlast's own kept and written */
    setenv("CLFORMER_CLBLAST_TUNE", "on", 1);
    clf_clblast_tune_forget();
    clf_clblast_tune_limit(0, 1e-3);
    CLF_CK(clf_clblast_tune(dev));
    clf_clblast_tune_stats s = stats();
    ck_assert_int_eq(s.measured, 1);
    ck_assert_int_eq(s.tried, 1);
    ck_assert_str_eq(s.choice, "clblast");
    char *text = slurp(path);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(strstr(text, "\nchoice clblast\n") && !strstr(text, "Xgemm"), "%s", text);
    free(text);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("clblast_tune");
    TCase *tc = tcase_create("clblast_tune");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, measures_then_loads_and_stays_correct);
    tcase_add_test(tc, bad_files_measure_again);
    tcase_add_test(tc, budget_and_switches);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
