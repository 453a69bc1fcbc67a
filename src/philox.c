/* Philox4x32-10 on the host: the same bits as cl/common.cl. */
#include <math.h>

#include "clformer/philox.h"

void clf_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

uint32_t clf_dropout_threshold(float p) {
    if (!(p > 0)) return 0;
    double t = nearbyint((double)p * 16777216.0);
    return t >= 16777216.0 ? 16777216u : (uint32_t)t;
}

bool clf_dropout_keep(uint32_t i, uint32_t site, uint32_t step, uint64_t seed, uint32_t threshold) {
    uint32_t ctr[4] = {i >> 2, site, step, 0u}, key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)}, r[4];
    clf_philox4x32_10(ctr, key, r);
    return (r[i & 3u] >> 8) >= threshold;
}
