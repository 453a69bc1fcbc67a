/* Float64 reference of the embedding op (SPEC, Forward pass). */
#ifndef CLFORMER_TEST_REF_EMBEDDING_H
#define CLFORMER_TEST_REF_EMBEDDING_H

#include <stdint.h>

/* out[r] = table[tok[r]] * scale + pe[r % t] (pe may be NULL). */
void ref_embedding_fwd(double *out /* [n, d] */, const double *table /* [vocab, d] */, const int32_t *tok /* [n] */,
                       const double *pe /* [>= t, d] or NULL */, int n, int t, int d, double scale);

/* dtable[tok[r]] += scale * dout[r] for every row r (accumulates). */
void ref_embedding_bwd(double *dtable /* [vocab, d] */, const double *dout /* [n, d] */, const int32_t *tok /* [n] */,
                       int n, int d, double scale);

#endif
