/* The dataset object shared by the task generator and the file readers: accessors and the
 * held-out hash set. */
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

clf_dataset *clf_dataset_alloc(clf_data_kind kind) {
    clf_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return NULL;
    ds->kind = kind;
    ds->task = CLF_TASK_NONE;
    return ds;
}

void clf_dataset_free(clf_dataset *ds) {
    if (!ds) return;
    free(ds->bytes);
    free(ds->pairs);
    free(ds->hset);
    free(ds);
}

clf_data_kind clf_dataset_kind(const clf_dataset *ds) { return ds->kind; }

size_t clf_dataset_heldout_count(const clf_dataset *ds) {
    return ds->kind == CLF_DATA_LM ? ds->n_bytes - ds->lm_train : ds->n_heldout;
}

size_t clf_dataset_train_count(const clf_dataset *ds) {
    return ds->kind == CLF_DATA_LM ? ds->lm_train : ds->n_train;
}

void clf_dataset_max_lengths(const clf_dataset *ds, int *max_src, int *max_tgt) {
    if (max_src) *max_src = ds->max_src;
    if (max_tgt) *max_tgt = ds->max_tgt;
}

clf_status clf_dataset_heldout_pair(const clf_dataset *ds, size_t i, const uint8_t **src, int *src_len,
                                    const uint8_t **tgt, int *tgt_len) {
    if (!ds || !src || !src_len || !tgt || !tgt_len)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_dataset_heldout_pair: null argument");
    if (ds->kind != CLF_DATA_SEQ2SEQ)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_dataset_heldout_pair: an lm dataset has no pairs");
    if (i >= ds->n_heldout)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_dataset_heldout_pair: index %zu out of range (%zu pairs)", i,
                         ds->n_heldout);
    const clf_pair *p = &ds->pairs[ds->n_train + i];
    *src = ds->bytes + p->src_off;
    *src_len = p->src_len;
    *tgt = ds->bytes + p->tgt_off;
    *tgt_len = p->tgt_len;
    return CLF_OK;
}

static size_t slot_of(const uint8_t *src, int len, size_t cap) {
    return (size_t)clf_fnv1a(CLF_FNV_OFFSET, src, (size_t)len) & (cap - 1);
}

long clf_dataset_find_heldout(const clf_dataset *ds, const uint8_t *src, int len) {
    if (!ds->hset_cap || len < 0) return -1;
    for (size_t s = slot_of(src, len, ds->hset_cap);; s = (s + 1) & (ds->hset_cap - 1)) {
        size_t v = ds->hset[s];
        if (!v) return -1;
        const clf_pair *p = &ds->pairs[ds->n_train + v - 1];
        if (p->src_len == len && memcmp(ds->bytes + p->src_off, src, (size_t)len) == 0) return (long)(v - 1);
    }
}

bool clf_dataset_is_heldout(const clf_dataset *ds, const uint8_t *src, int len) {
    return ds && src && ds->kind == CLF_DATA_SEQ2SEQ && clf_dataset_find_heldout(ds, src, len) >= 0;
}

bool clf_dataset_heldout_insert(clf_dataset *ds, size_t i) {
    const clf_pair *p = &ds->pairs[ds->n_train + i];
    const uint8_t *src = ds->bytes + p->src_off;
    size_t s = slot_of(src, p->src_len, ds->hset_cap);
    for (; ds->hset[s]; s = (s + 1) & (ds->hset_cap - 1)) {
        const clf_pair *q = &ds->pairs[ds->n_train + ds->hset[s] - 1];
        if (q->src_len == p->src_len && memcmp(ds->bytes + q->src_off, src, (size_t)p->src_len) == 0) return false;
    }
    ds->hset[s] = i + 1;
    return true;
}

clf_status clf_dataset_alloc_heldout_set(clf_dataset *ds, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    free(ds->hset);
    ds->hset = calloc(cap, sizeof *ds->hset);
    if (!ds->hset) return CLF_ERROR(CLF_ERR_NO_MEMORY, "held-out set of %zu slots", cap);
    ds->hset_cap = cap;
    return CLF_OK;
}
