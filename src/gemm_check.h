/* One GEMM product on the device against a float64 host product: the check every GEMM path passes
 * before it is used (own variants in gemm_select.c, CLBlast parameter sets in gemm_clblast_tune.c). */
#ifndef CLFORMER_GEMM_CHECK_H
#define CLFORMER_GEMM_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "gemm_internal.h"

/* op(A) [m, k] times op(B) [k, n], batch of them, every leading dimension pad floats wider than dense. */
typedef struct clf_gemm_check_case {
    bool ta, tb;
    size_t m, n, k, batch, pad;
    float alpha, beta;
} clf_gemm_check_case;

/* Runs s (its buffers, leading dimensions and strides filled in) through the path under check. */
typedef clf_status (*clf_gemm_check_runner)(clf_device *dev, const clf_gemm_shape *s, void *ctx);

/* Runs the case on seeded inputs in [-0.5, 0.5) (C's matrices NaN when beta is 0: they must not be
 * read) and sets *err to the relative norm error over all of C, the padding included, which must come
 * back as it was; INFINITY for NaN. A failure of run is returned, or, with run_failed, cleared and
 * reported there (*err INFINITY), the queue drained. Other failures (memory, transfers) are returned. */
clf_status clf_gemm_check(clf_device *dev, const clf_gemm_check_case *c, clf_gemm_check_runner run, void *ctx,
                          double *err, bool *run_failed);

#endif
