/* The device's limits measured in the same run as the kernels: copy bandwidth and SGEMM rate. */
#ifndef CLFORMER_BENCH_LIMITS_H
#define CLFORMER_BENCH_LIMITS_H

#include "bench.h"

/* Fills b->copy_gbps (a large float4 copy) and b->gemm_gflops (CLBlast SGEMM at 2048^3, 1024^3
 * when quick) and adds both as rows. */
clf_status clf_bench_limits(clf_bench *b);

/* Every kernel benchmark in order: limits first. only (may be NULL) keeps the families whose name
 * contains it ("linear", "attention", "norm", "elementwise", "optim"). */
clf_status clf_bench_all(clf_bench *b, const char *only);

#endif
