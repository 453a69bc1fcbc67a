/* Incremental decoding's graphs, built from the model's own pieces (transformer.c) so they cannot
 * drift from the full forward pass:
 *   encode: the encoder on the sources, then every decoder layer's cross-attention keys and values
 *           of its memory (encoder-decoder only; run once per batch of sources);
 *   step:   one new position per sequence (rows CLF_ROWS_BATCH) through the decoder: self-attention
 *           appends its keys and values to per-layer caches [B, T, d] (T = the run's tgt_len, the
 *           positions of the whole decode) and attends over them under a key mask that hides the
 *           positions not fed yet; cross-attention reads the keys and values the encode pass left
 *           (copied into the step graph's inputs). */
#ifndef CLFORMER_MODEL_DECODER_CACHE_H
#define CLFORMER_MODEL_DECODER_CACHE_H

#include "clformer/model.h"

/* What the step graph's builder needs beyond the full pass (transformer.c reads it). */
typedef struct clf_decode_hooks {
    clf_tensor *position;            /* int32 [1]: the position this step feeds */
    clf_tensor **cross_k, **cross_v; /* [n_dec_layers]: the memory's keys and values (encdec) */
    clf_tensor **k_cache, **v_cache; /* [n_dec_layers]: the caches, set by the builder */
    int layer;                       /* the decoder layer being built */
} clf_decode_hooks;

/* transformer.c: the encoder stack (its memory), one linear layer of the model by prefix, and the
 * decoder stack of a step (its logits [B, V]). */
clf_tensor *clf_model_build_encoder(clf_model *m, clf_graph *g, clf_tensor *src, clf_tensor *src_mask, clf_tensor *pe);
clf_tensor *clf_model_build_linear(clf_model *m, clf_graph *g, clf_tensor *x, const char *prefix);
clf_tensor *clf_model_build_decoder_step(clf_model *m, clf_graph *g, clf_tensor *tokens, clf_tensor *self_mask,
                                         clf_tensor *src_mask, clf_tensor *pe, clf_decode_hooks *step);

typedef struct clf_decoder_graphs {
    clf_model *model;
    clf_dims max;
    /* encode (NULL for decoder-only): inputs src, src_mask; outputs cross_k_out, cross_v_out */
    clf_graph *encode;
    clf_tensor *src, *src_mask;
    clf_tensor **cross_k_out, **cross_v_out;
    /* step: inputs token [B], position [1], self_mask [B, T], src_mask [B, Ts], cross_k / cross_v;
     * the caches and logits [B, V] */
    clf_graph *step;
    clf_tensor *token, *position, *self_mask, *step_src_mask;
    clf_tensor *logits;
    clf_decode_hooks hooks;
    cl_mem scratch; /* one cache's (or cross key's) worth, for reordering */
    cl_mem index;   /* int32 [B]: a reorder's sources */
} clf_decoder_graphs;

/* For sequences up to max (the model graph's shape). */
clf_status clf_decoder_graphs_new(clf_model *m, clf_dims max, clf_decoder_graphs **out);
void clf_decoder_graphs_free(clf_decoder_graphs *d);

#endif
