/* Plain copies: the round trip the device tests use, and the bandwidth probe of the benchmarks. */
#include "common.cl"

__kernel void copy_f32(__global float *dst, __global const float *src, int n) {
    int i = get_global_id(0);
    if (i < n) dst[i] = src[i];
}

/* Four floats per work-item; n4 = n / 4, the caller copies the tail with copy_f32. */
__kernel void copy_f32x4(__global float4 *dst, __global const float4 *src, int n4) {
    int i = get_global_id(0);
    if (i < n4) dst[i] = src[i];
}

/* dst[offset, offset + n) = value, sixteen floats per work-item: the fill every gradient starts
 * from (PoCL's clEnqueueFillBuffer is a byte-pattern loop on one host thread). */
__kernel void fill_f32(__global float *dst, int offset, int n, float value) {
    int i = get_global_id(0) * 16;
    if (i >= n) return;
    __global float *p = dst + offset + i;
    if (i + 16 <= n) {
        vstore16((float16)value, 0, p);
        return;
    }
    for (int j = 0; i + j < n; j++) p[j] = value;
}
