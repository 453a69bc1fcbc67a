/* Multi-head scaled dot-product attention, without the Q/K/V/O projections (SPEC, MHA).
 * Head h owns columns [h*dh, (h+1)*dh) of d = heads * dh; S = Q_h K_h^T / sqrt(dh), masked keys
 * are -inf, P = softmax(S) over keys (a row with every key masked is all zero), dropout on P,
 * O = P_dropped V. Two paths with one contract:
 *   fused (cl/attention.cl): online softmax over blocks of keys, never writes the tq x tk scores;
 *     saves the row log-sum-exp and recomputes P from it in backward. Two kernel families with
 *     the same results: register tiles for CPUs and local-memory tiles for GPUs;
 *   materialized (cl/softmax.cl + GEMMs): scores and probabilities in memory, O(tq * tk) per head. */
#ifndef CLFORMER_OPS_ATTENTION_H
#define CLFORMER_OPS_ATTENTION_H

#include <stddef.h>

#include "clformer/device.h"
#include "ops/elementwise.h" /* clf_dropout, clf_dropout_args */

/* Kernel family of the fused path: chosen per device unless forced (tests run both on any device). */
typedef enum clf_attention_kernels {
    CLF_ATTENTION_AUTO = 0, /* measured per device and shape (tune.h); untuned: tiles on CPUs, groups elsewhere */
    CLF_ATTENTION_TILES,    /* a tile of rows or keys per work-item in float16 registers (CPUs) */
    CLF_ATTENTION_GROUPS,   /* a row per work-item, tiles staged in local memory (GPUs) */
    CLF_ATTENTION_ROWS      /* forward: a query row per work-item in registers, for few query rows (a
                               decoding step on CPUs); the backward runs as TILES */
} clf_attention_kernels;

typedef struct clf_attention_shape {
    int batch, heads, tq, tk, dh;
    int causal; /* query i sees keys j <= i; needs tq == tk */
} clf_attention_shape;

#define CLF_ATTENTION_MAX_DH 128

/* q [b, tq, d], k and v [b, tk, d], o [b, tq, d], d = heads * dh, rows dense (row stride d).
 * kmask int32 [b, tk] (1 attend, 0 masked) or NULL. lse [b, heads, tq] saved for backward
 * (-inf on a row whose keys are all masked). drop may be NULL (no dropout). */
size_t clf_attention_workspace_floats(const clf_attention_shape *s); /* fused backward scratch (D_i) */
clf_status clf_attention_fwd(clf_device *dev, cl_mem o, cl_mem lse, cl_mem q, cl_mem k, cl_mem v, cl_mem kmask,
                             const clf_attention_shape *s, const clf_dropout *drop);
/* Accumulates dq += ..., dk += ..., dv += ... . dout, o [b, tq, d]; workspace per
 * clf_attention_workspace_floats. */
clf_status clf_attention_bwd(clf_device *dev, cl_mem dq, cl_mem dk, cl_mem dv, cl_mem dout, cl_mem q, cl_mem k,
                             cl_mem v, cl_mem o, cl_mem lse, cl_mem kmask, cl_mem workspace,
                             const clf_attention_shape *s, const clf_dropout *drop);
/* The same with the kernel family given (CLF_ATTENTION_AUTO: as above); tests run both anywhere. */
clf_status clf_attention_fwd_using(clf_device *dev, clf_attention_kernels kernels, cl_mem o, cl_mem lse, cl_mem q,
                                   cl_mem k, cl_mem v, cl_mem kmask, const clf_attention_shape *s,
                                   const clf_dropout *drop);
clf_status clf_attention_bwd_using(clf_device *dev, clf_attention_kernels kernels, cl_mem dq, cl_mem dk, cl_mem dv,
                                   cl_mem dout, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse, cl_mem kmask,
                                   cl_mem workspace, const clf_attention_shape *s, const clf_dropout *drop);

/* Bits of clf_attention_cfg.overwrite: the gradients the backward stores instead of adds to, unread
 * (the first writer of a gradient in a backward pass; see CLF_OVERWRITE_DX). The fused kernels
 * write each element of dq (and of dk, dv) once, from one work-item holding its whole sum, so
 * every one can be stored. A buffer given for two of dq, dk, dv cannot be overwritten. */
#define CLF_OVERWRITE_DQ 1u
#define CLF_OVERWRITE_DK 2u
#define CLF_OVERWRITE_DV 4u

typedef struct clf_attention_cfg {
    clf_attention_kernels kernels; /* as for clf_attention_bwd_using */
    unsigned overwrite;            /* CLF_OVERWRITE_DQ | _DK | _DV */
} clf_attention_cfg;

/* clf_attention_bwd_using with cfg (NULL: CLF_ATTENTION_AUTO, accumulating). */
clf_status clf_attention_bwd_cfg(clf_device *dev, cl_mem dq, cl_mem dk, cl_mem dv, cl_mem dout, cl_mem q, cl_mem k,
                                 cl_mem v, cl_mem o, cl_mem lse, cl_mem kmask, cl_mem workspace,
                                 const clf_attention_shape *s, const clf_dropout *drop, const clf_attention_cfg *cfg);

/* Materialized path: p [b, heads, tq, tk] holds the (undropped) probabilities for backward;
 * workspace per clf_attention_matmul_workspace_floats. Same accumulate semantics. */
size_t clf_attention_matmul_workspace_floats(const clf_attention_shape *s);
clf_status clf_attention_matmul_fwd(clf_device *dev, cl_mem o, cl_mem p, cl_mem q, cl_mem k, cl_mem v, cl_mem kmask,
                                    cl_mem workspace, const clf_attention_shape *s, const clf_dropout *drop);
clf_status clf_attention_matmul_bwd(clf_device *dev, cl_mem dq, cl_mem dk, cl_mem dv, cl_mem dout, cl_mem q,
                                    cl_mem k, cl_mem v, cl_mem p, cl_mem kmask, cl_mem workspace,
                                    const clf_attention_shape *s, const clf_dropout *drop);

/* Shared by the four launchers: dev, the shape, the dropout (into *da) and the buffers the launcher
 * needs (none may be NULL), in that order; CLF_ERR_INVALID_ARG names the argument, led by fn. */
typedef struct clf_attention_buf {
    cl_mem mem;
    const char *name;
} clf_attention_buf;
clf_status clf_attention_check(const char *fn, clf_device *dev, const clf_attention_shape *s, const clf_dropout *drop,
                               const clf_attention_buf *bufs, size_t n_bufs, clf_dropout_args *da);

#endif
