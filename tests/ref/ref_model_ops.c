/* Float64 building blocks of the model reference: plain loops, written to be read. */
#include "ref_model_ops.h"

#include <math.h>
#include <string.h>

void refm_linear_fwd(double *y, const double *x, const double *w, const double *b, int N, int in, int out) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < in; i++) s += x[(size_t)n * in + i] * w[(size_t)o * in + i];
            y[(size_t)n * out + o] = s;
        }
}

void refm_linear_bwd(double *dx, double *dw, double *db, const double *dy, const double *x, const double *w,
                     int N, int in, int out) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < out; o++) {
            double g = dy[(size_t)n * out + o];
            if (db) db[o] += g;
            for (int i = 0; i < in; i++) {
                if (dx) dx[(size_t)n * in + i] += g * w[(size_t)o * in + i];
                dw[(size_t)o * in + i] += g * x[(size_t)n * in + i];
            }
        }
}

void refm_layernorm_fwd(double *y, double *mean, double *rstd, const double *x, const double *g, const double *b,
                        int N, int D, double eps) {
    for (int n = 0; n < N; n++) {
        const double *xr = x + (size_t)n * D;
        double m = 0, v = 0;
        for (int d = 0; d < D; d++) m += xr[d];
        m /= D;
        for (int d = 0; d < D; d++) v += (xr[d] - m) * (xr[d] - m);
        v /= D; /* biased, as torch.nn.LayerNorm */
        double r = 1.0 / sqrt(v + eps);
        for (int d = 0; d < D; d++) y[(size_t)n * D + d] = g[d] * (xr[d] - m) * r + b[d];
        mean[n] = m;
        rstd[n] = r;
    }
}

void refm_layernorm_bwd(double *dx, double *dg, double *db, const double *dy, const double *x, const double *mean,
                        const double *rstd, const double *g, int N, int D) {
    for (int n = 0; n < N; n++) {
        const double *xr = x + (size_t)n * D, *dyr = dy + (size_t)n * D;
        /* dx = rstd * (dxh - mean(dxh) - xh * mean(dxh * xh)), dxh = dy * g */
        double s1 = 0, s2 = 0;
        for (int d = 0; d < D; d++) {
            double xh = (xr[d] - mean[n]) * rstd[n], dxh = dyr[d] * g[d];
            s1 += dxh;
            s2 += dxh * xh;
            dg[d] += dyr[d] * xh;
            db[d] += dyr[d];
        }
        s1 /= D;
        s2 /= D;
        for (int d = 0; d < D; d++) {
            double xh = (xr[d] - mean[n]) * rstd[n];
            dx[(size_t)n * D + d] += rstd[n] * (dyr[d] * g[d] - s1 - xh * s2);
        }
    }
}

#define GELU_C 0.7978845608028654 /* sqrt(2 / pi) */
#define GELU_A 0.044715

void refm_act_fwd(double *y, const double *x, size_t n, ref_activation act) {
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = act == REF_ACT_RELU ? (v > 0 ? v : 0.0) : 0.5 * v * (1.0 + tanh(GELU_C * (v + GELU_A * v * v * v)));
    }
}

void refm_act_bwd(double *dx, const double *dy, const double *x, size_t n, ref_activation act) {
    for (size_t i = 0; i < n; i++) {
        double v = x[i], d;
        if (act == REF_ACT_RELU) {
            d = v > 0 ? 1.0 : 0.0; /* torch's relu: zero slope at 0 */
        } else {
            double t = tanh(GELU_C * (v + GELU_A * v * v * v));
            d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * v * v);
        }
        dx[i] += dy[i] * d;
    }
}

/* PE[p, c]: sin for even c, cos for odd c, of p / 10000^(2i / D) with i = c / 2. */
static double pos_enc(int p, int c, int D) {
    double angle = p / pow(10000.0, (double)(2 * (c / 2)) / D);
    return c % 2 == 0 ? sin(angle) : cos(angle);
}

void refm_embed_fwd(double *x, const int32_t *tok, const double *E, int B, int T, int D) {
    double scale = sqrt((double)D);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const double *e = E + (size_t)tok[b * T + t] * D;
            double *xr = x + ((size_t)b * T + t) * D;
            for (int c = 0; c < D; c++) xr[c] = e[c] * scale + pos_enc(t, c, D);
        }
}

void refm_embed_bwd(double *dE, const double *dx, const int32_t *tok, int B, int T, int D) {
    double scale = sqrt((double)D);
    for (int n = 0; n < B * T; n++)
        for (int c = 0; c < D; c++) dE[(size_t)tok[n] * D + c] += dx[(size_t)n * D + c] * scale;
}

static int masked(const int32_t *key_tok, int causal, int i, int j) {
    return key_tok[j] == REF_PAD || (causal && j > i);
}

void refm_attn_fwd(double *O, double *P, const double *Q, const double *K, const double *V, const int32_t *key_tok,
                   int causal, int B, int Tq, int Tk, int D, int H) {
    int dh = D / H;
    double scale = 1.0 / sqrt((double)dh);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Tq; i++) {
                double *p = P + (((size_t)b * H + h) * Tq + i) * Tk;
                const double *q = Q + ((size_t)b * Tq + i) * D + h * dh;
                double mx = -INFINITY;
                for (int j = 0; j < Tk; j++) {
                    if (masked(key_tok + (size_t)b * Tk, causal, i, j)) {
                        p[j] = -INFINITY;
                        continue;
                    }
                    const double *k = K + ((size_t)b * Tk + j) * D + h * dh;
                    double s = 0;
                    for (int c = 0; c < dh; c++) s += q[c] * k[c];
                    p[j] = s * scale;
                    if (p[j] > mx) mx = p[j];
                }
                double sum = 0;
                for (int j = 0; j < Tk; j++) {
                    p[j] = p[j] == -INFINITY ? 0.0 : exp(p[j] - mx);
                    sum += p[j];
                }
                /* every key masked: sum is 0 and the row stays all zero */
                for (int j = 0; j < Tk; j++) p[j] = sum > 0 ? p[j] / sum : 0.0;
                double *o = O + ((size_t)b * Tq + i) * D + h * dh;
                for (int c = 0; c < dh; c++) {
                    double s = 0;
                    for (int j = 0; j < Tk; j++) s += p[j] * V[((size_t)b * Tk + j) * D + h * dh + c];
                    o[c] = s;
                }
            }
}

void refm_attn_bwd(double *dQ, double *dK, double *dV, const double *dO, const double *P, const double *Q,
                   const double *K, const double *V, int B, int Tq, int Tk, int D, int H) {
    int dh = D / H;
    double scale = 1.0 / sqrt((double)dh);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Tq; i++) {
                const double *p = P + (((size_t)b * H + h) * Tq + i) * Tk;
                const double *dout = dO + ((size_t)b * Tq + i) * D + h * dh;
                const double *q = Q + ((size_t)b * Tq + i) * D + h * dh;
                double *dq = dQ + ((size_t)b * Tq + i) * D + h * dh;
                /* dP_j = dO . V_j; dS_j = P_j (dP_j - sum_k P_k dP_k); masked keys have P = 0 */
                double dot = 0;
                for (int j = 0; j < Tk; j++) {
                    if (p[j] == 0.0) continue;
                    const double *v = V + ((size_t)b * Tk + j) * D + h * dh;
                    double dp = 0;
                    for (int c = 0; c < dh; c++) dp += dout[c] * v[c];
                    dot += p[j] * dp;
                }
                for (int j = 0; j < Tk; j++) {
                    if (p[j] == 0.0) continue;
                    size_t kj = ((size_t)b * Tk + j) * D + h * dh;
                    double dp = 0;
                    for (int c = 0; c < dh; c++) dp += dout[c] * V[kj + c];
                    double ds = p[j] * (dp - dot) * scale;
                    for (int c = 0; c < dh; c++) {
                        dV[kj + c] += p[j] * dout[c];
                        dq[c] += ds * K[kj + c];
                        dK[kj + c] += ds * q[c];
                    }
                }
            }
}

double refm_xent(double *dlogits, const double *logits, const int32_t *tgt, int N, int V, double eps, int *count) {
    int n_valid = 0;
    for (int n = 0; n < N; n++) n_valid += tgt[n] != REF_PAD;
    *count = n_valid;
    if (dlogits) memset(dlogits, 0, (size_t)N * V * sizeof *dlogits);
    if (n_valid == 0) return 0.0;
    double total = 0;
    for (int n = 0; n < N; n++) {
        if (tgt[n] == REF_PAD) continue;
        const double *l = logits + (size_t)n * V;
        double mx = l[0], sum = 0, mean_l = 0;
        for (int v = 1; v < V; v++) mx = l[v] > mx ? l[v] : mx;
        for (int v = 0; v < V; v++) {
            sum += exp(l[v] - mx);
            mean_l += l[v];
        }
        mean_l /= V;
        double lse = mx + log(sum);
        /* (1 - eps) * -log p[y] + eps * mean_v(-log p[v]) */
        total += (1.0 - eps) * (lse - l[tgt[n]]) + eps * (lse - mean_l);
        if (dlogits)
            for (int v = 0; v < V; v++)
                dlogits[(size_t)n * V + v] =
                    (exp(l[v] - lse) - (v == tgt[n] ? 1.0 - eps : 0.0) - eps / V) / n_valid;
    }
    return total / n_valid;
}
