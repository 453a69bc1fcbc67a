/* Benchmark of the Linear layer at the shapes of a training step: Q/K/V/O projections, the two FFN
 * products and the generator, forward and backward, in GFLOP/s. */
#ifndef CLFORMER_BENCH_LINEAR_H
#define CLFORMER_BENCH_LINEAR_H

#include "bench.h"

clf_status clf_bench_linear(clf_bench *b);

#endif
