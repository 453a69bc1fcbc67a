/* The key/value cache of incremental decoding (cl/kv_cache.cl): per layer, the keys (or values) of
 * every position decoded so far, [B, T, d] for B sequences of up to T positions. */
#ifndef CLFORMER_OPS_KV_CACHE_H
#define CLFORMER_OPS_KV_CACHE_H

#include "clformer/device.h"

/* cache[b, pos[0]] = x[b] for b < B; every other row is left as it was. pos is read on the device
 * (a position outside [0, T) writes nothing: the caller checks it before upload). */
clf_status clf_kv_cache_append(clf_device *dev, cl_mem cache /* [B, T, d] */, cl_mem x /* [B, d] */,
                               cl_mem pos /* int32 [1] */, int B, int T, int d);

/* out[b, j] = in[idx[b], j] for b < B, j < n (n <= T positions filled); out and in distinct buffers.
 * idx holds values in [0, B), trusted (checked on the host before upload). */
clf_status clf_kv_cache_gather(clf_device *dev, cl_mem out /* [B, T, d] */, cl_mem in /* [B, T, d] */,
                               cl_mem idx /* int32 [B] */, int B, int T, int n, int d);

#endif
