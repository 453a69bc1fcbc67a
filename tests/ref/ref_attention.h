/* Float64 reference of multi-head attention (SPEC, MHA without projections), forward and backward,
 * with the same masks, all-masked-row rule and Philox dropout as the kernels. */
#ifndef CLFORMER_TEST_REF_ATTENTION_H
#define CLFORMER_TEST_REF_ATTENTION_H

#include <stdint.h>

#include "ops/attention.h"

/* o [b, tq, d]; lse [b, H, tq] (-inf for an all-masked row) or NULL; p [b, H, tq, tk] undropped
 * probabilities or NULL; q [b, tq, d]; k, v [b, tk, d]; kmask [b, tk] or NULL; drop may be NULL. */
void ref_attention_fwd(double *o, double *lse, double *p, const double *q, const double *k, const double *v,
                       const int32_t *kmask, const clf_attention_shape *s, const clf_dropout *drop);

/* dq [b, tq, d], dk, dv [b, tk, d] are overwritten with the gradients of sum(o * dout). */
void ref_attention_bwd(double *dq, double *dk, double *dv, const double *dout, const double *q, const double *k,
                       const double *v, const int32_t *kmask, const clf_attention_shape *s,
                       const clf_dropout *drop);

#endif
