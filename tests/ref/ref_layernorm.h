/* Float64 reference of LayerNorm over the last dimension (biased variance). */
#ifndef CLFORMER_TEST_REF_LAYERNORM_H
#define CLFORMER_TEST_REF_LAYERNORM_H

/* y = gamma * (x - mean) * rstd + beta, rstd = 1 / sqrt(var + eps); mean and rstd may be NULL. */
void ref_layernorm_fwd(double *y /* [n, d] */, double *mean /* [n] */, double *rstd /* [n] */,
                       const double *x /* [n, d] */, const double *gamma /* [d] */, const double *beta /* [d] */,
                       int n, int d, double eps);

/* Accumulates the gradients of sum(dy * y) into dx, dgamma and dbeta. */
void ref_layernorm_bwd(double *dx /* [n, d] */, double *dgamma /* [d] */, double *dbeta /* [d] */,
                       const double *dy /* [n, d] */, const double *x /* [n, d] */, const double *gamma /* [d] */,
                       int n, int d, double eps);

#endif
