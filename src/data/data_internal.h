/* What the data files share: the dataset layout, the held-out hash set, task drawing. */
#ifndef CLFORMER_DATA_INTERNAL_H
#define CLFORMER_DATA_INTERNAL_H

#include "clformer/data.h"
#include "host_util.h" /* clf_fnv1a: the fingerprints */

/* A pair as offsets into clf_dataset.bytes. */
typedef struct clf_pair {
    size_t src_off, tgt_off;
    int src_len, tgt_len;
} clf_pair;

typedef enum { CLF_TASK_NONE = -1, CLF_TASK_REVERSE, CLF_TASK_SORT, CLF_TASK_ADD, CLF_TASK_COPY, CLF_TASK_RANDOM } clf_task_id;

struct clf_dataset {
    clf_data_kind kind;
    clf_task_id task;        /* CLF_TASK_NONE for files */
    clf_task_options topt;   /* tasks only */
    uint8_t *bytes;          /* files: the whole file; tasks: the held-out pairs' bytes */
    size_t n_bytes;
    clf_pair *pairs;         /* seq2seq: [0, n_train) train (files), then n_heldout held-out */
    size_t n_train, n_heldout;
    size_t *hset;            /* open addressing over held-out indices + 1 (0 = empty) */
    size_t hset_cap;         /* a power of two, >= 2 * n_heldout */
    int max_src, max_tgt;    /* longest source / target in bytes */
    size_t lm_train;         /* lm: bytes [0, lm_train) train, [lm_train, n_bytes) held out */
    uint64_t fingerprint;    /* identifies the content and split, for resume checks */
};

/* A zeroed dataset of the given kind (NULL when out of memory). */
clf_dataset *clf_dataset_alloc(clf_data_kind kind);

/* An empty held-out set sized for n pairs, then add held-out pair i to it: false (and nothing
 * added) when a held-out pair with the same source is already there. */
clf_status clf_dataset_alloc_heldout_set(clf_dataset *ds, size_t n);
bool clf_dataset_heldout_insert(clf_dataset *ds, size_t i);

/* Index of the held-out pair whose source is src[0..len), or -1. */
long clf_dataset_find_heldout(const clf_dataset *ds, const uint8_t *src, int len);

/* Draw one training pair of a task, skipping held-out sources. src and tgt must hold
 * ds->max_src and ds->max_tgt bytes. */
void clf_task_draw_train(const clf_dataset *ds, clf_rng *r, uint8_t *src, int *src_len, uint8_t *tgt,
                         int *tgt_len);

#endif
