#include "ref_cross_entropy.h"

#include <math.h>

double ref_cross_entropy(double *loss_rows /* [n] */, double *dlogits /* [n, v] or NULL */,
                         const double *logits /* [n, v] */, const int32_t *targets /* [n] */, int n, int v, int pad,
                         double eps, double inv_count) {
    double total = 0;
    for (int r = 0; r < n; r++) {
        const double *x = logits + (long)r * v;
        double *dx = dlogits ? dlogits + (long)r * v : 0;
        int y = targets[r];
        if (y == pad) {
            loss_rows[r] = 0;
            if (dx)
                for (int j = 0; j < v; j++) dx[j] = 0;
            continue;
        }
        double m = -INFINITY, s = 0, sx = 0;
        for (int j = 0; j < v; j++) m = x[j] > m ? x[j] : m;
        for (int j = 0; j < v; j++) {
            s += exp(x[j] - m);
            sx += x[j];
        }
        double lse = m + log(s);
        loss_rows[r] = (1 - eps) * (lse - x[y]) + eps * (lse - sx / v);
        total += loss_rows[r];
        if (dx)
            for (int j = 0; j < v; j++) {
                double p = exp(x[j] - lse);
                dx[j] = inv_count * ((1 - eps) * (p - (j == y)) + eps * (p - 1.0 / v));
            }
    }
    return inv_count * total;
}
