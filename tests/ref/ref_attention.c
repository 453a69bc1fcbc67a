#include "ref_attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clformer/philox.h"
#include "ops/elementwise.h"

/* The factor dropout multiplies P[b, h, i, j] by: 0, 1/(1-p) or 1 (off). */
static double drop_factor(const clf_dropout *drop, uint32_t idx) {
    if (!drop || drop->p == 0.0f) return 1.0;
    uint32_t t = clf_dropout_threshold(drop->p);
    if (t == 0) return 1.0;
    return clf_dropout_keep(idx, drop->site, drop->step, drop->seed, t) ? 1.0 / (1.0 - (double)drop->p) : 0.0;
}

static uint32_t drop_index(const clf_attention_shape *s, int b, int h, int i, int j) {
    return (((uint32_t)b * (uint32_t)s->heads + (uint32_t)h) * (uint32_t)s->tq + (uint32_t)i) * (uint32_t)s->tk +
           (uint32_t)j;
}

static int visible(const int32_t *kmask, const clf_attention_shape *s, int b, int i, int j) {
    return (!kmask || kmask[b * s->tk + j] != 0) && (!s->causal || j <= i);
}

/* Row i of head h of batch item b: P (undropped) into prow [tk], returns the log-sum-exp. */
static double probs_row(double *prow, const double *q, const double *k, const int32_t *kmask,
                        const clf_attention_shape *s, int b, int h, int i) {
    size_t d = (size_t)s->heads * s->dh;
    const double *qi = q + ((size_t)b * s->tq + i) * d + (size_t)h * s->dh;
    double scale = 1.0 / sqrt((double)s->dh), m = -INFINITY;
    for (int j = 0; j < s->tk; j++) {
        const double *kj = k + ((size_t)b * s->tk + j) * d + (size_t)h * s->dh;
        double dot = 0;
        for (int c = 0; c < s->dh; c++) dot += qi[c] * kj[c];
        prow[j] = visible(kmask, s, b, i, j) ? dot * scale : -INFINITY;
        if (prow[j] > m) m = prow[j];
    }
    if (m == -INFINITY) { /* every key masked: zero probabilities */
        for (int j = 0; j < s->tk; j++) prow[j] = 0;
        return -INFINITY;
    }
    double sum = 0;
    for (int j = 0; j < s->tk; j++) sum += prow[j] == -INFINITY ? 0 : exp(prow[j] - m);
    for (int j = 0; j < s->tk; j++) prow[j] = prow[j] == -INFINITY ? 0 : exp(prow[j] - m) / sum;
    return m + log(sum);
}

void ref_attention_fwd(double *o, double *lse, double *p, const double *q, const double *k, const double *v,
                       const int32_t *kmask, const clf_attention_shape *s, const clf_dropout *drop) {
    size_t d = (size_t)s->heads * s->dh;
    double *prow = malloc((size_t)s->tk * sizeof *prow);
    for (int b = 0; b < s->batch; b++)
        for (int h = 0; h < s->heads; h++)
            for (int i = 0; i < s->tq; i++) {
                double l = probs_row(prow, q, k, kmask, s, b, h, i);
                size_t r = ((size_t)b * s->heads + h) * s->tq + i;
                if (lse) lse[r] = l;
                if (p) memcpy(p + r * s->tk, prow, (size_t)s->tk * sizeof *prow);
                double *oi = o + ((size_t)b * s->tq + i) * d + (size_t)h * s->dh;
                for (int c = 0; c < s->dh; c++) oi[c] = 0;
                for (int j = 0; j < s->tk; j++) {
                    double pd = prow[j] * drop_factor(drop, drop_index(s, b, h, i, j));
                    const double *vj = v + ((size_t)b * s->tk + j) * d + (size_t)h * s->dh;
                    for (int c = 0; c < s->dh; c++) oi[c] += pd * vj[c];
                }
            }
    free(prow);
}

void ref_attention_bwd(double *dq, double *dk, double *dv, const double *dout, const double *q, const double *k,
                       const double *v, const int32_t *kmask, const clf_attention_shape *s,
                       const clf_dropout *drop) {
    size_t d = (size_t)s->heads * s->dh;
    memset(dq, 0, (size_t)s->batch * s->tq * d * sizeof *dq);
    memset(dk, 0, (size_t)s->batch * s->tk * d * sizeof *dk);
    memset(dv, 0, (size_t)s->batch * s->tk * d * sizeof *dv);
    double *prow = malloc((size_t)s->tk * sizeof *prow), *dp = malloc((size_t)s->tk * sizeof *dp);
    double scale = 1.0 / sqrt((double)s->dh);
    for (int b = 0; b < s->batch; b++)
        for (int h = 0; h < s->heads; h++)
            for (int i = 0; i < s->tq; i++) {
                probs_row(prow, q, k, kmask, s, b, h, i);
                size_t qoff = ((size_t)b * s->tq + i) * d + (size_t)h * s->dh;
                const double *doi = dout + qoff;
                /* dP_j = f_j dO_i . v_j (f the dropout factor); dV_j += f_j P_j dO_i */
                double rowdot = 0;
                for (int j = 0; j < s->tk; j++) {
                    size_t koff = ((size_t)b * s->tk + j) * d + (size_t)h * s->dh;
                    double f = drop_factor(drop, drop_index(s, b, h, i, j)), g = 0;
                    for (int c = 0; c < s->dh; c++) g += doi[c] * v[koff + c];
                    dp[j] = f * g;
                    rowdot += prow[j] * dp[j];
                    for (int c = 0; c < s->dh; c++) dv[koff + c] += f * prow[j] * doi[c];
                }
                /* dS_j = P_j (dP_j - sum_k P_k dP_k); S = scale q.k */
                for (int j = 0; j < s->tk; j++) {
                    double ds = prow[j] * (dp[j] - rowdot) * scale;
                    if (ds == 0) continue;
                    size_t koff = ((size_t)b * s->tk + j) * d + (size_t)h * s->dh;
                    for (int c = 0; c < s->dh; c++) {
                        dq[qoff + c] += ds * k[koff + c];
                        dk[koff + c] += ds * q[qoff + c];
                    }
                }
            }
    free(prow);
    free(dp);
}
