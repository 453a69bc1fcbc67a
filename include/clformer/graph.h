/* The runtime scheduler. Operations record onto a graph as the model's forward pass is built; the
 * backward pass is derived from it (each op registers its backward) and walks the nodes in reverse,
 * accumulating into gradients. The graph is built once for the largest batch shape; its buffers are
 * planned once, and it runs any batch up to that shape. */
#ifndef CLFORMER_GRAPH_H
#define CLFORMER_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "clformer/device.h"

typedef struct clf_graph clf_graph;
typedef struct clf_tensor clf_tensor;

/* Row counts are symbolic: a tensor has batch x source-length rows, batch x target-length rows, or
 * a fixed number (parameters, one-row scalars). */
typedef enum { CLF_ROWS_FIXED = 0, CLF_ROWS_SRC, CLF_ROWS_TGT, CLF_ROWS_BATCH } clf_rows;

typedef struct clf_dims {
    int batch, src_len, tgt_len;
    int tokens; /* for a graph's largest shape: when > 0, batch * length never exceeds it (a token budget) */
} clf_dims;

typedef enum { CLF_GRAPH_ACT_NONE = 0, CLF_GRAPH_ACT_RELU, CLF_GRAPH_ACT_GELU } clf_graph_act;

clf_status clf_graph_new(clf_device *dev, clf_dims max, clf_graph **out);
void clf_graph_free(clf_graph *g);
/* The first error met while building (builders return NULL after it); CLF_OK when none. */
clf_status clf_graph_status(const clf_graph *g);

/* Leaves. An input is written by the caller before each run (int32 when is_int). A parameter is a
 * view the caller owns; grad may be NULL (no gradient wanted). */
clf_tensor *clf_graph_input(clf_graph *g, const char *name, clf_rows rows, int cols, bool is_int);
clf_tensor *clf_graph_param(clf_graph *g, const char *name, cl_mem value, cl_mem grad, int rows, int cols);
/* A constant the graph does not own and never differentiates (the positional table). */
clf_tensor *clf_graph_constant(clf_graph *g, const char *name, cl_mem value, int rows, int cols);

/* Operations. Shapes follow the inputs; each returns its output tensor. */
clf_tensor *clf_graph_embedding(clf_graph *g, clf_tensor *table, clf_tensor *tokens, clf_tensor *pe, float scale);
/* Incremental decoding: the embedding with positions shifted by offset (an int32 input [1], read on
 * the device), and a key/value cache. kv_append returns a [batch, tgt_len] tensor that keeps its
 * contents between runs; each forward writes x (one row per sequence, CLF_ROWS_BATCH) at position
 * position[0] of every sequence. Inference only: it has no backward. */
clf_tensor *clf_graph_embedding_at(clf_graph *g, clf_tensor *table, clf_tensor *tokens, clf_tensor *pe,
                                   clf_tensor *offset, float scale);
clf_tensor *clf_graph_kv_append(clf_graph *g, clf_tensor *x, clf_tensor *position);
clf_tensor *clf_graph_linear(clf_graph *g, clf_tensor *x, clf_tensor *w, clf_tensor *b, clf_graph_act act);
clf_tensor *clf_graph_layernorm(clf_graph *g, clf_tensor *x, clf_tensor *gamma, clf_tensor *beta, float eps);
/* Scaled dot-product attention of SPEC over heads; kmask int32 [rows of k] (1 attend) or NULL. */
clf_tensor *clf_graph_attention(clf_graph *g, clf_tensor *q, clf_tensor *k, clf_tensor *v, clf_tensor *kmask,
                                int heads, bool causal, float dropout);
/* x + dropout(s) (x may be NULL: dropout(s) alone). */
clf_tensor *clf_graph_residual(clf_graph *g, clf_tensor *x, clf_tensor *s, float dropout);
/* sum = x + dropout(s) (x may be NULL), y = LayerNorm(sum; gamma, beta, eps): a residual add and the
 * norm after it in one pass over memory. Returns y; *sum (may be NULL) gets sum, for a residual
 * stream that goes on past the norm (pre-norm). */
clf_tensor *clf_graph_add_layernorm(clf_graph *g, clf_tensor *x, clf_tensor *s, float dropout, clf_tensor *gamma,
                                    clf_tensor *beta, float eps, clf_tensor **sum);
/* Label-smoothed cross-entropy over targets != pad; returns the scalar mean loss [1]. Its forward also
 * writes d(loss)/d(logits) when the graph trains. */
clf_tensor *clf_graph_cross_entropy(clf_graph *g, clf_tensor *logits, clf_tensor *targets, int pad,
                                    float label_smoothing);

/* Nodes added after clf_graph_begin_segment form one segment (a layer), up to the next begin or
 * clf_graph_end_segment. Segments matter only to a graph planned with recomputation. */
void clf_graph_begin_segment(clf_graph *g);
void clf_graph_end_segment(clf_graph *g);

/* Plan and allocate every buffer; with training, gradient buffers for activations too. */
clf_status clf_graph_plan(clf_graph *g, bool training);
/* As clf_graph_plan for training, but activations that only their own segment reads are not kept:
 * every segment's share one region, and the backward runs a segment's forward again just before its
 * backward (about one more forward pass of compute for activation memory of one layer instead of all). */
clf_status clf_graph_plan_recompute(clf_graph *g);

typedef struct clf_run {
    clf_dims dims;
    bool training;     /* dropout on, gradients of the loss written */
    uint64_t seed;     /* dropout stream */
    uint32_t step;
    float inv_count;   /* 1 / non-PAD targets of the whole step (for micro-batches), 0 if none */
} clf_run;

/* Enqueue the forward pass (no host wait). */
clf_status clf_graph_forward(clf_graph *g, const clf_run *r);
/* Enqueue the backward pass in reverse node order. Activation gradients share one arena planned by
 * liveness and are zeroed just before their first writer; parameter gradients accumulate: zero them
 * yourself once per step. Call after clf_graph_forward with the same r. */
clf_status clf_graph_backward(clf_graph *g, const clf_run *r);

cl_mem clf_tensor_buffer(const clf_tensor *t);
cl_mem clf_tensor_grad(const clf_tensor *t);
/* Elements of one row and the rows the tensor has for dims. */
size_t clf_tensor_rows(const clf_tensor *t, const clf_dims *d);

typedef struct clf_graph_memory {
    size_t activations, activation_grads, workspace, inputs; /* bytes the graph allocated */
    int nodes;
    size_t launches_forward, launches_backward;             /* of the last runs */
} clf_graph_memory;
void clf_graph_memory_report(const clf_graph *g, clf_graph_memory *out);

#endif
