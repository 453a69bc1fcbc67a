/* The Linear layer: forward for every activation with and without bias, backward accumulation
 * into pre-filled gradients, the reference backward against finite differences, determinism and
 * refused arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clformer/gemm.h"
#include "harness.h"
#include "ops/linear.h"
#include "ref/fd.h"
#include "ref/ref_linear.h"

static const double TOL = 1e-4;
static const char *const ACT_NAME[] = {"none", "relu", "gelu"};

/* n, in, out: awkward sizes, one row and one column, n past the bias reduction's chunk of rows. */
static const int SHAPES[][3] = {{1, 1, 1},     {1, 7, 13},     {7, 13, 1},     {13, 33, 7},   {33, 5, 33},
                                {33, 257, 13}, {257, 33, 259}, {257, 7, 2051}, {1031, 13, 65}};
/* The layout under test: each case runs in both (the element layout is the GPUs', rows the CPUs'). */
static clf_linear_cfg g_cfg;
static const clf_linear_layout LAYOUTS[] = {CLF_LINEAR_ELEMENTS, CLF_LINEAR_ROWS};
enum { N_SHAPES = sizeof SHAPES / sizeof SHAPES[0] };

static void fwd_case(int n, int in, int out, clf_activation act, bool bias, bool keep_pre) {
    size_t no = (size_t)n * out;
    double *rx, *rw, *rb;
    float *x = harness_random((size_t)n * in, -2, 2, &rx);
    float *w = harness_random((size_t)out * in, -1.5 / sqrt(in), 1.5 / sqrt(in), &rw);
    float *b = harness_random((size_t)out, -1, 1, &rb);
    cl_mem dx = harness_upload(x, (size_t)n * in), dw = harness_upload(w, (size_t)out * in);
    cl_mem db = bias ? harness_upload(b, (size_t)out) : NULL;
    cl_mem dy = harness_poisoned(no), dpre = keep_pre ? harness_poisoned(no) : NULL;
    CLF_CK(clf_linear_fwd_cfg(harness_device(), dy, dpre, dx, dw, db, n, in, out, act, &g_cfg));
    double *ry = malloc(no * sizeof *ry), *rpre = malloc(no * sizeof *rpre);
    ref_linear_fwd(ry, rpre, rx, rw, bias ? rb : NULL, n, in, out, act);
    char what[128];
    snprintf(what, sizeof what, "linear_fwd y %dx%d->%d act=%s bias=%d pre=%d layout=%d", n, in, out, ACT_NAME[act],
             bias, keep_pre, (int)g_cfg.layout);
    float *got = harness_download(dy, no);
    harness_expect_close(what, got, ry, no, TOL);
    free(got);
    if (keep_pre) {
        snprintf(what, sizeof what, "linear_fwd pre %dx%d->%d act=%s bias=%d", n, in, out, ACT_NAME[act], bias);
        got = harness_download(dpre, no);
        harness_expect_close(what, got, rpre, no, TOL);
        free(got);
    }
    free(x), free(w), free(b), free(rx), free(rw), free(rb), free(ry), free(rpre);
    harness_release(dx), harness_release(dw), harness_release(dy);
    if (db) harness_release(db);
    if (dpre) harness_release(dpre);
}

START_TEST(forward_matches_reference) {
    for (size_t l = 0; l < 2; l++)
    for (int s = 0; s < N_SHAPES; s++)
        for (int act = CLF_ACT_NONE; act <= CLF_ACT_GELU; act++)
            for (int bias = 0; bias < 2; bias++) {
                fwd_case(SHAPES[s][0], SHAPES[s][1], SHAPES[s][2], (clf_activation)act, bias, true);
                g_cfg.layout = LAYOUTS[l];
                if (act != CLF_ACT_GELU)
                    fwd_case(SHAPES[s][0], SHAPES[s][1], SHAPES[s][2], (clf_activation)act, bias, false);
            }
    g_cfg.layout = CLF_LINEAR_AUTO;
}
END_TEST

/* Inputs of a backward pass: pre drawn directly (with exact zeros, where ReLU' is 0) and y = act(pre),
 * so device and reference see the same pre; gradients pre-filled with random values. */
typedef struct bwd_data {
    int n, in, out;
    clf_activation act;
    float *x, *w, *pre, *y, *dy, *dx0, *dw0, *db0;
    double *rx, *rw, *rpre, *rdy, *rdx, *rdw, *rdb; /* rd*: the expected gradients */
} bwd_data;

static void bwd_data_make(bwd_data *d, int n, int in, int out, clf_activation act) {
    size_t no = (size_t)n * out;
    *d = (bwd_data){.n = n, .in = in, .out = out, .act = act};
    d->x = harness_random((size_t)n * in, -1, 1, &d->rx);
    d->w = harness_random((size_t)out * in, -1, 1, &d->rw);
    d->pre = harness_random(no, -3, 3, NULL);
    for (size_t i = 0; i < no; i += 5) d->pre[i] = 0.0f;
    d->rpre = harness_to_double(d->pre, no);
    d->y = malloc(no * sizeof *d->y);
    for (size_t i = 0; i < no; i++) d->y[i] = (float)ref_act(act, d->rpre[i]);
    d->dy = harness_random(no, -1, 1, &d->rdy);
    d->dx0 = harness_random((size_t)n * in, -1, 1, &d->rdx);
    d->dw0 = harness_random((size_t)out * in, -1, 1, &d->rdw);
    d->db0 = harness_random((size_t)out, -1, 1, &d->rdb);
    ref_linear_bwd(d->rdx, d->rdw, d->rdb, d->rdy, d->rx, d->rw, d->rpre, n, in, out, act);
}

static void bwd_data_free(bwd_data *d) {
    free(d->x), free(d->w), free(d->pre), free(d->y), free(d->dy), free(d->dx0), free(d->dw0), free(d->db0);
    free(d->rx), free(d->rw), free(d->rpre), free(d->rdy), free(d->rdx), free(d->rdw), free(d->rdb);
}

/* Runs the device backward on fresh buffers; returns dx, dw, db as read back (dx/db NULL when not
 * asked for). */
static void bwd_run(const bwd_data *d, bool want_dx, bool want_db, float **dx, float **dw, float **db) {
    int n = d->n, in = d->in, out = d->out;
    size_t no = (size_t)n * out, ws_n = clf_linear_workspace_floats(n, out, d->act);
    /* overwrite_dx: dx's old bytes must not be read, so NaN there must vanish */
    cl_mem gx = !want_dx             ? NULL
                : g_cfg.overwrite_dx ? harness_poisoned((size_t)n * in)
                                     : harness_upload(d->dx0, (size_t)n * in);
    cl_mem gw = harness_upload(d->dw0, (size_t)out * in), gb = want_db ? harness_upload(d->db0, (size_t)out) : NULL;
    cl_mem x = harness_upload(d->x, (size_t)n * in), w = harness_upload(d->w, (size_t)out * in);
    cl_mem dy = harness_upload(d->dy, no);
    /* each activation gets only what its backward is documented to read */
    cl_mem y = d->act == CLF_ACT_RELU ? harness_upload(d->y, no) : NULL;
    cl_mem pre = d->act == CLF_ACT_GELU ? harness_upload(d->pre, no) : NULL;
    cl_mem ws = ws_n ? harness_poisoned(ws_n) : NULL;
    CLF_CK(clf_linear_bwd_cfg(harness_device(), gx, gw, gb, dy, x, w, y, pre, ws, n, in, out, d->act, &g_cfg));
    *dw = harness_download(gw, (size_t)out * in);
    *dx = gx ? harness_download(gx, (size_t)n * in) : NULL;
    *db = gb ? harness_download(gb, (size_t)out) : NULL;
    cl_mem all[] = {gx, gw, gb, x, w, dy, y, pre, ws};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) harness_release(all[i]);
}

static void bwd_name(char *what, size_t size, const char *grad, const bwd_data *d, int mode) {
    snprintf(what, size, "linear_bwd %s %dx%d->%d act=%s mode=%d layout=%d", grad, d->n, d->in, d->out,
             ACT_NAME[d->act], mode, (int)g_cfg.layout);
}

/* The first writer of a gradient: dx = dpre W over a NaN-poisoned dx, in both layouts. */
START_TEST(backward_overwrites_dx) {
    for (int s = 0; s < N_SHAPES; s += 2)
        for (int act = CLF_ACT_NONE; act <= CLF_ACT_GELU; act++) {
            bwd_data d;
            bwd_data_make(&d, SHAPES[s][0], SHAPES[s][1], SHAPES[s][2], (clf_activation)act);
            size_t nx = (size_t)d.n * d.in;
            double *want = malloc(nx * sizeof *want);
            ck_assert_ptr_nonnull(want);
            for (size_t i = 0; i < nx; i++) want[i] = d.rdx[i] - (double)d.dx0[i];
            for (int l = 0; l < 2; l++) {
                g_cfg = (clf_linear_cfg){LAYOUTS[l], true};
                float *dx, *dw, *db;
                bwd_run(&d, true, true, &dx, &dw, &db);
                char what[128];
                bwd_name(what, sizeof what, "dx (overwritten)", &d, l);
                harness_expect_close(what, dx, want, nx, TOL);
                bwd_name(what, sizeof what, "dw", &d, l);
                harness_expect_close(what, dw, d.rdw, (size_t)d.out * d.in, TOL);
                free(dx), free(dw), free(db);
            }
            free(want);
            bwd_data_free(&d);
        }
    g_cfg = (clf_linear_cfg){CLF_LINEAR_AUTO, false};
}
END_TEST

START_TEST(backward_accumulates) {
    for (int s = 0; s < N_SHAPES; s++)
        for (int act = CLF_ACT_NONE; act <= CLF_ACT_GELU; act++) {
            bwd_data d;
            bwd_data_make(&d, SHAPES[s][0], SHAPES[s][1], SHAPES[s][2], (clf_activation)act);
            for (int mode = 0; mode < 4; mode++) { /* all gradients, then dw alone; in each layout */
                g_cfg.layout = LAYOUTS[mode / 2];
                float *dx, *dw, *db;
                bwd_run(&d, mode % 2 == 0, mode % 2 == 0, &dx, &dw, &db);
                char what[128];
                bwd_name(what, sizeof what, "dw", &d, mode);
                harness_expect_close(what, dw, d.rdw, (size_t)d.out * d.in, TOL);
                if (dx) {
                    bwd_name(what, sizeof what, "dx", &d, mode);
                    harness_expect_close(what, dx, d.rdx, (size_t)d.n * d.in, TOL);
                    bwd_name(what, sizeof what, "db", &d, mode);
                    harness_expect_close(what, db, d.rdb, (size_t)d.out, TOL);
                }
                free(dx), free(dw), free(db);
            }
            bwd_data_free(&d);
        }
    g_cfg.layout = CLF_LINEAR_AUTO;
}
END_TEST

/* The bias gradient where each column's terms cancel: pairs of rows +-B_j + small, so the sums are small
 * against their terms and a plain float sum loses most of its digits. ReLU with y = 1 passes dy through. */
START_TEST(bias_gradient_survives_cancellation) {
    const int n = 1031, in = 3, out = 33;
    size_t no = (size_t)n * out;
    float *dy = harness_random(no, -1, 1, NULL), *big = harness_random((size_t)out, 1000, 4000, NULL);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < out && i + 1 - i % 2 < n; j++) dy[(size_t)i * out + j] += (i % 2 ? -big[j] : big[j]);
    float *x = harness_random((size_t)n * in, -1, 1, NULL), *w = harness_random((size_t)out * in, -1, 1, NULL);
    float *ones = malloc(no * sizeof *ones), *zero = calloc((size_t)out * in, sizeof *zero);
    for (size_t i = 0; i < no; i++) ones[i] = 1.0f;
    double *want = calloc((size_t)out, sizeof *want);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < out; j++) want[j] += dy[(size_t)i * out + j];
    cl_mem gdy = harness_upload(dy, no), gx = harness_upload(x, (size_t)n * in), gw = harness_upload(w, (size_t)out * in);
    cl_mem gy = harness_upload(ones, no);
    for (int act = CLF_ACT_NONE; act <= CLF_ACT_RELU; act++)
        for (size_t l = 0; l < 2; l++) {
            clf_linear_cfg cfg = {LAYOUTS[l], false};
            cl_mem gdw = harness_upload(zero, (size_t)out * in), gdb = harness_upload(zero, (size_t)out);
            cl_mem ws = harness_poisoned(clf_linear_workspace_floats(n, out, (clf_activation)act));
            CLF_CK(clf_linear_bwd_cfg(harness_device(), NULL, gdw, gdb, gdy, gx, gw, gy, NULL, ws, n, in, out,
                                      (clf_activation)act, &cfg));
            float *db = harness_download(gdb, (size_t)out);
            char what[96];
            snprintf(what, sizeof what, "linear_bwd db cancelling act=%s layout=%d", ACT_NAME[act], (int)cfg.layout);
            harness_expect_close(what, db, want, (size_t)out, 1e-5);
            free(db);
            harness_release(gdw), harness_release(gdb), harness_release(ws);
        }
    free(dy), free(big), free(x), free(w), free(ones), free(zero), free(want);
    harness_release(gdy), harness_release(gx), harness_release(gw), harness_release(gy);
}
END_TEST

/* loss = sum(r * y) as a function of one of x, w, b (the others fixed), in float64. */
typedef struct fd_ctx {
    int n, in, out, which; /* 0: x, 1: w, 2: b */
    clf_activation act;
    double *x, *w, *b, *r, *y;
} fd_ctx;

static double fd_loss(const double *v, size_t count, void *p) {
    fd_ctx *c = p;
    (void)count;
    ref_linear_fwd(c->y, NULL, c->which == 0 ? v : c->x, c->which == 1 ? v : c->w, c->which == 2 ? v : c->b, c->n,
                   c->in, c->out, c->act);
    double s = 0;
    for (size_t i = 0; i < (size_t)c->n * c->out; i++) s += c->r[i] * c->y[i];
    return s;
}

START_TEST(reference_backward_matches_finite_differences) {
    enum { N = 3, IN = 5, OUT = 4 };
    for (int act = CLF_ACT_NONE; act <= CLF_ACT_GELU; act++) {
        double x[N * IN], w[OUT * IN], b[OUT], r[N * OUT], y[N * OUT], pre[N * OUT];
        for (int i = 0; i < N * IN; i++) x[i] = harness_uniform(-1, 1);
        for (int i = 0; i < OUT * IN; i++) w[i] = harness_uniform(-1, 1);
        for (int i = 0; i < OUT; i++) b[i] = harness_uniform(-1, 1);
        for (int i = 0; i < N * OUT; i++) r[i] = harness_uniform(-1, 1);
        ref_linear_fwd(y, pre, x, w, b, N, IN, OUT, (clf_activation)act);
        double dx[N * IN] = {0}, dw[OUT * IN] = {0}, db[OUT] = {0};
        ref_linear_bwd(dx, dw, db, r, x, w, pre, N, IN, OUT, (clf_activation)act);
        fd_ctx c = {N, IN, OUT, 0, (clf_activation)act, x, w, b, r, y};
        double e[3];
        e[0] = fd_check(fd_loss, x, N * IN, dx, &c, 1e-6);
        c.which = 1;
        e[1] = fd_check(fd_loss, w, OUT * IN, dw, &c, 1e-6);
        c.which = 2;
        e[2] = fd_check(fd_loss, b, OUT, db, &c, 1e-6);
        for (int i = 0; i < 3; i++)
            ck_assert_msg(e[i] < 1e-7, "ref_linear_bwd d%c act=%s: fd relative error %g (seed %llu)", "xwb"[i],
                          ACT_NAME[act], e[i], (unsigned long long)harness_seed());
    }
}
END_TEST

START_TEST(runs_are_bit_identical) {
    int n = 1031, in = 33, out = 259;
    size_t no = (size_t)n * out;
    float *x = harness_random((size_t)n * in, -1, 1, NULL), *w = harness_random((size_t)out * in, -1, 1, NULL);
    float *b = harness_random((size_t)out, -1, 1, NULL);
    cl_mem gx = harness_upload(x, (size_t)n * in), gw = harness_upload(w, (size_t)out * in);
    cl_mem gb = harness_upload(b, (size_t)out);
    float *y[2], *pre[2];
    for (int r = 0; r < 2; r++) {
        cl_mem gy = harness_poisoned(no), gp = harness_poisoned(no);
        CLF_CK(clf_linear_fwd(harness_device(), gy, gp, gx, gw, gb, n, in, out, CLF_ACT_GELU));
        y[r] = harness_download(gy, no);
        pre[r] = harness_download(gp, no);
        harness_release(gy), harness_release(gp);
    }
    ck_assert_msg(memcmp(y[0], y[1], no * sizeof(float)) == 0, "linear_fwd y differs between runs");
    ck_assert_msg(memcmp(pre[0], pre[1], no * sizeof(float)) == 0, "linear_fwd pre differs between runs");
    for (int act = CLF_ACT_NONE; act <= CLF_ACT_GELU; act++) {
        bwd_data d;
        bwd_data_make(&d, n, in, out, (clf_activation)act);
        float *g[2][3];
        for (int r = 0; r < 2; r++) bwd_run(&d, true, true, &g[r][0], &g[r][1], &g[r][2]);
        size_t len[3] = {(size_t)n * in, (size_t)out * in, (size_t)out};
        for (int i = 0; i < 3; i++) {
            ck_assert_msg(memcmp(g[0][i], g[1][i], len[i] * sizeof(float)) == 0,
                          "linear_bwd d%c act=%s differs between runs", "xwb"[i], ACT_NAME[act]);
            free(g[0][i]), free(g[1][i]);
        }
        bwd_data_free(&d);
    }
    for (int r = 0; r < 2; r++) free(y[r]), free(pre[r]);
    free(x), free(w), free(b);
    harness_release(gx), harness_release(gw), harness_release(gb);
}
END_TEST

/* Without activation, bias or pre the forward is the GEMM alone; with them, one more launch for the
 * epilogue, or none where the GEMM's own kernel stores through it. */
START_TEST(plain_forward_is_one_gemm) {
    clf_device *dev = harness_device();
    int n = 13, in = 7, out = 5;
    float *v = harness_random(256, -1, 1, NULL);
    cl_mem x = harness_upload(v, (size_t)n * in), w = harness_upload(v, (size_t)out * in), b = harness_upload(v, out);
    cl_mem y = harness_poisoned((size_t)n * out);
    size_t before = clf_device_launch_count(dev);
    CLF_CK(clf_linear_fwd(dev, y, NULL, x, w, NULL, n, in, out, CLF_ACT_NONE));
    ck_assert_uint_eq(clf_device_launch_count(dev) - before, 1);
    before = clf_device_launch_count(dev);
    CLF_CK(clf_linear_fwd(dev, y, NULL, x, w, b, n, in, out, CLF_ACT_RELU));
    clf_gemm_args g = {.trans_b = true, .m = (size_t)n, .n = (size_t)out, .k = (size_t)in, .a = x, .b = w, .c = y};
    bool fuses;
    CLF_CK(clf_gemm_fuses_epilogue(dev, &g, &fuses));
    ck_assert_uint_eq(clf_device_launch_count(dev) - before, fuses ? 1 : 2);
    if (clf_device_get_info(dev)->is_cpu) ck_assert(fuses); /* the own kernels run small products there */
    /* dpre with an activation, and two bias-gradient partials per block of up to 32 rows */
    ck_assert_uint_eq(clf_linear_workspace_floats(n, out, CLF_ACT_NONE), 2 * (size_t)out);
    ck_assert_uint_eq(clf_linear_workspace_floats(n, out, CLF_ACT_RELU), (size_t)n * out + 2 * (size_t)out);
    ck_assert_uint_eq(clf_linear_workspace_floats(40, out, CLF_ACT_GELU), (size_t)40 * out + 4 * (size_t)out);
    ck_assert_uint_eq(clf_linear_workspace_floats(0, out, CLF_ACT_GELU), 0);
    free(v);
    harness_release(x), harness_release(w), harness_release(b), harness_release(y);
}
END_TEST

#define EXPECT_INVALID(expr, needle)                                                             \
    do {                                                                                         \
        ck_assert_int_eq((expr), CLF_ERR_INVALID_ARG);                                           \
        ck_assert_msg(strstr(clf_errmsg(), (needle)) != NULL, "%s: message '%s' lacks '%s'", #expr, \
                      clf_errmsg(), (needle));                                                   \
    } while (0)

START_TEST(refuses_bad_arguments) {
    clf_device *dev = harness_device();
    int n = 4, in = 3, out = 2;
    float *v = harness_random(64, -1, 1, NULL);
    cl_mem x = harness_upload(v, 12), w = harness_upload(v, 6), b = harness_upload(v, 2), y = harness_upload(v, 8);
    cl_mem pre = harness_upload(v, 8), ws = harness_upload(v, clf_linear_workspace_floats(n, out, CLF_ACT_GELU));
    cl_mem small = harness_upload(v, 5);
    cl_mem dx = harness_upload(v, 12), dw = harness_upload(v, 6), db = harness_upload(v, 2);
    const clf_activation gelu = CLF_ACT_GELU, relu = CLF_ACT_RELU;
    EXPECT_INVALID(clf_linear_fwd(NULL, y, pre, x, w, b, n, in, out, relu), "dev");
    EXPECT_INVALID(clf_linear_fwd(dev, NULL, pre, x, w, b, n, in, out, relu), "y is NULL");
    EXPECT_INVALID(clf_linear_fwd(dev, y, pre, NULL, w, b, n, in, out, relu), "x is NULL");
    EXPECT_INVALID(clf_linear_fwd(dev, y, pre, x, NULL, b, n, in, out, relu), "w is NULL");
    EXPECT_INVALID(clf_linear_fwd(dev, y, NULL, x, w, b, n, in, out, gelu), "pre");
    EXPECT_INVALID(clf_linear_fwd(dev, y, pre, x, w, b, 0, in, out, relu), "n=0");
    EXPECT_INVALID(clf_linear_fwd(dev, y, pre, x, w, b, n, -1, out, relu), "in=-1");
    EXPECT_INVALID(clf_linear_fwd(dev, y, pre, x, w, b, n, in, 0, relu), "out=0");
    EXPECT_INVALID(clf_linear_fwd(dev, y, pre, x, w, b, n, in, out, (clf_activation)7), "activation");
    EXPECT_INVALID(clf_linear_fwd(dev, small, pre, x, w, b, n, in, out, relu), "y holds 20 bytes, needs 32");
    EXPECT_INVALID(clf_linear_fwd(dev, y, pre, x, w, b, n, in, 3, relu), "needs");
    EXPECT_INVALID(clf_linear_fwd_cfg(dev, y, pre, x, w, b, n, in, out, relu, &(clf_linear_cfg){(clf_linear_layout)9, false}),
                   "layout");
    CLF_CK(clf_linear_fwd(dev, y, pre, x, w, b, n, in, out, gelu));

    EXPECT_INVALID(clf_linear_bwd(NULL, dx, dw, db, y, x, w, y, pre, ws, n, in, out, relu), "dev");
    EXPECT_INVALID(clf_linear_bwd(dev, dx, NULL, db, y, x, w, y, pre, ws, n, in, out, relu), "dw is NULL");
    EXPECT_INVALID(clf_linear_bwd(dev, dx, dw, db, NULL, x, w, y, pre, ws, n, in, out, relu), "dy is NULL");
    EXPECT_INVALID(clf_linear_bwd(dev, dx, dw, db, y, NULL, w, y, pre, ws, n, in, out, relu), "x is NULL");
    EXPECT_INVALID(clf_linear_bwd(dev, dx, dw, db, y, x, NULL, y, pre, ws, n, in, out, relu), "w is NULL");
    EXPECT_INVALID(clf_linear_bwd(dev, dx, dw, db, y, x, w, NULL, pre, ws, n, in, out, relu), "y (ReLU");
    EXPECT_INVALID(clf_linear_bwd(dev, dx, dw, db, y, x, w, y, NULL, ws, n, in, out, gelu), "pre (GELU");
    EXPECT_INVALID(clf_linear_bwd(dev, dx, dw, db, y, x, w, y, pre, NULL, n, in, out, gelu), "workspace");
    EXPECT_INVALID(clf_linear_bwd(dev, dx, dw, db, y, x, w, y, pre, small, n, in, out, relu), "workspace holds");
    EXPECT_INVALID(clf_linear_bwd(dev, small, dw, db, y, x, w, y, pre, ws, n, in, out, relu), "dx holds");
    EXPECT_INVALID(clf_linear_bwd(dev, dx, dw, db, y, x, w, y, pre, ws, n, 0, out, relu), "in=0");
    EXPECT_INVALID(clf_linear_bwd(dev, dx, dw, db, y, x, w, y, pre, ws, n, in, out, (clf_activation)-1),
                   "activation");
    /* what each activation does not read may be NULL */
    CLF_CK(clf_linear_bwd(dev, NULL, dw, NULL, y, x, w, NULL, NULL, NULL, n, in, out, CLF_ACT_NONE));
    CLF_CK(clf_linear_bwd(dev, dx, dw, db, y, x, w, NULL, pre, ws, n, in, out, gelu));
    CLF_CK(clf_linear_bwd(dev, dx, dw, db, y, x, w, y, NULL, ws, n, in, out, relu));
    free(v);
    cl_mem all[] = {x, w, b, y, pre, ws, small, dx, dw, db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) harness_release(all[i]);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("linear");
    TCase *tc = tcase_create("linear");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, forward_matches_reference);
    tcase_add_test(tc, backward_accumulates);
    tcase_add_test(tc, backward_overwrites_dx);
    tcase_add_test(tc, bias_gradient_survives_cancellation);
    tcase_add_test(tc, reference_backward_matches_finite_differences);
    tcase_add_test(tc, runs_are_bit_identical);
    tcase_add_test(tc, plain_forward_is_one_gemm);
    tcase_add_test(tc, refuses_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
