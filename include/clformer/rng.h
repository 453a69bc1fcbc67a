/* A small seedable PRNG for the data pipeline (xoshiro256**, seeded through splitmix64).
 * It orders and generates training data on the host; dropout uses Philox on the device instead.
 * The state is four 64-bit words that a checkpoint stores, so a resumed run draws the same numbers. */
#ifndef CLFORMER_RNG_H
#define CLFORMER_RNG_H

#include <stdint.h>

#include "clformer/status.h"

#define CLF_RNG_WORDS 4

/* A value type (not opaque): it lives inside other structs and is copied to snapshot a stream. */
typedef struct clf_rng {
    uint64_t s[CLF_RNG_WORDS];
} clf_rng;

/* splitmix64: one step of the mixer used for seeding and for deriving sub-seeds. */
uint64_t clf_splitmix64(uint64_t *state);

/* Seed from any 64-bit value (0 included); different seeds give unrelated streams. */
void clf_rng_seed(clf_rng *r, uint64_t seed);

/* Next 64 random bits. */
uint64_t clf_rng_next(clf_rng *r);

/* Uniform in [0, n) without modulo bias; 0 when n == 0. */
uint64_t clf_rng_below(clf_rng *r, uint64_t n);

/* Uniform in [0, 1) with 53 random bits. */
double clf_rng_uniform(clf_rng *r);

/* Copy the state out / in. An all-zero state is not a valid xoshiro state: load rejects it
 * with CLF_ERR_INVALID_ARG. */
void clf_rng_save(const clf_rng *r, uint64_t out[CLF_RNG_WORDS]);
clf_status clf_rng_load(clf_rng *r, const uint64_t in[CLF_RNG_WORDS]);

#endif
