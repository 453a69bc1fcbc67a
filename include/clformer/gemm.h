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

/* C = act(A B^T + bias) (act: clf_activation's value; bias [n] or NULL; alpha and beta as given) in
 * one launch of the dot-product kernel, the linear layer of a decoding step. Fast only for few rows
 * of C on CPU-like devices: clf_gemm_prefers_dot says when. Buffers are not range-checked here. */
clf_status clf_gemm_dot_bias_act(clf_device *dev, const clf_gemm_args *g, cl_mem bias, int act);
/* Whether the dot-product kernel is the device's choice for this product (few rows, C = A B^T). */
bool clf_gemm_prefers_dot(clf_device *dev, const clf_gemm_args *g);

/* Bytes of the device-owned buffer the GEMM kernels pack operands into (grown to the largest need). */
size_t clf_gemm_workspace_bytes(const clf_device *dev);

#endif
