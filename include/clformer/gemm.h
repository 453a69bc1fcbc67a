/* Row-major GEMM on the device's queue: C = alpha * op(A) op(B) + beta * C, through CLBlast.
 * Offsets, leading dimensions and strides are in floats; a leading dimension of 0 means dense.
 * beta = 0 never reads C (NaN there does not propagate), as BLAS; k = 0 gives beta * C. */
#ifndef CLFORMER_GEMM_H
#define CLFORMER_GEMM_H

#include <stdbool.h>

#include "clformer/device.h"

typedef struct clf_gemm_args {
    bool trans_a, trans_b;
    size_t m, n, k;
    float alpha, beta;
    cl_mem a; size_t a_off, lda; /* op(A) [m, k] */
    cl_mem b; size_t b_off, ldb; /* op(B) [k, n] */
    cl_mem c; size_t c_off, ldc; /* C [m, n] */
    /* strided batch: batch > 1 repeats the product with each operand advanced by its stride */
    size_t batch, stride_a, stride_b, stride_c;
} clf_gemm_args;

clf_status clf_gemm(clf_device *dev, const clf_gemm_args *g);

/* What the kernel writing C may do to each value v = alpha op(A) op(B) + beta C on the way out: add
 * bias[j] (bias [n], or NULL), keep v in pre (laid out as C: same offset, ldc and stride; or NULL),
 * and store act(v) in C (act: clf_activation's value, 0 none). A linear layer's epilogue. */
typedef struct clf_gemm_epilogue {
    cl_mem bias, pre;
    int act;
} clf_gemm_epilogue;

/* clf_gemm with the epilogue fused into the product when one of clformer's own kernels runs it
 * (*fused = true). When CLBlast runs it, C holds the plain product and *fused = false: the caller
 * applies the epilogue itself. */
clf_status clf_gemm_epi(clf_device *dev, const clf_gemm_args *g, const clf_gemm_epilogue *e, bool *fused);
/* Whether clf_gemm_epi will fuse for this product (choosing its variant now, measuring if it must). */
clf_status clf_gemm_fuses_epilogue(clf_device *dev, const clf_gemm_args *g, bool *fuses);

/* Bytes of the device-owned buffer the GEMM kernels pack operands into (grown to the largest need). */
size_t clf_gemm_workspace_bytes(const clf_device *dev);

#endif
