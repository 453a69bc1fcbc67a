/* Float64 reference of the optimizer: global gradient norm and torch.optim.AdamW with
 * torch.nn.utils.clip_grad_norm_, written the way torch writes them. */
#ifndef CLFORMER_TEST_REF_ADAMW_H
#define CLFORMER_TEST_REF_ADAMW_H

#include <stddef.h>

typedef struct ref_adamw_params {
    double lr, beta1, beta2, eps, weight_decay, max_norm; /* max_norm <= 0: no clipping */
} ref_adamw_params;

/* sqrt(sum g^2). */
double ref_grad_norm(const double *g /* [n] */, size_t n);

/* One step with the gradient norm `norm`: when it is not finite nothing changes and 0 is returned;
 * otherwise *t is advanced, the step applied with t for bias correction, and 1 returned. Elements
 * below n_decay get weight decay. */
int ref_adamw_step(double *p /* [n] */, double *m /* [n] */, double *v /* [n] */, int *t, const double *g /* [n] */,
                   double norm, size_t n, size_t n_decay, const ref_adamw_params *hp);

#endif
