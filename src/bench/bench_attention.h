/* Benchmark of attention: the fused path against the materialized one, forward and forward+backward,
 * at the training shape of the configuration and over sequence lengths, with the memory each needs. */
#ifndef CLFORMER_BENCH_ATTENTION_H
#define CLFORMER_BENCH_ATTENTION_H

#include "bench.h"

clf_status clf_bench_attention(clf_bench *b);

#endif
