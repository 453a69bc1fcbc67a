/* Central finite differences in float64, to check the references' backward passes. */
#ifndef CLFORMER_TEST_FD_H
#define CLFORMER_TEST_FD_H

#include <stddef.h>

/* A scalar function of x (n values); ctx carries everything else. */
typedef double (*fd_loss_fn)(const double *x, size_t n, void *ctx);

/* Relative error ||analytic - numeric|| / ||numeric|| of the gradient of f at x, with central
 * differences of step h (x is restored). */
double fd_check(fd_loss_fn f, double *x, size_t n, const double *analytic, void *ctx, double h);

#endif
