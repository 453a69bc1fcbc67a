/* The built-in task "random": pairs of uniformly random bytes of fixed lengths, for benchmarks. With
 * fixed lengths every batch has the same shape and no PAD, as a framework benchmark feeds its model.
 *
 * Name: "random" (sources of 64 bytes, targets of 64 positions) or "random:S:T": sources of S bytes
 * and targets of T - 1 bytes, so the decoder sees T positions (BOS + bytes in, bytes + EOS out). The
 * target does not depend on the source: nothing is learnable beyond the byte frequencies. */
#ifndef CLFORMER_DATA_RANDOM_TASK_H
#define CLFORMER_DATA_RANDOM_TASK_H

#include <stdbool.h>

#include "data/data_internal.h"

/* Whether name asks for this task ("random" or "random:..."). */
bool clf_task_is_random(const char *name);

/* The dataset: opt->n_heldout held-out pairs (fewer when the sources are too short to give that many
 * distinct ones); opt NULL means the defaults. */
clf_status clf_dataset_random(const char *name, uint64_t seed, const clf_task_options *opt, clf_dataset **out);

/* One pair: ds->max_src and ds->max_tgt random bytes. */
void clf_random_draw(const clf_dataset *ds, clf_rng *r, uint8_t *src, int *src_len, uint8_t *tgt, int *tgt_len);

#endif
