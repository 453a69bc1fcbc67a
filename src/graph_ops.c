/* The op table: each graph op's forward and backward in terms of the kernels' launchers. Backward
 * functions accumulate into the gradients of the inputs that want one, or store them where they are
 * the first writer (the table's `overwrites`, clf_grad_overwritten): no zero fill before. */
#include "graph_internal.h"
#include "ops/attention.h"
#include "ops/cross_entropy.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/kv_cache.h"
#include "ops/layernorm.h"
#include "ops/linear.h"

static cl_mem grad_if(const clf_tensor *t) { return t && t->needs_grad ? t->grad : NULL; }

/* bit when node n stores in[k]'s gradient (see the table), else 0. */
static unsigned ow_bit(const clf_graph *g, const clf_node *n, int k, unsigned bit) {
    return clf_grad_overwritten(g, n, k) ? bit : 0u;
}

static clf_dropout dropout_of(const clf_node *n, const clf_run *r, float p) {
    clf_dropout d = {r->training ? p : 0.0f, r->seed, r->step, (uint32_t)n->site};
    return d;
}

/* ---- embedding: in = {table, tokens, pe, position offset (NULL but in incremental decoding)} ---- */
static clf_status embedding_fwd(clf_graph *g, const clf_node *n, const clf_run *r) {
    const clf_tensor *table = n->in[0], *tok = n->in[1], *pe = n->in[2], *off = n->in[3];
    return clf_embedding_fwd_offset(g->dev, n->out[0]->buf, table->buf, tok->buf, pe ? pe->buf : NULL,
                                    off ? off->buf : NULL, (int)clf_rows_of(tok, &r->dims),
                                    clf_seq_of(tok, &r->dims), table->cols, table->fixed_rows, n->u.scale);
}
static clf_status embedding_bwd(clf_graph *g, const clf_node *n, const clf_run *r) {
    const clf_tensor *table = n->in[0], *tok = n->in[1];
    return clf_embedding_bwd(g->dev, table->grad, n->out[0]->grad, tok->buf, g->workspace,
                             (int)clf_rows_of(tok, &r->dims), table->cols, table->fixed_rows, n->u.scale);
}
static size_t embedding_ws(const clf_graph *g, const clf_node *n) {
    return clf_embedding_workspace_floats((int)clf_rows_of(n->in[1], &g->max), n->in[0]->cols, n->in[0]->fixed_rows);
}

/* ---- linear: in = {x, w, b} ---- */
static clf_activation act_of(const clf_node *n) {
    return n->u.act == CLF_GRAPH_ACT_GELU ? CLF_ACT_GELU : n->u.act == CLF_GRAPH_ACT_RELU ? CLF_ACT_RELU : CLF_ACT_NONE;
}
static clf_status linear_fwd(clf_graph *g, const clf_node *n, const clf_run *r) {
    const clf_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    return clf_linear_fwd(g->dev, n->out[0]->buf, n->out[1] ? n->out[1]->buf : NULL, x->buf, w->buf,
                          b ? b->buf : NULL, (int)clf_rows_of(x, &r->dims), x->cols, w->fixed_rows, act_of(n));
}
static clf_status linear_bwd(clf_graph *g, const clf_node *n, const clf_run *r) {
    const clf_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    clf_linear_cfg cfg = {CLF_LINEAR_AUTO, clf_grad_overwritten(g, n, 0)};
    return clf_linear_bwd_cfg(g->dev, grad_if(x), w->grad, b ? b->grad : NULL, n->out[0]->grad, x->buf, w->buf,
                              n->out[0]->buf, n->out[1] ? n->out[1]->buf : NULL, g->workspace,
                              (int)clf_rows_of(x, &r->dims), x->cols, w->fixed_rows, act_of(n), &cfg);
}
static size_t linear_ws(const clf_graph *g, const clf_node *n) {
    return clf_linear_workspace_floats((int)clf_rows_of(n->in[0], &g->max), n->in[1]->fixed_rows, act_of(n));
}

/* ---- layernorm: in = {x, gamma, beta}, out = {y, mean, rstd} ---- */
static clf_status layernorm_fwd(clf_graph *g, const clf_node *n, const clf_run *r) {
    const clf_tensor *x = n->in[0];
    return clf_layernorm_fwd(g->dev, n->out[0]->buf, n->out[1]->buf, n->out[2]->buf, x->buf, n->in[1]->buf,
                             n->in[2]->buf, (int)clf_rows_of(x, &r->dims), x->cols, n->u.eps);
}
static clf_status layernorm_bwd(clf_graph *g, const clf_node *n, const clf_run *r) {
    const clf_tensor *x = n->in[0];
    clf_layernorm_cfg cfg = {0, ow_bit(g, n, 0, CLF_OVERWRITE_DX)};
    return clf_layernorm_bwd_cfg(g->dev, grad_if(x), n->in[1]->grad, n->in[2]->grad, n->out[0]->grad, x->buf,
                                 n->out[1]->buf, n->out[2]->buf, n->in[1]->buf, g->workspace,
                                 (int)clf_rows_of(x, &r->dims), x->cols, &cfg);
}
static size_t layernorm_ws(const clf_graph *g, const clf_node *n) {
    return clf_layernorm_workspace_floats((int)clf_rows_of(n->in[0], &g->max), n->in[0]->cols);
}

/* ---- attention: in = {q, k, v, kmask}, out = {o, lse} ---- */
static clf_attention_shape attn_shape(const clf_node *n, const clf_dims *d) {
    clf_attention_shape s = {d->batch, n->u.attn.heads, clf_seq_of(n->in[0], d), clf_seq_of(n->in[1], d),
                             n->in[0]->cols / n->u.attn.heads, n->u.attn.causal};
    return s;
}
static clf_status attention_fwd(clf_graph *g, const clf_node *n, const clf_run *r) {
    clf_attention_shape s = attn_shape(n, &r->dims);
    clf_dropout d = dropout_of(n, r, n->u.attn.p);
    return clf_attention_fwd(g->dev, n->out[0]->buf, n->out[1]->buf, n->in[0]->buf, n->in[1]->buf, n->in[2]->buf,
                             n->in[3] ? n->in[3]->buf : NULL, &s, &d);
}
static clf_status attention_bwd(clf_graph *g, const clf_node *n, const clf_run *r) {
    clf_attention_shape s = attn_shape(n, &r->dims);
    clf_dropout d = dropout_of(n, r, n->u.attn.p);
    clf_attention_cfg cfg = {CLF_ATTENTION_AUTO, ow_bit(g, n, 0, CLF_OVERWRITE_DQ) | ow_bit(g, n, 1, CLF_OVERWRITE_DK) |
                                                     ow_bit(g, n, 2, CLF_OVERWRITE_DV)};
    return clf_attention_bwd_cfg(g->dev, n->in[0]->grad, n->in[1]->grad, n->in[2]->grad, n->out[0]->grad,
                                 n->in[0]->buf, n->in[1]->buf, n->in[2]->buf, n->out[0]->buf, n->out[1]->buf,
                                 n->in[3] ? n->in[3]->buf : NULL, g->workspace, &s, &d, &cfg);
}
static size_t attention_ws(const clf_graph *g, const clf_node *n) {
    clf_attention_shape s = attn_shape(n, &g->max);
    int longest = s.tq > s.tk ? s.tq : s.tk;
    if (g->max.tokens > 0 && longest > 0 && s.batch > g->max.tokens / longest) /* the token budget bounds batch */
        s.batch = g->max.tokens / longest > 0 ? g->max.tokens / longest : 1;
    return clf_attention_workspace_floats(&s);
}

/* ---- residual: in = {s, x}: y = x + dropout(s) ---- */
static clf_status residual_fwd(clf_graph *g, const clf_node *n, const clf_run *r) {
    const clf_tensor *s = n->in[0], *x = n->in[1];
    clf_dropout d = dropout_of(n, r, n->u.p);
    return clf_residual_dropout_fwd(g->dev, n->out[0]->buf, x ? x->buf : NULL, s->buf,
                                    clf_rows_of(s, &r->dims) * (size_t)s->cols, &d);
}
static clf_status residual_bwd(clf_graph *g, const clf_node *n, const clf_run *r) {
    const clf_tensor *s = n->in[0], *x = n->in[1];
    clf_dropout d = dropout_of(n, r, n->u.p);
    size_t count = clf_rows_of(s, &r->dims) * (size_t)s->cols;
    if (!s->needs_grad) {
        if (!x || !x->needs_grad) return CLF_OK;
        return clf_grad_overwritten(g, n, 1) ? clf_scale(g->dev, x->grad, n->out[0]->grad, count, 1.0f)
                                             : clf_axpy(g->dev, x->grad, n->out[0]->grad, count, 1.0f);
    }
    clf_elementwise_cfg cfg = {0, 0, 0, ow_bit(g, n, 0, CLF_OVERWRITE_DS) | ow_bit(g, n, 1, CLF_OVERWRITE_DX)};
    return clf_residual_dropout_bwd_cfg(g->dev, grad_if(x), s->grad, n->out[0]->grad, count, &d, &cfg);
}

/* ---- add + layernorm: in = {s, x, gamma, beta}: sum = x + dropout(s), out = {LN(sum), sum, mean, rstd} ---- */
static clf_status add_layernorm_fwd(clf_graph *g, const clf_node *n, const clf_run *r) {
    const clf_tensor *s = n->in[0], *x = n->in[1];
    clf_dropout d = dropout_of(n, r, n->u.addln.p);
    return clf_add_layernorm_fwd(g->dev, n->out[0]->buf, n->out[1]->buf, n->out[2]->buf, n->out[3]->buf,
                                 x ? x->buf : NULL, s->buf, n->in[2]->buf, n->in[3]->buf, (int)clf_rows_of(s, &r->dims),
                                 s->cols, n->u.addln.eps, &d);
}
static clf_status add_layernorm_bwd(clf_graph *g, const clf_node *n, const clf_run *r) {
    const clf_tensor *s = n->in[0], *x = n->in[1];
    clf_dropout d = dropout_of(n, r, n->u.addln.p);
    clf_layernorm_cfg cfg = {0, ow_bit(g, n, 0, CLF_OVERWRITE_DS) | ow_bit(g, n, 1, CLF_OVERWRITE_DX)};
    return clf_add_layernorm_bwd_cfg(g->dev, grad_if(x), s->grad, n->in[2]->grad, n->in[3]->grad, n->out[0]->grad,
                                     grad_if(n->out[1]), n->out[1]->buf, n->out[2]->buf, n->out[3]->buf,
                                     n->in[2]->buf, g->workspace, (int)clf_rows_of(s, &r->dims), s->cols, &d, &cfg);
}
static size_t add_layernorm_ws(const clf_graph *g, const clf_node *n) {
    return clf_layernorm_workspace_floats((int)clf_rows_of(n->in[0], &g->max), n->in[0]->cols);
}

/* ---- cross-entropy: in = {logits, targets}, out = {loss [1], loss per row}. The forward writes the
 * loss gradient into the logits' gradient, so the backward has nothing left to do. ---- */
static clf_status xent_fwd(clf_graph *g, const clf_node *n, const clf_run *r) {
    const clf_tensor *logits = n->in[0], *tgt = n->in[1];
    int rows = (int)clf_rows_of(logits, &r->dims);
    clf_status st = clf_cross_entropy_fwd_bwd(g->dev, n->out[1]->buf, r->training ? grad_if(logits) : NULL,
                                              logits->buf, tgt->buf, rows, logits->cols, n->u.xent.pad,
                                              n->u.xent.smoothing, r->inv_count);
    if (st != CLF_OK) return st;
    return clf_loss_reduce(g->dev, n->out[0]->buf, n->out[1]->buf, rows, r->inv_count);
}
static clf_status xent_bwd(clf_graph *g, const clf_node *n, const clf_run *r) {
    (void)g, (void)n, (void)r;
    return CLF_OK;
}

/* ---- kv_append: in = {x [batch, d], position [1]}, out = the cache [batch, tgt_len, d], kept between
 * runs (incremental decoding; no backward) ---- */
static clf_status kv_append_fwd(clf_graph *g, const clf_node *n, const clf_run *r) {
    return clf_kv_cache_append(g->dev, n->out[0]->buf, n->in[0]->buf, n->in[1]->buf, r->dims.batch,
                               r->dims.tgt_len, n->in[0]->cols);
}
static clf_status kv_append_bwd(clf_graph *g, const clf_node *n, const clf_run *r) {
    (void)g, (void)n, (void)r;
    return CLF_ERROR(CLF_ERR_INVALID_ARG, "kv_append has no backward: decoding graphs do not train");
}

static size_t no_ws(const clf_graph *g, const clf_node *n) {
    (void)g, (void)n;
    return 0;
}

const clf_op clf_ops[] = {
    [CLF_OP_EMBEDDING] = {"embedding", embedding_fwd, embedding_bwd, embedding_ws, 0},
    [CLF_OP_LINEAR] = {"linear", linear_fwd, linear_bwd, linear_ws, 1u << 0}, /* dx */
    [CLF_OP_LAYERNORM] = {"layernorm", layernorm_fwd, layernorm_bwd, layernorm_ws, 1u << 0}, /* dx */
    /* dq, dk, dv: each element written once, by one work-item with its whole sum */
    [CLF_OP_ATTENTION] = {"attention", attention_fwd, attention_bwd, attention_ws, 1u << 0 | 1u << 1 | 1u << 2},
    [CLF_OP_RESIDUAL] = {"residual", residual_fwd, residual_bwd, no_ws, 1u << 0 | 1u << 1}, /* ds, dx */
    [CLF_OP_CROSS_ENTROPY] = {"cross_entropy", xent_fwd, xent_bwd, no_ws, 0},
    [CLF_OP_KV_APPEND] = {"kv_append", kv_append_fwd, kv_append_bwd, no_ws, 0},
    [CLF_OP_ADD_LAYERNORM] = {"add_layernorm", add_layernorm_fwd, add_layernorm_bwd, add_layernorm_ws,
                              1u << 0 | 1u << 1}, /* ds, dx */
};
/* the table ends at the last op: an op added to the enum without its entry fails here */
_Static_assert(sizeof clf_ops / sizeof clf_ops[0] == CLF_OP_COUNT, "every op needs its table entry");
