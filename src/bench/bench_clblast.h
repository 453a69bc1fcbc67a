/* CLBlast's SGEMM with its own parameters against the set tuned for the device, at a training shape. */
#ifndef CLFORMER_BENCH_CLBLAST_H
#define CLFORMER_BENCH_CLBLAST_H

#include "bench.h"

/* Rows "clblast own" (only while this process has not yet applied a tuned set: call it before anything
 * else runs CLBlast) and "clblast tuned <set>" (only when tuning is on for the device), plus the tune's
 * own side-by-side figures on its proxies when this process measured them. */
clf_status clf_bench_clblast(clf_bench *b);

#endif
