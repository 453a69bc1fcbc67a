/* The graph's insides, shared by the scheduler (graph.c) and the op table (graph_ops.c). */
#ifndef CLFORMER_GRAPH_INTERNAL_H
#define CLFORMER_GRAPH_INTERNAL_H

#include "clformer/graph.h"

typedef enum {
    CLF_OP_EMBEDDING,
    CLF_OP_LINEAR,
    CLF_OP_LAYERNORM,
    CLF_OP_ATTENTION,
    CLF_OP_RESIDUAL,
    CLF_OP_CROSS_ENTROPY,
    CLF_OP_KV_APPEND, /* incremental decoding */
    CLF_OP_ADD_LAYERNORM,
    CLF_OP_COUNT
} clf_op_kind;

typedef enum { CLF_T_ACTIVATION, CLF_T_PARAM, CLF_T_INPUT, CLF_T_CONST } clf_tensor_kind;

struct clf_tensor {
    char name[64];
    clf_tensor_kind kind;
    clf_rows rows;
    int fixed_rows, cols;
    bool is_int;
    bool needs_grad;        /* a gradient flows into it */
    bool grad_from_forward; /* its gradient is written by a forward pass (the logits, by cross-entropy) */
    int producer;           /* the node that outputs it, -1 for leaves */
    int last_consumer;      /* the last node that reads it, -1 when none */
    size_t offset, goffset; /* bytes in the activation and gradient arenas */
    cl_mem buf, grad;
    bool owns_views;        /* buf/grad are views the graph created */
    bool recomputed;        /* only its segment reads it: not kept, its segment runs again for the backward */
};

#define CLF_NODE_MAX_IN 5
#define CLF_NODE_MAX_OUT 4

typedef struct clf_node {
    clf_op_kind op;
    clf_tensor *in[CLF_NODE_MAX_IN];   /* unused slots NULL */
    clf_tensor *out[CLF_NODE_MAX_OUT]; /* out[0] is the result the builder returns */
    union {
        float scale;                                        /* embedding */
        clf_graph_act act;                                  /* linear */
        float eps;                                          /* layernorm */
        struct { int heads; bool causal; float p; } attn;   /* attention */
        float p;                                            /* residual dropout */
        struct { float eps, p; } addln;                     /* add + layernorm */
        struct { int pad; float smoothing; } xent;          /* cross-entropy */
    } u;
    int site;    /* the dropout site: the node's index */
    int segment; /* the recomputation unit it belongs to (a layer); 0: none */
} clf_node;

struct clf_graph {
    clf_device *dev;
    clf_dims max;
    clf_status status;
    clf_tensor **tensors;
    size_t n_tensors, cap_tensors;
    clf_node *nodes;
    size_t n_nodes, cap_nodes;
    cl_mem arena, grad_arena, workspace;
    size_t arena_bytes, grad_bytes, workspace_bytes, input_bytes;
    bool planned, training;
    size_t launches_forward, launches_backward;
    size_t fills_backward; /* gradients the last backward pass zeroed before their first writer */
    int segment_now, n_segments; /* the segment new nodes join (0: none), and how many were begun */
    bool recompute;              /* planned to recompute segments' inner activations */
    int resident_segment;        /* whose inner activations the arena holds now (0: none) */
};

/* Rows of t for a run's dims. */
size_t clf_rows_of(const clf_tensor *t, const clf_dims *d);
/* The sequence length behind a row kind (src_len or tgt_len; 1 otherwise). */
int clf_seq_of(const clf_tensor *t, const clf_dims *d);

/* The op table: what each op does forward and backward, and the scratch it needs at the max shape. */
typedef struct clf_op {
    const char *name;
    clf_status (*forward)(clf_graph *g, const clf_node *n, const clf_run *r);
    clf_status (*backward)(clf_graph *g, const clf_node *n, const clf_run *r);
    size_t (*workspace_floats)(const clf_graph *g, const clf_node *n);
    /* Inputs (bit k: in[k]) whose gradient the backward writes without reading when it is the first
     * writer (clf_first_grad_writer): the scheduler then skips zeroing it. */
    unsigned overwrites;
} clf_op;

/* Whether node n's backward is the first to write in[k]'s gradient in a backward pass: until then its
 * bytes hold what other gradients left there, so it is zeroed first unless the op overwrites it. */
bool clf_first_grad_writer(const clf_graph *g, const clf_node *n, int k);

/* Whether node n's backward stores in[k]'s gradient rather than adds to it: its first writer, of an op
 * that overwrites in[k], and in[k] in no other slot of n (a tensor read twice by one node has two
 * contributions to sum: it is zeroed and both accumulate). The scheduler zeroes a first writer's
 * gradient exactly when this is false. */
bool clf_grad_overwritten(const clf_graph *g, const clf_node *n, int k);

extern const clf_op clf_ops[];

#endif
