/* The Linear layer's elementwise work around the CLBlast products: bias + activation after the
 * forward GEMM, and act' fused with the bias-gradient column sums before the backward GEMMs. */
#include "common.cl"

/* Backward: a work-group covers DB_COLS columns with DB_ROWS row lanes (a power of two). */
#ifndef DB_COLS
#define DB_COLS 32
#endif
#ifndef DB_ROWS
#define DB_ROWS 8
#endif
/* Rows a lane sums before folding into its total: two-level summation keeps float error small. */
#ifndef DB_CHUNK
#define DB_CHUNK 32
#endif

/* clf_activation */
#define ACT_NONE 0
#define ACT_RELU 1
#define ACT_GELU 2
#define GELU_C 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_A 0.044715f

inline float linear_act(int act, float v) {
    if (act == ACT_RELU) return v > 0.0f ? v : 0.0f;
    if (act == ACT_GELU) return 0.5f * v * (1.0f + tanh(GELU_C * (v + GELU_A * v * v * v)));
    return v;
}

inline float gelu_grad(float v) {
    float t = tanh(GELU_C * (v + GELU_A * v * v * v));
    return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_C * (1.0f + 3.0f * GELU_A * v * v);
}

/* pre holds x W^T from the GEMM: pre += b, y = act(pre). pre and y may be the same buffer (the
 * caller keeps no pre), then y ends as act(pre). */
__kernel void linear_fwd_epilogue(__global float *y /* [n, out] */, __global float *pre /* [n, out] */,
                                  __global const float *b /* [out], unread without bias */, int n, int out,
                                  int act, int has_bias) {
    int j = get_global_id(0), i = get_global_id(1);
    if (j >= out || i >= n) return;
    size_t k = (size_t)i * out + j;
    float v = pre[k];
    if (has_bias) v += b[j];
    pre[k] = v;
    y[k] = linear_act(act, v);
}

/* dpre = dy * act'(pre) into ws (not written when act is NONE: dpre is dy then) and, when has_db,
 * db += column sums of dpre. Lane r of a column sums rows r, r + DB_ROWS, ... then the lanes meet
 * in a fixed tree: the same order every run, no atomics. ReLU reads y (y > 0 exactly where pre > 0,
 * and ReLU'(0) = 0), GELU reads pre; unread buffers may be anything. */
__kernel __attribute__((reqd_work_group_size(DB_COLS, DB_ROWS, 1))) void
linear_bwd_dpre(__global float *ws /* [n, out] */, __global float *db /* [out] */,
                __global const float *dy /* [n, out] */, __global const float *y /* [n, out] */,
                __global const float *pre /* [n, out] */, int n, int out, int act, int has_db) {
    __local float part[DB_ROWS][DB_COLS];
    int lc = get_local_id(0), lr = get_local_id(1);
    int j = get_group_id(0) * DB_COLS + lc;
    float total = 0.0f;
    if (j < out) {
        for (int i0 = lr; i0 < n; i0 += DB_ROWS * DB_CHUNK) {
            float chunk = 0.0f;
            int end = min(n, i0 + DB_ROWS * DB_CHUNK);
            for (int i = i0; i < end; i += DB_ROWS) {
                size_t k = (size_t)i * out + j;
                float d = dy[k];
                if (act == ACT_RELU) d = y[k] > 0.0f ? d : 0.0f;
                else if (act == ACT_GELU) d *= gelu_grad(pre[k]);
                if (act != ACT_NONE) ws[k] = d;
                chunk += d;
            }
            total += chunk;
        }
    }
    part[lr][lc] = total;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = DB_ROWS / 2; s > 0; s >>= 1) {
        if (lr < s) part[lr][lc] += part[lr + s][lc];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (has_db && lr == 0 && j < out) db[j] += part[0][lc];
}
