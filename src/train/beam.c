/* Beam search for the encoder-decoder over a stepper whose rows are the live hypotheses (the source
 * repeated). Every step ranks all (hypothesis, token) extensions by total log-probability; the best
 * ending ones join the ended set, the best others become the next live hypotheses. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stepper.h"
#include "trainer_internal.h"

typedef struct cand {
    double logp;
    int row, tok;
} cand;

/* Best first; ties to the lower row, then the lower token: a total order, so qsort is deterministic. */
static int by_logp(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    if (a->logp != b->logp) return a->logp > b->logp ? -1 : 1;
    if (a->row != b->row) return a->row < b->row ? -1 : 1;
    return (a->tok > b->tok) - (a->tok < b->tok);
}

/* A hypothesis: its tokens (the end token last when it ended), log-probability and score. */
typedef struct hyp {
    int32_t *tok;
    int n;        /* tokens in tok, end token included */
    bool ended;
    double logp, score;
} hyp;

static double normalised(double logp, int len, float alpha) {
    return alpha == 0.0f ? logp : logp / pow((double)len, (double)alpha);
}

/* log_softmax of one row of logits, in double. */
static void log_softmax(const float *x, int V, double *out) {
    double mx = -INFINITY, sum = 0;
    for (int v = 0; v < V; v++) mx = x[v] > mx ? x[v] : mx;
    for (int v = 0; v < V; v++) sum += exp((double)x[v] - mx);
    double lse = mx + log(sum);
    for (int v = 0; v < V; v++) out[v] = (double)x[v] - lse;
}

/* Keep the K best ended hypotheses (by score, earlier ones first on ties): replace the worst. */
static void add_ended(hyp *done, int *n_done, int K, const hyp *live, int tok, double logp, float alpha) {
    int len = live->n + 1;
    double score = normalised(logp, len, alpha);
    int slot = *n_done;
    if (*n_done == K) {
        slot = 0;
        for (int i = 1; i < K; i++)
            if (done[i].score <= done[slot].score) slot = i; /* the worst, the latest among equals */
        if (score <= done[slot].score) return;
    } else {
        (*n_done)++;
    }
    hyp *h = &done[slot];
    memcpy(h->tok, live->tok, (size_t)live->n * sizeof *h->tok);
    h->tok[live->n] = tok;
    h->n = len;
    h->ended = true;
    h->logp = logp;
    h->score = score;
}

typedef struct beam_state {
    int K, V, max_out;
    hyp *live, *next, *done; /* [K] each */
    int32_t *pool;           /* token storage of the 3K hypotheses, max_out + 1 each */
    float *logits;           /* [K, V] */
    double *lsm;             /* [V] */
    cand *cands;             /* [K * V] */
    int32_t *feed;           /* [K] */
    int *parent;             /* [K] */
} beam_state;

static void state_free(beam_state *b) {
    free(b->live);
    free(b->next);
    free(b->done);
    free(b->pool);
    free(b->logits);
    free(b->lsm);
    free(b->cands);
    free(b->feed);
    free(b->parent);
}

static clf_status state_new(beam_state *b, int K, int V, int max_out) {
    memset(b, 0, sizeof *b);
    b->K = K;
    b->V = V;
    b->max_out = max_out;
    size_t k = (size_t)K;
    b->live = calloc(k, sizeof *b->live);
    b->next = calloc(k, sizeof *b->next);
    b->done = calloc(k, sizeof *b->done);
    b->pool = malloc(3 * k * ((size_t)max_out + 1) * sizeof *b->pool);
    b->logits = malloc(k * (size_t)V * sizeof *b->logits);
    b->lsm = malloc((size_t)V * sizeof *b->lsm);
    b->cands = malloc(k * (size_t)V * sizeof *b->cands);
    b->feed = malloc(k * sizeof *b->feed);
    b->parent = malloc(k * sizeof *b->parent);
    if (!b->live || !b->next || !b->done || !b->pool || !b->logits || !b->lsm || !b->cands || !b->feed || !b->parent) {
        state_free(b);
        return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory for beam search");
    }
    for (int i = 0; i < K; i++) {
        b->live[i].tok = b->pool + (size_t)i * (size_t)(max_out + 1);
        b->next[i].tok = b->pool + (size_t)(K + i) * (size_t)(max_out + 1);
        b->done[i].tok = b->pool + (size_t)(2 * K + i) * (size_t)(max_out + 1);
        b->live[i].logp = i == 0 ? 0.0 : -INFINITY; /* one start hypothesis; the copies are never picked */
        b->feed[i] = CLF_BOS;
    }
    return CLF_OK;
}

/* One step after the stepper produced b->logits: rank the extensions, end or continue them. Returns
 * the number of live hypotheses for the next step. */
static int advance(beam_state *b, int *n_done, float alpha) {
    int K = b->K, V = b->V, nc = 0;
    for (int r = 0; r < K; r++) {
        if (b->live[r].logp == -INFINITY) continue;
        log_softmax(b->logits + (size_t)r * (size_t)V, V, b->lsm);
        for (int v = 0; v < V; v++) b->cands[nc++] = (cand){b->live[r].logp + b->lsm[v], r, v};
    }
    qsort(b->cands, (size_t)nc, sizeof *b->cands, by_logp);
    int n_next = 0;
    for (int i = 0; i < nc && n_next < K; i++) {
        const cand *c = &b->cands[i];
        if (c->logp == -INFINITY) break;
        const hyp *from = &b->live[c->row];
        if (clf_decode_ends(c->tok)) {
            /* an ending among the K best extensions ends a hypothesis; lower ones are dropped */
            if (i < K) add_ended(b->done, n_done, K, from, c->tok, c->logp, alpha);
            continue;
        }
        hyp *h = &b->next[n_next];
        memcpy(h->tok, from->tok, (size_t)from->n * sizeof *h->tok);
        h->tok[from->n] = c->tok;
        h->n = from->n + 1;
        h->ended = false;
        h->logp = c->logp;
        b->parent[n_next] = c->row;
        b->feed[n_next] = c->tok;
        n_next++;
    }
    for (int i = n_next; i < K; i++) { /* fewer than K extensions left: empty rows follow row 0 */
        b->next[i].n = 0;
        b->next[i].logp = -INFINITY;
        b->parent[i] = 0;
        b->feed[i] = CLF_BOS;
    }
    hyp *t = b->live;
    b->live = b->next;
    b->next = t;
    return n_next;
}

/* Whether no live hypothesis can still beat the best ended one: its log p only falls, and over the
 * lengths still possible its score is best at one end or the other (monotone in len). Only the best
 * hypothesis is returned, so this stops exactly where running on to max_out would change nothing. */
static bool settled(const beam_state *b, int n_done, int n_live, int step, float alpha) {
    if (n_live == 0) return true;
    if (n_done == 0) return false;
    double best_done = -INFINITY, best = -INFINITY;
    for (int i = 0; i < n_done; i++) best_done = b->done[i].score > best_done ? b->done[i].score : best_done;
    for (int i = 0; i < n_live; i++) {
        double lp = b->live[i].logp;
        double s1 = normalised(lp, step + 1, alpha), s2 = normalised(lp, b->max_out, alpha);
        double s = s1 > s2 ? s1 : s2;
        best = s > best ? s : best;
    }
    return best <= best_done;
}

clf_status clf_model_beam(clf_model_graph *mg, const int32_t *src, int Ts, int beam, int max_out,
                          float length_penalty, int32_t *out, int *len, double *score) {
    if (!mg || !src || !out || !len) return CLF_ERROR(CLF_ERR_INVALID_ARG, "beam search: missing buffers");
    if (mg->model->cfg.arch != CLF_ARCH_ENCDEC)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "beam search needs an encoder-decoder model");
    if (beam < 1 || beam > mg->max.batch)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "beam width %d outside the graph's 1..%d rows", beam, mg->max.batch);
    if (max_out < 1) return CLF_ERROR(CLF_ERR_INVALID_ARG, "beam search: max_out %d must be positive", max_out);
    if (Ts < 1 || Ts > mg->max.src_len)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "beam search: source length %d outside 1..%d", Ts, mg->max.src_len);
    if (!isfinite(length_penalty))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "beam search: length penalty %g is not finite", (double)length_penalty);
    int K = beam, V = mg->model->cfg.vocab_size;
    int steps = max_out < mg->max.tgt_len ? max_out : mg->max.tgt_len;
    beam_state b;
    clf_status st = state_new(&b, K, V, steps);
    if (st != CLF_OK) return st;
    int32_t *rep = malloc((size_t)K * (size_t)Ts * sizeof *rep);
    clf_stepper *s = NULL;
    if (!rep) st = CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory for beam search");
    for (int r = 0; st == CLF_OK && r < K; r++) memcpy(rep + (size_t)r * (size_t)Ts, src, (size_t)Ts * sizeof *rep);
    if (st == CLF_OK) st = clf_stepper_new(mg, CLF_DECODE_CACHED, rep, K, Ts, steps, &s);
    int n_done = 0, n_live = 1, t = 0;
    while (st == CLF_OK && t < steps && !settled(&b, n_done, n_live, t, length_penalty)) {
        st = clf_stepper_step(s, b.feed, 1, b.logits);
        if (st != CLF_OK) break;
        t++;
        n_live = advance(&b, &n_done, length_penalty);
        if (n_live > 0 && t < steps) st = clf_stepper_reorder(s, b.parent);
    }
    if (st == CLF_OK) {
        /* the best ended hypothesis, or a live one that scores higher (ties: ended, then earlier) */
        const hyp *best = NULL;
        double best_score = -INFINITY;
        for (int i = 0; i < n_done; i++)
            if (!best || b.done[i].score > best_score) best = &b.done[i], best_score = b.done[i].score;
        for (int i = 0; i < n_live; i++) {
            double sc = normalised(b.live[i].logp, b.live[i].n, length_penalty);
            if (!best || sc > best_score) best = &b.live[i], best_score = sc;
        }
        if (!best) {
            st = CLF_ERROR(CLF_ERR_NUMERIC, "beam search found no finite hypothesis (non-finite logits?)");
        } else {
            int n = best->ended ? best->n - 1 : best->n;
            int copy = best->n < max_out ? best->n : max_out;
            memcpy(out, best->tok, (size_t)copy * sizeof *out);
            *len = best->ended ? n : -1;
            if (score) *score = best_score;
        }
    }
    clf_stepper_free(s);
    free(rep);
    state_free(&b);
    return st;
}
