#include "ref_elementwise.h"

#include "clformer/philox.h"

double ref_dropout_mult(const clf_dropout *d, uint32_t mask0, size_t i) {
    if (!d || d->p == 0.0f) return 1.0;
    uint32_t t = clf_dropout_threshold(d->p);
    return clf_dropout_keep(mask0 + (uint32_t)i, d->site, d->step, d->seed, t) ? 1.0 / (1.0 - (double)d->p) : 0.0;
}

void ref_residual_dropout_fwd(double *y, const double *x, const double *s, size_t n, const clf_dropout *d,
                              uint32_t mask0) {
    for (size_t i = 0; i < n; i++) y[i] = (x ? x[i] : 0.0) + s[i] * ref_dropout_mult(d, mask0, i);
}

void ref_residual_dropout_bwd(double *dx, double *ds, const double *dy, size_t n, const clf_dropout *d,
                              uint32_t mask0) {
    for (size_t i = 0; i < n; i++) {
        if (dx) dx[i] += dy[i];
        ds[i] += dy[i] * ref_dropout_mult(d, mask0, i);
    }
}

void ref_axpy(double *dst, const double *src, size_t n, double alpha) {
    for (size_t i = 0; i < n; i++) dst[i] += alpha * src[i];
}

void ref_scale(double *dst, const double *src, size_t n, double alpha) {
    for (size_t i = 0; i < n; i++) dst[i] = alpha * src[i];
}
