/* Float64 reference of cross-entropy with label smoothing and ignored pad targets (SPEC "Loss"). */
#ifndef CLFORMER_TEST_REF_CROSS_ENTROPY_H
#define CLFORMER_TEST_REF_CROSS_ENTROPY_H

#include <stdint.h>

/* loss_rows[r] = (1-eps)(-log p[y_r]) + eps mean_v(-log p[v]), 0 for pad rows; dlogits (may be NULL)
 * = d(inv_count * sum loss_rows)/dlogits. Returns inv_count * sum(loss_rows). */
double ref_cross_entropy(double *loss_rows /* [n] */, double *dlogits /* [n, v] or NULL */,
                         const double *logits /* [n, v] */, const int32_t *targets /* [n] */, int n, int v, int pad,
                         double eps, double inv_count);

#endif
