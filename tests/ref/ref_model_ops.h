/* The float64 building blocks of ref_model.c, each forward beside its backward. Internal to the
 * model reference (prefix refm_, to keep clear of the per-op references' ref_<op>_ names).
 * Row-major throughout; N counts rows (tokens). Backward functions ACCUMULATE (+=) into every
 * gradient they are given, so fan-out (residual stream, self-attention, tied weights) just adds. */
#ifndef CLFORMER_TEST_REF_MODEL_OPS_H
#define CLFORMER_TEST_REF_MODEL_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "ref_model.h"

/* y = x W^T + b (b may be NULL), as torch.nn.Linear. */
void refm_linear_fwd(double *y /* [N, out] */, const double *x /* [N, in] */, const double *w /* [out, in] */,
                     const double *b /* [out] or NULL */, int N, int in, int out);
/* dx += dy W, dw += dy^T x, db += sum over rows of dy; dx, db may be NULL. */
void refm_linear_bwd(double *dx /* [N, in] */, double *dw /* [out, in] */, double *db /* [out] */,
                     const double *dy /* [N, out] */, const double *x /* [N, in] */,
                     const double *w /* [out, in] */, int N, int in, int out);

/* y = g * (x - mean) * rstd + b, biased variance; saves mean and rstd per row. */
void refm_layernorm_fwd(double *y /* [N, D] */, double *mean /* [N] */, double *rstd /* [N] */,
                        const double *x /* [N, D] */, const double *g /* [D] */, const double *b /* [D] */,
                        int N, int D, double eps);
void refm_layernorm_bwd(double *dx /* [N, D] */, double *dg /* [D] */, double *db /* [D] */,
                        const double *dy /* [N, D] */, const double *x /* [N, D] */, const double *mean /* [N] */,
                        const double *rstd /* [N] */, const double *g /* [D] */, int N, int D);

/* relu or gelu (tanh form, torch's approximate='tanh'). */
void refm_act_fwd(double *y /* [n] */, const double *x /* [n] */, size_t n, ref_activation act);
void refm_act_bwd(double *dx /* [n] */, const double *dy /* [n] */, const double *x /* [n] */, size_t n,
                  ref_activation act);

/* x[b, t] = E[tok[b, t]] * sqrt(D) + PE[t]. */
void refm_embed_fwd(double *x /* [B, T, D] */, const int32_t *tok /* [B, T] */, const double *E /* [V, D] */,
                    int B, int T, int D);
/* dE[tok] += dx * sqrt(D). */
void refm_embed_bwd(double *dE /* [V, D] */, const double *dx /* [B, T, D] */, const int32_t *tok /* [B, T] */,
                    int B, int T, int D);

/* Scaled dot-product attention on projected Q, K, V, heads of width D / H side by side. Key j of
 * batch row b is masked when key_tok[b, j] is PAD or (causal) j > i; a query with every key masked
 * gets all-zero probabilities and a zero output row. */
void refm_attn_fwd(double *O /* [B, Tq, D] */, double *P /* [B, H, Tq, Tk] */, const double *Q /* [B, Tq, D] */,
                   const double *K /* [B, Tk, D] */, const double *V /* [B, Tk, D] */,
                   const int32_t *key_tok /* [B, Tk] */, int causal, int B, int Tq, int Tk, int D, int H);
void refm_attn_bwd(double *dQ /* [B, Tq, D] */, double *dK /* [B, Tk, D] */, double *dV /* [B, Tk, D] */,
                   const double *dO /* [B, Tq, D] */, const double *P /* [B, H, Tq, Tk] */,
                   const double *Q /* [B, Tq, D] */, const double *K /* [B, Tk, D] */,
                   const double *V /* [B, Tk, D] */, int B, int Tq, int Tk, int D, int H);

/* Label-smoothed cross-entropy, mean over rows whose target is not PAD (0 when none); writes
 * dlogits (overwriting, zero rows for PAD targets) when non-NULL. *count gets the number of rows. */
double refm_xent(double *dlogits /* [N, V] or NULL */, const double *logits /* [N, V] */,
                 const int32_t *tgt /* [N] */, int N, int V, double eps, int *count);

/* How many tensors ref_params_new lists for a valid cfg. */
int refm_param_count(const ref_config *cfg);

#endif
