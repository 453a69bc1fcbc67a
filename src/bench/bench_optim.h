/* Benchmarks of the loss and the optimizer: fused cross-entropy at the byte and a 32000-word
 * vocabulary, gradient norm and AdamW over a 20M-parameter model. */
#ifndef CLFORMER_BENCH_OPTIM_H
#define CLFORMER_BENCH_OPTIM_H

#include "bench.h"

clf_status clf_bench_optim(clf_bench *b);

#endif
