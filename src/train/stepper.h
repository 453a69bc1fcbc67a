/* Token-at-a-time decoding of B rows over a model graph: what greedy decoding, beam search and
 * decoder-only continuation share. Each step feeds the next token of every row and returns the
 * logits of the token after it. Two implementations keep one contract:
 *   full:   every step runs the model's whole graph on each row's prefix (O(t) work per token);
 *   cached: keys and values of earlier positions stay in per-layer caches on the device, so a step
 *           runs one position through the decoder (incremental.c, model/decoder_cache.c).
 * A row's tokens are trusted once fed (ids are checked against the vocabulary on the way in). */
#ifndef CLFORMER_TRAIN_STEPPER_H
#define CLFORMER_TRAIN_STEPPER_H

#include <stdbool.h>
#include <stdint.h>

#include "clformer/model.h"

typedef struct clf_stepper clf_stepper;

/* Whether the library's decoding (greedy, beam search, continuation) takes the cached path. */
#define CLF_DECODE_CACHED true

/* Whether a decoded row ends with this token: EOS, or PAD / BOS, which a trained model never emits. */
static inline bool clf_decode_ends(int tok) { return tok == CLF_EOS || tok == CLF_PAD || tok == CLF_BOS; }

/* B rows of up to cap target positions (cap <= the graph's target length). Encoder-decoder: src
 * [B, Ts] (copied; PAD masked), encoded once up front in cached mode. Decoder-only: src NULL, Ts 0.
 * A full row (cap tokens) slides: its oldest token is dropped for each new one (decoder-only text
 * longer than the window); the cached path turns to full recompute from then on, since every
 * position of the window changes. */
clf_status clf_stepper_new(clf_model_graph *mg, bool cached, const int32_t *src, int B, int Ts, int cap,
                           clf_stepper **out);
void clf_stepper_free(clf_stepper *s);

/* Feed tokens [B, n] (column j is position n_fed + j of every row) and get logits [B, V] of the
 * position after the last one (NULL: not wanted). */
clf_status clf_stepper_step(clf_stepper *s, const int32_t *tokens, int n, float *logits);

/* Row b continues what row parent[b] had (beam search): parent [B], each in [0, B). */
clf_status clf_stepper_reorder(clf_stepper *s, const int *parent);

/* Tokens fed so far to each row (after sliding: the window's length). */
int clf_stepper_length(const clf_stepper *s);

#endif
