/* The scheduler: records nodes as the model is built, plans every buffer once for the largest
 * shape, runs the forward pass in order and the backward pass in reverse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device_internal.h"
#include "graph_internal.h"

static size_t capped(size_t rows, const clf_dims *d) {
    return d->tokens > 0 && rows > (size_t)d->tokens ? (size_t)d->tokens : rows;
}

size_t clf_rows_of(const clf_tensor *t, const clf_dims *d) {
    switch (t->rows) {
    case CLF_ROWS_SRC: return capped((size_t)d->batch * (size_t)d->src_len, d);
    case CLF_ROWS_TGT: return capped((size_t)d->batch * (size_t)d->tgt_len, d);
    case CLF_ROWS_BATCH: return (size_t)d->batch;
    case CLF_ROWS_FIXED: return (size_t)t->fixed_rows;
    }
    return 0;
}

int clf_seq_of(const clf_tensor *t, const clf_dims *d) {
    return t->rows == CLF_ROWS_SRC ? d->src_len : t->rows == CLF_ROWS_TGT ? d->tgt_len : 1;
}

clf_status clf_graph_new(clf_device *dev, clf_dims max, clf_graph **out) {
    *out = NULL;
    if (max.batch < 1 || max.src_len < 0 || max.tgt_len < 1)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "graph shape batch %d, source %d, target %d is not valid", max.batch,
                         max.src_len, max.tgt_len);
    clf_graph *g = calloc(1, sizeof *g);
    if (!g) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory for a graph");
    g->dev = dev;
    g->max = max;
    *out = g;
    return CLF_OK;
}

void clf_graph_free(clf_graph *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_tensors; i++) {
        clf_tensor *t = g->tensors[i];
        if (t->owns_views) {
            clf_buffer_release(g->dev, t->buf);
            clf_buffer_release(g->dev, t->grad);
        }
        free(t);
    }
    clf_buffer_release(g->dev, g->arena);
    clf_buffer_release(g->dev, g->grad_arena);
    clf_buffer_release(g->dev, g->workspace);
    free(g->tensors);
    free(g->nodes);
    free(g);
}

clf_status clf_graph_status(const clf_graph *g) { return g->status; }

/* Builders stop at the first error: it stays in g->status and every later builder returns NULL. */
static clf_tensor *fail(clf_graph *g, clf_status st) {
    if (g->status == CLF_OK) g->status = st;
    return NULL;
}

static clf_tensor *new_tensor(clf_graph *g, const char *name, clf_tensor_kind kind, clf_rows rows, int fixed_rows,
                              int cols) {
    if (g->status != CLF_OK) return NULL;
    if (g->planned) return fail(g, CLF_ERROR(CLF_ERR_INVALID_ARG, "graph already planned: cannot add '%s'", name));
    if (cols < 1) return fail(g, CLF_ERROR(CLF_ERR_INVALID_ARG, "tensor '%s' with %d columns", name, cols));
    if (g->n_tensors == g->cap_tensors) {
        size_t cap = g->cap_tensors ? 2 * g->cap_tensors : 128;
        clf_tensor **t = realloc(g->tensors, cap * sizeof *t);
        if (!t) return fail(g, CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory building the graph"));
        g->tensors = t;
        g->cap_tensors = cap;
    }
    clf_tensor *t = calloc(1, sizeof *t);
    if (!t) return fail(g, CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory building the graph"));
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = kind;
    t->producer = t->last_consumer = -1;
    t->rows = rows;
    t->fixed_rows = fixed_rows;
    t->cols = cols;
    g->tensors[g->n_tensors++] = t;
    return t;
}

clf_tensor *clf_graph_input(clf_graph *g, const char *name, clf_rows rows, int cols, bool is_int) {
    clf_tensor *t = new_tensor(g, name, CLF_T_INPUT, rows, 1, cols);
    if (t) t->is_int = is_int;
    return t;
}

clf_tensor *clf_graph_param(clf_graph *g, const char *name, cl_mem value, cl_mem grad, int rows, int cols) {
    if (!value) return fail(g, CLF_ERROR(CLF_ERR_INVALID_ARG, "parameter '%s' without a buffer", name));
    clf_tensor *t = new_tensor(g, name, CLF_T_PARAM, CLF_ROWS_FIXED, rows, cols);
    if (!t) return NULL;
    t->buf = value;
    t->grad = grad;
    t->needs_grad = grad != NULL;
    return t;
}

clf_tensor *clf_graph_constant(clf_graph *g, const char *name, cl_mem value, int rows, int cols) {
    if (!value) return fail(g, CLF_ERROR(CLF_ERR_INVALID_ARG, "constant '%s' without a buffer", name));
    clf_tensor *t = new_tensor(g, name, CLF_T_CONST, CLF_ROWS_FIXED, rows, cols);
    if (t) t->buf = value;
    return t;
}

/* Append a node whose inputs are in[] and whose outputs the caller fills in. */
static clf_node *new_node(clf_graph *g, clf_op_kind op, clf_tensor *const *in, int n_in) {
    if (g->status != CLF_OK) return NULL;
    if (!in[0]) { /* later slots may be optional (a bias, a mask); the first never is */
        fail(g, CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: missing input", clf_ops[op].name));
        return NULL;
    }
    if (g->n_nodes == g->cap_nodes) {
        size_t cap = g->cap_nodes ? 2 * g->cap_nodes : 128;
        clf_node *n = realloc(g->nodes, cap * sizeof *n);
        if (!n) {
            fail(g, CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory building the graph"));
            return NULL;
        }
        g->nodes = n;
        g->cap_nodes = cap;
    }
    clf_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->site = (int)g->n_nodes + 1;
    n->segment = g->segment_now;
    for (int i = 0; i < n_in; i++) {
        n->in[i] = in[i];
        if (in[i]) in[i]->last_consumer = (int)g->n_nodes;
    }
    g->n_nodes++;
    return n;
}

/* An output of node n: an activation whose gradient is wanted when any input's is. */
static clf_tensor *node_output(clf_graph *g, clf_node *n, int slot, const char *what, clf_rows rows, int fixed_rows,
                               int cols) {
    if (!n) return NULL;
    char name[64];
    snprintf(name, sizeof name, "%s%zu.%s", clf_ops[n->op].name, (size_t)(n - g->nodes), what);
    clf_tensor *t = new_tensor(g, name, CLF_T_ACTIVATION, rows, fixed_rows, cols);
    if (!t) return NULL;
    for (int i = 0; i < CLF_NODE_MAX_IN; i++)
        if (n->in[i] && n->in[i]->needs_grad) t->needs_grad = true;
    n->out[slot] = t;
    t->producer = (int)(n - g->nodes);
    return t;
}

static bool same_rows(const clf_tensor *a, const clf_tensor *b) {
    return a->rows == b->rows && (a->rows != CLF_ROWS_FIXED || a->fixed_rows == b->fixed_rows);
}

clf_tensor *clf_graph_embedding(clf_graph *g, clf_tensor *table, clf_tensor *tokens, clf_tensor *pe, float scale) {
    return clf_graph_embedding_at(g, table, tokens, pe, NULL, scale);
}

/* in[3], the position offset, is NULL outside incremental decoding. */
clf_tensor *clf_graph_embedding_at(clf_graph *g, clf_tensor *table, clf_tensor *tokens, clf_tensor *pe,
                                   clf_tensor *offset, float scale) {
    if (g->status != CLF_OK) return NULL;
    if (!table || !tokens || !tokens->is_int || tokens->cols != 1)
        return fail(g, CLF_ERROR(CLF_ERR_INVALID_ARG, "embedding needs a table and int32 tokens of one column"));
    if (pe && pe->cols != table->cols)
        return fail(g, CLF_ERROR(CLF_ERR_INVALID_ARG, "positional table width %d != embedding width %d", pe->cols,
                                 table->cols));
    if (offset && (!offset->is_int || offset->rows != CLF_ROWS_FIXED || offset->fixed_rows * offset->cols != 1))
        return fail(g, CLF_ERROR(CLF_ERR_INVALID_ARG, "embedding: the position offset must be one int32"));
    clf_tensor *in[] = {table, tokens, pe, offset};
    clf_node *n = new_node(g, CLF_OP_EMBEDDING, in, 4);
    if (n) n->u.scale = scale;
    return node_output(g, n, 0, "out", tokens->rows, 1, table->cols);
}

clf_tensor *clf_graph_kv_append(clf_graph *g, clf_tensor *x, clf_tensor *position) {
    if (g->status != CLF_OK) return NULL;
    if (!x || x->rows != CLF_ROWS_BATCH || !position || !position->is_int || position->rows != CLF_ROWS_FIXED ||
        position->fixed_rows * position->cols != 1)
        return fail(g, CLF_ERROR(CLF_ERR_INVALID_ARG, "kv_append needs one row per sequence and an int32 position"));
    clf_tensor *in[] = {x, position};
    clf_node *n = new_node(g, CLF_OP_KV_APPEND, in, 2);
    clf_tensor *cache = node_output(g, n, 0, "cache", CLF_ROWS_TGT, 1, x->cols);
    if (cache) cache->needs_grad = false;
    return cache;
}

clf_tensor *clf_graph_linear(clf_graph *g, clf_tensor *x, clf_tensor *w, clf_tensor *b, clf_graph_act act) {
    if (g->status != CLF_OK) return NULL;
    if (!x || !w || x->cols != w->cols || (b && b->fixed_rows * b->cols != w->fixed_rows))
        return fail(g, CLF_ERROR(CLF_ERR_INVALID_ARG, "linear: input width %d, weight %s [%d, %d] do not agree",
                                 x ? x->cols : -1, w ? w->name : "?", w ? w->fixed_rows : -1, w ? w->cols : -1));
    clf_tensor *in[] = {x, w, b};
    clf_node *n = new_node(g, CLF_OP_LINEAR, in, 3);
    if (n) n->u.act = act;
    clf_tensor *y = node_output(g, n, 0, "y", x->rows, x->fixed_rows, w->fixed_rows);
    if (y && act == CLF_GRAPH_ACT_GELU) node_output(g, n, 1, "pre", x->rows, x->fixed_rows, w->fixed_rows);
    return y;
}

clf_tensor *clf_graph_layernorm(clf_graph *g, clf_tensor *x, clf_tensor *gamma, clf_tensor *beta, float eps) {
    if (g->status != CLF_OK) return NULL;
    if (!x || !gamma || !beta || gamma->fixed_rows * gamma->cols != x->cols)
        return fail(g, CLF_ERROR(CLF_ERR_INVALID_ARG, "layernorm: parameters do not match width %d", x ? x->cols : -1));
    clf_tensor *in[] = {x, gamma, beta};
    clf_node *n = new_node(g, CLF_OP_LAYERNORM, in, 3);
    if (n) n->u.eps = eps;
    clf_tensor *y = node_output(g, n, 0, "y", x->rows, x->fixed_rows, x->cols);
    node_output(g, n, 1, "mean", x->rows, x->fixed_rows, 1);
    node_output(g, n, 2, "rstd", x->rows, x->fixed_rows, 1);
    return y;
}

clf_tensor *clf_graph_attention(clf_graph *g, clf_tensor *q, clf_tensor *k, clf_tensor *v, clf_tensor *kmask,
                                int heads, bool causal, float dropout) {
    if (g->status != CLF_OK) return NULL;
    if (!q || !k || !v || heads < 1 || q->cols % heads || k->cols != q->cols || v->cols != q->cols ||
        !same_rows(k, v) || (kmask && (!kmask->is_int || !same_rows(kmask, k))) ||
        (causal && !same_rows(q, k)))
        return fail(g, CLF_ERROR(CLF_ERR_INVALID_ARG, "attention: shapes of q, k, v, mask or heads %d disagree", heads));
    clf_tensor *in[] = {q, k, v, kmask};
    clf_node *n = new_node(g, CLF_OP_ATTENTION, in, 4);
    if (n) {
        n->u.attn.heads = heads;
        n->u.attn.causal = causal;
        n->u.attn.p = dropout;
    }
    clf_tensor *o = node_output(g, n, 0, "o", q->rows, q->fixed_rows, q->cols);
    clf_tensor *lse = node_output(g, n, 1, "lse", q->rows, q->fixed_rows, heads);
    if (lse) lse->needs_grad = false;
    return o;
}

clf_tensor *clf_graph_residual(clf_graph *g, clf_tensor *x, clf_tensor *s, float dropout) {
    if (g->status != CLF_OK) return NULL;
    if (!s || (x && (x->cols != s->cols || !same_rows(x, s))))
        return fail(g, CLF_ERROR(CLF_ERR_INVALID_ARG, "residual: shapes disagree"));
    clf_tensor *in[] = {s, x};
    clf_node *n = new_node(g, CLF_OP_RESIDUAL, in, 2);
    if (n) n->u.p = dropout;
    return node_output(g, n, 0, "y", s->rows, s->fixed_rows, s->cols);
}

clf_tensor *clf_graph_add_layernorm(clf_graph *g, clf_tensor *x, clf_tensor *s, float dropout, clf_tensor *gamma,
                                    clf_tensor *beta, float eps, clf_tensor **sum) {
    if (sum) *sum = NULL;
    if (g->status != CLF_OK) return NULL;
    if (!s || (x && (x->cols != s->cols || !same_rows(x, s))))
        return fail(g, CLF_ERROR(CLF_ERR_INVALID_ARG, "add_layernorm: shapes disagree"));
    if (!gamma || !beta || gamma->fixed_rows * gamma->cols != s->cols || beta->fixed_rows * beta->cols != s->cols)
        return fail(g, CLF_ERROR(CLF_ERR_INVALID_ARG, "add_layernorm: parameters do not match width %d", s->cols));
    clf_tensor *in[] = {s, x, gamma, beta};
    clf_node *n = new_node(g, CLF_OP_ADD_LAYERNORM, in, 4);
    if (n) {
        n->u.addln.eps = eps;
        n->u.addln.p = dropout;
    }
    clf_tensor *y = node_output(g, n, 0, "y", s->rows, s->fixed_rows, s->cols);
    clf_tensor *total = node_output(g, n, 1, "sum", s->rows, s->fixed_rows, s->cols);
    node_output(g, n, 2, "mean", s->rows, s->fixed_rows, 1);
    node_output(g, n, 3, "rstd", s->rows, s->fixed_rows, 1);
    if (sum) *sum = total;
    return y;
}

clf_tensor *clf_graph_cross_entropy(clf_graph *g, clf_tensor *logits, clf_tensor *targets, int pad,
                                    float label_smoothing) {
    if (g->status != CLF_OK) return NULL;
    if (!logits || !targets || !targets->is_int || !same_rows(logits, targets))
        return fail(g, CLF_ERROR(CLF_ERR_INVALID_ARG, "cross-entropy: logits and int32 targets disagree"));
    clf_tensor *in[] = {logits, targets};
    clf_node *n = new_node(g, CLF_OP_CROSS_ENTROPY, in, 2);
    if (n) {
        n->u.xent.pad = pad;
        n->u.xent.smoothing = label_smoothing;
    }
    clf_tensor *loss = node_output(g, n, 0, "loss", CLF_ROWS_FIXED, 1, 1);
    node_output(g, n, 1, "rows", logits->rows, logits->fixed_rows, 1);
    if (loss) loss->needs_grad = false;
    if (n && n->out[1]) n->out[1]->needs_grad = false;
    logits->grad_from_forward = true;
    return loss;
}

/* ---- planning ---- */

static size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

/* Whether t gets a gradient buffer: something reads its gradient. Outputs nobody consumes (a
 * LayerNorm's saved mean, a GELU's pre-activation) need none. */
static bool has_grad(const clf_tensor *t) {
    return t->kind == CLF_T_ACTIVATION && t->needs_grad && (t->last_consumer >= 0 || t->grad_from_forward);
}

/* When a gradient is live, counted in backward order (node n-1 is time 0): from the backward of its
 * last consumer, which writes it first, to the backward of its producer, which reads it last. A
 * gradient written by a forward pass is live from before the backward starts. */
static void grad_interval(const clf_graph *g, const clf_tensor *t, long *start, long *end) {
    long n = (long)g->n_nodes;
    *start = t->grad_from_forward ? -1 : n - 1 - t->last_consumer;
    *end = n - 1 - t->producer;
}

static int by_size_desc(const void *a, const void *b) {
    const clf_tensor *x = *(clf_tensor *const *)a, *y = *(clf_tensor *const *)b;
    size_t sx = x->goffset, sy = y->goffset; /* holds the size while planning */
    return (sx < sy) - (sx > sy);
}

/* Place activation gradients in one arena so that two whose live intervals overlap never share
 * bytes: largest first, each at the lowest offset clear of the ones already placed and live at the
 * same time. Returns the arena's size. */
static size_t plan_gradients(clf_graph *g, size_t align, clf_status *st) {
    size_t n = 0, total = 0;
    clf_tensor **list = malloc((g->n_tensors ? g->n_tensors : 1) * sizeof *list);
    size_t *placed_off = malloc((g->n_tensors ? g->n_tensors : 1) * sizeof *placed_off);
    if (!list || !placed_off) {
        *st = CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory planning the graph");
        free(list);
        free(placed_off);
        return 0;
    }
    for (size_t i = 0; i < g->n_tensors; i++) {
        clf_tensor *t = g->tensors[i];
        if (!has_grad(t)) continue;
        size_t bytes = clf_rows_of(t, &g->max) * (size_t)t->cols * 4;
        t->goffset = align_up(bytes ? bytes : 4, align);
        list[n++] = t;
    }
    qsort(list, n, sizeof *list, by_size_desc);
    for (size_t i = 0; i < n; i++) {
        clf_tensor *t = list[i];
        size_t size = t->goffset, off = 0;
        long s0, e0;
        grad_interval(g, t, &s0, &e0);
        for (bool moved = true; moved;) { /* first fit: step past every live neighbour in the way */
            moved = false;
            for (size_t j = 0; j < i; j++) {
                long s1, e1;
                grad_interval(g, list[j], &s1, &e1);
                size_t o1 = placed_off[j], z1 = list[j]->goffset;
                if (s1 > e0 || s0 > e1 || o1 >= off + size || off >= o1 + z1) continue;
                off = o1 + z1;
                moved = true;
            }
        }
        placed_off[i] = off;
        if (off + size > total) total = off + size;
    }
    for (size_t i = 0; i < n; i++) list[i]->goffset = placed_off[i];
    free(list);
    free(placed_off);
    return total;
}

void clf_graph_begin_segment(clf_graph *g) {
    if (g && g->status == CLF_OK) g->segment_now = ++g->n_segments;
}

void clf_graph_end_segment(clf_graph *g) {
    if (g) g->segment_now = 0;
}

/* Activations produced in a segment and read by no node outside it. */
static void mark_recomputed(clf_graph *g) {
    for (size_t i = 0; i < g->n_tensors; i++) {
        clf_tensor *t = g->tensors[i];
        t->recomputed = t->kind == CLF_T_ACTIVATION && t->producer >= 0 && g->nodes[t->producer].segment > 0 &&
                        !t->grad_from_forward;
    }
    for (size_t i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < CLF_NODE_MAX_IN; k++) {
            clf_tensor *t = g->nodes[i].in[k];
            if (t && t->recomputed && g->nodes[t->producer].segment != g->nodes[i].segment) t->recomputed = false;
        }
}

/* Activation and input offsets: the kept ones one after another; then, with recomputation, one region
 * where each segment lays out its own from the start. Returns the arena's size. */
static size_t plan_activations(clf_graph *g, size_t align) {
    size_t off = 0;
    for (size_t i = 0; i < g->n_tensors; i++) {
        clf_tensor *t = g->tensors[i];
        if ((t->kind != CLF_T_ACTIVATION && t->kind != CLF_T_INPUT) || t->recomputed) continue;
        size_t bytes = clf_rows_of(t, &g->max) * (size_t)t->cols * 4;
        t->offset = off;
        off = align_up(off + (bytes ? bytes : 4), align);
        if (t->kind == CLF_T_INPUT) g->input_bytes += bytes;
    }
    size_t region = off, end = off, seg_off = off;
    int seg = 0;
    for (size_t i = 0; i < g->n_tensors; i++) { /* tensors were made in node order: segments in turn */
        clf_tensor *t = g->tensors[i];
        if (!t->recomputed) continue;
        if (g->nodes[t->producer].segment != seg) {
            seg = g->nodes[t->producer].segment;
            seg_off = region;
        }
        size_t bytes = clf_rows_of(t, &g->max) * (size_t)t->cols * 4;
        t->offset = seg_off;
        seg_off = align_up(seg_off + (bytes ? bytes : 4), align);
        if (seg_off > end) end = seg_off;
    }
    return end;
}

bool clf_first_grad_writer(const clf_graph *g, const clf_node *n, int k) {
    const clf_tensor *t = n->in[k];
    return t && has_grad(t) && t->last_consumer == (int)(n - g->nodes) && !t->grad_from_forward;
}

bool clf_grad_overwritten(const clf_graph *g, const clf_node *n, int k) {
    if (!(clf_ops[n->op].overwrites & (1u << k)) || !clf_first_grad_writer(g, n, k)) return false;
    for (int j = 0; j < CLF_NODE_MAX_IN; j++)
        if (j != k && n->in[j] == n->in[k]) return false;
    return true;
}

static clf_status plan(clf_graph *g, bool training, bool recompute) {
    if (g->status != CLF_OK) return g->status;
    if (g->planned) return CLF_ERROR(CLF_ERR_INVALID_ARG, "graph planned twice");
    size_t align = clf_device_get_info(g->dev)->mem_base_align;
    if (align < 64) align = 64;
    size_t off = 0, goff = 0, ws = 0;
    clf_status st = CLF_OK;
    g->recompute = recompute;
    if (recompute) mark_recomputed(g);
    off = plan_activations(g, align);
    if (training) goff = plan_gradients(g, align, &st);
    for (size_t i = 0; i < g->n_nodes; i++) {
        size_t w = clf_ops[g->nodes[i].op].workspace_floats(g, &g->nodes[i]);
        if (w > ws) ws = w;
    }
    if (st == CLF_OK) st = clf_buffer_alloc(g->dev, off ? off : 4, "activations", &g->arena);
    if (st == CLF_OK && training && goff) st = clf_buffer_alloc(g->dev, goff, "activation gradients", &g->grad_arena);
    if (st == CLF_OK && ws) st = clf_buffer_alloc(g->dev, ws * 4, "workspace", &g->workspace);
    for (size_t i = 0; st == CLF_OK && i < g->n_tensors; i++) {
        clf_tensor *t = g->tensors[i];
        if (t->kind != CLF_T_ACTIVATION && t->kind != CLF_T_INPUT) continue;
        size_t bytes = clf_rows_of(t, &g->max) * (size_t)t->cols * 4;
        t->owns_views = true;
        st = clf_buffer_view(g->dev, g->arena, t->offset, bytes ? bytes : 4, &t->buf);
        if (st == CLF_OK && training && has_grad(t))
            st = clf_buffer_view(g->dev, g->grad_arena, t->goffset, bytes ? bytes : 4, &t->grad);
    }
    if (st != CLF_OK) return clf_error_context(st, "planning the graph's buffers");
    g->arena_bytes = off;
    g->grad_bytes = goff;
    g->workspace_bytes = ws * 4;
    g->training = training;
    g->planned = true;
    return CLF_OK;
}

clf_status clf_graph_plan(clf_graph *g, bool training) { return plan(g, training, false); }
clf_status clf_graph_plan_recompute(clf_graph *g) { return plan(g, true, true); }

static clf_status check_run(const clf_graph *g, const clf_run *r) {
    if (!g->planned) return CLF_ERROR(CLF_ERR_INVALID_ARG, "graph run before it was planned");
    const clf_dims *d = &r->dims;
    if (d->batch < 1 || d->batch > g->max.batch || d->src_len < 0 || d->src_len > g->max.src_len ||
        d->tgt_len < 1 || d->tgt_len > g->max.tgt_len)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "batch %d x (%d, %d) exceeds the planned %d x (%d, %d)", d->batch,
                         d->src_len, d->tgt_len, g->max.batch, g->max.src_len, g->max.tgt_len);
    long longest = d->src_len > d->tgt_len ? d->src_len : d->tgt_len;
    if (g->max.tokens > 0 && (long)d->batch * longest > g->max.tokens)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "batch %d x %ld tokens exceeds the planned budget of %d", d->batch,
                         longest, g->max.tokens);
    if (r->training && !g->training) return CLF_ERROR(CLF_ERR_INVALID_ARG, "graph planned for inference run as training");
    return CLF_OK;
}

/* Nodes [from, to) forward. */
static clf_status forward_nodes(clf_graph *g, const clf_run *r, size_t from, size_t to) {
    clf_status st = CLF_OK;
    for (size_t i = from; st == CLF_OK && i < to; i++) {
        st = clf_ops[g->nodes[i].op].forward(g, &g->nodes[i], r);
        if (st != CLF_OK) clf_error_context(st, "forward of node %zu (%s)", i, clf_ops[g->nodes[i].op].name);
        if (g->nodes[i].segment) g->resident_segment = g->nodes[i].segment;
    }
    return st;
}

clf_status clf_graph_forward(clf_graph *g, const clf_run *r) {
    clf_status st = check_run(g, r);
    size_t before = clf_device_launch_count(g->dev);
    g->resident_segment = 0;
    if (st == CLF_OK) st = forward_nodes(g, r, 0, g->n_nodes);
    g->launches_forward = clf_device_launch_count(g->dev) - before;
    return st;
}

/* Before the backward of node `last`, the last of its segment: that segment's forward again, unless
 * its inner activations are the ones the arena holds (the segment the forward ran last). The forward
 * is a pure function of its inputs, dropout included (counter-based), so it writes the same values. */
static clf_status recompute_segment(clf_graph *g, const clf_run *r, size_t last) {
    int seg = g->nodes[last].segment;
    if (!g->recompute || seg == 0 || seg == g->resident_segment) return CLF_OK;
    size_t first = last;
    while (first > 0 && g->nodes[first - 1].segment == seg) first--;
    return forward_nodes(g, r, first, last + 1);
}

clf_status clf_graph_backward(clf_graph *g, const clf_run *r) {
    clf_status st = check_run(g, r);
    if (st == CLF_OK && !r->training) st = CLF_ERROR(CLF_ERR_INVALID_ARG, "backward of a run that is not training");
    size_t before = clf_device_launch_count(g->dev);
    g->fills_backward = 0;
    for (size_t i = g->n_nodes; st == CLF_OK && i-- > 0;) {
        const clf_node *n = &g->nodes[i];
        bool wanted = false;
        for (int k = 0; k < CLF_NODE_MAX_IN; k++)
            if (n->in[k] && n->in[k]->needs_grad) wanted = true;
        if (!wanted) continue; /* nothing upstream learns: skip */
        st = recompute_segment(g, r, i);
        /* gradients accumulate: each starts from zero just before its first writer, since its bytes
         * served other gradients earlier in the pass, unless that writer stores it whole */
        for (int k = 0; st == CLF_OK && k < CLF_NODE_MAX_IN; k++) {
            const clf_tensor *t = n->in[k];
            if (!clf_first_grad_writer(g, n, k) || clf_grad_overwritten(g, n, k)) continue;
            bool seen = false; /* a tensor in two slots is zeroed once */
            for (int j = 0; j < k; j++) seen |= n->in[j] == t;
            if (seen) continue;
            st = clf_buffer_fill_float(g->dev, t->grad, 0, clf_rows_of(t, &r->dims) * (size_t)t->cols, 0.0f);
            g->fills_backward++;
        }
        if (st == CLF_OK) st = clf_ops[n->op].backward(g, n, r);
        if (st != CLF_OK) clf_error_context(st, "backward of node %zu (%s)", i, clf_ops[n->op].name);
    }
    g->launches_backward = clf_device_launch_count(g->dev) - before;
    return st;
}

cl_mem clf_tensor_buffer(const clf_tensor *t) { return t->buf; }
cl_mem clf_tensor_grad(const clf_tensor *t) { return t->grad; }
size_t clf_tensor_rows(const clf_tensor *t, const clf_dims *d) { return clf_rows_of(t, d); }

void clf_graph_memory_report(const clf_graph *g, clf_graph_memory *out) {
    out->activations = g->arena_bytes - g->input_bytes;
    out->inputs = g->input_bytes;
    out->activation_grads = g->grad_bytes;
    out->workspace = g->workspace_bytes;
    out->nodes = (int)g->n_nodes;
    out->launches_forward = g->launches_forward;
    out->launches_backward = g->launches_backward;
}
