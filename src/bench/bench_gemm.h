/* GEMM at the shapes of a training step, forward and backward, by each path. */
#ifndef CLFORMER_BENCH_GEMM_H
#define CLFORMER_BENCH_GEMM_H

#include "bench.h"

clf_status clf_bench_gemm(clf_bench *b);

#endif
