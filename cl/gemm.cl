/* clformer's own SGEMM for CPU-like devices: B (and optionally A) packed into panels that absorb
 * the transposes, then one work-item per MR x 32 tile of C held in float16 registers, no local
 * memory (PoCL runs a work-group's items one after another on one core: explicit vectors are what
 * reach the FMA units). Work-groups run along M, so the items of a group share one B panel in cache.
 *
 * Layouts, for one batch entry (z) and op(X) the operand after its transpose:
 *   packed B: panels of 32 columns, [ceil(n/32)][k][32], zero past n;
 *   packed A: panels of MR rows,    [ceil(m/MR)][k][MR], zero past m;
 *   direct A: element (i, kk) of op(A) at a_off + i * a_rs + kk * a_ks (a_ps = MR * a_rs);
 *   B in place (B_INPLACE): element (kk, j) of op(B) at b_off + j * b_js + kk * b_ks (b_ps = 32 * b_js).
 * Split K: z = batch entry * splits + part; each part writes its partial tile to a dense scratch
 * [batch][splits][m][n] and gemm_reduce_split sums the parts in a fixed order (deterministic).
 * Epilogue (EPI_PARAMS of cl/common.cl, in the kernel that writes C): a linear layer's bias and
 * activation without another pass over C. */
#include "common.cl"

#ifndef MR
#define MR 8
#endif
#ifndef B_INPLACE
#define B_INPLACE 0 /* 1: B read where it lies (b_js, b_ks), not from panels */
#endif
#define NR 32
#ifndef DM
#define DM 4 /* gemm_dot: rows of C per work-item */
#endif
#ifndef DN
#define DN 4 /* gemm_dot: columns of C per work-item */
#endif

/* One fused multiply-add where the hardware has it (PoCL compiles mad() as a multiply and an add). */
#if defined(FP_FAST_FMAF) || CLF_CPU
#define GEMM_FMA(a, b, c) fma(a, b, c)
#else
#define GEMM_FMA(a, b, c) mad(a, b, c)
#endif

/* op(X)[row, col] of a row-major X with leading dimension ld. */
#define OP_AT(x, ld, trans, row, col) ((trans) ? (x)[(long)(col) * (ld) + (row)] : (x)[(long)(row) * (ld) + (col)])

/* One work-item per (kk, panel): 32 floats of row kk of op(B) into the panel, zeros past n. */
__kernel void gemm_pack_b(__global float *bp, int bp_off, int stride_bp, /* [batch][n/32][k][32] */
                          __global const float *b, int b_off, int ldb, int stride_b, /* op(B) [k, n] */
                          int trans_b, int k, int n) {
    int kk = get_global_id(0), q = get_global_id(1), z = get_global_id(2);
    if (kk >= k) return;
    __global const float *src = b + b_off + (long)z * stride_b;
    __global float *dst = bp + bp_off + (long)z * stride_bp + ((long)q * k + kk) * NR;
    int j0 = q * NR;
    if (!trans_b && j0 + NR <= n) {
        vstore16(vload16(0, src + (long)kk * ldb + j0), 0, dst);
        vstore16(vload16(0, src + (long)kk * ldb + j0 + 16), 0, dst + 16);
        return;
    }
    for (int j = 0; j < NR; j++) dst[j] = j0 + j < n ? OP_AT(src, ldb, trans_b, kk, j0 + j) : 0.0f;
}

/* One work-item per (kk, panel): MR floats of column kk of op(A), zeros past m. */
__kernel void gemm_pack_a(__global float *ap, int ap_off, int stride_ap, /* [batch][m/MR][k][MR] */
                          __global const float *a, int a_off, int lda, int stride_a, /* op(A) [m, k] */
                          int trans_a, int m, int k) {
    int kk = get_global_id(0), p = get_global_id(1), z = get_global_id(2);
    if (kk >= k) return;
    __global const float *src = a + a_off + (long)z * stride_a;
    __global float *dst = ap + ap_off + (long)z * stride_ap + ((long)p * k + kk) * MR;
    int i0 = p * MR;
    for (int r = 0; r < MR; r++) dst[r] = i0 + r < m ? OP_AT(src, lda, trans_a, i0 + r, kk) : 0.0f;
}

/* C tile = alpha * op(A) op(B) + beta * C (beta = 0 never reads C) over k in this part's range. */
__kernel void gemm_tile(__global float *c, int c_off, int ldc, int stride_c, /* C [m, n] per z */
                        __global const float *a, int a_off, int a_rs, int a_ks, int a_ps, int stride_a,
                        __global const float *bp, int bp_off, int b_js, int b_ks, int b_ps, int stride_bp,
                        int m, int n, int k, int kchunk, int splits, float alpha, float beta, EPI_PARAMS) {
    int p = get_global_id(0), q = get_global_id(1), z = get_global_id(2);
    int i0 = p * MR, j0 = q * NR;
    if (i0 >= m || j0 >= n) return;
    int entry = z / splits, k0 = (z % splits) * kchunk, k1 = min(k, k0 + kchunk);
    __global const float *ak = a + a_off + (long)entry * stride_a + (long)p * a_ps + (long)k0 * a_ks;
    __global const float *bk = bp + bp_off + (long)entry * stride_bp + (long)q * b_ps + (long)k0 * b_ks;
    int ro[MR]; /* rows past m read row m-1 (direct A has nothing there); their results are dropped */
#pragma unroll
    for (int r = 0; r < MR; r++) ro[r] = min(r, m - 1 - i0) * a_rs;
    float16 lo[MR], hi[MR];
#pragma unroll
    for (int r = 0; r < MR; r++) lo[r] = hi[r] = (float16)0.0f;
    for (int kk = k0; kk < k1; kk++) {
#if B_INPLACE /* one launch, no packing, for small products: columns past n read column n-1 */
        float bt[NR];
        for (int j = 0; j < NR; j++) bt[j] = bk[min(j, n - 1 - j0) * b_js];
        float16 b0 = vload16(0, bt), b1 = vload16(1, bt);
#else
        float16 b0 = vload16(0, bk), b1 = vload16(1, bk);
#endif
#pragma unroll
        for (int r = 0; r < MR; r++) {
            float16 av = (float16)ak[ro[r]];
            lo[r] = GEMM_FMA(av, b0, lo[r]);
            hi[r] = GEMM_FMA(av, b1, hi[r]);
        }
        ak += a_ks;
        bk += b_ks;
    }
    long c0 = c_off + (long)z * stride_c + (long)i0 * ldc + j0;
    int rows = min(MR, m - i0), cols = min(NR, n - j0);
    float16 bias0 = 0.0f, bias1 = 0.0f;
    if (has_bias && cols == NR) {
        bias0 = vload16(0, bias + j0);
        bias1 = vload16(0, bias + j0 + 16);
    }
#pragma unroll
    for (int r = 0; r < MR; r++) {
        if (r >= rows) continue; /* not break: the loop is unrolled */
        long off = c0 + (long)r * ldc;
        __global float *cr = c + off;
        float16 v0 = alpha * lo[r], v1 = alpha * hi[r];
        if (cols == NR) {
            if (beta != 0.0f) {
                v0 = mad((float16)beta, vload16(0, cr), v0);
                v1 = mad((float16)beta, vload16(0, cr + 16), v1);
            }
            if (has_bias) {
                v0 += bias0;
                v1 += bias1;
            }
            if (has_pre) {
                vstore16(v0, 0, pre + off);
                vstore16(v1, 0, pre + off + 16);
            }
            vstore16(clf_act16(act, v0), 0, cr);
            vstore16(clf_act16(act, v1), 0, cr + 16);
        } else {
            float t[NR];
            vstore16(v0, 0, t);
            vstore16(v1, 0, t + 16);
            for (int j = 0; j < cols; j++) gemm_store1(c, off + j, j0 + j, t[j], beta, EPI_PASS);
        }
    }
}

/* C = alpha * (sum of the parts in order) + beta * C, one element per work-item. */
__kernel void gemm_reduce_split(__global float *c, int c_off, int ldc, int stride_c, /* C [m, n] per entry */
                                __global const float *part, int part_off, /* [batch][splits][m][n] */
                                int m, int n, int splits, float alpha, float beta, EPI_PARAMS) {
    int j = get_global_id(0), i = get_global_id(1), e = get_global_id(2);
    if (i >= m || j >= n) return;
    long mn = (long)m * n;
    __global const float *src = part + part_off + (long)e * splits * mn + (long)i * n + j;
    float s = 0.0f;
    for (int t = 0; t < splits; t++) s += src[t * mn];
    long off = c_off + (long)e * stride_c + (long)i * ldc + j;
    gemm_store1(c, off, j, alpha * s, beta, EPI_PASS);
}

/* C = alpha * A B^T + beta * C where rows of A [m, k] and of B [n, k] both run along k (x W^T, as a
 * linear layer computes it): one work-item per DM x DN block of C as dot products, 16 products at a
 * time in float16 lanes summed across lanes at the end, no packing. For few rows of C (a decoding
 * step), where 8 x 32 tiles would mostly idle and packing B costs as much as the product.
 * Rows past m (columns past n) read row m-1 (n-1); their results are dropped. */
__kernel void gemm_dot(__global float *c, int c_off, int ldc, int stride_c,   /* C [m, n] per z */
                       __global const float *a, int a_off, int lda, int stride_a, /* A [m, k] per z */
                       __global const float *b, int b_off, int ldb, int stride_b, /* B [n, k] per z */
                       int m, int n, int k, float alpha, float beta, EPI_PARAMS) {
    int q = get_global_id(0), p = get_global_id(1), z = get_global_id(2);
    int i0 = p * DM, j0 = q * DN;
    if (i0 >= m || j0 >= n) return;
    long ao[DM], bo[DN];
#pragma unroll
    for (int r = 0; r < DM; r++) ao[r] = a_off + (long)z * stride_a + (long)min(i0 + r, m - 1) * lda;
#pragma unroll
    for (int t = 0; t < DN; t++) bo[t] = b_off + (long)z * stride_b + (long)min(j0 + t, n - 1) * ldb;
    float16 acc[DM][DN];
#pragma unroll
    for (int r = 0; r < DM; r++)
#pragma unroll
        for (int t = 0; t < DN; t++) acc[r][t] = (float16)0.0f;
    for (int kc = 0; 16 * kc < k; kc++) { /* the last 16 may be partial: zeros past k */
        float16 bv[DN];
#pragma unroll
        for (int t = 0; t < DN; t++) bv[t] = clf_load16(b + bo[t], kc, k);
#pragma unroll
        for (int r = 0; r < DM; r++) {
            float16 av = clf_load16(a + ao[r], kc, k);
#pragma unroll
            for (int t = 0; t < DN; t++) acc[r][t] = GEMM_FMA(av, bv[t], acc[r][t]);
        }
    }
    int rows = min(DM, m - i0), cols = min(DN, n - j0);
#pragma unroll
    for (int r = 0; r < DM; r++)
#pragma unroll
        for (int t = 0; t < DN; t++) {
            float s = clf_hsum16(acc[r][t]);
            if (r < rows && t < cols) {
                long off = c_off + (long)z * stride_c + (long)(i0 + r) * ldc + j0 + t;
                gemm_store1(c, off, j0 + t, alpha * s, beta, EPI_PASS);
            }
        }
}
