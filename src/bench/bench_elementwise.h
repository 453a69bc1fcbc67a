/* Benchmark of the element-wise ops: residual add with dropout (forward, backward) and axpy at the
 * residual-stream and FFN-hidden shapes of a training step. */
#ifndef CLFORMER_BENCH_ELEMENTWISE_H
#define CLFORMER_BENCH_ELEMENTWISE_H

#include "bench.h"

clf_status clf_bench_elementwise(clf_bench *b);

#endif
