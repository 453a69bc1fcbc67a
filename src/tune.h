/* Launch-configuration tuning shared by the ops (internal). An op names a shape bucket and a small
 * numbered list of valid configurations; the first time that key is seen on a device each candidate
 * runs once to warm (kernel builds), then a few timed runs (best of), within a per-key and a
 * per-process budget. The winner is remembered in memory and in a file in the cache folder, keyed by
 * the device and driver, so the next start measures nothing. CLFORMER_TUNE=off takes every op's
 * default without measuring; CLFORMER_TUNE=on (or unset) tunes.
 *
 * Candidates must give the same results up to rounding, and the run callback must leave the caller's
 * buffers untouched: time on scratch outputs, or on the real outputs only when the op overwrites
 * them and reads nothing it writes (accumulating backward passes never). A candidate that fails is
 * left out; a failing default is the op's error. */
#ifndef CLFORMER_TUNE_H
#define CLFORMER_TUNE_H

#include <stdbool.h>
#include <stddef.h>

#include "clformer/device.h"

#define CLF_TUNE_MAX_CANDIDATES 16
#define CLF_TUNE_MAX_KEY 160

/* Enqueue candidate `candidate` of the op once (the tuner waits for the device and times it). */
typedef clf_status (*clf_tune_run_fn)(clf_device *dev, void *ctx, int candidate);

typedef struct clf_tune_request {
    /* The op and its shape bucket, printable, no tab or newline, shorter than CLF_TUNE_MAX_KEY:
     * "linear_fwd act=1 bias=1 n=4096 out=1024" with sizes through clf_tune_bucket. */
    const char *key;
    /* cl/<program>.cl the candidates run: a stored choice is stale once its source changes. NULL: none. */
    const char *program;
    int n_candidates;   /* 1 .. CLF_TUNE_MAX_CANDIDATES; a stored choice counts only with the same number */
    int fallback;       /* the op's default: measured first, kept unless another is clearly faster */
    unsigned valid;     /* bit i set: candidate i is a valid configuration here; 0: all are */
    clf_tune_run_fn run;
    void *ctx;
} clf_tune_request;

/* The candidate to use for req->key on dev, in [0, n_candidates): remembered, loaded from the file,
 * or measured now. Never changes a buffer the op's caller owns (see above). */
clf_status clf_tune_choose(clf_device *dev, const clf_tune_request *req, int *choice);

/* Power-of-two shape buckets, as GEMM's choices: the smallest power of two >= x (1 for 0). */
size_t clf_tune_bucket(size_t x);

/* Whether tuning runs (CLFORMER_TUNE is not "off"); an unknown value is an error naming the choices. */
clf_status clf_tune_enabled(bool *on);

/* ---- tests and reports ---- */

typedef struct clf_tune_stats {
    int measured;       /* keys measured by this process */
    int loaded;         /* keys answered from the file */
    int over_budget;    /* keys given the default because a budget ran out */
    size_t runs;        /* candidate runs, warm-ups included */
    double ms;          /* wall time spent measuring, past the defaults' warm-ups */
} clf_tune_stats;
void clf_tune_stats_get(clf_tune_stats *out);

/* Forget every in-memory choice, the statistics and the budget spent, as a fresh process would start:
 * the next choose reads the file again. */
void clf_tune_forget(void);

/* Budgets in milliseconds: all tuning of the process, and one key. Both count every run but the
 * default's warm-up (its builds, which the op pays untuned too). <= 0 restores the defaults (20 s, 2 s). */
void clf_tune_set_budget(double total_ms, double per_key_ms);

/* The tuning file of dev ("" when the cache is off: CLFORMER_NO_CACHE). */
void clf_tune_file(const clf_device *dev, char *out, size_t size);

#endif
