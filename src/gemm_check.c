/* clf_gemm_check (gemm_check.h). */
#include "gemm_check.h"

#include <math.h>
#include <stdlib.h>

#include "device_internal.h"

static double elem(const float *x, size_t ld, bool trans, size_t r, size_t c) {
    return trans ? x[c * ld + r] : x[r * ld + c];
}

clf_status clf_gemm_check(clf_device *dev, const clf_gemm_check_case *c, clf_gemm_check_runner run, void *ctx,
                          double *err, bool *run_failed) {
    size_t lda = (c->ta ? c->m : c->k) + c->pad, ldb = (c->tb ? c->k : c->n) + c->pad, ldc = c->n + c->pad;
    size_t sa = (c->ta ? c->k : c->m) * lda, sb = (c->tb ? c->n : c->k) * ldb, sc = c->m * ldc;
    size_t lens[3] = {c->batch * sa, c->batch * sb, c->batch * sc};
    float *host[3] = {malloc(lens[0] * sizeof(float)), malloc(lens[1] * sizeof(float)), malloc(lens[2] * sizeof(float))};
    float *got = malloc(lens[2] * sizeof(float));
    cl_mem buf[3] = {NULL, NULL, NULL};
    clf_status st = CLF_OK;
    *err = INFINITY;
    if (run_failed) *run_failed = false;
    if (!host[0] || !host[1] || !host[2] || !got) st = CLF_ERROR(CLF_ERR_NO_MEMORY, "gemm check: out of host memory");
    uint32_t x = 2463534242u;
    for (int t = 0; st == CLF_OK && t < 3; t++)
        for (size_t i = 0; i < lens[t]; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            host[t][i] = (float)(x >> 8) / 16777216.0f - 0.5f;
        }
    float *c0 = host[2];
    if (st == CLF_OK && c->beta == 0.0f) /* C's matrices must not be read; the padding must stay as it is */
        for (size_t i = 0; i < c->batch * c->m; i++)
            for (size_t j = 0; j < c->n; j++) c0[i * ldc + j] = NAN;
    static const char *const names[3] = {"gemm check a", "gemm check b", "gemm check c"};
    for (int t = 0; st == CLF_OK && t < 3; t++) {
        st = clf_buffer_alloc(dev, lens[t] * sizeof(float), names[t], &buf[t]);
        if (st == CLF_OK) st = clf_buffer_write(dev, buf[t], 0, lens[t] * sizeof(float), host[t]);
    }
    clf_gemm_shape s = {.g = {.trans_a = c->ta, .trans_b = c->tb, .m = c->m, .n = c->n, .k = c->k, .alpha = c->alpha,
                              .beta = c->beta, .a = buf[0], .lda = lda, .b = buf[1], .ldb = ldb, .c = buf[2],
                              .ldc = ldc, .batch = c->batch, .stride_a = sa, .stride_b = sb, .stride_c = sc},
                        .batch = c->batch, .lda = lda, .ldb = ldb, .ldc = ldc};
    bool ran = false;
    if (st == CLF_OK) {
        st = run(dev, &s, ctx);
        if (st != CLF_OK && run_failed) { /* the path under check failed: report it, not an error */
            clf_error_clear();
            *run_failed = true;
            st = clf_device_finish(dev);
        } else {
            ran = st == CLF_OK;
        }
    }
    if (ran) st = clf_buffer_read(dev, buf[2], 0, lens[2] * sizeof(float), got);
    if (ran && st == CLF_OK) {
        double num = 0, den = 0;
        for (size_t e = 0; e < c->batch; e++)
            for (size_t i = 0; i < c->m; i++)
                for (size_t j = 0; j < ldc; j++) {
                    double want = c0[e * sc + i * ldc + j];
                    if (j < c->n) {
                        double acc = 0;
                        for (size_t kk = 0; kk < c->k; kk++)
                            acc += elem(host[0] + e * sa, lda, c->ta, i, kk) * elem(host[1] + e * sb, ldb, c->tb, kk, j);
                        want = c->alpha * acc + (c->beta != 0.0f ? c->beta * want : 0.0);
                    }
                    double d = got[e * sc + i * ldc + j] - want;
                    num += d * d;
                    den += want * want;
                }
        *err = sqrt(num / den);
        if (*err != *err) *err = INFINITY;
    }
    for (int t = 0; t < 3; t++) {
        if (buf[t]) clf_buffer_release(dev, buf[t]);
        free(host[t]);
    }
    free(got);
    return st;
}
