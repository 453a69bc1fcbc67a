/* xoshiro256** (Blackman and Vigna) seeded through splitmix64, as its authors recommend. */
#include "clformer/rng.h"

#include <stddef.h>

uint64_t clf_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void clf_rng_seed(clf_rng *r, uint64_t seed) {
    uint64_t sm = seed;
    for (int i = 0; i < CLF_RNG_WORDS; i++) r->s[i] = clf_splitmix64(&sm);
    /* splitmix64 is a bijection of its counter, so four zero outputs in a row cannot happen;
     * keep the guard anyway since an all-zero state would be stuck forever. */
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t clf_rng_next(clf_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t clf_rng_below(clf_rng *r, uint64_t n) {
    if (n == 0) return 0;
    /* Reject the lowest 2^64 mod n values so the rest split evenly into n classes. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = clf_rng_next(r);
        if (x >= threshold) return x % n;
    }
}

double clf_rng_uniform(clf_rng *r) { return (double)(clf_rng_next(r) >> 11) * 0x1p-53; }

void clf_rng_save(const clf_rng *r, uint64_t out[CLF_RNG_WORDS]) {
    for (int i = 0; i < CLF_RNG_WORDS; i++) out[i] = r->s[i];
}

clf_status clf_rng_load(clf_rng *r, const uint64_t in[CLF_RNG_WORDS]) {
    if (!r || !in) return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_rng_load: null argument");
    if (!(in[0] | in[1] | in[2] | in[3]))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_rng_load: an all-zero state is not a valid generator state");
    for (int i = 0; i < CLF_RNG_WORDS; i++) r->s[i] = in[i];
    return CLF_OK;
}
