/* The key/value cache of incremental decoding: per layer, keys (or values) of every position fed so
 * far, [B, T, d] with T the decode's positions. A step appends one row per sequence; beam search
 * reorders whole sequences. Plain copies, moved as bits (uint) so no float rule (denormal flushing)
 * can touch them. */
#include "common.cl"

/* cache[b, pos[0]] = x[b] for every sequence b; global (d, B). The position lives on the device (the
 * step's input), so the graph never waits on the host; one outside [0, T) writes nothing. */
__kernel void kv_cache_append(__global uint *cache /* [B, T, d] */, __global const uint *x /* [B, d] */,
                              __global const int *pos /* [1] */, int B, int T, int d) {
    const int c = get_global_id(0), b = get_global_id(1);
    const int p = pos[0];
    if (c >= d || b >= B || p < 0 || p >= T) return;
    cache[((size_t)b * T + p) * d + c] = x[(size_t)b * d + c];
}

/* out[b, j] = in[idx[b], j] for the first n positions of each sequence; global (n * d, B). out and in
 * must not overlap. */
__kernel void kv_cache_gather(__global uint *out /* [B, T, d] */, __global const uint *in /* [B, T, d] */,
                              __global const int *idx /* [B] */, int B, int T, int n, int d) {
    const int e = get_global_id(0), b = get_global_id(1);
    if (e >= n * d || b >= B) return;
    out[(size_t)b * T * d + e] = in[(size_t)idx[b] * T * d + e];
}
