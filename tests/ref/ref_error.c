#include "ref_error.h"

#include <math.h>

double ref_rel_err(const float *got, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) != isnan(ref[i]) || ((isinf(got[i]) || isinf(ref[i])) && (double)got[i] != ref[i]))
            return INFINITY;
        if (isnan(ref[i]) || isinf(ref[i])) continue;
        double d = (double)got[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}
