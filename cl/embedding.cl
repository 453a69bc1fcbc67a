/* Token embedding plus the positional table, and a deterministic backward: a stable counting sort
 * of the token ids groups the rows of each id in ascending order, then each id sums its rows in that
 * order. No float atomics, so dtable is bit-identical between runs. WG work-items share a row or an
 * id, taking its float8 chunks in turn (WG = 1 on CPUs: the float8 loops are the vectors). */
#include "common.cl"

/* The float8 chunks and the scalar tail must round alike, so nothing is fused. */
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG
#define WG 64
#endif
#ifndef SORT_WG
#define SORT_WG 256
#endif

/* out[r] = table[tok[r]] * scale + pe[r % t + offset]; global (WG, n), local (WG, 1). pe is not read
 * when use_pe == 0 (it may be NULL). offset = offset_buf[0] when use_offset (incremental decoding: the
 * step's position, read on the device), else 0; a position past pe's max_len rows gives a NaN row
 * (the host checks positions, so this only shows a bug). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void embedding_fwd(__global float *out /* [n, d] */, __global const float *table /* [vocab, d] */,
                   __global const int *tok /* [n] */, __global const float *pe /* [max_len, d] */,
                   __global const int *offset_buf /* [1] */, int n, int t, int d, int use_pe, int use_offset,
                   int max_len, float scale) {
    int l = get_local_id(0), r = get_group_id(1);
    if (r >= n) return;
    __global const float *e = table + (size_t)tok[r] * d;
    const int pos = r % t + (use_offset ? offset_buf[0] : 0);
    __global float *o = out + (size_t)r * d;
    if (use_pe && (pos < 0 || pos >= max_len)) {
        for (int c = l; c < d; c += WG) o[c] = NAN;
        return;
    }
    __global const float *p = use_pe ? pe + (size_t)pos * d : e;
    for (int k = l; k < d / 8; k += WG) {
        float8 v = vload8(k, e) * scale;
        vstore8(use_pe ? v + vload8(k, p) : v, k, o);
    }
    for (int c = d / 8 * 8 + l; c < d; c += WG) {
        float v = e[c] * scale;
        o[c] = use_pe ? v + p[c] : v;
    }
}

/* Load the ids [base, base + SORT_WG) into blk (-1 past n), *v = item lid's, and rank it in the
 * block: .x how many earlier items hold v, .y how many hold it in all. O(SORT_WG) per item: cheap
 * next to the sums. Every item must call it. */
inline int2 block_rank(__local int *blk, __global const int *tok, int base, int n, int lid, int *v) {
    const int m = min(SORT_WG, n - base);
    *v = lid < m ? tok[base + lid] : -1;
    blk[lid] = *v;
    barrier(CLK_LOCAL_MEM_FENCE);
    int2 rc = (int2)(0, 0);
    for (int j = 0; j < m; j++)
        if (blk[j] == *v) {
            rc.x += j < lid;
            rc.y++;
        }
    return rc;
}

/* One work-group of SORT_WG items (1 on CPUs). Leaves end[v] (ws[v]) = one past the last slot of id
 * v in rows[], and rows[] (ws[vocab + k]) = the row indices grouped by id, ascending within each id:
 * a stable counting sort, so the result is unique. The tokens are taken in blocks of SORT_WG; within
 * a block the first item of each id speaks for it, so no atomics are needed. */
__kernel __attribute__((reqd_work_group_size(SORT_WG, 1, 1)))
void embedding_bwd_sort(__global int *ws /* [vocab + n]: end, rows */, __global const int *tok /* [n] */, int n,
                        int vocab) {
    __global int *end = ws, *rows = ws + vocab;
    __local int blk[SORT_WG];
    __local int tot[SORT_WG];
    int lid = get_local_id(0);
    for (int v = lid; v < vocab; v += SORT_WG) end[v] = 0;
    barrier(CLK_GLOBAL_MEM_FENCE);

    /* counts per id */
    for (int base = 0; base < n; base += SORT_WG) {
        int v;
        int2 rc = block_rank(blk, tok, base, n, lid, &v);
        if (v >= 0 && rc.x == 0) end[v] += rc.y;
        barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
    }

    /* exclusive scan of the counts: each item owns a contiguous range of ids */
    int chunk = (vocab + SORT_WG - 1) / SORT_WG;
    int lo = min(lid * chunk, vocab), hi = min(lo + chunk, vocab);
    int s = 0;
    for (int v = lo; v < hi; v++) s += end[v];
    tot[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    int off = 0;
    for (int j = 0; j < lid; j++) off += tot[j];
    for (int v = lo; v < hi; v++) {
        int c = end[v];
        end[v] = off;
        off += c;
    }
    barrier(CLK_GLOBAL_MEM_FENCE);

    /* scatter in row order; end[v] moves from the start of id v's slots to one past their end */
    for (int base = 0; base < n; base += SORT_WG) {
        int v;
        int2 rc = block_rank(blk, tok, base, n, lid, &v);
        if (v >= 0) rows[end[v] + rc.x] = base + lid;
        barrier(CLK_GLOBAL_MEM_FENCE);
        if (v >= 0 && rc.x == 0) end[v] += rc.y;
        barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
    }
}

/* One compensated (Kahan) step, for float and float8 alike: one id may own every row. */
#define KAHAN_ADD(s, comp, x)                                                                    \
    do {                                                                                         \
        y_ = (x) - (comp);                                                                       \
        t_ = (s) + y_;                                                                           \
        (comp) = (t_ - (s)) - y_;                                                                \
        (s) = t_;                                                                                \
    } while (0)

/* dtable[v] += scale * (sum of dout[r] over the rows r of id v, ascending); global (WG, vocab),
 * local (WG, 1). Ids without rows are left untouched. The same additions happen in the same order
 * whatever WG is, so every WG gives the same bits. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void embedding_bwd_sum(__global float *dtable /* [vocab, d] */, __global const float *dout /* [n, d] */,
                       __global const int *ws /* [vocab + n]: end, rows */, int d, int vocab, float scale) {
    int l = get_local_id(0), v = get_group_id(1);
    if (v >= vocab) return;
    __global const int *end = ws, *rows = ws + vocab;
    int k0 = v ? end[v - 1] : 0, k1 = end[v];
    if (k0 == k1) return; /* uniform over the group */
    __global float *o = dtable + (size_t)v * d;
    for (int q = l; q < d / 8; q += WG) {
        float8 s = (float8)(0.0f), comp = (float8)(0.0f), y_, t_;
        for (int k = k0; k < k1; k++) KAHAN_ADD(s, comp, vload8(q, dout + (size_t)rows[k] * d));
        vstore8(vload8(q, o) + scale * s, q, o);
    }
    for (int c = d / 8 * 8 + l; c < d; c += WG) {
        float s = 0.0f, comp = 0.0f, y_, t_;
        for (int k = k0; k < k1; k++) KAHAN_ADD(s, comp, dout[(size_t)rows[k] * d + c]);
        o[c] += scale * s;
    }
}
