/* Training: learning-rate schedules, the optimizer step, and a trainer that runs whole steps
 * (micro-batches, forward, backward, gradient norm, AdamW) with no host wait inside a step, reads the
 * loss of a step while the next one runs, evaluates on held-out data and saves resumable checkpoints. */
#ifndef CLFORMER_TRAIN_H
#define CLFORMER_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "clformer/config.h"
#include "clformer/data.h"
#include "clformer/device.h"

typedef enum { CLF_SCHEDULE_NOAM = 0, CLF_SCHEDULE_COSINE, CLF_SCHEDULE_CONSTANT } clf_schedule_kind;

typedef struct clf_schedule {
    clf_schedule_kind kind;
    double scale;  /* noam */
    long warmup;   /* noam and cosine */
    double lr_max; /* cosine peak, constant value */
    double lr_min; /* cosine floor at the last step */
    long total;    /* cosine: the last step */
    int d_model;   /* noam */
} clf_schedule;

/* SPEC: noam lr = scale d^-0.5 min(step^-0.5, step warmup^-1.5); cosine: linear warm-up to lr_max over
 * warmup steps, then cosine decay to lr_min at step total; constant. step counts from 1. */
double clf_schedule_lr(const clf_schedule *s, long step);
const char *clf_schedule_name(clf_schedule_kind k);
clf_status clf_schedule_parse(const char *s, clf_schedule_kind *out);

typedef struct clf_train_options {
    clf_config model;
    const char *task;      /* built-in task name, when data is NULL */
    const char *data;      /* a file: seq2seq TSV for encdec, lm bytes for decoder */
    long steps;            /* the run's total (a resumed run continues to it) */
    int batch_tokens;      /* token budget of a micro-batch */
    int accum;             /* micro-batches per step */
    uint64_t seed;
    float label_smoothing;
    clf_schedule schedule;
    float beta1, beta2, eps, weight_decay;
    float clip;            /* max gradient norm; <= 0: no clipping */
    int max_bad_steps;     /* stop after this many non-finite steps in a row */
    const char *resume;    /* checkpoint to continue from, or NULL */
    bool recompute;        /* recompute each sub-layer's activations in the backward instead of keeping them */
} clf_train_options;

/* The defaults: SPEC's model and optimizer, the reverse task. */
void clf_train_options_default(clf_train_options *o);

typedef struct clf_trainer clf_trainer;

typedef struct clf_step_report {
    long step;            /* the step these figures belong to; 0 when none is complete yet */
    double loss, lr, grad_norm;
    long tokens;          /* non-PAD targets of the step */
    bool skipped;         /* non-finite loss or norm: weights unchanged */
    long skipped_total, bad_in_a_row;
} clf_step_report;

clf_status clf_trainer_new(clf_device *dev, const clf_train_options *o, clf_trainer **out);
void clf_trainer_free(clf_trainer *t);

/* Steps completed so far (the checkpoint's step after a resume). */
long clf_trainer_step(const clf_trainer *t);
const clf_config *clf_trainer_config(const clf_trainer *t);
struct clf_model *clf_trainer_model(clf_trainer *t);

/* Enqueue the next step. *done gets the figures of the previous step, read without stalling this one
 * (done->step == 0 when there was none). CLF_ERR_NUMERIC when max_bad_steps non-finite steps came in a
 * row: the weights are those of the last good step. */
clf_status clf_trainer_run_step(clf_trainer *t, clf_step_report *done);
/* Wait for the last enqueued step and report it. */
clf_status clf_trainer_flush(clf_trainer *t, clf_step_report *done);

typedef struct clf_eval_report {
    double loss, perplexity, token_accuracy; /* over held-out target tokens */
    double exact_match;                      /* fraction of held-out sequences decoded exactly (greedy); -1 for lm */
    long sequences, tokens;
} clf_eval_report;

/* What evaluation reads: a model's graph (training or not), held-out data and its batcher. */
typedef struct clf_evaluator {
    struct clf_model_graph *mg;
    clf_batcher *bt;
    const clf_dataset *ds;
    int max_tgt; /* longest target in bytes: decoding stops one token after it */
} clf_evaluator;

/* Held-out loss and accuracy; exact match by greedy decoding when exact is true (seq2seq). */
clf_status clf_evaluate(const clf_evaluator *e, bool exact, clf_eval_report *out);
/* A few held-out pairs decoded greedily: source, target and what the model says, as C strings
 * (printable; written into the caller's arrays of n strings of width bytes each). */
clf_status clf_evaluate_samples(const clf_evaluator *e, int n, int width, char *src, char *tgt, char *got, int *n_out);

/* Decoder-only continuation of prompt[0..n) by up to max_new tokens (stops at EOS): greedy when
 * temperature <= 0, else sampled from softmax(logits / temperature) restricted to the top_k most likely
 * tokens (top_k <= 0: all). out receives the new tokens; *n_out their count. */
clf_status clf_model_continue(struct clf_model_graph *mg, const int32_t *prompt, int n, int max_new, float temperature,
                              int top_k, uint64_t seed, int32_t *out, int *n_out);

/* The same for a trainer's model and data. */
clf_status clf_trainer_evaluate(clf_trainer *t, bool exact, clf_eval_report *out);
clf_status clf_trainer_samples(clf_trainer *t, int n, int width, char *src, char *tgt, char *got, int *n_out);

/* Greedy decoding of a seq2seq batch's sources: out [B, max_out] tokens, lens [B] (EOS excluded;
 * -1 when no EOS came within max_out). PAD and BOS end a row like EOS. Decoding takes at most the
 * graph's target length of steps; B and Ts must fit the graph. */
clf_status clf_model_greedy(struct clf_model_graph *mg, const int32_t *src, int B, int Ts, int max_out, int32_t *out,
                            int *lens);

/* Beam search for one source src [Ts] of an encoder-decoder, beam hypotheses wide (the graph's
 * batch must hold beam rows; beam 1 is greedy decoding). Each step extends every live hypothesis by
 * every token (log-softmax of its logits, in double); a hypothesis ends when it takes EOS (or PAD /
 * BOS, as in greedy decoding) and is then ranked by score = log p / len^length_penalty, len
 * counting the end token (length_penalty 0: the plain log-probability). Ties go to the lower
 * hypothesis, then the lower token id, so results are deterministic. Search stops once no live
 * hypothesis can still beat the best ended one (the same answer as searching on), or after max_out
 * steps (then live hypotheses compete with their log p / steps^length_penalty). out [max_out] gets the best
 * hypothesis, followed by its end token when there is room; *len its length (end excluded; -1 when it
 * did not end); *score its score (may be NULL). */
clf_status clf_model_beam(struct clf_model_graph *mg, const int32_t *src, int Ts, int beam, int max_out,
                          float length_penalty, int32_t *out, int *len, double *score);

/* The reference paths of greedy decoding and continuation: every step recomputes the whole prefix
 * (clf_model_greedy and clf_model_continue reuse earlier positions' keys and values instead). Same
 * contract and results. */
clf_status clf_model_greedy_full(struct clf_model_graph *mg, const int32_t *src, int B, int Ts, int max_out,
                                 int32_t *out, int *lens);
clf_status clf_model_continue_full(struct clf_model_graph *mg, const int32_t *prompt, int n, int max_new,
                                   float temperature, int top_k, uint64_t seed, int32_t *out, int *n_out);

/* Save model, optimizer and everything resuming needs (atomic). */
clf_status clf_trainer_save(clf_trainer *t, const char *path);

/* What the step holds on the device and how much of it is what. */
typedef struct clf_memory_report {
    size_t params, grads, optimizer, activations, activation_grads, workspace, inputs;
    size_t gemm_packing; /* the device's GEMM packing buffer, shared by every product (grows to the largest) */
    size_t peak; /* device bytes in use at the peak of the training steps so far */
    size_t launches_per_step;
} clf_memory_report;
void clf_trainer_memory(const clf_trainer *t, clf_memory_report *out);

#endif
