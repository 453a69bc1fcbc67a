/* Attention, both paths: fused (cl/attention.cl, both kernel families: register tiles and work-groups,
 * each forced on whatever device runs the test) and materialized (GEMM + cl/softmax.cl), forward and
 * backward against the float64 reference, against each other for every mask combination, the
 * all-masked row, determinism and argument checks; the reference backward against finite differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ref/fd.h"
#include "ref/ref_attention.h"

enum mask_kind { MASK_NONE, MASK_PAD, MASK_PAD_EMPTY }; /* MASK_PAD_EMPTY: batch item 0 masks every key */
static const char *const mask_names[] = {"none", "pad", "pad+empty"};

/* One problem: inputs, mask, dropout and the reference results. */
typedef struct problem {
    clf_attention_shape s;
    enum mask_kind mask;
    int32_t *kmask; /* NULL for MASK_NONE */
    clf_dropout drop;
    const clf_dropout *dp; /* NULL or &drop */
    size_t nq, nk, nl, np; /* floats in q (and o), k (and v), lse, p */
    float *q, *k, *v, *dout;
    float *pq, *pk, *pv; /* what dq, dk, dv hold before backward accumulates */
    double *o_ref, *lse_ref, *p_ref, *dq_ref, *dk_ref, *dv_ref;
    char name[160];
} problem;

/* The three ways to compute attention. */
enum path { PATH_MATMUL, PATH_TILES, PATH_GROUPS, PATH_ROWS, N_PATHS };
static const char *const path_names[] = {"materialized", "fused tiles", "fused groups", "fused rows"};

/* What one path produced: forward outputs and the backward contributions (result minus prefill). */
typedef struct result {
    float *o, *saved; /* saved: lse (fused) or p (materialized) */
    float *dq, *dk, *dv;     /* raw accumulated buffers */
    float *dq_c, *dk_c, *dv_c; /* contributions */
} result;

/* drop_p < 0: no dropout struct (NULL); otherwise a struct with that p. */
static void problem_make(problem *pb, int batch, int heads, int tq, int tk, int dh, int causal, enum mask_kind mask,
                         float drop_p) {
    memset(pb, 0, sizeof *pb);
    pb->s = (clf_attention_shape){batch, heads, tq, tk, dh, causal};
    pb->mask = mask;
    size_t d = (size_t)heads * dh;
    pb->nq = (size_t)batch * tq * d;
    pb->nk = (size_t)batch * tk * d;
    pb->nl = (size_t)batch * heads * tq;
    pb->np = pb->nl * tk;
    if (mask != MASK_NONE) {
        pb->kmask = malloc((size_t)batch * tk * sizeof *pb->kmask);
        for (int i = 0; i < batch * tk; i++) pb->kmask[i] = harness_uniform(0, 1) < 0.7;
        if (mask == MASK_PAD_EMPTY)
            for (int j = 0; j < tk; j++) pb->kmask[j] = 0;
    }
    if (drop_p >= 0) {
        pb->drop = (clf_dropout){drop_p, ((uint64_t)harness_below(1u << 31) << 32) | harness_below(1u << 31),
                                 harness_below(1000), harness_below(100)};
        pb->dp = &pb->drop;
    }
    pb->q = harness_random(pb->nq, -2, 2, NULL);
    pb->k = harness_random(pb->nk, -2, 2, NULL);
    pb->v = harness_random(pb->nk, -1, 1, NULL);
    pb->dout = harness_random(pb->nq, -1, 1, NULL);
    pb->pq = harness_random(pb->nq, -0.5, 0.5, NULL);
    pb->pk = harness_random(pb->nk, -0.5, 0.5, NULL);
    pb->pv = harness_random(pb->nk, -0.5, 0.5, NULL);
    double *q = harness_to_double(pb->q, pb->nq), *k = harness_to_double(pb->k, pb->nk);
    double *v = harness_to_double(pb->v, pb->nk), *dout = harness_to_double(pb->dout, pb->nq);
    pb->o_ref = malloc(pb->nq * sizeof(double));
    pb->lse_ref = malloc(pb->nl * sizeof(double));
    pb->p_ref = malloc(pb->np * sizeof(double));
    pb->dq_ref = malloc(pb->nq * sizeof(double));
    pb->dk_ref = malloc(pb->nk * sizeof(double));
    pb->dv_ref = malloc(pb->nk * sizeof(double));
    ref_attention_fwd(pb->o_ref, pb->lse_ref, pb->p_ref, q, k, v, pb->kmask, &pb->s, pb->dp);
    ref_attention_bwd(pb->dq_ref, pb->dk_ref, pb->dv_ref, dout, q, k, v, pb->kmask, &pb->s, pb->dp);
    snprintf(pb->name, sizeof pb->name, "b%d h%d tq%d tk%d dh%d causal%d mask=%s drop=%g%s", batch, heads, tq, tk,
             dh, causal, mask_names[mask], drop_p < 0 ? 0.0 : (double)drop_p, drop_p < 0 ? "(NULL)" : "");
    free(q);
    free(k);
    free(v);
    free(dout);
}

static void problem_free(problem *pb) {
    free(pb->kmask);
    free(pb->q);
    free(pb->k);
    free(pb->v);
    free(pb->dout);
    free(pb->pq);
    free(pb->pk);
    free(pb->pv);
    free(pb->o_ref);
    free(pb->lse_ref);
    free(pb->p_ref);
    free(pb->dq_ref);
    free(pb->dk_ref);
    free(pb->dv_ref);
}

static float *contribution(const float *got, const float *prefill, size_t n) {
    float *c = malloc((n ? n : 1) * sizeof *c);
    for (size_t i = 0; i < n; i++) c[i] = (float)((double)got[i] - (double)prefill[i]);
    return c;
}

/* Run one path forward and backward: outputs poisoned with NaN, gradients pre-filled with random values. */
static void run_path(const problem *pb, enum path path, result *r) {
    const int fused = path != PATH_MATMUL;
    const clf_attention_kernels kern = path == PATH_TILES    ? CLF_ATTENTION_TILES
                                       : path == PATH_ROWS ? CLF_ATTENTION_ROWS
                                                           : CLF_ATTENTION_GROUPS;
    clf_device *dev = harness_device();
    const clf_attention_shape *s = &pb->s;
    cl_mem q = harness_upload(pb->q, pb->nq), k = harness_upload(pb->k, pb->nk), v = harness_upload(pb->v, pb->nk);
    cl_mem dout = harness_upload(pb->dout, pb->nq);
    cl_mem km = pb->kmask ? harness_upload_int(pb->kmask, (size_t)s->batch * s->tk) : NULL;
    size_t nsaved = fused ? pb->nl : pb->np;
    size_t nws = fused ? clf_attention_workspace_floats(s) : clf_attention_matmul_workspace_floats(s);
    cl_mem o = harness_poisoned(pb->nq), saved = harness_poisoned(nsaved), ws = harness_poisoned(nws);
    cl_mem dq = harness_upload(pb->pq, pb->nq), dk = harness_upload(pb->pk, pb->nk);
    cl_mem dv = harness_upload(pb->pv, pb->nk);
    if (fused) {
        CLF_CK(clf_attention_fwd_using(dev, kern, o, saved, q, k, v, km, s, pb->dp));
        CLF_CK(clf_attention_bwd_using(dev, kern, dq, dk, dv, dout, q, k, v, o, saved, km, ws, s, pb->dp));
    } else {
        CLF_CK(clf_attention_matmul_fwd(dev, o, saved, q, k, v, km, ws, s, pb->dp));
        CLF_CK(clf_attention_matmul_bwd(dev, dq, dk, dv, dout, q, k, v, saved, km, ws, s, pb->dp));
    }
    r->o = harness_download(o, pb->nq);
    r->saved = harness_download(saved, nsaved);
    r->dq = harness_download(dq, pb->nq);
    r->dk = harness_download(dk, pb->nk);
    r->dv = harness_download(dv, pb->nk);
    r->dq_c = contribution(r->dq, pb->pq, pb->nq);
    r->dk_c = contribution(r->dk, pb->pk, pb->nk);
    r->dv_c = contribution(r->dv, pb->pv, pb->nk);
    cl_mem all[] = {q, k, v, dout, km, o, saved, ws, dq, dk, dv};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) harness_release(all[i]);
}

static void result_free(result *r) {
    free(r->o);
    free(r->saved);
    free(r->dq);
    free(r->dk);
    free(r->dv);
    free(r->dq_c);
    free(r->dk_c);
    free(r->dv_c);
}

static void expect(const problem *pb, const char *path, const char *what, const float *got, const double *ref,
                   size_t n, double tol) {
    char label[256];
    snprintf(label, sizeof label, "%s %s [%s]", path, what, pb->name);
    harness_expect_close(label, got, ref, n, tol);
}

static void expect_vs_ref(const problem *pb, const char *path, const result *r, int fused) {
    expect(pb, path, "o", r->o, pb->o_ref, pb->nq, 1e-5);
    if (fused) expect(pb, path, "lse", r->saved, pb->lse_ref, pb->nl, 1e-5);
    else expect(pb, path, "p", r->saved, pb->p_ref, pb->np, 1e-5);
    expect(pb, path, "dq", r->dq_c, pb->dq_ref, pb->nq, 1e-5);
    expect(pb, path, "dk", r->dk_c, pb->dk_ref, pb->nk, 1e-5);
    expect(pb, path, "dv", r->dv_c, pb->dv_ref, pb->nk, 1e-5);
}

static void expect_same(const problem *pb, const char *path, const char *what, const float *fused, const float *mat,
                        size_t n) {
    double *m = harness_to_double(mat, n);
    char label[64];
    snprintf(label, sizeof label, "%s vs materialized", path);
    expect(pb, label, what, fused, m, n, 1e-5);
    free(m);
}

static void expect_finite(const problem *pb, const char *what, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(!isnan(x[i]), "%s: NaN at %zu [%s] (seed %llu)", what, i, pb->name,
                      (unsigned long long)harness_seed());
}

/* Batch item 0 masks every key: its output rows are exactly zero, its lse -inf, its probabilities
 * zero, and its gradients leave the pre-filled values exactly as they were. */
static void expect_empty_row(const problem *pb, const result *r, int fused) {
    const clf_attention_shape *s = &pb->s;
    size_t d = (size_t)s->heads * s->dh, rq = (size_t)s->tq * d, rk = (size_t)s->tk * d;
    for (size_t i = 0; i < rq; i++) {
        ck_assert_msg(r->o[i] == 0.0f, "empty row: o[%zu] = %g [%s]", i, (double)r->o[i], pb->name);
        ck_assert_msg(r->dq_c[i] == 0.0f, "empty row: dq[%zu] changed by %g [%s]", i, (double)r->dq_c[i], pb->name);
    }
    for (size_t i = 0; i < rk; i++)
        ck_assert_msg(r->dk_c[i] == 0.0f && r->dv_c[i] == 0.0f, "empty row: dk/dv[%zu] changed [%s]", i, pb->name);
    if (fused)
        for (int h = 0; h < s->heads; h++)
            for (int i = 0; i < s->tq; i++)
                ck_assert(isinf(r->saved[(size_t)h * s->tq + i]) && r->saved[(size_t)h * s->tq + i] < 0);
    else
        for (size_t i = 0; i < (size_t)s->heads * s->tq * s->tk; i++) ck_assert(r->saved[i] == 0.0f);
}

/* Every path against the reference, the fused ones against the materialized one. */
static void check_problem(problem *pb) {
    result r[N_PATHS];
    for (int p = 0; p < N_PATHS; p++) {
        run_path(pb, (enum path)p, &r[p]);
        expect_vs_ref(pb, path_names[p], &r[p], p != PATH_MATMUL);
        expect_finite(pb, "o", r[p].o, pb->nq);
        expect_finite(pb, "dq", r[p].dq, pb->nq);
        expect_finite(pb, "dk", r[p].dk, pb->nk);
        expect_finite(pb, "dv", r[p].dv, pb->nk);
        if (pb->mask == MASK_PAD_EMPTY) expect_empty_row(pb, &r[p], p != PATH_MATMUL);
    }
    expect_finite(pb, "p", r[PATH_MATMUL].saved, pb->np);
    for (int p = PATH_TILES; p < N_PATHS; p++) {
        expect_same(pb, path_names[p], "o", r[p].o, r[PATH_MATMUL].o, pb->nq);
        expect_same(pb, path_names[p], "dq", r[p].dq_c, r[PATH_MATMUL].dq_c, pb->nq);
        expect_same(pb, path_names[p], "dk", r[p].dk_c, r[PATH_MATMUL].dk_c, pb->nk);
        expect_same(pb, path_names[p], "dv", r[p].dv_c, r[PATH_MATMUL].dv_c, pb->nk);
    }
    for (int p = 0; p < N_PATHS; p++) result_free(&r[p]);
}

/* Head sizes 1, 33, 128 (8, 64 and 16 below): each is a kernel build, so few, but odd ones. */
START_TEST(awkward_shapes_match_reference) {
    static const int shapes[][6] = {
        /* batch, heads, tq, tk, dh, causal */
        {1, 1, 1, 1, 1, 0},      {2, 3, 7, 13, 1, 0},     {1, 2, 13, 257, 33, 0},
        {1, 2, 257, 257, 33, 1}, {2, 1, 65, 33, 128, 0}, {2, 2, 33, 33, 128, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int *x = shapes[i];
        problem pb;
        problem_make(&pb, x[0], x[1], x[2], x[3], x[4], x[5], i == 0 ? MASK_NONE : MASK_PAD, i % 2 ? 0.1f : -1.0f);
        check_problem(&pb);
        problem_free(&pb);
    }
}
END_TEST

/* The edges of the register tiles (16 query rows and 32-key blocks in forward and dq, 64 keys in
 * dk/dv): one row, tails of every tile, head sizes 8 and 64, and both dropout paths (tk a multiple
 * of 4 takes one Philox call per four keys, other tk one per key). */
START_TEST(tile_edges_match_reference) {
    static const int shapes[][6] = {
        /* batch, heads, tq, tk, dh, causal */
        {3, 2, 7, 7, 8, 1},    {1, 1, 1, 33, 64, 0},   {1, 2, 257, 257, 64, 0},
        {2, 1, 100, 68, 64, 0}, {1, 2, 64, 64, 64, 1}, {1, 1, 40, 40, 128, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int *x = shapes[i];
        problem pb;
        problem_make(&pb, x[0], x[1], x[2], x[3], x[4], x[5], i == 1 ? MASK_NONE : MASK_PAD, i == 0 ? 0.2f : 0.1f);
        check_problem(&pb);
        problem_free(&pb);
    }
}
END_TEST

/* Every mask combination at one shape: none, PAD, PAD with an all-masked batch item; causal or not;
 * no dropout struct, p = 0, p = 0.1. */
START_TEST(every_mask_combination) {
    static const float drops[] = {-1.0f, 0.0f, 0.1f};
    for (int mask = MASK_NONE; mask <= MASK_PAD_EMPTY; mask++)
        for (int causal = 0; causal < 2; causal++)
            for (int di = 0; di < 3; di++) {
                problem pb;
                problem_make(&pb, 3, 2, 33, 33, 16, causal, (enum mask_kind)mask, drops[di]);
                check_problem(&pb);
                problem_free(&pb);
            }
}
END_TEST

/* The fused backward's overwrite bits: a gradient named there starts poisoned with NaN and comes back
 * as the contribution alone, bit for bit what accumulating into zeros gives; the others still
 * accumulate onto their prefill. Both kernel families; masks, causal, dropout, tile tails. */
static void check_overwrite(const problem *pb, clf_attention_kernels kern, unsigned ow) {
    clf_device *dev = harness_device();
    const clf_attention_shape *s = &pb->s;
    cl_mem q = harness_upload(pb->q, pb->nq), k = harness_upload(pb->k, pb->nk), v = harness_upload(pb->v, pb->nk);
    cl_mem dout = harness_upload(pb->dout, pb->nq);
    cl_mem km = pb->kmask ? harness_upload_int(pb->kmask, (size_t)s->batch * s->tk) : NULL;
    cl_mem o = harness_poisoned(pb->nq), lse = harness_poisoned(pb->nl);
    cl_mem ws = harness_poisoned(clf_attention_workspace_floats(s));
    CLF_CK(clf_attention_fwd_using(dev, kern, o, lse, q, k, v, km, s, pb->dp));
    const unsigned bit[3] = {CLF_OVERWRITE_DQ, CLF_OVERWRITE_DK, CLF_OVERWRITE_DV};
    const size_t n[3] = {pb->nq, pb->nk, pb->nk};
    float *pre[3] = {pb->pq, pb->pk, pb->pv};
    const double *ref[3] = {pb->dq_ref, pb->dk_ref, pb->dv_ref};
    const char *names[3] = {"dq", "dk", "dv"};
    cl_mem g[3], z[3]; /* overwriting, and accumulating into zeros (or the same prefill) */
    for (int i = 0; i < 3; i++) {
        float *zero = calloc(n[i], sizeof *zero);
        g[i] = ow & bit[i] ? harness_poisoned(n[i]) : harness_upload(pre[i], n[i]);
        z[i] = harness_upload(ow & bit[i] ? zero : pre[i], n[i]);
        free(zero);
    }
    const clf_attention_cfg cfg = {kern, ow}, acc = {kern, 0};
    CLF_CK(clf_attention_bwd_cfg(dev, g[0], g[1], g[2], dout, q, k, v, o, lse, km, ws, s, pb->dp, &cfg));
    CLF_CK(clf_attention_bwd_cfg(dev, z[0], z[1], z[2], dout, q, k, v, o, lse, km, ws, s, pb->dp, &acc));
    for (int i = 0; i < 3; i++) {
        float *got = harness_download(g[i], n[i]), *want = harness_download(z[i], n[i]);
        float *c = ow & bit[i] ? got : contribution(got, pre[i], n[i]);
        char what[64];
        snprintf(what, sizeof what, "overwrite 0x%x kernels %d: %s", ow, (int)kern, names[i]);
        expect(pb, "fused", what, c, ref[i], n[i], 1e-5);
        ck_assert_msg(memcmp(got, want, n[i] * sizeof *got) == 0, "%s [%s]: not the bits of accumulating into zeros",
                      what, pb->name);
        if (c != got) free(c);
        free(got), free(want);
        harness_release(g[i]), harness_release(z[i]);
    }
    cl_mem all[] = {q, k, v, dout, km, o, lse, ws};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) harness_release(all[i]);
}

START_TEST(backward_overwrites) {
    static const int shapes[][6] = {
        /* batch, heads, tq, tk, dh, causal */
        {3, 2, 7, 7, 8, 1}, {2, 1, 100, 68, 64, 0}, {1, 2, 65, 33, 33, 0}, {2, 3, 7, 13, 1, 0},
    };
    static const unsigned modes[] = {7u, 1u, 6u, 4u};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int *x = shapes[i];
        problem pb;
        problem_make(&pb, x[0], x[1], x[2], x[3], x[4], x[5], i == 0 ? MASK_PAD_EMPTY : i == 2 ? MASK_NONE : MASK_PAD,
                     i == 2 ? -1.0f : 0.1f);
        for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
            check_overwrite(&pb, CLF_ATTENTION_TILES, modes[m]);
            check_overwrite(&pb, CLF_ATTENTION_GROUPS, modes[m]);
        }
        problem_free(&pb);
    }
}
END_TEST

START_TEST(deterministic) {
    problem pb;
    problem_make(&pb, 2, 2, 45, 45, 16, 1, MASK_PAD, 0.1f);
    for (int path = 0; path < N_PATHS; path++) {
        const int fused = path != PATH_MATMUL;
        result a, b;
        run_path(&pb, (enum path)path, &a);
        run_path(&pb, (enum path)path, &b);
        ck_assert(memcmp(a.o, b.o, pb.nq * sizeof(float)) == 0);
        ck_assert(memcmp(a.saved, b.saved, (fused ? pb.nl : pb.np) * sizeof(float)) == 0);
        ck_assert(memcmp(a.dq, b.dq, pb.nq * sizeof(float)) == 0);
        ck_assert(memcmp(a.dk, b.dk, pb.nk * sizeof(float)) == 0);
        ck_assert(memcmp(a.dv, b.dv, pb.nk * sizeof(float)) == 0);
        result_free(&a);
        result_free(&b);
    }
    problem_free(&pb);
}
END_TEST

/* The reference backward against central differences of sum(o * g). */
typedef struct fd_ctx {
    problem *pb;
    const double *g;
} fd_ctx;

static double fd_loss(const double *x, size_t n, void *vctx) {
    fd_ctx *c = vctx;
    problem *pb = c->pb;
    (void)n;
    double *o = malloc(pb->nq * sizeof *o);
    ref_attention_fwd(o, NULL, NULL, x, x + pb->nq, x + pb->nq + pb->nk, pb->kmask, &pb->s, pb->dp);
    double loss = 0;
    for (size_t i = 0; i < pb->nq; i++) loss += o[i] * c->g[i];
    free(o);
    return loss;
}

START_TEST(reference_backward_matches_finite_differences) {
    static const int shapes[][6] = {{2, 2, 3, 5, 3, 0}, {2, 2, 4, 4, 3, 1}};
    for (int t = 0; t < 2; t++) {
        const int *x = shapes[t];
        problem pb;
        problem_make(&pb, x[0], x[1], x[2], x[3], x[4], x[5], t ? MASK_PAD_EMPTY : MASK_PAD, 0.3f);
        size_t n = pb.nq + 2 * pb.nk;
        double *in = malloc(n * sizeof *in), *grad = malloc(n * sizeof *grad);
        double *q = harness_to_double(pb.q, pb.nq), *k = harness_to_double(pb.k, pb.nk);
        double *v = harness_to_double(pb.v, pb.nk), *g = harness_to_double(pb.dout, pb.nq);
        memcpy(in, q, pb.nq * sizeof *in);
        memcpy(in + pb.nq, k, pb.nk * sizeof *in);
        memcpy(in + pb.nq + pb.nk, v, pb.nk * sizeof *in);
        memcpy(grad, pb.dq_ref, pb.nq * sizeof *grad);
        memcpy(grad + pb.nq, pb.dk_ref, pb.nk * sizeof *grad);
        memcpy(grad + pb.nq + pb.nk, pb.dv_ref, pb.nk * sizeof *grad);
        fd_ctx ctx = {&pb, g};
        double err = fd_check(fd_loss, in, n, grad, &ctx, 1e-5);
        ck_assert_msg(err < 1e-7, "reference backward vs finite differences: %g [%s]", err, pb.name);
        free(in);
        free(grad);
        free(q);
        free(k);
        free(v);
        free(g);
        problem_free(&pb);
    }
}
END_TEST

START_TEST(invalid_arguments) {
    clf_device *dev = harness_device();
    cl_mem m = harness_poisoned(4096);
    clf_attention_shape ok = {1, 2, 4, 4, 8, 0}, big = {1, 1, 4, 4, CLF_ATTENTION_MAX_DH + 1, 0};
    clf_attention_shape zero = {0, 2, 4, 4, 8, 0}, causal = {1, 2, 4, 5, 8, 1};
    clf_dropout bad = {1.0f, 1, 1, 1};
    const clf_attention_shape *shapes[] = {&big, &zero, &causal, NULL};
    for (int i = 0; i < 4; i++) {
        const clf_attention_shape *s = shapes[i];
        ck_assert_int_eq(clf_attention_fwd(dev, m, m, m, m, m, NULL, s, NULL), CLF_ERR_INVALID_ARG);
        ck_assert_int_eq(clf_attention_bwd(dev, m, m, m, m, m, m, m, m, m, NULL, m, s, NULL), CLF_ERR_INVALID_ARG);
        ck_assert_int_eq(clf_attention_matmul_fwd(dev, m, m, m, m, m, NULL, m, s, NULL), CLF_ERR_INVALID_ARG);
        ck_assert_int_eq(clf_attention_matmul_bwd(dev, m, m, m, m, m, m, m, m, NULL, m, s, NULL),
                         CLF_ERR_INVALID_ARG);
    }
    ck_assert_ptr_nonnull(strstr((clf_attention_fwd(dev, m, m, m, m, m, NULL, &big, NULL), clf_errmsg()), "dh"));
    ck_assert_int_eq(clf_attention_fwd(dev, m, m, m, m, m, NULL, &ok, &bad), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_attention_matmul_fwd(dev, m, m, m, m, m, NULL, m, &ok, &bad), CLF_ERR_INVALID_ARG);
    /* each null buffer in turn is named */
    for (int i = 0; i < 5; i++) {
        cl_mem a[5] = {m, m, m, m, m};
        a[i] = NULL;
        ck_assert_int_eq(clf_attention_fwd(dev, a[0], a[1], a[2], a[3], a[4], NULL, &ok, NULL), CLF_ERR_INVALID_ARG);
        ck_assert_int_eq(clf_attention_matmul_fwd(dev, a[0], a[1], a[2], a[3], a[4], NULL, m, &ok, NULL),
                         CLF_ERR_INVALID_ARG);
    }
    for (int i = 0; i < 10; i++) {
        cl_mem a[10] = {m, m, m, m, m, m, m, m, m, m};
        a[i] = NULL;
        ck_assert_int_eq(clf_attention_bwd(dev, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], NULL, a[9],
                                           &ok, NULL),
                         CLF_ERR_INVALID_ARG);
        if (i < 9)
            ck_assert_int_eq(clf_attention_matmul_bwd(dev, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], NULL, a[8],
                                                      &ok, NULL),
                             CLF_ERR_INVALID_ARG);
    }
    ck_assert_int_eq(clf_attention_matmul_fwd(dev, m, m, m, m, m, NULL, NULL, &ok, NULL), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "workspace"));
    ck_assert_int_eq(clf_attention_fwd(NULL, m, m, m, m, m, NULL, &ok, NULL), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_attention_fwd_using(dev, (clf_attention_kernels)7, m, m, m, m, m, NULL, &ok, NULL),
                     CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "kernel family"));
    ck_assert_int_eq(clf_attention_bwd_using(dev, (clf_attention_kernels)-1, m, m, m, m, m, m, m, m, m, NULL, m, &ok,
                                             NULL),
                     CLF_ERR_INVALID_ARG);
    /* overwrite: an unknown bit; a buffer given for two gradients (the second write would add) */
    cl_mem m2 = harness_poisoned(4096);
    const clf_attention_cfg bad_bit = {CLF_ATTENTION_AUTO, 8u}, shared = {CLF_ATTENTION_AUTO, CLF_OVERWRITE_DQ};
    ck_assert_int_eq(clf_attention_bwd_cfg(dev, m, m2, m2, m, m, m, m, m, m, NULL, m, &ok, NULL, &bad_bit),
                     CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "overwrite"));
    ck_assert_int_eq(clf_attention_bwd_cfg(dev, m, m, m2, m, m, m, m, m, m, NULL, m, &ok, NULL, &shared),
                     CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "two gradients"));
    harness_release(m2);
    harness_release(m);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("attention");
    TCase *tc = tcase_create("attention");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, invalid_arguments);
    tcase_add_test(tc, reference_backward_matches_finite_differences);
    tcase_add_test(tc, awkward_shapes_match_reference);
    tcase_add_test(tc, tile_edges_match_reference);
    tcase_add_test(tc, every_mask_combination);
    tcase_add_test(tc, deterministic);
    tcase_add_test(tc, backward_overwrites);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
