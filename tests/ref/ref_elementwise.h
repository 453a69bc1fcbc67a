/* Float64 references of the element-wise ops (src/ops/elementwise.h), the dropout mask from the host
 * twin of the kernels' Philox. mask0 is the mask index of element 0 (0 in the plain launchers). */
#ifndef CLFORMER_TEST_REF_ELEMENTWISE_H
#define CLFORMER_TEST_REF_ELEMENTWISE_H

#include <stddef.h>
#include <stdint.h>

#include "ops/elementwise.h"

/* The multiplier of element i: 1/(1-p) when kept, 0 when dropped; 1 when d is NULL or p == 0. */
double ref_dropout_mult(const clf_dropout *d, uint32_t mask0, size_t i);

/* y = x + drop(s); x may be NULL. */
void ref_residual_dropout_fwd(double *y /* [n] */, const double *x /* [n] or NULL */, const double *s /* [n] */,
                              size_t n, const clf_dropout *d, uint32_t mask0);
/* dx += dy (dx may be NULL), ds += drop(dy). */
void ref_residual_dropout_bwd(double *dx /* [n] or NULL */, double *ds /* [n] */, const double *dy /* [n] */,
                              size_t n, const clf_dropout *d, uint32_t mask0);
/* dst += alpha * src */
void ref_axpy(double *dst /* [n] */, const double *src /* [n] */, size_t n, double alpha);
/* dst = alpha * src */
void ref_scale(double *dst /* [n] */, const double *src /* [n] */, size_t n, double alpha);

#endif
