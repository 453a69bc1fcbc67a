/* The optimizer: gradient norm and AdamW against float64 references over several steps, the decay
 * boundary, clipping, skipped non-finite steps (bit for bit), figures from torch itself,
 * determinism and argument checks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/adamw.h"
#include "ref/ref_adamw.h"

static cl_mem upload_state(int32_t t) { return harness_upload_int(&t, 1); }

static int32_t download_state(cl_mem state) {
    int32_t t;
    CLF_CK(clf_buffer_read(harness_device(), state, 0, sizeof t, &t));
    return t;
}

/* The device norm of g (n floats); the workspace is poisoned so an unwritten partial shows. */
static float device_norm(cl_mem d_g, size_t n) {
    cl_mem ws = harness_poisoned(clf_grad_norm_workspace_floats(n)), norm = harness_poisoned(1);
    CLF_CK(clf_grad_norm(harness_device(), norm, d_g, ws, n));
    float *got = harness_download(norm, 1), r = got[0];
    free(got);
    harness_release(ws);
    harness_release(norm);
    return r;
}

START_TEST(grad_norm_matches_reference) {
    const size_t sizes[] = {1, 7, 13, 257, 1000003};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        double *ref;
        float *g = harness_random(n, -3, 3, &ref);
        cl_mem d_g = harness_upload(g, n);
        float got = device_norm(d_g, n);
        double want = ref_grad_norm(ref, n);
        char what[64];
        snprintf(what, sizeof what, "grad_norm n=%zu", n);
        harness_expect_close(what, &got, &want, 1, 1e-5);
        ck_assert_uint_le(clf_grad_norm_workspace_floats(n), 1024);
        harness_release(d_g);
        free(g);
        free(ref);
    }
}
END_TEST

typedef struct opt_case {
    size_t n, n_decay;
    float max_norm;
} opt_case;

/* `steps` steps from state t0 on device and in the reference, compared after each. */
static void check_steps(opt_case c, int t0, int steps, const clf_adamw_params *hp) {
    clf_device *dev = harness_device();
    size_t n = c.n;
    ref_adamw_params rp = {hp->lr, hp->beta1, hp->beta2, hp->eps, hp->weight_decay, hp->max_norm};
    double *p_ref, *m_ref, *v_ref;
    float *p = harness_random(n, -1, 1, &p_ref);
    float *m = harness_random(n, t0 ? -0.1 : 0, t0 ? 0.1 : 0, &m_ref);
    float *v = harness_random(n, 0, t0 ? 0.01 : 0, &v_ref);
    cl_mem d_p = harness_upload(p, n), d_m = harness_upload(m, n), d_v = harness_upload(v, n);
    cl_mem d_state = upload_state(t0), d_norm = harness_poisoned(1);
    cl_mem ws = harness_poisoned(clf_grad_norm_workspace_floats(n));
    int t_ref = t0;
    for (int s = 0; s < steps; s++) {
        double *g_ref;
        float *g = harness_random(n, -2, 2, &g_ref);
        cl_mem d_g = harness_upload(g, n);
        CLF_CK(clf_grad_norm(dev, d_norm, d_g, ws, n));
        CLF_CK(clf_adamw_step(dev, d_p, d_m, d_v, d_state, d_g, d_norm, n, c.n_decay, hp));
        ck_assert_int_eq(ref_adamw_step(p_ref, m_ref, v_ref, &t_ref, g_ref, ref_grad_norm(g_ref, n), n, c.n_decay,
                                        &rp),
                         1);
        float *gp = harness_download(d_p, n), *gm = harness_download(d_m, n), *gv = harness_download(d_v, n);
        char what[128];
        snprintf(what, sizeof what, "params n=%zu decay<%zu max_norm=%g t=%d", n, c.n_decay, (double)c.max_norm,
                 t_ref);
        harness_expect_close(what, gp, p_ref, n, 1e-5);
        snprintf(what, sizeof what, "m n=%zu max_norm=%g t=%d", n, (double)c.max_norm, t_ref);
        harness_expect_close(what, gm, m_ref, n, 1e-5);
        snprintf(what, sizeof what, "v n=%zu max_norm=%g t=%d", n, (double)c.max_norm, t_ref);
        harness_expect_close(what, gv, v_ref, n, 1e-5);
        ck_assert_int_eq(download_state(d_state), t_ref);
        free(gp);
        free(gm);
        free(gv);
        free(g);
        free(g_ref);
        harness_release(d_g);
    }
    free(p);
    free(m);
    free(v);
    free(p_ref);
    free(m_ref);
    free(v_ref);
    harness_release(d_p);
    harness_release(d_m);
    harness_release(d_v);
    harness_release(d_state);
    harness_release(d_norm);
    harness_release(ws);
}

START_TEST(adamw_matches_reference) {
    /* decay boundaries inside a float4, at its edge, none and all; clipping off, active (the norm of
     * n uniform(-2, 2) values is about 1.15 sqrt(n)) and inactive */
    const opt_case cases[] = {{1, 1, 0},       {1, 0, 0.5f},     {7, 5, 0},          {7, 4, 1.0f},
                              {7, 7, 100},     {1001, 777, 0},   {1001, 777, 3.0f},  {1001, 0, 1e4f},
                              {4099, 4096, 5}, {4099, 1, 0},     {100003, 65537, 10}};
    clf_adamw_params hp = {1e-2f, 0.9f, 0.98f, 1e-9f, 0.1f, 0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hp.max_norm = cases[i].max_norm;
        check_steps(cases[i], 0, 4, &hp);
    }
    /* torch's defaults and a larger eps */
    clf_adamw_params hp2 = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1.0f};
    check_steps((opt_case){1001, 500, 1.0f}, 0, 3, &hp2);
}
END_TEST

/* The step count comes from the device: a resumed run continues its bias correction. */
START_TEST(continues_from_device_step_count) {
    clf_adamw_params hp = {3e-3f, 0.9f, 0.98f, 1e-9f, 0.05f, 2.0f};
    check_steps((opt_case){1001, 600, 2.0f}, 41, 2, &hp);
    check_steps((opt_case){7, 3, 0}, 1000, 2, &hp);
}
END_TEST

/* The figures torch 1.13 gives (float32 tensors, torch.nn.utils.clip_grad_norm_(max_norm=1) then
 * torch.optim.AdamW(lr=0.01, betas=(0.9, 0.98), eps=1e-9) with weight_decay 0.1 for the first five
 * elements and 0 for the last two), three steps with the gradients below (norms 0.85, 0.58, 3.79: the
 * third step is clipped). */
START_TEST(agrees_with_torch) {
    enum { N = 7 };
    static const float p0[N] = {0.5f, -1.25f, 2.0f, 0.0f, -0.75f, 1.5f, -0.25f};
    static const float grads[3][N] = {{0.3f, -0.2f, 0.1f, 0.05f, -0.4f, 0.25f, 0.6f},
                                      {-0.1f, 0.4f, 0.2f, -0.3f, 0.15f, -0.05f, 0.1f},
                                      {2.0f, -1.0f, 0.5f, 0.25f, 1.5f, -2.5f, 0.75f}};
    static const float torch_params[3][N] = {
        {4.895000160e-01f, -1.238749981e+00f, 1.988000035e+00f, -1.000000071e-02f, -7.392500043e-01f, 1.490000010e+00f,
         -2.599999905e-01f},
        {4.849928617e-01f, -1.241161823e+00f, 1.976387978e+00f, -3.778940998e-03f, -7.348378897e-01f, 1.484866977e+00f,
         -2.678690851e-01f},
        {4.774716496e-01f, -1.239112139e+00f, 1.964749455e+00f, -4.164604470e-04f, -7.363713980e-01f, 1.489370465e+00f,
         -2.756629288e-01f},
    };
    clf_device *dev = harness_device();
    float zeros[N] = {0};
    cl_mem d_p = harness_upload(p0, N), d_m = harness_upload(zeros, N), d_v = harness_upload(zeros, N);
    cl_mem d_state = upload_state(0), d_norm = harness_poisoned(1), ws = harness_poisoned(clf_grad_norm_workspace_floats(N));
    clf_adamw_params hp = {0.01f, 0.9f, 0.98f, 1e-9f, 0.1f, 1.0f};
    for (int s = 0; s < 3; s++) {
        cl_mem d_g = harness_upload(grads[s], N);
        CLF_CK(clf_grad_norm(dev, d_norm, d_g, ws, N));
        CLF_CK(clf_adamw_step(dev, d_p, d_m, d_v, d_state, d_g, d_norm, N, 5, &hp));
        harness_release(d_g);
        float *got = harness_download(d_p, N);
        double want[N];
        for (int i = 0; i < N; i++) want[i] = torch_params[s][i];
        char what[32];
        snprintf(what, sizeof what, "torch step %d", s + 1);
        /* float32 against float32: a few ulps of difference in sqrt/pow, nothing more */
        harness_expect_close(what, got, want, N, 1e-6);
        free(got);
    }
    harness_release(d_p);
    harness_release(d_m);
    harness_release(d_v);
    harness_release(d_state);
    harness_release(d_norm);
    harness_release(ws);
}
END_TEST

/* A gradient holding `bad` at one place: norm not finite, so nothing may change, bit for bit; then a
 * finite gradient applies a step and advances t. */
static void check_skip(float bad, size_t where) {
    clf_device *dev = harness_device();
    size_t n = 1001;
    float *p = harness_random(n, -1, 1, NULL), *m = harness_random(n, -0.1, 0.1, NULL);
    float *v = harness_random(n, 0, 0.01, NULL), *g = harness_random(n, -1, 1, NULL);
    g[where] = bad;
    cl_mem d_p = harness_upload(p, n), d_m = harness_upload(m, n), d_v = harness_upload(v, n);
    cl_mem d_g = harness_upload(g, n), d_state = upload_state(7), d_norm = harness_poisoned(1);
    cl_mem ws = harness_poisoned(clf_grad_norm_workspace_floats(n));
    clf_adamw_params hp = {1e-2f, 0.9f, 0.98f, 1e-9f, 0.1f, 1.0f};
    CLF_CK(clf_grad_norm(dev, d_norm, d_g, ws, n));
    float *norm = harness_download(d_norm, 1);
    ck_assert_msg(!isfinite(norm[0]), "norm %g with %g in the gradient", (double)norm[0], (double)bad);
    free(norm);
    for (int rep = 0; rep < 2; rep++)
        CLF_CK(clf_adamw_step(dev, d_p, d_m, d_v, d_state, d_g, d_norm, n, 500, &hp));
    float *gp = harness_download(d_p, n), *gm = harness_download(d_m, n), *gv = harness_download(d_v, n);
    ck_assert_msg(memcmp(gp, p, n * sizeof *p) == 0, "params changed by a skipped step (%g)", (double)bad);
    ck_assert_msg(memcmp(gm, m, n * sizeof *m) == 0, "m changed by a skipped step (%g)", (double)bad);
    ck_assert_msg(memcmp(gv, v, n * sizeof *v) == 0, "v changed by a skipped step (%g)", (double)bad);
    ck_assert_int_eq(download_state(d_state), 7);
    free(gp);
    free(gm);
    free(gv);
    /* the next finite step applies */
    g[where] = 0.5f;
    CLF_CK(clf_buffer_write(dev, d_g, 0, n * sizeof *g, g));
    CLF_CK(clf_grad_norm(dev, d_norm, d_g, ws, n));
    CLF_CK(clf_adamw_step(dev, d_p, d_m, d_v, d_state, d_g, d_norm, n, 500, &hp));
    ck_assert_int_eq(download_state(d_state), 8);
    gp = harness_download(d_p, n);
    ck_assert(memcmp(gp, p, n * sizeof *p) != 0);
    free(gp);
    free(p);
    free(m);
    free(v);
    free(g);
    harness_release(d_p);
    harness_release(d_m);
    harness_release(d_v);
    harness_release(d_g);
    harness_release(d_state);
    harness_release(d_norm);
    harness_release(ws);
}

START_TEST(non_finite_gradient_skips_the_step) {
    check_skip(NAN, 3);
    check_skip(INFINITY, 1000);
    check_skip(-INFINITY, 0);
    check_skip(3e38f, 500); /* finite, but its square overflows the norm */
}
END_TEST

START_TEST(deterministic) {
    clf_device *dev = harness_device();
    size_t n = 1000003;
    float *p = harness_random(n, -1, 1, NULL), *g = harness_random(n, -1, 1, NULL);
    float *out[2][4];
    clf_adamw_params hp = {1e-3f, 0.9f, 0.98f, 1e-9f, 0.01f, 1.0f};
    for (int run = 0; run < 2; run++) {
        cl_mem d_p = harness_upload(p, n), d_m, d_v, d_g = harness_upload(g, n), d_state = upload_state(0);
        CLF_CK(clf_buffer_alloc(dev, n * sizeof(float), "m", &d_m));
        CLF_CK(clf_buffer_alloc(dev, n * sizeof(float), "v", &d_v));
        CLF_CK(clf_buffer_fill_float(dev, d_m, 0, n, 0));
        CLF_CK(clf_buffer_fill_float(dev, d_v, 0, n, 0));
        cl_mem d_norm = harness_poisoned(1), ws = harness_poisoned(clf_grad_norm_workspace_floats(n));
        for (int s = 0; s < 2; s++) {
            CLF_CK(clf_grad_norm(dev, d_norm, d_g, ws, n));
            CLF_CK(clf_adamw_step(dev, d_p, d_m, d_v, d_state, d_g, d_norm, n, n / 2, &hp));
        }
        out[run][0] = harness_download(d_p, n);
        out[run][1] = harness_download(d_m, n);
        out[run][2] = harness_download(d_v, n);
        out[run][3] = harness_download(d_norm, 1);
        cl_mem bufs[] = {d_p, d_m, d_v, d_g, d_state, d_norm, ws};
        for (size_t i = 0; i < 7; i++) harness_release(bufs[i]);
    }
    for (int k = 0; k < 4; k++) {
        ck_assert_msg(memcmp(out[0][k], out[1][k], (k == 3 ? 1 : n) * sizeof(float)) == 0, "output %d differs", k);
        free(out[0][k]);
        free(out[1][k]);
    }
    free(p);
    free(g);
}
END_TEST

START_TEST(rejects_invalid_arguments) {
    clf_device *dev = harness_device();
    cl_mem b = harness_poisoned(16), norm = harness_poisoned(1), ws = harness_poisoned(16);
    cl_mem state = upload_state(0);
    ck_assert_int_eq(clf_grad_norm(dev, NULL, b, ws, 16), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "norm"));
    ck_assert_int_eq(clf_grad_norm(dev, norm, NULL, ws, 16), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "grads"));
    ck_assert_int_eq(clf_grad_norm(dev, norm, b, NULL, 16), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "workspace"));
    ck_assert_int_eq(clf_grad_norm(dev, norm, b, ws, 0), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_grad_norm(NULL, norm, b, ws, 16), CLF_ERR_INVALID_ARG);

    clf_adamw_params ok = {1e-3f, 0.9f, 0.98f, 1e-9f, 0.0f, 0.0f};
    ck_assert_int_eq(clf_adamw_step(dev, NULL, b, b, state, b, norm, 16, 8, &ok), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "params"));
    ck_assert_int_eq(clf_adamw_step(dev, b, b, b, NULL, b, norm, 16, 8, &ok), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "state"));
    ck_assert_int_eq(clf_adamw_step(dev, b, b, b, state, b, NULL, 16, 8, &ok), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_adamw_step(dev, b, b, b, state, b, norm, 16, 8, NULL), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_adamw_step(dev, b, b, b, state, b, norm, 0, 0, &ok), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_adamw_step(dev, b, b, b, state, b, norm, 16, 17, &ok), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "n_decay"));
    const clf_adamw_params bad[] = {{-1e-3f, 0.9f, 0.98f, 1e-9f, 0, 0}, {NAN, 0.9f, 0.98f, 1e-9f, 0, 0},
                                    {1e-3f, 1.0f, 0.98f, 1e-9f, 0, 0},  {1e-3f, 0.9f, -0.1f, 1e-9f, 0, 0},
                                    {1e-3f, 0.9f, 0.98f, 0, 0, 0},      {1e-3f, 0.9f, 0.98f, 1e-9f, -1, 0},
                                    {1e-3f, 0.9f, 0.98f, 1e-9f, 0, NAN}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(clf_adamw_step(dev, b, b, b, state, b, norm, 16, 8, &bad[i]) == CLF_ERR_INVALID_ARG,
                      "bad parameters %zu accepted", i);
    harness_release(b);
    harness_release(norm);
    harness_release(ws);
    harness_release(state);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("adamw");
    TCase *tc = tcase_create("adamw");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, grad_norm_matches_reference);
    tcase_add_test(tc, adamw_matches_reference);
    tcase_add_test(tc, continues_from_device_step_count);
    tcase_add_test(tc, agrees_with_torch);
    tcase_add_test(tc, non_finite_gradient_skips_the_step);
    tcase_add_test(tc, deterministic);
    tcase_add_test(tc, rejects_invalid_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
