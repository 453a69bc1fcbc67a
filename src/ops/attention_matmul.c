/* Materialized attention: scores and probabilities [b, H, tq, tk] in memory, products through
 * clf_gemm (one strided-batched call over the heads per batch item: in a [b, t, d] row-major
 * tensor the heads of one item are dh columns apart with leading dimension d), masked softmax
 * and its backward in cl/softmax.cl. The fused path (attention.c) is tested against this one. */
#include "ops/attention.h"

#include <math.h>
#include <stdbool.h>

#include "clformer/gemm.h"
#include "clformer/launch.h"

enum { SOFTMAX_WG = 64 };
#define SOFTMAX_OPTIONS "-DWG=64"

/* How one operand of the per-head products lies in its buffer. */
typedef struct operand {
    cl_mem mem;
    size_t item_stride; /* floats from one batch item to the next */
    size_t ld;          /* leading dimension of one head's matrix */
    size_t head_stride; /* floats from one head to the next */
} operand;

static operand rows_of(cl_mem m, const clf_attention_shape *s, int t) { /* [b, t, d] */
    size_t d = (size_t)s->heads * s->dh;
    return (operand){m, (size_t)t * d, d, (size_t)s->dh};
}

static operand scores_of(cl_mem m, const clf_attention_shape *s) { /* [b, H, tq, tk] */
    size_t per_head = (size_t)s->tq * s->tk;
    return (operand){m, per_head * s->heads, (size_t)s->tk, per_head};
}

/* C = alpha op(A) op(B) + beta C for every (batch item, head). */
static clf_status head_gemm(clf_device *dev, const clf_attention_shape *s, bool ta, bool tb, size_t m, size_t n,
                            size_t k, float alpha, float beta, operand a, operand b, operand c) {
    for (int i = 0; i < s->batch; i++) {
        clf_gemm_args g = {.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k, .alpha = alpha, .beta = beta,
                           .a = a.mem, .a_off = i * a.item_stride, .lda = a.ld,
                           .b = b.mem, .b_off = i * b.item_stride, .ldb = b.ld,
                           .c = c.mem, .c_off = i * c.item_stride, .ldc = c.ld,
                           .batch = (size_t)s->heads, .stride_a = a.head_stride, .stride_b = b.head_stride,
                           .stride_c = c.head_stride};
        clf_status st = clf_gemm(dev, &g);
        if (st != CLF_OK) return st;
    }
    return CLF_OK;
}

/* w = p * dropout factor over [b, H, tq, tk]. */
static clf_status dropout_probs(clf_device *dev, cl_mem w, cl_mem p, const clf_attention_shape *s,
                                const clf_dropout_args *da) {
    size_t rows = (size_t)s->batch * s->heads * s->tq, global[2] = {(size_t)s->tk, rows}, local[2] = {64, 1};
    return CLF_RUN(dev, "softmax", SOFTMAX_OPTIONS, "softmax_fwd_dropout", 2, global, local, CLF_ARG_MEM(w),
                   CLF_ARG_MEM(p), CLF_ARG_INT(s->tk), CLF_ARG_INT(rows), CLF_DROPOUT_ARGS(*da));
}

size_t clf_attention_matmul_workspace_floats(const clf_attention_shape *s) {
    if (!s || s->batch <= 0 || s->heads <= 0 || s->tq <= 0 || s->tk <= 0) return 0;
    return (size_t)s->batch * s->heads * s->tq * s->tk; /* dropped P, then dP / dS */
}

clf_status clf_attention_matmul_fwd(clf_device *dev, cl_mem o, cl_mem p, cl_mem q, cl_mem k, cl_mem v, cl_mem kmask,
                                    cl_mem workspace, const clf_attention_shape *s, const clf_dropout *drop) {
    const clf_attention_buf bufs[] = {{o, "o"}, {p, "p"}, {q, "q"}, {k, "k"}, {v, "v"}, {workspace, "workspace"}};
    clf_dropout_args da;
    clf_status st =
        clf_attention_check("clf_attention_matmul_fwd", dev, s, drop, bufs, sizeof bufs / sizeof bufs[0], &da);
    if (st != CLF_OK) return st;
    size_t tq = (size_t)s->tq, tk = (size_t)s->tk, dh = (size_t)s->dh;
    operand Q = rows_of(q, s, s->tq), K = rows_of(k, s, s->tk), V = rows_of(v, s, s->tk), O = rows_of(o, s, s->tq);
    operand P = scores_of(p, s), W = scores_of(workspace, s);
    /* S = Q K^T / sqrt(dh) into p, then softmax in place */
    st = head_gemm(dev, s, false, true, tq, tk, dh, (float)(1.0 / sqrt((double)dh)), 0.0f, Q, K, P);
    size_t rows = (size_t)s->batch * s->heads * tq, global = rows * SOFTMAX_WG, local = SOFTMAX_WG;
    if (st == CLF_OK)
        st = CLF_RUN(dev, "softmax", SOFTMAX_OPTIONS, "softmax_fwd", 1, &global, &local, CLF_ARG_MEM(p),
                     CLF_ARG_MEM(kmask), CLF_ARG_INT(s->heads), CLF_ARG_INT(s->tq), CLF_ARG_INT(s->tk),
                     CLF_ARG_INT(s->causal != 0));
    if (st == CLF_OK && da.threshold) st = dropout_probs(dev, workspace, p, s, &da);
    if (st == CLF_OK) st = head_gemm(dev, s, false, false, tq, dh, tk, 1.0f, 0.0f, da.threshold ? W : P, V, O);
    return st;
}

clf_status clf_attention_matmul_bwd(clf_device *dev, cl_mem dq, cl_mem dk, cl_mem dv, cl_mem dout, cl_mem q,
                                    cl_mem k, cl_mem v, cl_mem p, cl_mem kmask, cl_mem workspace,
                                    const clf_attention_shape *s, const clf_dropout *drop) {
    (void)kmask; /* p is zero wherever a key is masked */
    const clf_attention_buf bufs[] = {{dq, "dq"}, {dk, "dk"}, {dv, "dv"}, {dout, "dout"}, {q, "q"},
                                      {k, "k"},   {v, "v"},   {p, "p"},   {workspace, "workspace"}};
    clf_dropout_args da;
    clf_status st =
        clf_attention_check("clf_attention_matmul_bwd", dev, s, drop, bufs, sizeof bufs / sizeof bufs[0], &da);
    if (st != CLF_OK) return st;
    size_t tq = (size_t)s->tq, tk = (size_t)s->tk, dh = (size_t)s->dh;
    operand Q = rows_of(q, s, s->tq), K = rows_of(k, s, s->tk), V = rows_of(v, s, s->tk);
    operand dQ = rows_of(dq, s, s->tq), dK = rows_of(dk, s, s->tk), dV = rows_of(dv, s, s->tk);
    operand dO = rows_of(dout, s, s->tq), P = scores_of(p, s), W = scores_of(workspace, s);
    /* dV += P_dropped^T dO; the dropped probabilities are regenerated into the workspace */
    if (da.threshold) st = dropout_probs(dev, workspace, p, s, &da);
    if (st == CLF_OK) st = head_gemm(dev, s, true, false, tk, dh, tq, 1.0f, 1.0f, da.threshold ? W : P, dO, dV);
    /* W = dO V^T (gradient of the dropped probabilities), then dS / sqrt(dh) in place */
    if (st == CLF_OK) st = head_gemm(dev, s, false, true, tq, tk, dh, 1.0f, 0.0f, dO, V, W);
    size_t rows = (size_t)s->batch * s->heads * tq, global = rows * SOFTMAX_WG, local = SOFTMAX_WG;
    if (st == CLF_OK)
        st = CLF_RUN(dev, "softmax", SOFTMAX_OPTIONS, "softmax_bwd", 1, &global, &local, CLF_ARG_MEM(workspace),
                     CLF_ARG_MEM(p), CLF_ARG_INT(s->tk), CLF_ARG_FLOAT(1.0 / sqrt((double)dh)),
                     CLF_DROPOUT_ARGS(da));
    /* dQ += dS K / sqrt(dh), dK += dS^T Q / sqrt(dh) */
    if (st == CLF_OK) st = head_gemm(dev, s, false, false, tq, dh, tk, 1.0f, 1.0f, W, K, dQ);
    if (st == CLF_OK) st = head_gemm(dev, s, true, false, tk, dh, tq, 1.0f, 1.0f, W, Q, dK);
    return st;
}
