/* The whole Transformer of SPEC.md in float64 on the host: forward, label-smoothed loss and a
 * hand-written backward pass, dropout off. It is the reference that the device model's loss,
 * logits and every parameter gradient (`clformer grad`) are checked against.
 *
 * Parameters are named and shaped exactly as in SPEC's checkpoint table, so a test can load the
 * same values into the device model by name. Their order is fixed (ref_params_new):
 *
 *   encdec:  src_embed.weight (untied only), tgt_embed.weight,
 *            encoder.layers.{i}.{self_attn, ffn, norm1, norm2}.*     for i = 0..n_enc_layers-1
 *            encoder.norm.{weight,bias}                               (norm = pre only)
 *            decoder.layers.{i}.{self_attn, cross_attn, ffn, norm1, norm2, norm3}.*
 *            decoder.norm.{weight,bias}                               (norm = pre only)
 *            generator.weight                                         (untied only)
 *   decoder: tok_embed.weight, decoder.layers.{i}.{self_attn, ffn, norm1, norm2}.*,
 *            decoder.norm.* (pre only), generator.weight (untied only)
 *
 * Within a layer: each attention block lists q, k, v, o, each as .weight [d_model, d_model] then
 * .bias [d_model]; the FFN lists w1.weight [d_ff, d_model], w1.bias [d_ff], w2.weight
 * [d_model, d_ff], w2.bias [d_model]; then the norms in number order, .weight then .bias.
 *
 * With tie_embeddings the one matrix (tgt_embed.weight or tok_embed.weight) serves the source
 * embedding, the target embedding and the generator, and its gradient is the sum of all three. */
#ifndef CLFORMER_TEST_REF_MODEL_H
#define CLFORMER_TEST_REF_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "clformer/status.h"

#define REF_PAD 256 /* SPEC: PAD stays 256 whatever vocab_size is */

typedef enum ref_arch { REF_ARCH_ENCDEC, REF_ARCH_DECODER } ref_arch;
typedef enum ref_norm { REF_NORM_POST, REF_NORM_PRE } ref_norm;
typedef enum ref_activation { REF_ACT_RELU, REF_ACT_GELU } ref_activation;

/* SPEC's model configuration, less dropout (this reference has none). */
typedef struct ref_config {
    ref_arch arch;
    int vocab_size; /* > REF_PAD, so PAD is a valid id */
    int d_model, n_heads, d_ff;
    int n_enc_layers; /* >= 0; ignored for REF_ARCH_DECODER */
    int n_dec_layers; /* >= 0 */
    int max_len; /* sequences longer than this are rejected */
    ref_norm norm;
    ref_activation activation;
    double ln_eps;
    int tie_embeddings; /* 0 or 1 */
} ref_config;

/* SPEC's defaults (encdec, 259, 128/4/512, 2+2 layers, max_len 256, post, relu, 1e-5, untied). */
void ref_config_default(ref_config *cfg);
/* CLF_ERR_INVALID_ARG, naming the field, unless every field is in range. */
clf_status ref_config_check(const ref_config *cfg);

typedef enum ref_tensor_kind {
    REF_TENSOR_WEIGHT, /* 2-D: embeddings, Linear weights, generator */
    REF_TENSOR_BIAS,   /* Linear bias */
    REF_TENSOR_LN_WEIGHT,
    REF_TENSOR_LN_BIAS
} ref_tensor_kind;

typedef struct ref_tensor {
    char name[64];   /* SPEC checkpoint name */
    int ndim;        /* 1 or 2 */
    int shape[2];    /* shape[1] = 1 when ndim == 1 */
    size_t numel;
    ref_tensor_kind kind;
    double *data;    /* numel values, row-major, inside the owner's one block */
} ref_tensor;

/* A list of named tensors in the fixed order above; also the layout of a gradient. */
typedef struct ref_params {
    int count;
    ref_tensor *tensors; /* [count] */
    size_t total;        /* sum of numel */
    double *data;        /* [total], all tensors back to back in list order, zero-filled */
} ref_params;

/* A new zero-filled list for cfg (CLF_ERR_INVALID_ARG on a bad config, CLF_ERR_NO_MEMORY). */
clf_status ref_params_new(const ref_config *cfg, ref_params **out);
void ref_params_free(ref_params *p);
/* The tensor called name, or NULL. */
ref_tensor *ref_params_find(const ref_params *p, const char *name);
void ref_params_zero(ref_params *p);
/* Test initialisation from a seed (splitmix64): Xavier-uniform U(-a, a), a = sqrt(6 / (rows +
 * cols)), for 2-D weights, biases 0, LayerNorm weight 1 and bias 0. */
void ref_params_init(ref_params *p, uint64_t seed);

/* One batch. encdec: src [B, Ts], tgt_in [B, Tt], tgt_out [B, Tt]. decoder: tgt_in and tgt_out
 * are SPEC's tokens_in and tokens_out [B, T] (T = Tt); src and Ts are ignored. Every id must lie
 * in [0, vocab_size) and Ts, Tt in [1, max_len]. */
typedef struct ref_batch {
    int B, Ts, Tt;
    const int32_t *src;     /* [B, Ts] */
    const int32_t *tgt_in;  /* [B, Tt] */
    const int32_t *tgt_out; /* [B, Tt] */
} ref_batch;

/* One forward pass, the loss of SPEC (label smoothing eps in [0, 1], mean over the targets that
 * are not PAD; 0 when there are none) and, when grads is non-NULL, every parameter gradient.
 * logits [B, Tt, vocab_size] may be NULL. grads must come from ref_params_new with the same cfg;
 * it is OVERWRITTEN (zeroed first), and stays zero when no target is left. */
clf_status ref_forward_backward(const ref_config *cfg, const ref_params *params, const ref_batch *batch,
                                double label_smoothing, double *loss, double *logits /* [B, Tt, V] */,
                                ref_params *grads);

/* Test-only: write cfg, params, batch and what ref_forward_backward computed (loss, logits,
 * grads) to one safetensors file, so tools/ref_model_torch.py can check them against PyTorch.
 * Params are F64 under their names, grads as `grad.<name>`, `loss` [] and `logits` [B, Tt, V]
 * F64, the batch I32 under SPEC's batch names; `__metadata__` holds `format` = `clformer-ref`,
 * `config` (SPEC's JSON, dropout 0) and `label_smoothing`. */
clf_status ref_model_dump(const char *path, const ref_config *cfg, const ref_params *params,
                          const ref_batch *batch, double label_smoothing, double loss,
                          const double *logits /* [B, Tt, V] */, const ref_params *grads);

/* Test-only: the smallest |input| of any ReLU in the forward pass of this batch (INFINITY for
 * gelu), so a finite-difference test can stay clear of the kinks. */
clf_status ref_model_relu_margin(const ref_config *cfg, const ref_params *params, const ref_batch *batch,
                                 double *margin);

#endif
