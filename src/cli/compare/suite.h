/* The suite `clformer compare` runs on each device: capabilities, program builds, numerical
 * agreement, kernel benchmarks and a whole training run, all into one column of the report. */
#ifndef CLFORMER_CLI_COMPARE_SUITE_H
#define CLFORMER_CLI_COMPARE_SUITE_H

#include <stdbool.h>
#include <stdint.h>

#include "bench/bench.h"
#include "clformer/device.h"
#include "report.h"

typedef struct cmp_suite {
    const char *name;       /* "full", "quick", "tiny" */
    clf_bench_config bench; /* the kernel benchmarks' shapes and repetitions */
    /* The training run: an encoder-decoder on synthetic batches, warm-up + timed steps (their losses
     * are compared across devices), then greedy generation. */
    int d_model, n_heads, d_ff, layers, batch, seq, warmup, steps, gen_batch, gen_tokens;
    uint64_t seed;
} cmp_suite;

/* The preset of that name; false when there is none. */
bool cmp_suite_preset(const char *name, cmp_suite *s);

/* Run everything on the device list[d] describes, into column d. */
void cmp_suite_run(cmp_report *r, size_t d, size_t n_dev, const clf_device_info *info, const cmp_suite *s);

/* After every device ran (and the losses were compared): the "result" row of each column. */
void cmp_suite_results(cmp_report *r);

/* A progress line on stderr: "compare [2/3 basic]: ..." */
void cmp_progress(size_t d, size_t n_dev, const char *dev_name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
