/* The optimizer: global gradient norm (two fixed-order stages) and one AdamW step with clipping,
 * skipped on the device when the norm is not finite. All bandwidth-bound: float4, one pass. */
#include "common.cl"

#ifndef WG
#define WG 256 /* a power of two */
#endif
#ifndef BLOCKS
#define BLOCKS 16 /* float4 blocks per work-item and sweep: the per-work-item set-up is paid once for them */
#endif

/* A sweep covers WG * BLOCKS float4 blocks per work-group; past the grid the groups sweep again. Only
 * whole blocks below n4 = n / 4: the ragged tail of n % 4 elements is handled apart, so the hot loop
 * has no partial loads.
 * GPUs: block base + k WG + lid, so neighbouring work-items touch neighbouring blocks (coalesced).
 * CPUs (PoCL runs a group's work-items one after the other): each work-item takes BLOCKS consecutive
 * blocks. The GPU order would have one work-item stride 4 KiB over seven arrays, which thrashes the
 * L1 sets: measured 25-40x slower on PoCL. */
#if CLF_CPU
#define FOR_BLOCKS(b, n4)                                                                          \
    for (int base_ = get_global_id(0) * BLOCKS; base_ < (n4); base_ += get_global_size(0) * BLOCKS) \
        for (int k_ = 0, b = base_; k_ < BLOCKS && b < (n4); k_++, b++)
#else
#define FOR_BLOCKS(b, n4)                                                                          \
    for (int base_ = get_group_id(0) * WG * BLOCKS; base_ < (n4); base_ += get_num_groups(0) * WG * BLOCKS) \
        for (int k_ = 0, b = base_ + get_local_id(0); k_ < BLOCKS && b < (n4); k_++, b += WG)
#endif

/* Elements [i, n) of buf, i > n - 4, as a float4 padded with 0; and the store back. */
inline float4 load_tail(__global const float *buf, int i, int n) {
    float4 r = (float4)(0.0f);
    r.s0 = buf[i];
    if (i + 1 < n) r.s1 = buf[i + 1];
    if (i + 2 < n) r.s2 = buf[i + 2];
    return r;
}

inline void store_tail(__global float *buf, int i, int n, float4 val) {
    buf[i] = val.s0;
    if (i + 1 < n) buf[i + 1] = val.s1;
    if (i + 2 < n) buf[i + 2] = val.s2;
}

/* Work-group tree over acc[0..WG) (fixed order); the result is in acc[0] for every work-item. */
inline float wg_sum(__local float *acc, float s) {
    const int lid = get_local_id(0);
    acc[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int off = WG / 2; off > 0; off >>= 1) {
        if (lid < off) acc[lid] += acc[lid + off];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return acc[0];
}

/* Stage 1: each work-group sums g^2 over its blocks (the tail goes to the first work-item). The grid
 * (number of groups) is a function of n only, so the order never changes. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void grad_norm_partial(__global float *partial /* [groups] */, __global const float *grads /* [n] */, int n) {
    __local float acc[WG];
    const int n4 = n / 4;
    float4 s4 = (float4)(0.0f); /* four independent sums: a scalar chain of adds caps a CPU core */
    FOR_BLOCKS(b, n4) {
        float4 g = vload4(b, grads);
        s4 += g * g;
    }
    if (get_global_id(0) == 0 && n % 4) {
        float4 g = load_tail(grads, 4 * n4, n);
        s4 += g * g;
    }
    float s = (s4.s0 + s4.s1) + (s4.s2 + s4.s3);
    float total = wg_sum(acc, s);
    if (get_local_id(0) == 0) partial[get_group_id(0)] = total;
}

/* Stage 2: one work-group, norm[0] = sqrt(sum of the partials). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void grad_norm_final(__global float *norm /* [1] */, __global const float *partial /* [groups] */, int groups) {
    __local float acc[WG];
    float s = 0.0f;
    for (int i = get_local_id(0); i < groups; i += WG) s += partial[i];
    float total = wg_sum(acc, s);
    if (get_local_id(0) == 0) norm[0] = sqrt(total);
}

typedef struct adamw_coef {
    float clip, step_size, bc2_sqrt;
} adamw_coef;

/* Four elements starting at i: decay (lanes below n_decay), moments, update. */
inline void adamw_update(float4 *p, float4 *mm, float4 *vv, float4 g, int i, int n_decay, adamw_coef c, float beta1,
                         float beta2, float eps, float decay) {
    g *= c.clip;
    *p *= select((float4)(1.0f), (float4)(decay), (int4)(i) + (int4)(0, 1, 2, 3) < (int4)(n_decay));
    *mm = beta1 * *mm + (1.0f - beta1) * g;
    *vv = beta2 * *vv + (1.0f - beta2) * (g * g);
    float4 denom = sqrt(*vv) / c.bc2_sqrt + eps;
    *p -= c.step_size * (*mm / denom);
}

/* torch.optim.AdamW with torch's clip_grad_norm_ factor min(1, max_norm / (norm + 1e-6)) applied to
 * the gradient first. Elements below n_decay are multiplied by decay = 1 - lr*wd (formed on the host)
 * before the Adam step. The step count comes from state[0]; nothing is touched when the norm is not
 * finite. The step's scalars (pown is costly on CPUs) are formed once per work-group. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void adamw_step(__global float *params /* [n] */, __global float *m /* [n] */, __global float *v /* [n] */,
                __global const int *state /* [1] */, __global const float *grads /* [n] */,
                __global const float *norm /* [1] */, int n, int n_decay, float lr, float beta1, float beta2,
                float eps, float decay, float max_norm) {
    __local float coef[4];
    if (get_local_id(0) == 0) {
        const float gn = norm[0];
        const int t = state[0] + 1;
        coef[0] = isfinite(gn) ? 1.0f : 0.0f;
        coef[1] = max_norm > 0.0f ? fmin(1.0f, max_norm / (gn + 1e-6f)) : 1.0f;
        coef[2] = lr / (1.0f - pown(beta1, t));
        coef[3] = sqrt(1.0f - pown(beta2, t));
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (coef[0] == 0.0f) return; /* the same for the whole group: skipped step */
    const adamw_coef c = {coef[1], coef[2], coef[3]};
    const int n4 = n / 4;
    FOR_BLOCKS(b, n4) {
        float4 p = vload4(b, params), mm = vload4(b, m), vv = vload4(b, v);
        adamw_update(&p, &mm, &vv, vload4(b, grads), 4 * b, n_decay, c, beta1, beta2, eps, decay);
        vstore4(p, b, params);
        vstore4(mm, b, m);
        vstore4(vv, b, v);
    }
    if (get_global_id(0) == 0 && n % 4) {
        const int i = 4 * n4;
        float4 p = load_tail(params, i, n), mm = load_tail(m, i, n), vv = load_tail(v, i, n);
        adamw_update(&p, &mm, &vv, load_tail(grads, i, n), i, n_decay, c, beta1, beta2, eps, decay);
        store_tail(params, i, n, p);
        store_tail(m, i, n, mm);
        store_tail(v, i, n, vv);
    }
}

/* Advance the step count after adamw_step, only when that step was applied. */
__kernel void adamw_advance(__global int *state /* [1] */, __global const float *norm /* [1] */) {
    if (get_global_id(0) == 0 && isfinite(norm[0])) state[0] += 1;
}
