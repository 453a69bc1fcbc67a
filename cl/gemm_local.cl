/* clformer's GPU-shaped SGEMM: C = act(alpha op(A) op(B) + beta C + bias), classic local-memory tiling.
 * A work-group of WX x WY items computes a TM x TN tile of C, stepping through K in slices of TK:
 * the group stages op(A)'s TM x TK and op(B)'s TK x TN slices in __local memory, then each item
 * multiplies them into its RM x RN register tile. The local tiles are stored k-major
 * (as[kk][i], bs[kk][j]) whatever the transposes: the cooperative loads absorb them, so the inner
 * loop is one for all four. Item (tx, ty) owns rows ty + r WY and columns tx + t WX of the tile:
 * neighbours along x read neighbouring words of bs (no bank conflict; as is a broadcast) and write
 * neighbouring words of C (coalesced stores).
 * Loads: for each layout, consecutive items read consecutive addresses (along k where the operand's
 * rows run along k, else along m / n); slices past m, n or k are filled with zeros, so the inner
 * loop has no guards. The k-major local rows are padded by PAD words: the k-along loads store with a
 * stride of TM + PAD (odd), which spreads them over the banks.
 * One work-group per tile and batch entry (z); each element is summed in k order by one item: the
 * result is deterministic. Epilogue: gemm_store1 of cl/common.cl. */
#include "common.cl"

#ifndef TM
#define TM 64 /* rows of C per work-group */
#endif
#ifndef TN
#define TN 64 /* columns of C per work-group */
#endif
#ifndef TK
#define TK 16 /* k per local slice */
#endif
#ifndef WX
#define WX 16 /* work-items along N */
#endif
#ifndef WY
#define WY 16 /* work-items along M */
#endif
#ifndef PAD
#define PAD 1 /* words past each k row of the local tiles */
#endif
#define RM (TM / WY) /* rows of the register tile */
#define RN (TN / WX) /* columns of the register tile */
#define WG (WX * WY)
#if TM % WY || TN % WX || (TM * TK) % WG || (TN * TK) % WG
#error "gemm_local: the tile must split evenly over the work-group"
#endif

/* One slice of an operand into local memory, dst[kk][i] = X(i0 + i, k0 + kk) for i < T, kk < TK,
 * zero past rows (m or n) or k. X(i, kk) lies at x[i * ld + kk] when k_along (A not transposed, B
 * transposed), else at x[kk * ld + i]; the item numbering follows the contiguous index. */
__attribute__((always_inline)) inline void gemm_local_load(__local float *dst, const int T,
                                                           __global const float *x, int ld, int k_along,
                                                           int i0, int rows, int k0, int k, int tid) {
    if (k_along) { /* T * TK / WG passes: no unroll pragma, T is known only once inlined */
        for (int p = 0; p < T * TK / WG; p++) {
            int e = p * WG + tid, kk = e % TK, i = e / TK, gi = i0 + i, gk = k0 + kk;
            dst[kk * (T + PAD) + i] = gi < rows && gk < k ? x[(long)gi * ld + gk] : 0.0f;
        }
    } else {
        for (int p = 0; p < T * TK / WG; p++) {
            int e = p * WG + tid, i = e % T, kk = e / T, gi = i0 + i, gk = k0 + kk;
            dst[kk * (T + PAD) + i] = gi < rows && gk < k ? x[(long)gk * ld + gi] : 0.0f;
        }
    }
}

__kernel __attribute__((reqd_work_group_size(WX, WY, 1)))
void gemm_local(__global float *c, int c_off, int ldc, int stride_c,             /* C [m, n] per z */
                __global const float *a, int a_off, int lda, int stride_a, int trans_a, /* op(A) [m, k] */
                __global const float *b, int b_off, int ldb, int stride_b, int trans_b, /* op(B) [k, n] */
                int m, int n, int k, float alpha, float beta, EPI_PARAMS) {
    __local float as[TK * (TM + PAD)], bs[TK * (TN + PAD)];
    const int tx = get_local_id(0), ty = get_local_id(1), tid = ty * WX + tx, z = get_global_id(2);
    const int j0 = get_group_id(0) * TN, i0 = get_group_id(1) * TM;
    __global const float *az = a + a_off + (long)z * stride_a, *bz = b + b_off + (long)z * stride_b;
    float acc[RM][RN];
#pragma unroll
    for (int r = 0; r < RM; r++)
#pragma unroll
        for (int t = 0; t < RN; t++) acc[r][t] = 0.0f;
    for (int k0 = 0; k0 < k; k0 += TK) {
        gemm_local_load(as, TM, az, lda, !trans_a, i0, m, k0, k, tid);
        gemm_local_load(bs, TN, bz, ldb, trans_b, j0, n, k0, k, tid);
        barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
        for (int kk = 0; kk < TK; kk++) {
            float av[RM], bv[RN];
#pragma unroll
            for (int r = 0; r < RM; r++) av[r] = as[kk * (TM + PAD) + ty + r * WY];
#pragma unroll
            for (int t = 0; t < RN; t++) bv[t] = bs[kk * (TN + PAD) + tx + t * WX];
#pragma unroll
            for (int r = 0; r < RM; r++)
#pragma unroll
                for (int t = 0; t < RN; t++) acc[r][t] = fma(av[r], bv[t], acc[r][t]);
        }
        barrier(CLK_LOCAL_MEM_FENCE); /* the slice is used up before the next overwrites it */
    }
#pragma unroll
    for (int r = 0; r < RM; r++) {
        int i = i0 + ty + r * WY;
        if (i >= m) continue; /* not break: the loop is unrolled */
#pragma unroll
        for (int t = 0; t < RN; t++) {
            int j = j0 + tx + t * WX;
            if (j < n) gemm_store1(c, c_off + (long)z * stride_c + (long)i * ldc + j, j, alpha * acc[r][t], beta,
                                   EPI_PASS);
        }
    }
}
