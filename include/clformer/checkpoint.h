/* Checkpoints (SPEC "Checkpoint: safetensors"): the model's parameters under SPEC's names, the
 * AdamW moments when asked, and metadata: format, config, step and what resuming needs. */
#ifndef CLFORMER_CHECKPOINT_H
#define CLFORMER_CHECKPOINT_H

#include <stdbool.h>

#include "clformer/model.h"
#include "clformer/safetensors.h"

/* One extra metadata entry a checkpoint carries: key = value, both strings. */
typedef struct clf_meta_item {
    const char *key, *value;
} clf_meta_item;

/* Write m's parameters (and with_optimizer: optim.m.*, optim.v.* and optim_step) to path atomically,
 * with metadata format=clformer, config, step and the extra items. */
clf_status clf_checkpoint_save(const char *path, clf_model *m, long step, bool with_optimizer,
                               const clf_meta_item *extra, size_t n_extra);

/* Open a checkpoint and read its configuration (checks format and config). The file stays open
 * for clf_checkpoint_load and clf_st_meta; close it with clf_st_close. */
clf_status clf_checkpoint_open(const char *path, clf_st_file **f, clf_config *cfg);

/* Copy the parameters into m (whose config must equal the file's: a mismatch names the field), and
 * with optimizer the AdamW state too (an error if the file has none). Missing, extra or misshapen
 * tensors are refused with their names. */
clf_status clf_checkpoint_load(clf_st_file *f, clf_model *m, bool optimizer);

/* The first field that differs between two configurations ("d_model 64 != 128"), or CLF_OK. */
clf_status clf_config_compare(const clf_config *want, const clf_config *have);

#endif
