/* The CLBlast wrapper: row-major products on the device's queue, single and strided-batched. */
#include <clblast_c.h>

#include "clformer/gemm.h"
#include "device_internal.h"

static const char *clblast_name(CLBlastStatusCode s) {
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

/* k = 0 (CLBlast refuses it): C = beta * C, row by row so any ldc and batch work. beta = 0 writes
 * zeros without reading C, as BLAS does, so a C holding NaN comes out clean. */
static clf_status scale_c(clf_device *dev, const clf_gemm_args *g, size_t batch, size_t ldc) {
    if (g->beta == 1.0f) return CLF_OK;
    bool dense = ldc == g->n;
    size_t rows = dense ? 1 : g->m, len = dense ? g->m * g->n : g->n;
    for (size_t b = 0; b < batch; b++) {
        for (size_t i = 0; i < rows; i++) {
            size_t off = g->c_off + b * g->stride_c + i * ldc;
            if (g->beta == 0.0f) {
                clf_status st = clf_buffer_fill_float(dev, g->c, off, len, 0.0f);
                if (st != CLF_OK) return st;
                continue;
            }
            CLBlastStatusCode s = CLBlastSscal(len, g->beta, g->c, off, 1, &dev->queue, clf_device_profile_slot(dev));
            if (s != CLBlastSuccess)
                return CLF_ERROR(caller_error(s) || s == CLBlastInsufficientMemoryX ? CLF_ERR_INVALID_ARG
                                                                                     : CLF_ERR_OPENCL,
                                 "CLBlast scal of C (gemm with k = 0, m=%zu n=%zu): %s (%d)", g->m, g->n,
                                 clblast_name(s), (int)s);
            clf_device_profile_commit(dev);
        }
    }
    return CLF_OK;
}

clf_status clf_gemm(clf_device *dev, const clf_gemm_args *g) {
    if (!dev || !g) return CLF_ERROR(CLF_ERR_INVALID_ARG, "gemm without a device or arguments");
    if (!g->a || !g->b || !g->c)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "gemm with a null buffer (%s)", !g->a ? "a" : !g->b ? "b" : "c");
    if (g->m == 0 || g->n == 0) return CLF_OK;
    size_t batch = g->batch ? g->batch : 1;
    size_t lda = g->lda ? g->lda : (g->trans_a ? g->m : g->k);
    size_t ldb = g->ldb ? g->ldb : (g->trans_b ? g->k : g->n);
    size_t ldc = g->ldc ? g->ldc : g->n;
    if (ldc < g->n) return CLF_ERROR(CLF_ERR_INVALID_ARG, "gemm: ldc %zu < n %zu", ldc, g->n);
    if (g->k == 0) return scale_c(dev, g, batch, ldc);
    CLBlastTranspose ta = g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    cl_event *ev = clf_device_profile_slot(dev);
    CLBlastStatusCode s;
    if (batch == 1) {
        s = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha, g->a, g->a_off, lda, g->b,
                         g->b_off, ldb, g->beta, g->c, g->c_off, ldc, &dev->queue, ev);
    } else {
        s = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha, g->a, g->a_off,
                                       lda, g->stride_a, g->b, g->b_off, ldb, g->stride_b, g->beta, g->c, g->c_off,
                                       ldc, g->stride_c, batch, &dev->queue, ev);
    }
    if (s != CLBlastSuccess)
        return CLF_ERROR(caller_error(s) ? CLF_ERR_INVALID_ARG : CLF_ERR_OPENCL,
                         "CLBlast gemm %c%c m=%zu n=%zu k=%zu batch=%zu: %s (%d)", g->trans_a ? 'T' : 'N',
                         g->trans_b ? 'T' : 'N', g->m, g->n, g->k, batch, clblast_name(s), (int)s);
    clf_device_profile_commit(dev);
    return CLF_OK;
}
