/* Training data on the host: tokens, datasets (built-in tasks, TSV pairs, LM byte streams) with a
 * train / held-out split, and a batcher that packs pairs by length under a token budget.
 *
 * Tokens (SPEC "Tokens"): ids 0..255 are bytes, then PAD, BOS, EOS; vocab_size >= CLF_BYTE_VOCAB.
 *
 * Layout of a seq2seq batch (SPEC "Text data"):
 *   src     [B, Ts]  the source bytes, no BOS or EOS (the encoder needs no start marker and the
 *                    source length is given by its padding mask), PAD after the end;
 *   tgt_in  [B, Tt]  BOS t_0 .. t_{n-1}, PAD after;
 *   tgt_out [B, Tt]  t_0 .. t_{n-1} EOS, PAD after; so Tt = 1 + the longest target in the batch.
 * An LM batch has Ts = 0, src = NULL, and tgt_in / tgt_out hold tokens_in [B, T] and the next
 * bytes tokens_out [B, T].
 *
 * Data order is a function of the seeds alone: a training run and a run resumed from the state
 * saved with clf_batcher_state_get() see the same batches bit for bit.
 *
 * Typical use:
 *   clf_dataset *ds;  clf_dataset_task("reverse", seed, NULL, &ds);
 *   clf_batch_options bo;  clf_batch_options_default(&bo);  bo.seed = seed;
 *   clf_batcher *bt;  clf_batcher_new(ds, &bo, &bt);
 *   clf_batch b = {0};  while (...) clf_batcher_next(bt, &b);
 *   clf_batch_free(&b);  clf_batcher_free(bt);  clf_dataset_free(ds);
 */
#ifndef CLFORMER_DATA_H
#define CLFORMER_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clformer/rng.h"
#include "clformer/status.h"

#define CLF_PAD 256
#define CLF_BOS 257
#define CLF_EOS 258
#define CLF_BYTE_VOCAB 259

/* ---- Datasets ---------------------------------------------------------------------------- */

typedef struct clf_dataset clf_dataset;

typedef enum clf_data_kind {
    CLF_DATA_SEQ2SEQ, /* (source, target) pairs, for arch encdec */
    CLF_DATA_LM,      /* one byte stream cut into windows, for arch decoder */
} clf_data_kind;

/* Built-in tasks. Sources are drawn from the task's distribution; the target is a function of
 * the source, so a pair is identified by its source.
 *   reverse  letters a-z, length uniform in [min_len, max_len]; target the letters reversed.
 *   sort     as reverse; target the letters in ascending order ("dbca" -> "abcd").
 *   copy     as reverse; target = source.
 *   add      "A+B" with A, B of 1..max_digits decimal digits (digit counts uniform, no leading
 *            zeros, 1-digit operands include 0); target the decimal sum ("123+4567" -> "4690").
 * Held-out split: n_heldout distinct sources are drawn first from a stream of their own and kept in
 * a hash set; the training stream redraws any source that is in it, so a held-out pair never
 * reaches training. Length classes too small to give some away (fewer than 10 * n_heldout
 * possible sources: strings of 1-2 letters, additions of 1 digit + 1-2 digits for the defaults) are
 * left to training only, so no length is missing from training; held-out pairs come from the rest. */
typedef struct clf_task_options {
    int min_len, max_len; /* reverse/sort/copy: letters per string; defaults 1, 12 */
    int max_digits;       /* add: digits per operand, 1..18; default 4 */
    int n_heldout;        /* held-out pairs; default 500 */
} clf_task_options;

void clf_task_options_default(clf_task_options *opt);

/* "reverse, sort, add, copy, random": the names clf_dataset_task accepts (the first is the default;
 * "random:S:T" gives uniform random bytes, S source and T target tokens, for benchmarks). */
const char *clf_task_names(void);

/* A built-in task; opt NULL means the defaults. seed fixes the held-out set; the training pairs
 * come from the batcher's stream. */
clf_status clf_dataset_task(const char *name, uint64_t seed, const clf_task_options *opt, clf_dataset **out);

/* Options for reading files. */
typedef struct clf_data_options {
    int max_len;             /* model max_len (default 256) */
    bool truncate;           /* false (default): a pair too long for max_len is an error naming its
                                line; true: cut the source to max_len bytes and the target to
                                max_len - 1 bytes (EOS kept after the cut target) */
    double heldout_fraction; /* default 0.05, in [0, 0.5]; at least one item is always held out */
} clf_data_options;

void clf_data_options_default(clf_data_options *opt);

/* TSV pairs: one "source<TAB>target" a line. "\r\n" endings are accepted, a missing final newline
 * too. Empty lines (after removing a final "\r") are skipped. A line with no TAB, more than one TAB,
 * or an empty side is a CLF_ERR_FORMAT error "PATH:LINE: ...". Bytes are taken as they are (UTF-8
 * or not). Split: the last ceil(heldout_fraction * n) pairs in file order (at least 1) are held out,
 * the rest train; at least 2 pairs are needed. The split is by position: a pair repeated on both
 * sides of it stays on both. */
clf_status clf_dataset_read_tsv(const char *path, const clf_data_options *opt, clf_dataset **out);

/* LM bytes: the whole file is one stream. The last ceil(heldout_fraction * n) bytes (at least 2, one
 * prediction) are held out, the first bytes train; training windows never reach into them. */
clf_status clf_dataset_read_lm(const char *path, const clf_data_options *opt, clf_dataset **out);

void clf_dataset_free(clf_dataset *ds);

/* The accessors below take a valid dataset (not NULL). */
clf_data_kind clf_dataset_kind(const clf_dataset *ds);

/* seq2seq: the number of held-out pairs; lm: the number of held-out bytes. */
size_t clf_dataset_heldout_count(const clf_dataset *ds);
/* seq2seq files: training pairs; tasks: 0 (the stream is unbounded); lm: training bytes. */
size_t clf_dataset_train_count(const clf_dataset *ds);

/* Held-out pair i (seq2seq only), pointers into the dataset, valid until it is freed. */
clf_status clf_dataset_heldout_pair(const clf_dataset *ds, size_t i, const uint8_t **src, int *src_len,
                                    const uint8_t **tgt, int *tgt_len);

/* Whether src[0..len) is the source of a held-out pair (seq2seq; false for lm). */
bool clf_dataset_is_heldout(const clf_dataset *ds, const uint8_t *src, int len);

/* The longest source and target (bytes, before BOS/EOS) the dataset can produce; 0 for lm. */
void clf_dataset_max_lengths(const clf_dataset *ds, int *max_src, int *max_tgt);

/* ---- Batches ----------------------------------------------------------------------------- */

/* A batch. Start from `clf_batch b = {0};`; the batcher grows the arrays as needed and reuses them,
 * so the contents are valid until the next call that fills the same struct. */
typedef struct clf_batch {
    int B, Ts, Tt;     /* rows, source width (0 for lm), target width (lm: T) */
    int32_t *src;      /* [B, Ts] source bytes then PAD; NULL for lm */
    int32_t *tgt_in;   /* [B, Tt] BOS target then PAD (lm: tokens_in) */
    int32_t *tgt_out;  /* [B, Tt] target EOS then PAD (lm: tokens_out) */
    int64_t *item;     /* [B] held-out index of each row in held-out batches (lm: the window's
                          index); for TSV training rows the pair's index among the file's pairs
                          (0-based, blank lines not counted); -1 for task or lm training rows */
    long n_tgt_tokens; /* non-PAD entries of tgt_out: the positions the loss averages over */
    long n_src_tokens; /* non-PAD entries of src */
    size_t cap_src, cap_tgt, cap_rows; /* allocated elements (internal) */
} clf_batch;

void clf_batch_free(clf_batch *b);

typedef struct clf_batch_options {
    int batch_tokens; /* budget: B * max(Ts, Tt) <= batch_tokens (lm: B * T <= batch_tokens, B =
                         batch_tokens / T); bounds both the encoder's and the decoder's activations.
                         Default 4096. It must hold the longest pair alone. */
    int max_len;      /* model max_len: Ts <= max_len and Tt <= max_len; default 256 */
    int vocab_size;   /* every id in a batch is checked against it; >= CLF_BYTE_VOCAB; default 259 */
    int seq_len;      /* lm: window T (0: max_len); ignored for seq2seq */
    int pool_batches; /* pairs are drawn ~pool_batches batches at a time, sorted by length, cut into
                         batches and the batches shuffled; default 50 */
    bool packed;      /* true (default): the above; false: batches cut in draw order (for comparison) */
    uint64_t seed;    /* seeds the data order (and the task's training pairs) */
} clf_batch_options;

void clf_batch_options_default(clf_batch_options *opt);

typedef struct clf_batcher clf_batcher;

/* The batcher reads ds (which must outlive it). Checks: vocab_size, max_len against the
 * dataset's longest pair (or seq_len), batch_tokens against the longest pair. */
clf_status clf_batcher_new(const clf_dataset *ds, const clf_batch_options *opt, clf_batcher **out);
void clf_batcher_free(clf_batcher *bt);

/* The next training batch (the stream never ends; file datasets run epochs, each a fresh
 * permutation of the training pairs). */
clf_status clf_batcher_next(clf_batcher *bt, clf_batch *out);

/* Held-out batches in a fixed order (sorted by length, same budget). Start with *cursor = 0;
 * each call fills out and advances *cursor; *done is set (and out left empty, B = 0) once every
 * held-out item has been returned. lm: consecutive windows of T covering the held-out bytes, each
 * predicted byte once; the last window is PAD-padded. */
clf_status clf_batcher_heldout(clf_batcher *bt, size_t *cursor, clf_batch *out, bool *done);
/* How many held-out batches a full pass yields. */
size_t clf_batcher_heldout_batches(const clf_batcher *bt);

/* The data stream's position, for checkpoints. Restoring it into a batcher made from the same
 * dataset and options continues the stream bit-identically; a state from another dataset or other
 * options is rejected (fingerprint). */
typedef struct clf_data_state {
    uint64_t rng[CLF_RNG_WORDS]; /* the data RNG when the current pool was drawn */
    uint64_t epoch;              /* files: epoch of the pool's first pair */
    uint64_t pos;                /* files: its index in that epoch's permutation */
    uint64_t consumed;           /* batches already taken from the current pool */
    uint64_t batches;            /* training batches produced since the start (informational) */
    uint64_t fingerprint;        /* hash of the dataset and the options */
} clf_data_state;
#define CLF_DATA_STATE_WORDS 9
/* Longest string clf_data_state_format writes, with its terminating NUL. */
#define CLF_DATA_STATE_CHARS (CLF_DATA_STATE_WORDS * 17)

void clf_batcher_state_get(const clf_batcher *bt, clf_data_state *st);
clf_status clf_batcher_state_set(clf_batcher *bt, const clf_data_state *st);

/* The state as text ("w0,w1,...", hex words) for a checkpoint's string metadata, and back. */
void clf_data_state_format(const clf_data_state *st, char out[CLF_DATA_STATE_CHARS]);
clf_status clf_data_state_parse(const char *text, clf_data_state *st);

/* Padding of the training batches produced so far. */
typedef struct clf_batch_stats {
    uint64_t batches, rows;
    uint64_t tgt_slots, tgt_tokens; /* sum of B*Tt, and of the non-PAD entries of tgt_out */
    uint64_t src_slots, src_tokens; /* the same for src */
    double tgt_pad_fraction;        /* 1 - tgt_tokens / tgt_slots (0 when no slot) */
    double src_pad_fraction;
} clf_batch_stats;

void clf_batcher_stats(const clf_batcher *bt, clf_batch_stats *out);

#endif
