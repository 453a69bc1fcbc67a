/* The CLBlast wrapper: row-major products on the device's queue, single and strided-batched. */
#include <clblast_c.h>

#include "clformer/gemm.h"
#include "device_internal.h"

void clf_gemm_state_free(clf_device *dev) { (void)dev; }

static const char *clblast_name(CLBlastStatusCode s) {
    switch (s) {
    case CLBlastNotImplemented: return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA: return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB: return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC: return "CLBlastInvalidMatrixC";
    case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
    case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
    case CLBlastInvalidBatchCount: return "CLBlastInvalidBatchCount";
    case CLBlastInvalidOverrideKernel: return "CLBlastInvalidOverrideKernel";
    case CLBlastMissingOverrideParameter: return "CLBlastMissingOverrideParameter";
    case CLBlastInvalidLocalThreadsTotal: return "CLBlastInvalidLocalThreadsTotal";
    case CLBlastInvalidLocalThreadsDim: return "CLBlastInvalidLocalThreadsDim";
    case CLBlastUnknownError: return "CLBlastUnknownError";
    case CLBlastUnexpectedError: return "CLBlastUnexpectedError";
    default: return (int)s < 0 && (int)s > -100 ? clf_cl_errname((cl_int)s) : "CLBlast error";
    }
}

clf_status clf_gemm(clf_device *dev, const clf_gemm_args *g) {
    if (!g->a || !g->b || !g->c) return CLF_ERROR(CLF_ERR_INVALID_ARG, "gemm with a null buffer");
    if (g->m == 0 || g->n == 0) return CLF_OK;
    size_t batch = g->batch ? g->batch : 1;
    size_t lda = g->lda ? g->lda : (g->trans_a ? g->m : g->k);
    size_t ldb = g->ldb ? g->ldb : (g->trans_b ? g->k : g->n);
    size_t ldc = g->ldc ? g->ldc : g->n;
    CLBlastTranspose ta = g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    cl_event *ev = clf_device_profile_slot(dev);
    CLBlastStatusCode s;
    if (g->k == 0) { /* CLBlast refuses k = 0; the product is then beta * C */
        if (ldc != g->n || batch != 1)
            return CLF_ERROR(CLF_ERR_INVALID_ARG, "gemm with k = 0 needs a dense, unbatched C");
        s = CLBlastSscal(g->m * g->n, g->beta, g->c, g->c_off, 1, &dev->queue, ev);
    } else if (batch == 1) {
        s = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha, g->a, g->a_off, lda, g->b,
                         g->b_off, ldb, g->beta, g->c, g->c_off, ldc, &dev->queue, ev);
    } else {
        s = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha, g->a, g->a_off,
                                       lda, g->stride_a, g->b, g->b_off, ldb, g->stride_b, g->beta, g->c, g->c_off,
                                       ldc, g->stride_c, batch, &dev->queue, ev);
    }
    if (s != CLBlastSuccess)
        return CLF_ERROR(s == CLBlastInsufficientMemoryA || s == CLBlastInsufficientMemoryB ||
                                 s == CLBlastInsufficientMemoryC
                             ? CLF_ERR_INVALID_ARG
                             : CLF_ERR_OPENCL,
                         "CLBlast gemm %c%c m=%zu n=%zu k=%zu batch=%zu: %s (%d)", g->trans_a ? 'T' : 'N',
                         g->trans_b ? 'T' : 'N', g->m, g->n, g->k, batch, clblast_name(s), (int)s);
    clf_device_profile_commit(dev);
    return CLF_OK;
}
