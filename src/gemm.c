/* clf_gemm: arguments checked once here, then the variant chosen for the shape runs (own kernels
 * or CLBlast, see gemm_select.c). This file also holds the CLBlast path, tuned for the device before
 * its first call (gemm_clblast_tune.c). */
#include <clblast_c.h>

#include "device_internal.h"
#include "gemm_clblast_tune.h"
#include "gemm_internal.h"

const char *clf_clblast_status_name(CLBlastStatusCode s) {
    switch (s) {
    case CLBlastNotImplemented: return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA: return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB: return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC: return "CLBlastInvalidMatrixC";
    case CLBlastInvalidDimension: return "CLBlastInvalidDimension";
    case CLBlastInvalidLeadDimA: return "CLBlastInvalidLeadDimA";
    case CLBlastInvalidLeadDimB: return "CLBlastInvalidLeadDimB";
    case CLBlastInvalidLeadDimC: return "CLBlastInvalidLeadDimC";
    case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
    case CLBlastInsufficientMemoryTemp: return "CLBlastInsufficientMemoryTemp";
    case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
    case CLBlastInvalidBatchCount: return "CLBlastInvalidBatchCount";
    case CLBlastInvalidOverrideKernel: return "CLBlastInvalidOverrideKernel";
    case CLBlastMissingOverrideParameter: return "CLBlastMissingOverrideParameter";
    case CLBlastInvalidLocalThreadsTotal: return "CLBlastInvalidLocalThreadsTotal";
    case CLBlastInvalidLocalThreadsDim: return "CLBlastInvalidLocalThreadsDim";
    case CLBlastDatabaseError: return "CLBlastDatabaseError";
    case CLBlastUnknownError: return "CLBlastUnknownError";
    case CLBlastUnexpectedError: return "CLBlastUnexpectedError";
    default: return (int)s < 0 && (int)s > -100 ? clf_cl_errname((cl_int)s) : "CLBlast error";
    }
}

/* Shapes and buffers the caller got wrong, as opposed to the device failing. */
static bool caller_error(CLBlastStatusCode s) {
    return s == CLBlastInvalidDimension || s == CLBlastInvalidLeadDimA || s == CLBlastInvalidLeadDimB ||
           s == CLBlastInvalidLeadDimC || s == CLBlastInsufficientMemoryA || s == CLBlastInsufficientMemoryB ||
           s == CLBlastInsufficientMemoryC || s == CLBlastInvalidBatchCount || s == CLBlastInvalidMemObject;
}

/* k = 0: C = beta * C, row by row so any ldc and batch work. beta = 0 writes zeros without reading
 * C, as BLAS does, so a C holding NaN comes out clean. */
static clf_status scale_c(clf_device *dev, const clf_gemm_shape *s) {
    const clf_gemm_args *g = &s->g;
    if (g->beta == 1.0f) return CLF_OK;
    bool dense = s->ldc == g->n;
    size_t rows = dense ? 1 : g->m, len = dense ? g->m * g->n : g->n;
    for (size_t b = 0; b < s->batch; b++) {
        for (size_t i = 0; i < rows; i++) {
            size_t off = g->c_off + b * g->stride_c + i * s->ldc;
            if (g->beta == 0.0f) {
                clf_status st = clf_buffer_fill_float(dev, g->c, off, len, 0.0f);
                if (st != CLF_OK) return st;
                continue;
            }
            CLBlastStatusCode r = CLBlastSscal(len, g->beta, g->c, off, 1, &dev->queue, clf_device_profile_slot(dev));
            if (r != CLBlastSuccess)
                return CLF_ERROR(CLF_ERR_OPENCL, "CLBlast scal of C (gemm with k = 0, m=%zu n=%zu): %s (%d)", g->m,
                                 g->n, clf_clblast_status_name(r), (int)r);
            clf_device_profile_commit(dev);
        }
    }
    return CLF_OK;
}

clf_status clf_gemm_clblast(clf_device *dev, const clf_gemm_shape *s) {
    clf_status st = clf_clblast_tune(dev);
    return st == CLF_OK ? clf_gemm_clblast_untuned(dev, s) : clf_error_context(st, "before CLBlast's first SGEMM");
}

clf_status clf_gemm_clblast_untuned(clf_device *dev, const clf_gemm_shape *s) {
    const clf_gemm_args *g = &s->g;
    CLBlastTranspose ta = g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    cl_event *ev = clf_device_profile_slot(dev);
    CLBlastStatusCode r;
    if (s->batch == 1) {
        r = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha, g->a, g->a_off, s->lda, g->b,
                         g->b_off, s->ldb, g->beta, g->c, g->c_off, s->ldc, &dev->queue, ev);
    } else {
        r = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha, g->a, g->a_off,
                                       s->lda, g->stride_a, g->b, g->b_off, s->ldb, g->stride_b, g->beta, g->c,
                                       g->c_off, s->ldc, g->stride_c, s->batch, &dev->queue, ev);
    }
    if (r != CLBlastSuccess)
        return CLF_ERROR(caller_error(r) ? CLF_ERR_INVALID_ARG : CLF_ERR_OPENCL,
                         "CLBlast gemm %c%c m=%zu n=%zu k=%zu batch=%zu: %s (%d)", g->trans_a ? 'T' : 'N',
                         g->trans_b ? 'T' : 'N', g->m, g->n, g->k, s->batch, clf_clblast_status_name(r), (int)r);
    clf_device_profile_commit(dev);
    return CLF_OK;
}

/* Floats an operand spans: offset, batch entries, rows of ld. */
static size_t extent(size_t off, size_t batch, size_t stride, size_t rows, size_t cols, size_t ld) {
    return off + (batch - 1) * stride + (rows - 1) * ld + cols;
}

static clf_status check_operand(cl_mem buf, const char *name, const clf_gemm_shape *s, size_t off, size_t stride,
                                size_t rows, size_t cols, size_t ld) {
    const clf_gemm_args *g = &s->g;
    if (ld < cols)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "gemm m=%zu n=%zu k=%zu: ld%s %zu < %zu columns of %s", g->m, g->n,
                         g->k, name, ld, cols, name);
    if (rows == 0 || cols == 0) return CLF_OK;
    size_t need = extent(off, s->batch, stride, rows, cols, ld) * sizeof(float);
    clf_status st = clf_buffer_check(buf, need, name);
    if (st != CLF_OK)
        return clf_error_context(st, "gemm %c%c m=%zu n=%zu k=%zu batch=%zu", g->trans_a ? 'T' : 'N',
                                 g->trans_b ? 'T' : 'N', g->m, g->n, g->k, s->batch);
    return CLF_OK;
}

/* The arguments with their defaults filled in. */
static clf_gemm_shape resolve(const clf_gemm_args *g) {
    clf_gemm_shape s = {.g = *g, .batch = g->batch ? g->batch : 1};
    s.lda = g->lda ? g->lda : (g->trans_a ? g->m : g->k);
    s.ldb = g->ldb ? g->ldb : (g->trans_b ? g->k : g->n);
    s.ldc = g->ldc ? g->ldc : g->n;
    return s;
}

clf_status clf_gemm(clf_device *dev, const clf_gemm_args *g) { return clf_gemm_epi(dev, g, NULL, NULL); }

clf_status clf_gemm_fuses_epilogue(clf_device *dev, const clf_gemm_args *g, bool *fuses) {
    *fuses = false;
    if (!dev || !g || g->m == 0 || g->n == 0 || g->k == 0) return CLF_OK;
    clf_gemm_shape s = resolve(g);
    clf_gemm_variant v;
    clf_status st = clf_gemm_choose(dev, &s, &v);
    if (st != CLF_OK) return st;
    *fuses = v != CLF_GEMM_CLBLAST && clf_gemm_own_fits(&s);
    return CLF_OK;
}

clf_status clf_gemm_epi(clf_device *dev, const clf_gemm_args *g, const clf_gemm_epilogue *e, bool *fused) {
    if (fused) *fused = false;
    if (!dev || !g) return CLF_ERROR(CLF_ERR_INVALID_ARG, "gemm without a device or arguments");
    if (e && (e->act < 0 || e->act > 2)) return CLF_ERROR(CLF_ERR_INVALID_ARG, "gemm epilogue: unknown activation %d", e->act);
    if (!g->a || !g->b || !g->c)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "gemm with a null buffer (%s)", !g->a ? "a" : !g->b ? "b" : "c");
    if (g->m == 0 || g->n == 0) return CLF_OK;
    clf_gemm_shape s = resolve(g);
    size_t ra = g->trans_a ? g->k : g->m, ca = g->trans_a ? g->m : g->k;
    size_t rb = g->trans_b ? g->n : g->k, cb = g->trans_b ? g->k : g->n;
    clf_status st = check_operand(g->c, "c", &s, g->c_off, g->stride_c, g->m, g->n, s.ldc);
    if (st == CLF_OK && e && e->pre) st = check_operand(e->pre, "pre", &s, g->c_off, g->stride_c, g->m, g->n, s.ldc);
    if (st == CLF_OK && e && e->bias) st = check_operand(e->bias, "bias", &s, 0, 0, 1, g->n, g->n);
    if (st != CLF_OK) return st;
    if (g->k == 0) return scale_c(dev, &s); /* the caller applies any epilogue */
    st = check_operand(g->a, "a", &s, g->a_off, g->stride_a, ra, ca, s.lda);
    if (st == CLF_OK) st = check_operand(g->b, "b", &s, g->b_off, g->stride_b, rb, cb, s.ldb);
    if (st != CLF_OK) return st;
    clf_gemm_variant v;
    st = clf_gemm_choose(dev, &s, &v);
    if (st != CLF_OK) return st;
    return clf_gemm_run_variant_epi(dev, &s, v, e, fused);
}

clf_status clf_gemm_run_variant(clf_device *dev, const clf_gemm_shape *s, clf_gemm_variant v) {
    return clf_gemm_run_variant_epi(dev, s, v, NULL, NULL);
}

clf_status clf_gemm_run_variant_epi(clf_device *dev, const clf_gemm_shape *s, clf_gemm_variant v,
                                    const clf_gemm_epilogue *e, bool *fused) {
    if (fused) *fused = false;
    switch (v) {
    case CLF_GEMM_OWN_PACKED:
    case CLF_GEMM_OWN_DIRECT:
    case CLF_GEMM_OWN_SPLIT:
    case CLF_GEMM_OWN_INPLACE:
    case CLF_GEMM_OWN_DOT:
    case CLF_GEMM_OWN_LOCAL:
        if (clf_gemm_own_fits(s)) {
            if (fused) *fused = e != NULL;
            return clf_gemm_own(dev, s, v, e);
        }
        return clf_gemm_clblast(dev, s); /* sizes past the kernels' int arguments */
    default: return clf_gemm_clblast(dev, s);
    }
}
