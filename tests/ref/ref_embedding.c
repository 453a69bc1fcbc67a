#include "ref_embedding.h"

#include <stddef.h>

void ref_embedding_fwd(double *out, const double *table, const int32_t *tok, const double *pe, int n, int t, int d,
                       double scale) {
    for (int r = 0; r < n; r++)
        for (int c = 0; c < d; c++) {
            double v = table[(size_t)tok[r] * (size_t)d + (size_t)c] * scale;
            if (pe) v += pe[(size_t)(r % t) * (size_t)d + (size_t)c];
            out[(size_t)r * (size_t)d + (size_t)c] = v;
        }
}

void ref_embedding_bwd(double *dtable, const double *dout, const int32_t *tok, int n, int d, double scale) {
    for (int r = 0; r < n; r++)
        for (int c = 0; c < d; c++)
            dtable[(size_t)tok[r] * (size_t)d + (size_t)c] += scale * dout[(size_t)r * (size_t)d + (size_t)c];
}
