/* Float64 reference of LayerNorm over the last dimension (biased variance). */
#ifndef CLFORMER_TEST_REF_LAYERNORM_H
#define CLFORMER_TEST_REF_LAYERNORM_H

#include "ops/elementwise.h"

/* y = gamma * (x - mean) * rstd + beta, rstd = 1 / sqrt(var + eps); mean and rstd may be NULL. */
void ref_layernorm_fwd(double *y /* [n, d] */, double *mean /* [n] */, double *rstd /* [n] */,
                       const double *x /* [n, d] */, const double *gamma /* [d] */, const double *beta /* [d] */,
                       int n, int d, double eps);

/* Accumulates the gradients of sum(dy * y) into dx, dgamma and dbeta. */
void ref_layernorm_bwd(double *dx /* [n, d] */, double *dgamma /* [d] */, double *dbeta /* [d] */,
                       const double *dy /* [n, d] */, const double *x /* [n, d] */, const double *gamma /* [d] */,
                       int n, int d, double eps);

/* The residual add fused with LayerNorm (clf_add_layernorm_fwd): sum = x + drop(s) (x may be NULL),
 * y = LN(sum); mean and rstd may be NULL. */
void ref_add_layernorm_fwd(double *y /* [n, d] */, double *sum /* [n, d] */, double *mean /* [n] */,
                           double *rstd /* [n] */, const double *x /* [n, d] or NULL */, const double *s /* [n, d] */,
                           const double *gamma /* [d] */, const double *beta /* [d] */, int n, int d, double eps,
                           const clf_dropout *drop);

/* Its backward, accumulating: t = LN'(dy) + dsum (dsum may be NULL), dx += t (dx may be NULL),
 * ds += drop'(t), dgamma and dbeta as ref_layernorm_bwd. sum is the forward's. Returns 0, or -1 when
 * out of memory. */
int ref_add_layernorm_bwd(double *dx /* [n, d] or NULL */, double *ds /* [n, d] */, double *dgamma /* [d] */,
                          double *dbeta /* [d] */, const double *dy /* [n, d] */, const double *dsum /* [n, d] or NULL */,
                          const double *sum /* [n, d] */, const double *gamma /* [d] */, int n, int d, double eps,
                          const clf_dropout *drop);

#endif
