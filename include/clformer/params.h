/* The model's parameters: SPEC's names and shapes, their place in one flat buffer (2-D weights
 * first, so weight decay covers one prefix), and the paper's initialisation. */
#ifndef CLFORMER_PARAMS_H
#define CLFORMER_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clformer/config.h"

typedef enum { CLF_INIT_XAVIER, CLF_INIT_ZERO, CLF_INIT_ONE } clf_init;

typedef struct clf_param_info {
    char name[128];
    int rank;         /* 1 or 2 */
    int shape[2];     /* [rows, cols] or [n] */
    size_t count;     /* elements */
    size_t offset;    /* in floats, within the flat buffer, aligned */
    clf_init init;
} clf_param_info;

typedef struct clf_param_layout {
    clf_param_info *params;
    size_t n;
    size_t total;   /* floats in the flat buffer, padding included */
    size_t n_decay; /* floats [0, n_decay) are 2-D weights (weight decay applies) */
} clf_param_layout;

/* The parameters of a configuration, in checkpoint order, each offset a multiple of align floats. */
clf_status clf_param_layout_build(const clf_config *c, size_t align, clf_param_layout *out);
void clf_param_layout_free(clf_param_layout *l);
const clf_param_info *clf_param_find(const clf_param_layout *l, const char *name);

/* Xavier-uniform for 2-D weights, zero biases, LayerNorm weight 1 and bias 0; flat has l->total
 * floats (padding left zero). Deterministic in seed. */
void clf_params_init(const clf_param_layout *l, uint64_t seed, float *flat);

#endif
