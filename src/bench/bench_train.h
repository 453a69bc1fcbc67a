/* Whole-model figures on one device: training steps and generation of one configuration, with the
 * launches, host waits and peak device memory of a step. Used by `clformer bench --train`, by
 * `clformer compare` and by tools/bench_vs_torch.py. */
#ifndef CLFORMER_BENCH_TRAIN_H
#define CLFORMER_BENCH_TRAIN_H

#include "clformer/train.h"

#define CLF_BENCH_TRAIN_MAX_LOSSES 256

typedef struct clf_bench_train_options {
    clf_train_options train; /* model, optimizer, task or data, batch_tokens, seed; steps is ignored */
    /* When batch > 0, every step trains on batch rows of src_len source and tgt_len target tokens
     * drawn uniformly from the vocabulary (no PAD), as a framework benchmark does, instead of the task. */
    int batch, src_len, tgt_len;
    int warmup_steps; /* untimed steps before the timed ones */
    int steps;        /* timed steps */
    /* Generation (after training): gen_batch sequences, each extended by gen_tokens new tokens with
     * the key/value cache, greedy; gen_batch = 0 skips it. */
    int gen_batch, gen_tokens;
} clf_bench_train_options;

typedef struct clf_bench_train_result {
    double step_ms;              /* wall time per timed step (mean) */
    double train_tokens_per_s;   /* non-PAD target tokens of the timed steps per second */
    double gen_ms;               /* wall time of the whole generation */
    double gen_tokens_per_s;     /* new tokens (all sequences) per second; 0 when skipped */
    double launches_per_step;    /* kernel launches (fills included) per timed step */
    double waits_per_step;       /* host waits per timed step (clf_device_wait_count) */
    size_t peak_bytes;           /* peak device memory during the training steps */
    clf_memory_report memory;    /* what the trainer's buffers hold, by kind */
    size_t params;               /* parameter count */
    int n_losses;                /* losses of every step, warm-up first, in order (at most the max) */
    double losses[CLF_BENCH_TRAIN_MAX_LOSSES];
    /* Start-up (added for issue 7's start-up figure): building the trainer (model, parameters, graph,
     * buffers) and the first step enqueued and finished (lazy kernel builds land here); 0 when
     * warmup_steps is 0 (the first step is then one of the timed ones). */
    double setup_ms, first_step_ms;
} clf_bench_train_result;

/* Defaults: the trainer's defaults, 3 warm-up and 10 timed steps, no generation. */
void clf_bench_train_options_default(clf_bench_train_options *o);

clf_status clf_bench_train(clf_device *dev, const clf_bench_train_options *o, clf_bench_train_result *r);

#endif
