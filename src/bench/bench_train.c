/* Whole-model figures: a trainer runs warm-up steps, then timed steps on the wall clock (its loss
 * readback lags one step, so the window ends with a flush), then greedy generation with the
 * key/value cache is timed on a graph of its own.
 *
 * Synthetic batches (batch > 0) come from the built-in task "random" (encoder-decoder) or from a
 * temporary file of random bytes (decoder-only, which the trainer feeds from files only), so the
 * steps run through the trainer exactly as `clformer train` does, and a plain trainer given the
 * same task reproduces their losses. The batcher carries bytes: token ids are uniform over 0..255
 * (plus BOS and EOS), not over the whole vocabulary; the work of a step does not depend on them. */
#include "bench/bench_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clformer/model.h"
#include "clformer/rng.h"
#include "train/stepper.h"
#include "host_util.h"

void clf_bench_train_options_default(clf_bench_train_options *o) {
    memset(o, 0, sizeof *o);
    clf_train_options_default(&o->train);
    o->warmup_steps = 3;
    o->steps = 10;
}

static int imax(int a, int b) { return a > b ? a : b; }

static clf_status check_options(const clf_bench_train_options *o) {
    bool lm = o->train.model.arch == CLF_ARCH_DECODER;
    if (o->steps < 1) return CLF_ERROR(CLF_ERR_INVALID_ARG, "bench train: steps %d must be at least 1", o->steps);
    if (o->warmup_steps < 0)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "bench train: warmup_steps %d is negative", o->warmup_steps);
    if (o->batch < 0) return CLF_ERROR(CLF_ERR_INVALID_ARG, "bench train: batch %d is negative", o->batch);
    if (o->batch > 0 && (o->tgt_len < 2 || (!lm && o->src_len < 1)))
        return CLF_ERROR(CLF_ERR_INVALID_ARG,
                         "bench train: synthetic batches need src_len >= 1 (encdec) and tgt_len >= 2, got %d and %d",
                         o->src_len, o->tgt_len);
    if (o->batch > 0 && (o->src_len > 65536 || o->tgt_len > 65536 || (long)o->batch * imax(o->src_len, o->tgt_len) > 1L << 30))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "bench train: batch %d x (src_len %d, tgt_len %d) is too large", o->batch,
                         o->src_len, o->tgt_len);
    if (o->gen_batch < 0) return CLF_ERROR(CLF_ERR_INVALID_ARG, "bench train: gen_batch %d is negative", o->gen_batch);
    return CLF_OK;
}

/* Once max_len is settled (synthetic batches may change it). */
static clf_status check_generation(const clf_bench_train_options *o, int max_len) {
    if (o->gen_batch > 0 && (o->gen_tokens < 1 || o->gen_tokens > max_len))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "bench train: gen_tokens %d outside [1, max_len %d]", o->gen_tokens,
                         max_len);
    return CLF_OK;
}

/* A file of n random bytes for the decoder-only trainer; *path gets its name (caller unlinks). */
static clf_status write_random_file(size_t n, uint64_t seed, char *path, size_t cap) {
    const char *dir = getenv("TMPDIR");
    snprintf(path, cap, "%s/clformer-bench-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) return CLF_ERROR(CLF_ERR_IO, "bench train: cannot create a temporary file %s", path);
    FILE *f = fdopen(fd, "wb");
    uint8_t *buf = malloc(n);
    if (!f || !buf) {
        free(buf);
        if (f) fclose(f);
        else close(fd);
        unlink(path);
        return CLF_ERROR(CLF_ERR_NO_MEMORY, "bench train: %zu bytes of random text", n);
    }
    clf_rng r;
    clf_rng_seed(&r, seed ^ 0x9B05688C2B3E6C1Full);
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(clf_rng_next(&r) >> 56);
    bool ok = fwrite(buf, 1, n, f) == n;
    ok = fclose(f) == 0 && ok;
    free(buf);
    if (!ok) {
        unlink(path);
        return CLF_ERROR(CLF_ERR_IO, "bench train: cannot write %zu bytes to %s", n, path);
    }
    return CLF_OK;
}

static void record(clf_bench_train_result *r, const clf_step_report *rep, long first_timed, long *timed_tokens) {
    if (!rep->step) return;
    if (r->n_losses < CLF_BENCH_TRAIN_MAX_LOSSES) r->losses[r->n_losses++] = rep->loss;
    if (rep->step >= first_timed) *timed_tokens += rep->tokens;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Greedy decoding of exactly n new tokens per row (no stop at EOS: every run does the same work),
 * starting from BOS; encdec rows first encode src [B, Ts]. */
static clf_status generate(clf_model_graph *mg, const int32_t *src, int B, int Ts, int n, float *logits, int32_t *tok) {
    clf_stepper *s = NULL;
    clf_status st = clf_stepper_new(mg, true, src, B, Ts, n, &s);
    int V = mg->model->cfg.vocab_size;
    for (int b = 0; b < B; b++) tok[b] = CLF_BOS;
    for (int t = 0; st == CLF_OK && t < n; t++) {
        st = clf_stepper_step(s, tok, 1, logits);
        for (int b = 0; st == CLF_OK && b < B; b++) tok[b] = argmax(logits + (size_t)b * (size_t)V, V);
    }
    clf_stepper_free(s);
    return st;
}

/* Generation on the trained model: one short untimed run (builds the step graphs and their kernels),
 * then the timed one. Encdec sources have src_len random bytes (16 when src_len is 0). */
static clf_status bench_generation(clf_model *m, const clf_bench_train_options *o, clf_bench_train_result *r) {
    bool encdec = m->cfg.arch == CLF_ARCH_ENCDEC;
    int B = o->gen_batch, n = o->gen_tokens, Ts = encdec ? (o->src_len > 0 ? o->src_len : 16) : 0;
    if (Ts > m->cfg.max_len) Ts = m->cfg.max_len;
    clf_dims max = {B, Ts, n, 0};
    clf_model_graph *mg = NULL;
    int32_t *src = malloc((size_t)B * (size_t)(Ts ? Ts : 1) * sizeof *src), *tok = malloc((size_t)B * sizeof *tok);
    float *logits = malloc((size_t)B * (size_t)m->cfg.vocab_size * sizeof *logits);
    clf_status st = src && tok && logits ? clf_model_graph_new(m, max, CLF_GRAPH_INFERENCE, 0.0f, &mg)
                                         : CLF_ERROR(CLF_ERR_NO_MEMORY, "bench train: generation buffers");
    clf_rng rng;
    clf_rng_seed(&rng, o->train.seed ^ 0x3C6EF372FE94F82Bull);
    for (size_t i = 0; src && i < (size_t)B * (size_t)Ts; i++) src[i] = (int32_t)clf_rng_below(&rng, 256);
    if (st == CLF_OK) st = generate(mg, src, B, Ts, n < 2 ? n : 2, logits, tok);
    double t0 = clf_now_ms();
    if (st == CLF_OK) st = generate(mg, src, B, Ts, n, logits, tok);
    if (st == CLF_OK) {
        r->gen_ms = clf_now_ms() - t0;
        r->gen_tokens_per_s = (double)B * n / (r->gen_ms * 1e-3);
    }
    clf_model_graph_free(mg);
    free(src);
    free(tok);
    free(logits);
    return st == CLF_OK ? CLF_OK : clf_error_context(st, "bench train: generation of %d x %d tokens", B, n);
}

/* Warm-up, then the timed window; losses and token counts as the reports come back. */
static clf_status run_steps(clf_device *dev, clf_trainer *t, const clf_bench_train_options *o,
                            clf_bench_train_result *r) {
    clf_step_report rep;
    long first_timed = o->warmup_steps + 1, tokens = 0;
    clf_status st = CLF_OK;
    for (int i = 0; st == CLF_OK && i < o->warmup_steps; i++) {
        double t0 = clf_now_ms();
        st = clf_trainer_run_step(t, &rep);
        if (st == CLF_OK) record(r, &rep, first_timed, &tokens);
        if (st == CLF_OK && i == 0) { /* the first step alone, finished: the start-up figure */
            st = clf_trainer_flush(t, &rep);
            if (st == CLF_OK) record(r, &rep, first_timed, &tokens);
            r->first_step_ms = clf_now_ms() - t0;
        }
    }
    if (st == CLF_OK) st = clf_trainer_flush(t, &rep);
    if (st == CLF_OK) record(r, &rep, first_timed, &tokens);
    if (st != CLF_OK) return st;

    size_t launches = clf_device_launch_count(dev), waits = clf_device_wait_count(dev);
    double t0 = clf_now_ms();
    for (int i = 0; st == CLF_OK && i < o->steps; i++) {
        st = clf_trainer_run_step(t, &rep);
        if (st == CLF_OK) record(r, &rep, first_timed, &tokens);
    }
    if (st == CLF_OK) st = clf_trainer_flush(t, &rep);
    if (st != CLF_OK) return st;
    record(r, &rep, first_timed, &tokens);
    double ms = clf_now_ms() - t0;
    r->step_ms = ms / o->steps;
    r->train_tokens_per_s = (double)tokens / (ms * 1e-3);
    r->launches_per_step = (double)(clf_device_launch_count(dev) - launches) / o->steps;
    r->waits_per_step = (double)(clf_device_wait_count(dev) - waits) / o->steps;
    r->peak_bytes = clf_device_bytes_peak(dev);
    return CLF_OK;
}

clf_status clf_bench_train(clf_device *dev, const clf_bench_train_options *o, clf_bench_train_result *r) {
    if (!dev || !o || !r)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "bench train: %s is NULL", !dev ? "dev" : !o ? "options" : "result");
    memset(r, 0, sizeof *r);
    clf_status st = check_options(o);
    if (st != CLF_OK) return st;

    clf_train_options to = o->train;
    to.steps = (long)o->warmup_steps + o->steps;
    char task[64], path[512] = "";
    bool lm = to.model.arch == CLF_ARCH_DECODER;
    if (o->batch > 0 && lm) { /* windows of max_len bytes, batch of them per step */
        to.model.max_len = o->tgt_len;
        to.batch_tokens = o->batch * o->tgt_len;
        to.task = NULL;
    } else if (o->batch > 0) {
        snprintf(task, sizeof task, "random:%d:%d", o->src_len, o->tgt_len);
        to.task = task;
        to.data = NULL;
        to.model.max_len = imax(to.model.max_len, imax(o->src_len, o->tgt_len));
        to.batch_tokens = o->batch * imax(o->src_len, o->tgt_len);
    }

    st = check_generation(o, to.model.max_len);
    if (st != CLF_OK) return st;
    if (o->batch > 0 && lm) {
        size_t n = (size_t)o->batch * (size_t)(o->tgt_len + 1) * 20;
        st = write_random_file(n < 65536 ? 65536 : n, to.seed, path, sizeof path);
        if (st != CLF_OK) return st;
        to.data = path;
    }

    double t0 = clf_now_ms();
    clf_trainer *t = NULL;
    st = clf_trainer_new(dev, &to, &t);
    if (path[0]) unlink(path); /* the dataset holds the bytes now */
    if (st != CLF_OK) return clf_error_context(st, "bench train");
    r->setup_ms = clf_now_ms() - t0;
    r->params = clf_trainer_model(t)->layout.total;
    clf_device_reset_peak(dev);
    st = run_steps(dev, t, o, r);
    clf_trainer_memory(t, &r->memory);
    if (st == CLF_OK && o->gen_batch > 0) st = bench_generation(clf_trainer_model(t), o, r);
    clf_trainer_free(t);
    return st;
}
