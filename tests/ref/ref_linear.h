/* Float64 references for GEMM and the Linear layer (torch.nn.Linear layout, w is [out, in]). */
#ifndef CLFORMER_TEST_REF_LINEAR_H
#define CLFORMER_TEST_REF_LINEAR_H

#include <stdbool.h>
#include <stddef.h>

#include "ops/linear.h"

/* Row-major C = alpha op(A) op(B) + beta C; beta = 0 ignores C. Leading dimensions in elements. */
void ref_gemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, double alpha, const double *a, size_t lda,
              const double *b, size_t ldb, double beta, double *c, size_t ldc);

/* The activation and its derivative at a pre-activation value (ReLU'(0) = 0). */
double ref_act(clf_activation act, double v);
double ref_act_grad(clf_activation act, double v);

/* y = act(x W^T + b); pre (may be NULL) receives x W^T + b; b may be NULL. */
void ref_linear_fwd(double *y /* [n, out] */, double *pre /* [n, out] or NULL */, const double *x /* [n, in] */,
                    const double *w /* [out, in] */, const double *b /* [out] or NULL */, int n, int in, int out,
                    clf_activation act);

/* Accumulates dx += dpre W, dw += dpre^T x, db += sum_rows dpre with dpre = dy * act'(pre); dx, db may be
 * NULL. */
void ref_linear_bwd(double *dx /* [n, in] or NULL */, double *dw /* [out, in] */, double *db /* [out] or NULL */,
                    const double *dy /* [n, out] */, const double *x /* [n, in] */, const double *w /* [out, in] */,
                    const double *pre /* [n, out] */, int n, int in, int out, clf_activation act);

#endif
