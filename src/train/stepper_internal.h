/* The stepper's state, shared by its bookkeeping and full path (stepper.c) and its cached path
 * (incremental.c). */
#ifndef CLFORMER_TRAIN_STEPPER_INTERNAL_H
#define CLFORMER_TRAIN_STEPPER_INTERNAL_H

#include "stepper.h"

struct clf_decode_state; /* the cached path's device state (incremental.c) */

struct clf_stepper {
    clf_model_graph *mg;
    int B, Ts, cap, V;
    int n;                        /* positions fed to every row */
    bool slid;                    /* a row overflowed cap: full recompute from then on */
    bool src_moved;               /* the last reorder changed some row's source */
    int32_t *src;                 /* [B, Ts] */
    int32_t *hist;                /* [B, cap]: each row's tokens */
    int32_t *scratch, *tout;      /* [B, cap]: a full run's inputs (scratch [B, max(cap, Ts)]) */
    struct clf_decode_state *kv;  /* NULL on the full path */
};

/* The cached path: set up for s's rows and encode the source; run position s->n - 1 (just stored
 * in s->hist) and write logits [B, V] unless NULL; gather rows by parent; release. */
clf_status clf_stepper_cached_begin(clf_stepper *s);
clf_status clf_stepper_cached_step(clf_stepper *s, float *logits);
clf_status clf_stepper_cached_reorder(clf_stepper *s, const int *parent);
void clf_stepper_cached_end(clf_stepper *s);

#endif
