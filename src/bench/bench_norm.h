/* Benchmark of the embedding and LayerNorm ops, forward and backward, at the shapes of a training
 * step (tokens x d_model, vocab). */
#ifndef CLFORMER_BENCH_NORM_H
#define CLFORMER_BENCH_NORM_H

#include "bench.h"

clf_status clf_bench_norm(clf_bench *b);

#endif
