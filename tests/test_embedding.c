/* Embedding forward and backward against the float64 reference (itself checked by finite
 * differences), the positional table, repeated and unused ids, accumulation, determinism, bad
 * arguments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/embedding.h"
#include "ref/fd.h"
#include "ref/ref_embedding.h"

typedef struct emb_case {
    int n, t, d, vocab, use_pe;
} emb_case;

static const emb_case cases[] = {
    {1, 1, 1, 1, 1},       {7, 7, 13, 7, 1},     {33, 11, 64, 259, 1}, {257, 257, 257, 259, 0},
    {66, 33, 1000, 7, 1},  {257, 1, 7, 1, 1},    {520, 13, 13, 259, 1}, /* past one sort block */
    {4096, 256, 64, 259, 1},                                           /* the training shape's rows */
};

/* The device's default launch, the GPU layout, and an odd mix; the backward must agree bit for bit. */
static const clf_embedding_cfg cfgs[] = {{0, 0}, {64, 256}, {8, 32}};
#define N_CFGS (sizeof cfgs / sizeof *cfgs)

/* Ids with repeats and unused ones: only even ids, and id vocab - 1 for about a third of the rows. */
static int32_t *random_tokens(int n, int vocab) {
    int32_t *tok = malloc((size_t)n * sizeof *tok);
    ck_assert_ptr_nonnull(tok);
    int evens = (vocab + 1) / 2;
    for (int r = 0; r < n; r++)
        tok[r] = harness_below(3) == 0 ? vocab - 1 : (int32_t)(2 * harness_below((uint32_t)evens));
    return tok;
}

START_TEST(positional_table_follows_spec) {
    const int dims[] = {1, 7, 512};
    for (size_t k = 0; k < sizeof dims / sizeof *dims; k++) {
        int d = dims[k], max_len = 300;
        float *pe = malloc((size_t)max_len * (size_t)d * sizeof *pe);
        clf_positional_table(pe, max_len, d);
        for (int j = 0; j < d; j++) ck_assert(pe[j] == (j % 2 ? 1.0f : 0.0f)); /* position 0 */
        for (int p = 0; p < max_len; p++)
            for (int j = 0; j < d; j++) {
                /* 10000^(-2i/d) written as exp(-2i ln 10000 / d): the same value by another road */
                double freq = exp(-(double)(j / 2 * 2) * log(10000.0) / d), a = p * freq;
                double want = j % 2 ? cos(a) : sin(a), got = pe[(size_t)p * d + j];
                ck_assert_msg(fabs(got - want) <= 1e-6, "PE[%d, %d] of d=%d: %.9g, want %.9g", p, j, d, got, want);
            }
        free(pe);
    }
}
END_TEST

static void check_case(const emb_case *c, const clf_embedding_cfg *cfg) {
    clf_device *dev = harness_device();
    const int n = c->n, t = c->t, d = c->d, vocab = c->vocab, max_len = t + 3;
    const size_t nd = (size_t)n * d, vd = (size_t)vocab * d;
    const float scale = sqrtf((float)d);
    int32_t *tok = random_tokens(n, vocab);
    double *tabled, *dtd, *doutd, *ped = NULL;
    float *table = harness_random(vd, -1, 1, &tabled), *dt0 = harness_random(vd, -1, 1, &dtd);
    float *dout = harness_random(nd, -1, 1, &doutd);
    float *pe = malloc((size_t)max_len * d * sizeof *pe);
    clf_positional_table(pe, max_len, d);
    ped = harness_to_double(pe, (size_t)max_len * d);
    cl_mem mtab = harness_upload(table, vd), mtok = harness_upload_int(tok, (size_t)n);
    cl_mem mpe = c->use_pe ? harness_upload(pe, (size_t)max_len * d) : NULL, mout = harness_poisoned(nd);
    char what[96];

    CLF_CK(clf_embedding_fwd_cfg(dev, mout, mtab, mtok, mpe, n, t, d, vocab, scale, cfg));
    double *ref = malloc(nd * sizeof *ref);
    ref_embedding_fwd(ref, tabled, tok, c->use_pe ? ped : NULL, n, t, d, scale);
    float *got = harness_download(mout, nd);
    snprintf(what, sizeof what, "embedding_fwd n=%d t=%d d=%d vocab=%d pe=%d wg=%d", n, t, d, vocab, c->use_pe,
             cfg->wg);
    harness_expect_close(what, got, ref, nd, 1e-5);
    free(got);

    cl_mem mdt = harness_upload(dt0, vd), mdout = harness_upload(dout, nd);
    cl_mem ws = harness_poisoned(clf_embedding_workspace_floats(n, d, vocab));
    CLF_CK(clf_embedding_bwd_cfg(dev, mdt, mdout, mtok, ws, n, d, vocab, scale, cfg));
    ref_embedding_bwd(dtd, doutd, tok, n, d, scale);
    got = harness_download(mdt, vd);
    snprintf(what, sizeof what, "embedding_bwd n=%d d=%d vocab=%d wg=%d sort_wg=%d", n, d, vocab, cfg->wg,
             cfg->sort_wg);
    harness_expect_close(what, got, dtd, vd, 1e-5);
    /* ids that no row holds keep their prefill bit for bit */
    for (int v = 0; v < vocab; v++) {
        int used = 0;
        for (int r = 0; r < n && !used; r++) used = tok[r] == v;
        if (!used)
            ck_assert_msg(memcmp(got + (size_t)v * d, dt0 + (size_t)v * d, (size_t)d * sizeof *got) == 0,
                          "unused id %d of vocab %d was written", v, vocab);
    }
    free(got);

    free(tok), free(tabled), free(dtd), free(doutd), free(ped), free(table), free(dt0), free(dout), free(pe);
    free(ref);
    harness_release(mtab), harness_release(mtok), harness_release(mpe), harness_release(mout);
    harness_release(mdt), harness_release(mdout), harness_release(ws);
}

START_TEST(matches_reference) {
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (size_t k = 0; k < N_CFGS; k++) check_case(&cases[i], &cfgs[k]);
}
END_TEST

/* Every row on one id: the longest possible sum, in one bucket. */
START_TEST(backward_one_id_takes_every_row) {
    const emb_case c = {3000, 3000, 33, 1, 0};
    for (size_t k = 0; k < N_CFGS; k++) check_case(&c, &cfgs[k]);
}
END_TEST

typedef struct fd_ctx {
    int n, t, d;
    const int32_t *tok;
    const double *pe, *w;
    double scale;
} fd_ctx;

static double fd_loss(const double *table, size_t n_table, void *p) {
    (void)n_table;
    fd_ctx *c = p;
    size_t nd = (size_t)c->n * (size_t)c->d;
    double *out = malloc(nd * sizeof *out), s = 0;
    ref_embedding_fwd(out, table, c->tok, c->pe, c->n, c->t, c->d, c->scale);
    for (size_t k = 0; k < nd; k++) s += c->w[k] * out[k];
    free(out);
    return s;
}

START_TEST(reference_backward_matches_finite_differences) {
    const int n = 12, t = 4, d = 5, vocab = 7;
    int32_t *tok = random_tokens(n, vocab);
    double *table, *w, *pe;
    float *f[3] = {harness_random((size_t)vocab * d, -1, 1, &table), harness_random((size_t)n * d, -1, 1, &w),
                   harness_random((size_t)t * d, -1, 1, &pe)};
    double *dt = calloc((size_t)vocab * d, sizeof *dt);
    ref_embedding_bwd(dt, w, tok, n, d, 2.5);
    fd_ctx c = {n, t, d, tok, pe, w, 2.5};
    double err = fd_check(fd_loss, table, (size_t)vocab * d, dt, &c, 1e-6);
    ck_assert_msg(err < 1e-8, "finite-difference error %g", err);
    for (int k = 0; k < 3; k++) free(f[k]);
    free(tok), free(table), free(w), free(pe), free(dt);
}
END_TEST

/* Two runs of each launch, and every launch against the first: the same bits. */
START_TEST(backward_is_bit_identical_between_runs) {
    clf_device *dev = harness_device();
    const int n = 4096, d = 67, vocab = 7;
    int32_t *tok = random_tokens(n, vocab);
    float *dout = harness_random((size_t)n * d, -1, 1, NULL), *dt0 = harness_random((size_t)vocab * d, -1, 1, NULL);
    cl_mem mtok = harness_upload_int(tok, (size_t)n), mdout = harness_upload(dout, (size_t)n * d);
    cl_mem ws = harness_poisoned(clf_embedding_workspace_floats(n, d, vocab));
    float *got[2 * N_CFGS];
    for (size_t run = 0; run < 2 * N_CFGS; run++) {
        cl_mem mdt = harness_upload(dt0, (size_t)vocab * d);
        CLF_CK(clf_embedding_bwd_cfg(dev, mdt, mdout, mtok, ws, n, d, vocab, 0.75f, &cfgs[run / 2]));
        got[run] = harness_download(mdt, (size_t)vocab * d);
        harness_release(mdt);
    }
    for (size_t run = 1; run < 2 * N_CFGS; run++) {
        ck_assert_msg(memcmp(got[0], got[run], (size_t)vocab * d * sizeof(float)) == 0,
                      "dtable of run %zu (wg %d, sort_wg %d) differs from the first", run, cfgs[run / 2].wg,
                      cfgs[run / 2].sort_wg);
        free(got[run]);
    }
    free(got[0]), free(tok), free(dout), free(dt0);
    harness_release(mtok), harness_release(mdout), harness_release(ws);
}
END_TEST

START_TEST(rejects_invalid_arguments) {
    clf_device *dev = harness_device();
    const int n = 6, t = 3, d = 5, vocab = 4;
    int32_t tok[6] = {0, 1, 2, 3, 0, 1};
    cl_mem out = harness_poisoned((size_t)n * d), table = harness_poisoned((size_t)vocab * d);
    cl_mem mtok = harness_upload_int(tok, (size_t)n), pe = harness_poisoned((size_t)t * d);
    cl_mem small = harness_poisoned(2), ws = harness_poisoned(clf_embedding_workspace_floats(n, d, vocab));
    ck_assert_uint_gt(clf_embedding_workspace_floats(n, d, vocab), 0);
    ck_assert_int_eq(clf_embedding_fwd(NULL, out, table, mtok, pe, n, t, d, vocab, 1), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_embedding_fwd(dev, NULL, table, mtok, pe, n, t, d, vocab, 1), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "out"));
    ck_assert_int_eq(clf_embedding_fwd(dev, out, table, NULL, pe, n, t, d, vocab, 1), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "tokens"));
    ck_assert_int_eq(clf_embedding_fwd(dev, out, table, mtok, pe, 0, t, d, vocab, 1), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_embedding_fwd(dev, out, table, mtok, pe, n, 0, d, vocab, 1), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_embedding_fwd(dev, out, table, mtok, pe, n, 4, d, vocab, 1), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "multiple"));
    ck_assert_int_eq(clf_embedding_fwd(dev, out, table, mtok, pe, n, t, d, 0, 1), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_embedding_fwd(dev, out, table, mtok, pe, n, t, d, vocab, NAN), CLF_ERR_INVALID_ARG);
    /* shape mismatches: a table for fewer ids, a positional table shorter than t */
    ck_assert_int_eq(clf_embedding_fwd(dev, out, table, mtok, pe, n, t, d, vocab + 1, 1), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "table"));
    ck_assert_int_eq(clf_embedding_fwd(dev, out, table, mtok, pe, n, n, d, vocab, 1), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "pe"));
    CLF_CK(clf_embedding_fwd(dev, out, table, mtok, pe, n, t, d, vocab, 1));
    ck_assert_int_eq(clf_embedding_bwd(dev, table, out, mtok, NULL, n, d, vocab, 1), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "workspace"));
    ck_assert_int_eq(clf_embedding_bwd(dev, table, out, mtok, small, n, d, vocab, 1), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_embedding_bwd(dev, small, out, mtok, ws, n, d, vocab, 1), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "dtable"));
    ck_assert_int_eq(clf_embedding_bwd(dev, table, out, mtok, ws, n, -1, vocab, 1), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_embedding_bwd(dev, table, out, mtok, ws, n, d, vocab, INFINITY), CLF_ERR_INVALID_ARG);
    CLF_CK(clf_embedding_bwd(dev, table, out, mtok, ws, n, d, vocab, 1));
    ck_assert_uint_eq(clf_embedding_workspace_floats(0, d, vocab), 0);
    const clf_embedding_cfg odd = {3, 0}, huge = {0, 1 << 30};
    ck_assert_int_eq(clf_embedding_fwd_cfg(dev, out, table, mtok, pe, n, t, d, vocab, 1, &odd), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "wg"));
    ck_assert_int_eq(clf_embedding_bwd_cfg(dev, table, out, mtok, ws, n, d, vocab, 1, &huge), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "sort_wg"));
    harness_release(out), harness_release(table), harness_release(mtok), harness_release(pe);
    harness_release(small), harness_release(ws);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("embedding");
    TCase *tc = tcase_create("embedding");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, positional_table_follows_spec);
    tcase_add_test(tc, reference_backward_matches_finite_differences);
    tcase_add_test(tc, matches_reference);
    tcase_add_test(tc, backward_one_id_takes_every_row);
    tcase_add_test(tc, backward_is_bit_identical_between_runs);
    tcase_add_test(tc, rejects_invalid_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
