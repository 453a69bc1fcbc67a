/* clf_gemm against a float64 host GEMM: every transpose, alpha/beta, offsets, padded leading
 * dimensions, strided batches, awkward sizes, k = 0 and refused arguments; each variant (own
 * kernels with A packed or read in place, split K, dot products, local-memory tiles, CLBlast, the
 * measured choice) forced in turn,
 * determinism, the choices file and the workspace accounting. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clformer/gemm.h"
#include "clformer/program.h"
#include "gemm_internal.h"
#include "harness.h"
#include "ref/ref_linear.h"

/* An element of C may be off by at most gamma_{k+2} * G, G = |alpha| |A| |B| + |beta| |C| (the
 * classic bound for any order of summation with or without FMA, alpha and beta included); u is the
 * unit roundoff of float. Elements outside the matrices must come back exactly. */
static const double UNIT_ROUNDOFF = 0x1p-24;

static double *abs_copy(const double *x, size_t n) {
    double *y = malloc((n ? n : 1) * sizeof *y);
    ck_assert_ptr_nonnull(y);
    for (size_t i = 0; i < n; i++) y[i] = fabs(x[i]);
    return y;
}

/* One product described for both sides: the device call and the host reference. */
typedef struct case_spec {
    bool ta, tb;
    size_t m, n, k, batch;
    size_t pad_a, pad_b, pad_c;    /* leading dimension minus the row width */
    size_t off_a, off_b, off_c;    /* floats before the first matrix */
    size_t gap_a, gap_b, gap_c;    /* floats between batch entries, past a dense matrix */
    float alpha, beta;
} case_spec;

static size_t rows_a(const case_spec *s) { return s->ta ? s->k : s->m; }
static size_t cols_a(const case_spec *s) { return s->ta ? s->m : s->k; }
static size_t rows_b(const case_spec *s) { return s->tb ? s->n : s->k; }
static size_t cols_b(const case_spec *s) { return s->tb ? s->k : s->n; }

/* Runs the case on the device and on the host and compares all of C's buffer, so elements outside
 * the matrices (padding, gaps, offsets) must come back unchanged. beta = 0 poisons C with NaN. */
static void run_case(const case_spec *s) {
    size_t lda = cols_a(s) + s->pad_a, ldb = cols_b(s) + s->pad_b, ldc = s->n + s->pad_c;
    size_t sa = rows_a(s) * lda + s->gap_a, sb = rows_b(s) * ldb + s->gap_b, sc = s->m * ldc + s->gap_c;
    size_t na = s->off_a + s->batch * sa, nb = s->off_b + s->batch * sb, nc = s->off_c + s->batch * sc;
    double *ra, *rb, *rc;
    float *a = harness_random(na, -1, 1, &ra), *b = harness_random(nb, -1, 1, &rb);
    float *c = harness_random(nc, -1, 1, &rc);
    cl_mem da = harness_upload(a, na), db = harness_upload(b, nb), dc = harness_upload(c, nc);
    if (s->beta == 0) { /* the matrices' elements of C must not be read: poison just those */
        for (size_t e = 0; e < s->batch; e++)
            for (size_t i = 0; i < s->m; i++)
                CLF_CK(clf_buffer_fill_float(harness_device(), dc, s->off_c + e * sc + i * ldc, s->n, NAN));
    }
    clf_gemm_args g = {.trans_a = s->ta, .trans_b = s->tb, .m = s->m, .n = s->n, .k = s->k, .alpha = s->alpha,
                       .beta = s->beta, .a = da, .a_off = s->off_a, .lda = lda, .b = db, .b_off = s->off_b,
                       .ldb = ldb, .c = dc, .c_off = s->off_c, .ldc = ldc, .batch = s->batch, .stride_a = sa,
                       .stride_b = sb, .stride_c = sc};
    CLF_CK(clf_gemm(harness_device(), &g));
    double *ga = abs_copy(ra, na), *gb = abs_copy(rb, nb), *bound = abs_copy(rc, nc);
    double gamma = (double)(s->k + 2) * UNIT_ROUNDOFF / (1 - (double)(s->k + 2) * UNIT_ROUNDOFF);
    for (size_t e = 0; e < s->batch; e++) {
        ref_gemm(s->ta, s->tb, s->m, s->n, s->k, s->alpha, ra + s->off_a + e * sa, lda, rb + s->off_b + e * sb, ldb,
                 s->beta, rc + s->off_c + e * sc, ldc);
        ref_gemm(s->ta, s->tb, s->m, s->n, s->k, fabs(s->alpha), ga + s->off_a + e * sa, lda, gb + s->off_b + e * sb,
                 ldb, fabs(s->beta), bound + s->off_c + e * sc, ldc);
    }
    bool *inside = calloc(nc ? nc : 1, sizeof *inside);
    ck_assert_ptr_nonnull(inside);
    for (size_t e = 0; e < s->batch; e++)
        for (size_t i = 0; i < s->m; i++)
            for (size_t j = 0; j < s->n; j++) inside[s->off_c + e * sc + i * ldc + j] = true;
    for (size_t i = 0; i < nc; i++) bound[i] = inside[i] ? gamma * bound[i] : 0;
    float *got = harness_download(dc, nc);
    char what[160];
    snprintf(what, sizeof what, "gemm %c%c m=%zu n=%zu k=%zu batch=%zu alpha=%g beta=%g", s->ta ? 'T' : 'N',
             s->tb ? 'T' : 'N', s->m, s->n, s->k, s->batch, (double)s->alpha, (double)s->beta);
    harness_expect_bounded(what, got, rc, bound, nc);
    free(got);
    free(ga);
    free(gb);
    free(bound);
    free(inside);
    free(a);
    free(b);
    free(c);
    free(ra);
    free(rb);
    free(rc);
    harness_release(da);
    harness_release(db);
    harness_release(dc);
}

/* Force a variant (and the parts of K of the split one) on the test device. */
static void force(clf_gemm_variant v, size_t parts) {
    CLF_CK(clf_gemm_force(harness_device(), v, false));
    CLF_CK(clf_gemm_force_splits(harness_device(), parts));
}

/* Every (m, n, k) from sizes in all four transposes, dense, with and without accumulation. */
static void sweep(const size_t *sizes, int n_sizes) {
    for (int t = 0; t < 4; t++)
        for (int im = 0; im < n_sizes; im++)
            for (int in = 0; in < n_sizes; in++)
                for (int ik = 0; ik < n_sizes; ik++) {
                    case_spec s = {.ta = t & 1, .tb = t >> 1, .m = sizes[im], .n = sizes[in], .k = sizes[ik],
                                   .batch = 1, .alpha = 1, .beta = 0};
                    if ((im + in + ik + t) % 2) { /* half the cases accumulate with odd scalars */
                        s.alpha = -0.75f;
                        s.beta = 1.5f;
                    }
                    run_case(&s);
                }
}

static const size_t SIZES[] = {1, 7, 13, 33, 257};
static const size_t FEW[] = {1, 13, 257};
/* own-local's tiles are 64 x 64 with k in slices of 16: every size leaves a ragged edge (65 one past
 * a tile; 7 and 13 short of a slice, 33 two slices and one) */
static const size_t LOCAL_SIZES[] = {1, 7, 13, 33, 65, 257};

/* The measured choice (CLFORMER_GEMM unset) over the whole cube; 257^3 is once per transpose. */
START_TEST(all_transposes_awkward_sizes) {
    force(CLF_GEMM_AUTO, 0);
    sweep(SIZES, 5);
}
END_TEST

/* Each own variant over the cube: ragged tiles in every direction (tiles are 8 x 32). The measured
 * choice above runs the in-place variant for the small products. */
START_TEST(own_variants_awkward_sizes) {
    force(CLF_GEMM_OWN_DIRECT, 0);
    sweep(SIZES, 5);
    force(CLF_GEMM_OWN_PACKED, 0);
    sweep(SIZES, 5);
    force(CLF_GEMM_OWN_SPLIT, 3); /* k = 1 leaves parts empty: they must add zeros */
    sweep(FEW, 3);
    force(CLF_GEMM_OWN_SPLIT, 8);
    sweep(FEW, 3);
    force(CLF_GEMM_OWN_INPLACE, 0);
    sweep(FEW, 3);
    force(CLF_GEMM_OWN_DOT, 0); /* its own kernel for NT; the other transposes as in place */
    sweep(SIZES, 5);
    force(CLF_GEMM_CLBLAST, 0);
    sweep(FEW, 3);
    force(CLF_GEMM_AUTO, 0);
}
END_TEST

/* The local-memory kernel (GPU-shaped; never chosen by measurement on CPU devices, so forced): the
 * whole cube of awkward sizes, all transposes; half the cases with beta = 0 over a NaN C. */
START_TEST(own_local_awkward_sizes) {
    force(CLF_GEMM_OWN_LOCAL, 0);
    sweep(LOCAL_SIZES, 6);
    force(CLF_GEMM_AUTO, 0);
}
END_TEST

static const struct {
    clf_gemm_variant v;
    size_t parts;
} VARIANTS[] = {{CLF_GEMM_AUTO, 0},       {CLF_GEMM_CLBLAST, 0}, {CLF_GEMM_OWN_PACKED, 0},
                {CLF_GEMM_OWN_DIRECT, 0}, {CLF_GEMM_OWN_SPLIT, 2}, {CLF_GEMM_OWN_SPLIT, 5},
                {CLF_GEMM_OWN_INPLACE, 0}, {CLF_GEMM_OWN_DOT, 0},   {CLF_GEMM_OWN_LOCAL, 0}};
enum { N_VARIANTS = sizeof VARIANTS / sizeof VARIANTS[0] };

START_TEST(offsets_and_leading_dims) {
    force(VARIANTS[_i].v, VARIANTS[_i].parts);
    const size_t shapes[][3] = {{7, 13, 33}, {33, 1, 7}, {257, 33, 13}, {1, 257, 257}};
    for (int t = 0; t < 4; t++)
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            case_spec s = {.ta = t & 1, .tb = t >> 1, .m = shapes[i][0], .n = shapes[i][1], .k = shapes[i][2],
                           .batch = 1, .pad_a = 3, .pad_b = 17, .pad_c = 5, .off_a = 11, .off_b = 1,
                           .off_c = 29, .alpha = 1.25f, .beta = t % 2 ? 0.0f : -0.5f};
            run_case(&s);
        }
}
END_TEST

START_TEST(strided_batch) {
    force(VARIANTS[_i].v, VARIANTS[_i].parts);
    const size_t shapes[][3] = {{13, 7, 33}, {1, 33, 7}, {33, 13, 1}, {64, 64, 32}};
    for (int t = 0; t < 4; t++)
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            case_spec s = {.ta = t & 1, .tb = t >> 1, .m = shapes[i][0], .n = shapes[i][1], .k = shapes[i][2],
                           .batch = 3 + i, .pad_a = i, .pad_c = 2, .off_b = 3, .off_c = 5, .gap_a = 9,
                           .gap_b = 4, .gap_c = 7, .alpha = 0.5f, .beta = t == 2 ? 0.0f : 1.0f};
            run_case(&s);
        }
}
END_TEST

/* k = 0: C = beta * C; beta = 0 clears a NaN C; padding and other batch entries stay. */
START_TEST(k_zero_scales_c) {
    force(VARIANTS[_i].v, VARIANTS[_i].parts);
    const float betas[] = {0.0f, 1.0f, -2.5f};
    for (int i = 0; i < 3; i++) {
        case_spec dense = {.m = 7, .n = 13, .k = 0, .batch = 1, .alpha = 1, .beta = betas[i]};
        run_case(&dense);
        case_spec padded = {.ta = true, .m = 13, .n = 7, .k = 0, .batch = 2, .pad_c = 3, .off_c = 4, .gap_c = 2,
                            .alpha = 2, .beta = betas[i]};
        run_case(&padded);
    }
}
END_TEST

START_TEST(refuses_bad_arguments) {
    force(VARIANTS[_i].v, VARIANTS[_i].parts);
    clf_device *dev = harness_device();
    float *x = harness_random(64, -1, 1, NULL);
    cl_mem a = harness_upload(x, 64), b = harness_upload(x, 64), c = harness_upload(x, 64);
    clf_gemm_args ok = {.m = 4, .n = 4, .k = 4, .alpha = 1, .a = a, .b = b, .c = c};
    CLF_CK(clf_gemm(dev, &ok));
    clf_gemm_args g = ok;
    g.a = NULL;
    ck_assert_int_eq(clf_gemm(dev, &g), CLF_ERR_INVALID_ARG);
    g = ok;
    g.b = NULL;
    ck_assert_int_eq(clf_gemm(dev, &g), CLF_ERR_INVALID_ARG);
    g = ok;
    g.c = NULL;
    ck_assert_int_eq(clf_gemm(dev, &g), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "null"));
    ck_assert_int_eq(clf_gemm(NULL, &ok), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_gemm(dev, NULL), CLF_ERR_INVALID_ARG);
    g = ok; /* C too small for 9 x 9 */
    g.m = g.n = g.k = 9;
    ck_assert_int_eq(clf_gemm(dev, &g), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "m=9"));
    g = ok; /* leading dimension smaller than the row */
    g.lda = 2;
    ck_assert_int_eq(clf_gemm(dev, &g), CLF_ERR_INVALID_ARG);
    g = ok;
    g.ldc = 3;
    g.k = 0;
    ck_assert_int_eq(clf_gemm(dev, &g), CLF_ERR_INVALID_ARG);
    g = ok; /* empty products are no-ops */
    g.m = 0;
    CLF_CK(clf_gemm(dev, &g));
    free(x);
    harness_release(a);
    harness_release(b);
    harness_release(c);
}
END_TEST

/* Two runs of the same product give the same bits, for every variant (the split parts are summed
 * in a fixed order). */
START_TEST(deterministic) {
    force(VARIANTS[_i].v, VARIANTS[_i].parts);
    const size_t m = 67, n = 45, k = 300, nc = m * n;
    float *a = harness_random(m * k, -1, 1, NULL), *b = harness_random(k * n, -1, 1, NULL);
    float *c0 = harness_random(nc, -1, 1, NULL);
    cl_mem da = harness_upload(a, m * k), db = harness_upload(b, k * n);
    float *out[2];
    for (int r = 0; r < 2; r++) {
        cl_mem dc = harness_upload(c0, nc);
        clf_gemm_args g = {.trans_b = true, .m = m, .n = n, .k = k, .alpha = 0.5f, .beta = 1.0f, .a = da, .b = db,
                           .c = dc};
        CLF_CK(clf_gemm(harness_device(), &g));
        out[r] = harness_download(dc, nc);
        harness_release(dc);
    }
    ck_assert_msg(memcmp(out[0], out[1], nc * sizeof(float)) == 0, "variant %s: two runs differ",
                  clf_gemm_variant_name(VARIANTS[_i].v));
    free(out[0]);
    free(out[1]);
    free(a);
    free(b);
    free(c0);
    harness_release(da);
    harness_release(db);
}
END_TEST

/* A product big enough to be timed: the choice is measured, correct, written to the cache folder,
 * and the own variants' workspace is counted in the device's bytes in use. */
START_TEST(measured_choice_is_cached) {
    clf_device *dev = harness_device();
    force(CLF_GEMM_AUTO, 0);
    case_spec s = {.tb = true, .m = 300, .n = 200, .k = 161, .batch = 1, .alpha = 1, .beta = 1};
    run_case(&s);
    clf_gemm_shape sh = {.g = {.trans_b = true, .m = 300, .n = 200, .k = 161}, .batch = 1};
    clf_gemm_variant v;
    CLF_CK(clf_gemm_choose(dev, &sh, &v));
    ck_assert_int_ne(v, CLF_GEMM_AUTO);
    if (!clf_device_get_info(dev)->is_gpu) /* not even timed there */
        ck_assert_int_ne(v, CLF_GEMM_OWN_LOCAL);
    const char *dir = clf_cache_dir();
    if (dir) {
        char cmd[4300];
        snprintf(cmd, sizeof cmd, "grep -qs '^0 1 300 200 161 1 ' '%s'/gemm-*.txt", dir);
        ck_assert_msg(system(cmd) == 0, "no choice for 300x200x161 in %s/gemm-*.txt", dir);
    }
    force(CLF_GEMM_OWN_PACKED, 0);
    run_case(&s);
    ck_assert_uint_gt(clf_gemm_workspace_bytes(dev), 0);
    ck_assert_uint_ge(clf_device_bytes_in_use(dev), clf_gemm_workspace_bytes(dev));
    force(CLF_GEMM_AUTO, 0);
}
END_TEST

/* CLFORMER_GEMM picks a path; a name it does not know is an error naming the choices. */
START_TEST(env_selects_path) {
    force(CLF_GEMM_AUTO, 0);
    setenv("CLFORMER_GEMM", "own-split", 1);
    case_spec s = {.m = 33, .n = 7, .k = 13, .batch = 2, .alpha = 1, .beta = 0};
    run_case(&s);
    setenv("CLFORMER_GEMM", "clblast", 1);
    run_case(&s);
    setenv("CLFORMER_GEMM", "own-local", 1);
    run_case(&s);
    clf_gemm_variant v;
    bool own_only;
    ck_assert(clf_gemm_variant_parse("own-local", &v, &own_only) && v == CLF_GEMM_OWN_LOCAL && !own_only);
    ck_assert_str_eq(clf_gemm_variant_name(CLF_GEMM_OWN_LOCAL), "own-local");
    setenv("CLFORMER_GEMM", "fastest-please", 1);
    float *x = harness_random(64, -1, 1, NULL);
    cl_mem a = harness_upload(x, 64);
    clf_gemm_args g = {.m = 4, .n = 4, .k = 4, .alpha = 1, .a = a, .b = a, .c = a};
    ck_assert_int_eq(clf_gemm(harness_device(), &g), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "own-packed"));
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "own-local"));
    unsetenv("CLFORMER_GEMM");
    free(x);
    harness_release(a);
}
END_TEST

/* A decoding step's products (few rows, C = x W^T) go to the dot-product kernel without timing. */
START_TEST(few_rows_take_dot_products) {
    force(CLF_GEMM_AUTO, 0);
    if (clf_device_get_info(harness_device())->is_gpu) return; /* GPUs: CLBlast decides */
    float *x = harness_random(300 * 256, -1, 1, NULL); /* the largest operand: B [300, 256] */
    cl_mem a = harness_upload(x, 300 * 256);
    clf_gemm_shape s = {.g = {.trans_b = true, .m = 16, .n = 300, .k = 256, .alpha = 1, .a = a, .b = a, .c = a},
                        .batch = 1, .lda = 256, .ldb = 256, .ldc = 300};
    clf_gemm_variant v;
    CLF_CK(clf_gemm_choose(harness_device(), &s, &v));
    ck_assert_str_eq(clf_gemm_variant_name(v), "own-dot");
    s.g.trans_b = false; /* rows of B not along k: not a dot-product shape */
    s.ldb = 300;
    CLF_CK(clf_gemm_choose(harness_device(), &s, &v));
    ck_assert_str_ne(clf_gemm_variant_name(v), "own-dot");
    free(x);
    harness_release(a);
}
END_TEST

/* The epilogue (bias, pre, activation) fused into the kernel that writes C, in every own variant and
 * in the measured choice, against the float64 linear layer: y = act(x W^T + b) and pre = x W^T + b.
 * CLBlast does not fuse: it must say so and leave the plain product. Unwritten elements stay NaN. */
START_TEST(epilogue_fused) {
    force(VARIANTS[_i].v, VARIANTS[_i].parts);
    const int shapes[][3] = {{1, 1, 1}, {1, 13, 7}, {7, 33, 257}, {16, 300, 256}, {33, 65, 40}, {70, 32, 9}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int act = 0; act < 3; act++)
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                int n = shapes[i][0], out = shapes[i][1], in = shapes[i][2];
                size_t no = (size_t)n * out;
                double *rx, *rw, *rb;
                float *x = harness_random((size_t)n * in, -1, 1, &rx), *w = harness_random((size_t)out * in, -1, 1, &rw);
                float *b = harness_random((size_t)out, -1, 1, &rb);
                cl_mem dx = harness_upload(x, (size_t)n * in), dw = harness_upload(w, (size_t)out * in);
                cl_mem db = harness_upload(b, (size_t)out), dy = harness_poisoned(no), dpre = harness_poisoned(no);
                clf_gemm_args g = {.trans_b = true, .m = (size_t)n, .n = (size_t)out, .k = (size_t)in, .alpha = 1,
                                   .a = dx, .b = dw, .c = dy};
                clf_gemm_epilogue e = {.bias = with_bias ? db : NULL, .pre = dpre, .act = act};
                bool fused, will_fuse;
                CLF_CK(clf_gemm_fuses_epilogue(harness_device(), &g, &will_fuse));
                CLF_CK(clf_gemm_epi(harness_device(), &g, &e, &fused));
                ck_assert_int_eq(fused, will_fuse);
                double *ry = malloc(no * sizeof *ry), *rpre = malloc(no * sizeof *rpre);
                ck_assert_ptr_nonnull(ry);
                ck_assert_ptr_nonnull(rpre);
                ref_linear_fwd(ry, rpre, rx, rw, with_bias ? rb : NULL, n, in, out, (clf_activation)act);
                if (!fused) { /* the plain product, and pre untouched */
                    ck_assert_int_eq(VARIANTS[_i].v, CLF_GEMM_CLBLAST);
                    ref_linear_fwd(ry, NULL, rx, rw, NULL, n, in, out, CLF_ACT_NONE);
                    for (size_t el = 0; el < no; el++) rpre[el] = NAN;
                }
                /* pre as a dot product's error (the bias one more term); y within GELU's steepest slope
                 * (1.13) of that, and a few roundings of the activation itself */
                double *ax = abs_copy(rx, (size_t)n * in), *aw = abs_copy(rw, (size_t)out * in);
                double *bound = malloc(no * sizeof *bound), *ybound = malloc(no * sizeof *ybound);
                ck_assert_ptr_nonnull(bound);
                ck_assert_ptr_nonnull(ybound);
                for (int r = 0; r < n; r++)
                    for (int j = 0; j < out; j++) bound[r * out + j] = with_bias && fused ? fabs(rb[j]) : 0.0;
                ref_gemm(false, true, (size_t)n, (size_t)out, (size_t)in, 1.0, ax, (size_t)in, aw, (size_t)in, 1.0,
                         bound, (size_t)out);
                double gamma = (double)(in + 2) * UNIT_ROUNDOFF / (1 - (double)(in + 2) * UNIT_ROUNDOFF);
                for (size_t el = 0; el < no; el++) {
                    bound[el] *= gamma;
                    ybound[el] = 1.13 * bound[el] + 16 * UNIT_ROUNDOFF * fabs(ry[el]);
                }
                char what[128];
                snprintf(what, sizeof what, "%s epilogue n=%d in=%d out=%d act=%d bias=%d",
                         clf_gemm_variant_name(VARIANTS[_i].v), n, in, out, act, with_bias);
                float *got = harness_download(dy, no), *got_pre = harness_download(dpre, no);
                harness_expect_bounded(what, got, ry, ybound, no);
                harness_expect_bounded(what, got_pre, rpre, bound, no);
                free(got);
                free(got_pre);
                free(ry);
                free(rpre);
                free(ax);
                free(aw);
                free(bound);
                free(ybound);
                free(x);
                free(w);
                free(b);
                free(rx);
                free(rw);
                free(rb);
                harness_release(dx);
                harness_release(dw);
                harness_release(db);
                harness_release(dy);
                harness_release(dpre);
            }
    clf_gemm_args bad = {.trans_b = true, .m = 1, .n = 1, .k = 1};
    clf_gemm_epilogue e = {.act = 7};
    ck_assert_int_eq(clf_gemm_epi(harness_device(), &bad, &e, NULL), CLF_ERR_INVALID_ARG);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, all_transposes_awkward_sizes);
    tcase_add_test(tc, own_variants_awkward_sizes);
    tcase_add_test(tc, own_local_awkward_sizes);
    tcase_add_loop_test(tc, offsets_and_leading_dims, 0, N_VARIANTS);
    tcase_add_loop_test(tc, strided_batch, 0, N_VARIANTS);
    tcase_add_loop_test(tc, k_zero_scales_c, 0, N_VARIANTS);
    tcase_add_loop_test(tc, refuses_bad_arguments, 0, N_VARIANTS);
    tcase_add_loop_test(tc, deterministic, 0, N_VARIANTS);
    tcase_add_test(tc, measured_choice_is_cached);
    tcase_add_test(tc, env_selects_path);
    tcase_add_test(tc, few_rows_take_dot_products);
    tcase_add_loop_test(tc, epilogue_fused, 0, N_VARIANTS);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
