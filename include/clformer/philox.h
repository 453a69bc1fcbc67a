/* The host twin of cl/common.cl's Philox4x32-10 and dropout decision, for references and tests. */
#ifndef CLFORMER_PHILOX_H
#define CLFORMER_PHILOX_H

#include <stdbool.h>
#include <stdint.h>

void clf_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

/* round(p * 2^24): the threshold the kernels compare with; p in [0, 1). */
uint32_t clf_dropout_threshold(float p);

/* Whether dropout keeps element i of `site` at `step` under a 64-bit seed. */
bool clf_dropout_keep(uint32_t i, uint32_t site, uint32_t step, uint64_t seed, uint32_t threshold);

#endif
