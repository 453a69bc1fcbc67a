#include "fd.h"

#include <math.h>
#include <stdlib.h>

double fd_check(fd_loss_fn f, double *x, size_t n, const double *analytic, void *ctx, double h) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + h;
        double up = f(x, n, ctx);
        x[i] = keep - h;
        double down = f(x, n, ctx);
        x[i] = keep;
        double g = (up - down) / (2 * h);
        num += (analytic[i] - g) * (analytic[i] - g);
        den += g * g;
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}
