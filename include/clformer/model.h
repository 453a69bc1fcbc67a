/* The Transformer of SPEC on a device: parameters (one flat buffer, with gradients and AdamW
 * state when training) and the graph of its forward pass, from which the backward is derived. */
#ifndef CLFORMER_MODEL_H
#define CLFORMER_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "clformer/config.h"
#include "clformer/data.h"
#include "clformer/device.h"
#include "clformer/graph.h"
#include "clformer/params.h"


typedef struct clf_model {
    clf_device *dev;
    clf_config cfg;
    clf_param_layout layout;
    bool training;
    cl_mem params, grads, adam_m, adam_v; /* [layout.total] each; grads and moments only when training */
    cl_mem adam_state;                    /* int32 [1]: AdamW steps applied */
    cl_mem grad_norm, norm_workspace;     /* [1], scratch */
    cl_mem *views, *grad_views;           /* per parameter, into params / grads */
    cl_mem pe;                            /* positional table [max_len, d_model] */
} clf_model;

clf_status clf_model_new(clf_device *dev, const clf_config *cfg, bool training, clf_model **out);
void clf_model_free(clf_model *m);
/* Host copies of the flat parameter buffer (layout.total floats). */
clf_status clf_model_write_params(clf_model *m, const float *flat);
clf_status clf_model_read_params(clf_model *m, float *flat);
/* The view of a parameter by SPEC name (NULL if absent); with tied embeddings the generator and
 * source embedding resolve to the target embedding. */
cl_mem clf_model_param(const clf_model *m, const char *name, bool grad);

/* The model's graph for batches up to max, its inputs and outputs. */
typedef struct clf_model_graph {
    clf_model *model;
    clf_graph *graph;
    clf_dims max;
    clf_tensor *src, *src_mask, *tgt_in, *tgt_mask, *tgt_out;
    clf_tensor *logits, *loss;
    int32_t *staging[2]; /* host copies of the inputs while their uploads are in flight */
    cl_event uploaded[2];
    int slot;
    struct clf_decoder_graphs *decode; /* incremental decoding's graphs, built on first use */
} clf_model_graph;

/* What a model graph is for: inference, or training keeping every activation the backward needs, or
 * training that recomputes each sub-layer's inner activations in the backward instead of keeping
 * them (less memory for long sequences, about one more forward pass of compute). */
typedef enum clf_graph_mode {
    CLF_GRAPH_INFERENCE = 0,
    CLF_GRAPH_TRAINING,
    CLF_GRAPH_TRAINING_RECOMPUTE
} clf_graph_mode;

clf_status clf_model_graph_new(clf_model *m, clf_dims max, clf_graph_mode mode, float label_smoothing,
                               clf_model_graph **out);
void clf_model_graph_free(clf_model_graph *mg);
/* Check every id against the vocabulary, then enqueue the uploads of tokens and key masks (no wait for
 * earlier work). *targets gets the number of non-PAD targets. */
clf_status clf_model_graph_set_batch(clf_model_graph *mg, const clf_batch *b, long *targets);

#endif
