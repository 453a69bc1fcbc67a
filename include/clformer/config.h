/* The model configuration of SPEC ("Model configuration"), stored in every checkpoint. */
#ifndef CLFORMER_CONFIG_H
#define CLFORMER_CONFIG_H

#include <stdbool.h>

#include "clformer/status.h"

typedef enum { CLF_ARCH_ENCDEC = 0, CLF_ARCH_DECODER } clf_arch;
typedef enum { CLF_NORM_POST = 0, CLF_NORM_PRE } clf_norm;
typedef enum { CLF_ACTIVATION_RELU = 0, CLF_ACTIVATION_GELU } clf_activation_kind;

typedef struct clf_config {
    clf_arch arch;
    int vocab_size;
    int d_model, n_heads, d_ff;
    int n_enc_layers, n_dec_layers;
    int max_len;
    clf_norm norm;
    clf_activation_kind activation;
    float ln_eps;
    float dropout;
    bool tie_embeddings;
} clf_config;

/* SPEC's defaults. */
clf_config clf_config_default(void);

/* Check every field; the message names the field and the rule ("n_heads 3 does not divide d_model 128"). */
clf_status clf_config_validate(const clf_config *c);

/* The JSON object of SPEC's checkpoint metadata (malloc'ed string), and its parser, which refuses
 * missing fields, wrong types and unknown values with a message naming the field. */
char *clf_config_to_json(const clf_config *c);
clf_status clf_config_from_json(const char *json, clf_config *out);

const char *clf_arch_name(clf_arch a);
const char *clf_norm_name(clf_norm n);
const char *clf_activation_name(clf_activation_kind a);
/* Parse a name ("encdec", "pre", "gelu"); CLF_ERR_INVALID_ARG naming the choices otherwise. */
clf_status clf_arch_parse(const char *s, clf_arch *out);
clf_status clf_norm_parse(const char *s, clf_norm *out);
clf_status clf_activation_parse(const char *s, clf_activation_kind *out);

#endif
