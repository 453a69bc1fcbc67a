/* Token embedding with the sinusoidal positional term (SPEC, Forward pass), forward and backward. */
#ifndef CLFORMER_OPS_EMBEDDING_H
#define CLFORMER_OPS_EMBEDDING_H

#include <stddef.h>

#include "clformer/device.h"

/* The sinusoidal table of SPEC, PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(...), computed in double
 * on the host and rounded to float: out has max_len * d floats. */
void clf_positional_table(float *out /* [max_len, d] */, int max_len, int d);

/* out[r] = E[tok[r]] * scale + pe[r % t], rows r = 0..n-1 where n = batch * t (position = r % t). Token ids
 * are trusted (checked on the host before upload). pe may be NULL (no positional term). */
clf_status clf_embedding_fwd(clf_device *dev, cl_mem out /* [n, d] */, cl_mem table /* [vocab, d] */,
                             cl_mem tokens /* int32 [n] */, cl_mem pe /* [max_len, d] or NULL */,
                             int n, int t, int d, int vocab, float scale);

/* The same with the positions shifted by offset[0], read on the device (incremental decoding feeds
 * one position at a time): out[r] = E[tok[r]] * scale + pe[r % t + offset[0]]. offset NULL: 0. A
 * position at or past pe's rows gives a NaN row; callers check positions before they upload them. */
clf_status clf_embedding_fwd_offset(clf_device *dev, cl_mem out /* [n, d] */, cl_mem table /* [vocab, d] */,
                                    cl_mem tokens /* int32 [n] */, cl_mem pe /* [max_len, d] or NULL */,
                                    cl_mem offset /* int32 [1] or NULL */, int n, int t, int d, int vocab,
                                    float scale);

/* How the kernels are launched: wg work-items per row (forward) or per id (backward) and sort_wg for
 * the sort's single work-group; 0 picks the device's default (1 and 1 on CPUs, where an item's float8
 * loops are the vectors and barriers are dear; 64 and 256 elsewhere). The backward gives the same
 * bits for every choice. */
typedef struct clf_embedding_cfg {
    int wg, sort_wg;
} clf_embedding_cfg;

clf_status clf_embedding_fwd_cfg(clf_device *dev, cl_mem out /* [n, d] */, cl_mem table /* [vocab, d] */,
                                 cl_mem tokens /* int32 [n] */, cl_mem pe /* [max_len, d] or NULL */, int n, int t,
                                 int d, int vocab, float scale, const clf_embedding_cfg *cfg);
clf_status clf_embedding_bwd_cfg(clf_device *dev, cl_mem dtable /* [vocab, d] */, cl_mem dout /* [n, d] */,
                                 cl_mem tokens /* int32 [n] */, cl_mem workspace, int n, int d, int vocab,
                                 float scale, const clf_embedding_cfg *cfg);

/* dtable += scale * sum over rows r with tok[r] == v of dout[r], deterministically (a fixed summation order,
 * bit-identical between runs, no float atomics). */
clf_status clf_embedding_bwd(clf_device *dev, cl_mem dtable /* [vocab, d] */, cl_mem dout /* [n, d] */,
                             cl_mem tokens /* int32 [n] */, cl_mem workspace, int n, int d, int vocab, float scale);

/* Floats of workspace clf_embedding_bwd needs: vocab + n (ints stored in float slots). */
size_t clf_embedding_workspace_floats(int n, int d, int vocab);

#endif
