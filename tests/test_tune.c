/* Launch-configuration tuning (src/tune.h): measured once, written to the cache folder and read back
 * by the next start without timing; corrupt files ignored and rewritten; CLFORMER_TUNE=off measures
 * nothing; budgets hold; only valid candidates run. Then the tuned ops: the first AUTO call, which
 * measures, gives the results of a forced configuration and leaves the caller's buffers alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clformer/gemm.h"
#include "harness.h"
#include "ops/attention.h"
#include "ops/linear.h"
#include "tune.h"
#include "host_util.h"

/* ---- a fake op: candidate c sleeps ms[c] and counts its runs ---- */

typedef struct fake {
    double ms[CLF_TUNE_MAX_CANDIDATES];
    int runs[CLF_TUNE_MAX_CANDIDATES];
    int total;
    int fail; /* candidate that returns an error, -1: none */
} fake;

static clf_status fake_run(clf_device *dev, void *ctx, int c) {
    (void)dev;
    fake *f = ctx;
    f->runs[c]++;
    f->total++;
    if (c == f->fail) return CLF_ERROR(CLF_ERR_OPENCL, "fake candidate %d: CL_OUT_OF_RESOURCES", c);
    struct timespec ts = {0, (long)(f->ms[c] * 1e6)};
    nanosleep(&ts, NULL);
    return CLF_OK;
}

static char g_dir[256];

/* A fresh, empty cache folder and a fresh process's state (tests must not depend on earlier runs).
 * The device is opened first, so the driver keeps its own cache where the test environment put it. */
static void fresh_start(void) {
    harness_device();
    if (g_dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        ck_assert_int_eq(system(cmd), 0);
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/clformer-test-tune-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    setenv("XDG_CACHE_HOME", g_dir, 1);
    unsetenv("CLFORMER_NO_CACHE");
    setenv("CLFORMER_TUNE", "on", 1);
    clf_tune_set_budget(0, 0);
    clf_tune_forget();
}

static void teardown(void) {
    if (g_dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
        g_dir[0] = '\0';
    }
    clf_tune_set_budget(0, 0);
    clf_tune_forget();
}

static clf_tune_request request(const char *key, fake *f, int n, int fallback) {
    return (clf_tune_request){key, NULL, n, fallback, 0, fake_run, f};
}

static char *slurp(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void write_file(const char *path, const char *text, size_t len) {
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/clformer", g_dir);
    mkdir(dir, 0755);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(text, 1, len, fp), len);
    fclose(fp);
}

/* Every line of the file is a comment or a well-formed entry. */
static void expect_clean_file(const char *path, const char *key) {
    char *text = slurp(path);
    ck_assert_msg(text != NULL, "no tuning file %s", path);
    ck_assert_msg(strstr(text, key) != NULL, "%s lacks '%s':\n%s", path, key, text);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned long long src;
        int n, c, off = -1;
        double best, spent;
        bool ok = line[0] == '#' ||
                  (sscanf(line, "%16llx %d %d %lf %lf %n", &src, &n, &c, &best, &spent, &off) == 5 && off > 0);
        ck_assert_msg(ok, "malformed line left in %s: '%s'", path, line);
    }
    free(text);
}

START_TEST(measured_once_then_read_from_file) {
    fresh_start();
    clf_device *dev = harness_device();
    fake f = {.ms = {20, 5, 30}, .fail = -1};
    clf_tune_request r = request("fake op n=64", &f, 3, 0);
    int choice = -1;
    CLF_CK(clf_tune_choose(dev, &r, &choice));
    ck_assert_int_eq(choice, 1);
    ck_assert_int_gt(f.runs[0], 1); /* warm-up and timed runs */
    ck_assert_int_gt(f.runs[1], 1);
    ck_assert_int_ge(f.runs[2], 1);
    char path[4400];
    clf_tune_file(dev, path, sizeof path);
    ck_assert_str_ne(path, "");
    expect_clean_file(path, "fake op n=64");

    int before = f.total;
    CLF_CK(clf_tune_choose(dev, &r, &choice)); /* remembered in memory */
    ck_assert_int_eq(f.total, before);
    ck_assert_int_eq(choice, 1);

    clf_tune_forget(); /* the next start: from the file, no timing */
    CLF_CK(clf_tune_choose(dev, &r, &choice));
    ck_assert_int_eq(f.total, before);
    ck_assert_int_eq(choice, 1);
    clf_tune_stats st;
    clf_tune_stats_get(&st);
    ck_assert_int_eq(st.loaded, 1);
    ck_assert_int_eq(st.measured, 0);
    ck_assert_uint_eq(st.runs, 0);

    /* another candidate count (the op's list changed) is measured afresh */
    clf_tune_request r4 = request("fake op n=64", &f, 4, 0);
    f.ms[3] = 1;
    CLF_CK(clf_tune_choose(dev, &r4, &choice));
    ck_assert_int_gt(f.total, before);
    ck_assert_int_eq(choice, 3);
    teardown();
}
END_TEST

/* A choice written by hand is taken as it stands: the reader does not depend on the writer's run. */
START_TEST(reads_a_written_choice) {
    fresh_start();
    clf_device *dev = harness_device();
    char path[4400];
    clf_tune_file(dev, path, sizeof path);
    const char *text = "# comment\n0000000000000000 3 2 1.0 5.0 fake op n=128\n";
    write_file(path, text, strlen(text));
    fake f = {.ms = {1, 1, 1}, .fail = -1};
    clf_tune_request r = request("fake op n=128", &f, 3, 0);
    int choice = -1;
    CLF_CK(clf_tune_choose(dev, &r, &choice));
    ck_assert_int_eq(choice, 2);
    ck_assert_int_eq(f.total, 0);
    /* a stored choice that is not valid here is measured again, among the valid ones */
    clf_tune_forget();
    r.valid = 1u << 0 | 1u << 1;
    CLF_CK(clf_tune_choose(dev, &r, &choice));
    ck_assert_int_gt(f.total, 0);
    ck_assert_int_lt(choice, 2);
    ck_assert_int_eq(f.runs[2], 0);
    teardown();
}
END_TEST

START_TEST(corrupt_or_truncated_file_is_ignored_and_rewritten) {
    static const char *const bad[] = {
        "0000000000000000 3 1 1.0 5.0 fake op n=256", /* truncated: no newline */
        "0000000000000000 3 9 1.0 5.0 fake op n=256\n", /* choice out of range */
        "0000000000000000 0 0 1.0 5.0 fake op n=256\n", /* no candidates */
        "0000000000000000 3 1 nan 5.0 fake op n=256\n", /* not a time */
        "zzzz 3 1 1.0 5.0 fake op n=256\n",
        "0000000000000000 3 1 1.0 5.0 \n", /* no key */
        "\x01\x02\xff\xfe garbage \x7f\n\n\n",
    };
    clf_device *dev = harness_device();
    for (size_t i = 0; i <= sizeof bad / sizeof bad[0]; i++) {
        fresh_start();
        char path[4400];
        clf_tune_file(dev, path, sizeof path);
        if (i < sizeof bad / sizeof bad[0]) {
            write_file(path, bad[i], strlen(bad[i]));
        } else { /* an overlong line, then binary with NUL bytes */
            char big[5000];
            memset(big, 'x', sizeof big);
            char blob[64] = "0000000000000000 3 1 1.0 5.0 fake op";
            blob[10] = '\0';
            FILE *fp;
            write_file(path, big, sizeof big);
            fp = fopen(path, "ab");
            fwrite("\n", 1, 1, fp);
            fwrite(blob, 1, sizeof blob, fp);
            fclose(fp);
        }
        fake f = {.ms = {6, 2, 6}, .fail = -1};
        clf_tune_request r = request("fake op n=256", &f, 3, 0);
        int choice = -1;
        CLF_CK(clf_tune_choose(dev, &r, &choice));
        ck_assert_msg(f.total > 0, "case %zu: a corrupt entry was used instead of measuring", i);
        ck_assert_int_ge(choice, 0);
        ck_assert_int_lt(choice, 3);
        expect_clean_file(path, "fake op n=256");
    }
    teardown();
}
END_TEST

START_TEST(off_measures_nothing) {
    fresh_start();
    clf_device *dev = harness_device();
    setenv("CLFORMER_TUNE", "off", 1);
    fake f = {.ms = {5, 1, 5}, .fail = -1};
    clf_tune_request r = request("fake op off", &f, 3, 2);
    int choice = -1;
    CLF_CK(clf_tune_choose(dev, &r, &choice));
    ck_assert_int_eq(choice, 2);
    ck_assert_int_eq(f.total, 0);
    char path[4400];
    clf_tune_file(dev, path, sizeof path);
    ck_assert_int_ne(access(path, F_OK), 0);
    setenv("CLFORMER_TUNE", "fast", 1);
    ck_assert_int_eq(clf_tune_choose(dev, &r, &choice), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "CLFORMER_TUNE"));
    /* no cache folder: measured and remembered in memory only */
    setenv("CLFORMER_TUNE", "on", 1);
    setenv("CLFORMER_NO_CACHE", "1", 1);
    CLF_CK(clf_tune_choose(dev, &r, &choice));
    ck_assert_int_eq(choice, 1);
    int runs = f.total;
    ck_assert_int_gt(runs, 0);
    CLF_CK(clf_tune_choose(dev, &r, &choice));
    ck_assert_int_eq(f.total, runs);
    unsetenv("CLFORMER_NO_CACHE");
    teardown();
}
END_TEST

START_TEST(budgets_hold) {
    fresh_start();
    clf_device *dev = harness_device();
    const double run_ms = 40, key_ms = 100, total_ms = 300;
    clf_tune_set_budget(total_ms, key_ms);
    fake f = {.fail = -1};
    for (int c = 0; c < 8; c++) f.ms[c] = run_ms;
    double t0 = clf_now_ms();
    int choice = -1;
    clf_tune_request r = request("fake slow key=0", &f, 8, 0);
    CLF_CK(clf_tune_choose(dev, &r, &choice));
    double one = clf_now_ms() - t0;
    /* the default's warm-up, then the budget; the deadline is checked after each run: at most one run
     * past it (plus a loaded machine's slack) */
    ck_assert_msg(one < key_ms + 3 * run_ms + 100, "one key took %.0f ms (budget %.0f)", one, key_ms);
    ck_assert_int_lt(f.total, 8);
    ck_assert_int_eq(f.runs[7], 0);
    /* cut by its own budget: final, so written */
    char path[4400];
    clf_tune_file(dev, path, sizeof path);
    expect_clean_file(path, "fake slow key=0");

    int keys_timed = 0;
    for (int k = 1; k < 12; k++) {
        char key[64];
        snprintf(key, sizeof key, "fake slow key=%d", k);
        int before = f.total;
        r.key = key;
        CLF_CK(clf_tune_choose(dev, &r, &choice));
        keys_timed += f.total > before;
        if (f.total == before) ck_assert_int_eq(choice, 0); /* over budget: the default */
    }
    /* each measured key also ran its default's warm-up, which the op would pay untuned (builds) */
    double all = clf_now_ms() - t0, bound = total_ms + (keys_timed + 1 + 2) * run_ms + 200;
    ck_assert_msg(all < bound, "tuning took %.0f ms (budget %.0f, bound %.0f)", all, total_ms, bound);
    ck_assert_int_lt(keys_timed, 11);
    clf_tune_stats st;
    clf_tune_stats_get(&st);
    ck_assert_int_gt(st.over_budget, 0);
    ck_assert(st.ms < total_ms + 2 * run_ms + 200);
    teardown();
}
END_TEST

START_TEST(only_valid_candidates_run) {
    fresh_start();
    clf_device *dev = harness_device();
    fake f = {.ms = {8, 8, 1, 3}, .fail = -1};
    clf_tune_request r = request("fake valid", &f, 4, 0);
    r.valid = 1u << 0 | 1u << 1 | 1u << 3; /* 2 would win but is not valid */
    int choice = -1;
    CLF_CK(clf_tune_choose(dev, &r, &choice));
    ck_assert_int_eq(f.runs[2], 0);
    ck_assert_int_eq(choice, 3);
    /* a failing candidate is left out, its error forgotten */
    fake g = {.ms = {8, 8, 1}, .fail = 2};
    clf_tune_request q = request("fake failing", &g, 3, 1);
    CLF_CK(clf_tune_choose(dev, &q, &choice));
    ck_assert_int_ne(choice, 2);
    /* a failing default is the op's error */
    fake h = {.ms = {1, 1}, .fail = 0};
    clf_tune_request d = request("fake failing default", &h, 2, 0);
    ck_assert_int_eq(clf_tune_choose(dev, &d, &choice), CLF_ERR_OPENCL);
    /* malformed requests */
    clf_tune_request bad = request("fake", &f, 0, 0);
    ck_assert_int_eq(clf_tune_choose(dev, &bad, &choice), CLF_ERR_INVALID_ARG);
    bad = request("fake", &f, 3, 3);
    ck_assert_int_eq(clf_tune_choose(dev, &bad, &choice), CLF_ERR_INVALID_ARG);
    bad = request("fake", &f, 3, 0);
    bad.valid = 1u << 1;
    ck_assert_int_eq(clf_tune_choose(dev, &bad, &choice), CLF_ERR_INVALID_ARG);
    bad = request("two\nlines", &f, 3, 0);
    ck_assert_int_eq(clf_tune_choose(dev, &bad, &choice), CLF_ERR_INVALID_ARG);
    bad = request(NULL, &f, 3, 0);
    ck_assert_int_eq(clf_tune_choose(dev, &bad, &choice), CLF_ERR_INVALID_ARG);
    bad = request("fake", &f, CLF_TUNE_MAX_CANDIDATES + 1, 0);
    ck_assert_int_eq(clf_tune_choose(dev, &bad, &choice), CLF_ERR_INVALID_ARG);
    ck_assert_uint_eq(clf_tune_bucket(0), 1);
    ck_assert_uint_eq(clf_tune_bucket(257), 512);
    ck_assert_uint_eq(clf_tune_bucket(256), 256);
    teardown();
}
END_TEST

/* ---- the tuned ops ---- */

static float *download_all(cl_mem m, size_t n) { return harness_download(m, n); }

static void expect_same_as_one_of(const char *what, const float *got, const float *a, const float *b, size_t n) {
    double *ra = harness_to_double(a, n), *rb = harness_to_double(b, n);
    bool same = !memcmp(got, a, n * sizeof *got) || !memcmp(got, b, n * sizeof *got);
    if (!same) { /* layouts agree to rounding; a measured call must give one of them */
        harness_expect_close(what, got, ra, n, 1e-6);
        harness_expect_close(what, got, rb, n, 1e-6);
    }
    free(ra);
    free(rb);
}

/* Linear forward and backward (GELU, bias, dx): AUTO's first call measures, then must equal a forced
 * layout's results, backward's accumulation included (tuning ran on scratch). */
START_TEST(linear_tuned_call_leaves_buffers_alone) {
    fresh_start();
    const int n = 300, in = 13, out = 257; /* big enough to be tuned */
    size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
    float *x = harness_random(nx, -1, 1, NULL), *w = harness_random(nw, -1, 1, NULL);
    float *b = harness_random(out, -1, 1, NULL), *dy = harness_random(ny, -1, 1, NULL);
    float *px = harness_random(nx, -1, 1, NULL), *pw = harness_random(nw, -1, 1, NULL);
    float *pb = harness_random(out, -1, 1, NULL);
    cl_mem gx = harness_upload(x, nx), gw = harness_upload(w, nw), gb = harness_upload(b, out);
    cl_mem gdy = harness_upload(dy, ny);
    size_t wsf = clf_linear_workspace_floats(n, out, CLF_ACT_GELU);
    cl_mem ws = harness_poisoned(wsf);
    float *res[3][5]; /* ELEMENTS, ROWS, AUTO: y, pre, dx, dw, db */
    for (int v = 0; v < 3; v++) {
        clf_linear_cfg cfg = {v == 0 ? CLF_LINEAR_ELEMENTS : v == 1 ? CLF_LINEAR_ROWS : CLF_LINEAR_AUTO, false};
        cl_mem y = harness_poisoned(ny), pre = harness_poisoned(ny);
        cl_mem dx = harness_upload(px, nx), dw = harness_upload(pw, nw), db = harness_upload(pb, out);
        CLF_CK(clf_linear_fwd_cfg(harness_device(), y, pre, gx, gw, gb, n, in, out, CLF_ACT_GELU, &cfg));
        CLF_CK(clf_linear_bwd_cfg(harness_device(), dx, dw, db, gdy, gx, gw, y, pre, ws, n, in, out, CLF_ACT_GELU,
                                  &cfg));
        res[v][0] = download_all(y, ny);
        res[v][1] = download_all(pre, ny);
        res[v][2] = download_all(dx, nx);
        res[v][3] = download_all(dw, nw);
        res[v][4] = download_all(db, out);
        cl_mem all[] = {y, pre, dx, dw, db};
        for (int i = 0; i < 5; i++) harness_release(all[i]);
    }
    clf_tune_stats st;
    clf_tune_stats_get(&st);
    /* forward and backward keys, measured in the AUTO call; no forward key where the GEMM's own kernel
     * stores through the epilogue (no epilogue launch to tune) */
    clf_gemm_args g = {.trans_b = true, .m = (size_t)n, .n = (size_t)out, .k = (size_t)in, .a = gx, .b = gw, .c = gb};
    bool fuses;
    CLF_CK(clf_gemm_fuses_epilogue(harness_device(), &g, &fuses));
    ck_assert_int_eq(st.measured, fuses ? 1 : 2);
    const char *names[] = {"y", "pre", "dx", "dw", "db"};
    size_t sizes[] = {ny, ny, nx, nw, (size_t)out};
    for (int i = 0; i < 5; i++) {
        char what[64];
        snprintf(what, sizeof what, "linear tuned %s", names[i]);
        expect_same_as_one_of(what, res[2][i], res[0][i], res[1][i], sizes[i]);
        for (int v = 0; v < 3; v++) free(res[v][i]);
    }
    cl_mem keep[] = {gx, gw, gb, gdy, ws};
    for (int i = 0; i < 5; i++) harness_release(keep[i]);
    float *host[] = {x, w, b, dy, px, pw, pb};
    for (int i = 0; i < 7; i++) free(host[i]);
    teardown();
}
END_TEST

/* Fused attention with a mask and dropout: AUTO's measuring call equals a forced family's results. */
START_TEST(attention_tuned_call_leaves_buffers_alone) {
    fresh_start();
    clf_attention_shape s = {3, 2, 61, 61, 16, 1}; /* big enough to be tuned */
    size_t d = (size_t)s.heads * s.dh, nq = (size_t)s.batch * s.tq * d, nl = (size_t)s.batch * s.heads * s.tq;
    float *q = harness_random(nq, -1, 1, NULL), *k = harness_random(nq, -1, 1, NULL);
    float *v = harness_random(nq, -1, 1, NULL), *dout = harness_random(nq, -1, 1, NULL);
    float *pre[3] = {harness_random(nq, -1, 1, NULL), harness_random(nq, -1, 1, NULL),
                     harness_random(nq, -1, 1, NULL)};
    int32_t mask[3 * 61];
    for (int i = 0; i < 3 * 61; i++) mask[i] = i % 5 != 4;
    clf_dropout drop = {0.25f, 7, 3, 1};
    cl_mem gq = harness_upload(q, nq), gk = harness_upload(k, nq), gv = harness_upload(v, nq);
    cl_mem gdo = harness_upload(dout, nq), gm = harness_upload_int(mask, 3 * 61);
    cl_mem ws = harness_poisoned(clf_attention_workspace_floats(&s));
    float *res[3][5]; /* TILES, GROUPS, AUTO: o, lse, dq, dk, dv */
    const clf_attention_kernels fam[] = {CLF_ATTENTION_TILES, CLF_ATTENTION_GROUPS, CLF_ATTENTION_AUTO};
    for (int f = 0; f < 3; f++) {
        cl_mem o = harness_poisoned(nq), lse = harness_poisoned(nl);
        cl_mem g[3];
        for (int i = 0; i < 3; i++) g[i] = harness_upload(pre[i], nq);
        CLF_CK(clf_attention_fwd_using(harness_device(), fam[f], o, lse, gq, gk, gv, gm, &s, &drop));
        CLF_CK(clf_attention_bwd_using(harness_device(), fam[f], g[0], g[1], g[2], gdo, gq, gk, gv, o, lse, gm, ws,
                                       &s, &drop));
        res[f][0] = download_all(o, nq);
        res[f][1] = download_all(lse, nl);
        for (int i = 0; i < 3; i++) res[f][2 + i] = download_all(g[i], nq);
        harness_release(o);
        harness_release(lse);
        for (int i = 0; i < 3; i++) harness_release(g[i]);
    }
    clf_tune_stats st;
    clf_tune_stats_get(&st);
    ck_assert_int_eq(st.measured, 2);
    const char *names[] = {"o", "lse", "dq", "dk", "dv"};
    for (int i = 0; i < 5; i++) {
        char what[64];
        snprintf(what, sizeof what, "attention tuned %s", names[i]);
        expect_same_as_one_of(what, res[2][i], res[0][i], res[1][i], i == 1 ? nl : nq);
        for (int f = 0; f < 3; f++) free(res[f][i]);
    }
    cl_mem keep[] = {gq, gk, gv, gdo, gm, ws};
    for (int i = 0; i < 6; i++) harness_release(keep[i]);
    float *host[] = {q, k, v, dout, pre[0], pre[1], pre[2]};
    for (int i = 0; i < 7; i++) free(host[i]);
    teardown();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tune");
    TCase *tc = tcase_create("tune");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, measured_once_then_read_from_file);
    tcase_add_test(tc, reads_a_written_choice);
    tcase_add_test(tc, corrupt_or_truncated_file_is_ignored_and_rewritten);
    tcase_add_test(tc, off_measures_nothing);
    tcase_add_test(tc, budgets_hold);
    tcase_add_test(tc, only_valid_candidates_run);
    tcase_add_test(tc, linear_tuned_call_leaves_buffers_alone);
    tcase_add_test(tc, attention_tuned_call_leaves_buffers_alone);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
