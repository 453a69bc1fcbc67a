/* The Linear layer's elementwise work around the matrix products: bias + activation after the
 * forward GEMM, and act' fused with the bias-gradient column sums before the backward GEMMs.
 * Two layouts of the same arithmetic: GPUs take one element per work-item (coalesced columns, a
 * local-memory tree for the column sums); CPUs take whole rows in float16 vectors, one work-item per
 * block of rows, and leave per-block column partials that linear_bwd_db sums in block order. */
#include "common.cl"

/* GPU backward: a work-group covers DB_COLS columns with DB_ROWS row lanes (a power of two). */
#ifndef DB_COLS
#define DB_COLS 32
#endif
#ifndef DB_ROWS
#define DB_ROWS 8
#endif
/* CPU layout: rows per backward block (one column partial per block). */
#ifndef ROWS
#define ROWS 32
#endif
#ifndef CB
#define CB 8 /* float16 chunks of a row the backward takes at once (its sums stay in registers) */
#endif

/* dy times act' (ReLU reads y: y > 0 exactly where pre > 0, and ReLU'(0) = 0; GELU reads pre). */
inline float16 linear_dpre16(int act, float16 d, float16 y, float16 pre) {
    if (act == CLF_ACT_RELU) return select((float16)(0.0f), d, y > 0.0f);
    if (act == CLF_ACT_GELU) return d * clf_gelu_grad16(pre);
    return d;
}

inline void lin_store(float16 v, __global float *p, int k, int d) {
    if (16 * k + 16 <= d) {
        vstore16(v, k, p);
        return;
    }
    float t[16];
    vstore16(v, 0, t);
    for (int j = 0; 16 * k + j < d; j++) p[16 * k + j] = t[j];
}

/* pre holds x W^T from the GEMM: pre += b, y = act(pre). pre and y may be the same buffer (the
 * caller keeps no pre), then y ends as act(pre). GPU layout: global (out, n). */
__kernel void linear_fwd_epilogue(__global float *y /* [n, out] */, __global float *pre /* [n, out] */,
                                  __global const float *b /* [out], unread without bias */, int n, int out,
                                  int act, int has_bias) {
    int j = get_global_id(0), i = get_global_id(1);
    if (j >= out || i >= n) return;
    size_t k = (size_t)i * out + j;
    float v = pre[k];
    if (has_bias) v += b[j];
    pre[k] = v;
    y[k] = clf_act(act, v);
}

/* The same, CPU layout: work-item g takes rows frows g .. frows g + frows - 1 whole, in float16
 * chunks (an argument, not a define, so every width shares one build). global (ceil(n / frows)), local (1). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
linear_fwd_epilogue_rows(__global float *y /* [n, out] */, __global float *pre /* [n, out] */,
                         __global const float *b /* [out], unread without bias */, int n, int out, int act,
                         int has_bias, int frows) {
    int r0 = get_global_id(0) * frows, r1 = min(r0 + frows, n), chunks = (out + 15) / 16;
    for (int r = r0; r < r1; r++) {
        __global float *pr = pre + (size_t)r * out, *yr = y + (size_t)r * out;
        for (int k = 0; k < chunks; k++) {
            float16 v = clf_load16(pr, k, out);
            if (has_bias) v += clf_load16(b, k, out);
            lin_store(v, pr, k, out);
            lin_store(clf_act16(act, v), yr, k, out);
        }
    }
}

/* dpre = dy * act'(pre) into ws (not written when act is NONE: dpre is dy then) and, when has_db,
 * db += column sums of dpre. GPU layout: lane r of a column sums rows r, r + DB_ROWS, ... with
 * compensation, then the lanes meet in a fixed tree of compensated additions: the same order every
 * run, no atomics, and accurate when the terms cancel. Unread buffers may be anything. */
__kernel __attribute__((reqd_work_group_size(DB_COLS, DB_ROWS, 1))) void
linear_bwd_dpre(__global float *ws /* [n, out] */, __global float *db /* [out] */,
                __global const float *dy /* [n, out] */, __global const float *y /* [n, out] */,
                __global const float *pre /* [n, out] */, int n, int out, int act, int has_db) {
    __local float2 part[DB_ROWS][DB_COLS]; /* (sum, compensation) */
    int lc = get_local_id(0), lr = get_local_id(1);
    int j = get_group_id(0) * DB_COLS + lc;
    float s = 0.0f, c = 0.0f;
    if (j < out) {
        for (int i = lr; i < n; i += DB_ROWS) {
            size_t k = (size_t)i * out + j;
            float d = dy[k];
            if (act == CLF_ACT_RELU) d = y[k] > 0.0f ? d : 0.0f;
            else if (act == CLF_ACT_GELU) d *= clf_gelu_grad1(pre[k]);
            if (act != CLF_ACT_NONE) ws[k] = d;
            CLF_TWO_SUM_STEP(float, s, c, d);
        }
    }
    part[lr][lc] = (float2)(s, c);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = DB_ROWS / 2; h > 0; h >>= 1) {
        if (lr < h) {
            float2 a = part[lr][lc], b = part[lr + h][lc];
            float t = a.x, e = a.y + b.y;
            CLF_TWO_SUM_STEP(float, t, e, b.x);
            part[lr][lc] = (float2)(t, e);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (has_db && lr == 0 && j < out) {
        float2 a = part[0][lc];
        float t = db[j], e = a.y;
        CLF_TWO_SUM_STEP(float, t, e, a.x);
        db[j] = t + e;
    }
}

/* The rows of block g, across chunks k0 .. k0 + KN - 1 of each row (a contiguous run, one stream per
 * array): dpre stored (act != NONE), its column sums compensated in s[] / c[]. LD / ST load and store
 * chunk k; a macro, so full runs take no bounds test and unroll into registers (UNROLL: the pragma for
 * a constant KN, nothing for the tail's count, which the compiler would warn it cannot unroll). */
#define LIN_UNROLL _Pragma("unroll")
#define LIN_NO_UNROLL
#define LIN_BWD_BLOCK(LD, ST, KN, UNROLL)                                                               \
    for (int i = 0; i < rows; i++) {                                                                    \
        size_t off = (size_t)(r0 + i) * out;                                                            \
        UNROLL for (int kk = 0; kk < (KN); kk++) {                                                      \
            int k = k0 + kk;                                                                            \
            float16 d = LD(dy + off);                                                                   \
            if (act == CLF_ACT_RELU) d = linear_dpre16(act, d, LD(y + off), d);                             \
            else if (act == CLF_ACT_GELU) d = linear_dpre16(act, d, d, LD(pre + off));                      \
            if (act != CLF_ACT_NONE) ST(d, ws + off);                                                       \
            CLF_TWO_SUM_STEP(float16, s[kk], c[kk], d);                                                 \
        }                                                                                               \
    }
#define LIN_LD_FULL(p) vload16(k, p)
#define LIN_ST_FULL(v, p) vstore16(v, k, p)
#define LIN_LD_TAIL(p) clf_load16(p, k, out)
#define LIN_ST_TAIL(v, p) lin_store(v, p, k, out)

/* The same, CPU layout: work-item g takes rows ROWS g .. ROWS g + ROWS - 1, CB chunks of columns at a
 * time, and leaves the block's column sums and their compensations in part[g] (when has_db). Each item
 * owns its rows: no two items touch one element. global (ceil(n / ROWS)), local (1). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
linear_bwd_dpre_rows(__global float *ws /* [n, out] */, __global float *part /* [blocks, 2, out] from part_off */,
                     __global const float *dy /* [n, out] */, __global const float *y /* [n, out] */,
                     __global const float *pre /* [n, out] */, ulong part_off, int n, int out, int act,
                     int has_db) {
    int g = get_global_id(0), r0 = g * ROWS, rows = min(ROWS, n - r0), chunks = (out + 15) / 16;
    __global float *ps = part + part_off + (size_t)g * 2 * out, *pc = ps + out;
    for (int k0 = 0; k0 < chunks; k0 += CB) {
        float16 s[CB], c[CB];
        for (int kk = 0; kk < CB; kk++) s[kk] = c[kk] = (float16)(0.0f);
        int kn = min(CB, chunks - k0);
        if (16 * (k0 + CB) <= out) {
            LIN_BWD_BLOCK(LIN_LD_FULL, LIN_ST_FULL, CB, LIN_UNROLL)
        } else {
            LIN_BWD_BLOCK(LIN_LD_TAIL, LIN_ST_TAIL, kn, LIN_NO_UNROLL)
        }
        if (has_db)
            for (int kk = 0; kk < kn; kk++) {
                lin_store(s[kk], ps, k0 + kk, out);
                lin_store(c[kk], pc, k0 + kk, out);
            }
    }
}

/* db += the blocks' column partials, summed in block order with compensation, the addition to db
 * included. global (ceil(out / 16)). */
__kernel void linear_bwd_db(__global float *db /* [out] */,
                            __global const float *part /* [blocks, 2, out] from part_off */, ulong part_off,
                            int blocks, int out) {
    int k = get_global_id(0);
    if (k >= (out + 15) / 16) return;
    float16 s = (float16)(0.0f), c = (float16)(0.0f);
    for (int g = 0; g < blocks; g++) {
        __global const float *ps = part + part_off + (size_t)g * 2 * out;
        CLF_TWO_SUM_STEP(float16, s, c, clf_load16(ps, k, out));
        c += clf_load16(ps + out, k, out);
    }
    float16 t = clf_load16(db, k, out), e = c;
    CLF_TWO_SUM_STEP(float16, t, e, s);
    lin_store(t + e, db, k, out);
}
