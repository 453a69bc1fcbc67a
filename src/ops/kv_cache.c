/* Key/value cache launchers: the shape checks and the two copies of cl/kv_cache.cl. */
#include "ops/kv_cache.h"

#include "clformer/launch.h"


static clf_status check(const char *fn, clf_device *dev, int B, int T, int d) {
    if (!dev) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: dev is NULL", fn);
    if (B <= 0 || T <= 0 || d <= 0)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: sizes must be positive (B %d, T %d, d %d)", fn, B, T, d);
    if ((double)B * T * d > 2147483647.0)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: cache of %d x %d x %d is too large", fn, B, T, d);
    return CLF_OK;
}

clf_status clf_kv_cache_append(clf_device *dev, cl_mem cache /* [B, T, d] */, cl_mem x /* [B, d] */,
                               cl_mem pos /* int32 [1] */, int B, int T, int d) {
    static const char fn[] = "clf_kv_cache_append";
    clf_status st = check(fn, dev, B, T, d);
    if (st != CLF_OK) return st;
    st = clf_buffer_check(cache, (size_t)B * (size_t)T * (size_t)d * 4, "cache");
    if (st == CLF_OK) st = clf_buffer_check(x, (size_t)B * (size_t)d * 4, "x");
    if (st == CLF_OK) st = clf_buffer_check(pos, 4, "pos");
    if (st != CLF_OK) return clf_error_context(st, "%s", fn);
    /* a fixed group size: left to PoCL it picks small ones (a group costs microseconds there) and
     * compiles the kernel again for each size it picks */
    size_t global[2] = {(size_t)d, (size_t)B}, local[2] = {64, 1};
    return CLF_RUN(dev, "kv_cache", NULL, "kv_cache_append", 2, global, local, CLF_ARG_MEM(cache), CLF_ARG_MEM(x),
                   CLF_ARG_MEM(pos), CLF_ARG_INT(B), CLF_ARG_INT(T), CLF_ARG_INT(d));
}

clf_status clf_kv_cache_gather(clf_device *dev, cl_mem out /* [B, T, d] */, cl_mem in /* [B, T, d] */,
                               cl_mem idx /* int32 [B] */, int B, int T, int n, int d) {
    static const char fn[] = "clf_kv_cache_gather";
    clf_status st = check(fn, dev, B, T, d);
    if (st == CLF_OK && (n < 0 || n > T))
        st = CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: n %d positions outside [0, T %d]", fn, n, T);
    if (st == CLF_OK && out && out == in) st = CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: out and in are the same buffer", fn);
    if (st != CLF_OK) return st;
    size_t bytes = (size_t)B * (size_t)T * (size_t)d * 4;
    st = clf_buffer_check(out, bytes, "out");
    if (st == CLF_OK) st = clf_buffer_check(in, bytes, "in");
    if (st == CLF_OK) st = clf_buffer_check(idx, (size_t)B * 4, "idx");
    if (st != CLF_OK) return clf_error_context(st, "%s", fn);
    if (n == 0) return CLF_OK;
    size_t global[2] = {(size_t)n * (size_t)d, (size_t)B}, local[2] = {64, 1}; /* fixed: see above */
    return CLF_RUN(dev, "kv_cache", NULL, "kv_cache_gather", 2, global, local, CLF_ARG_MEM(out), CLF_ARG_MEM(in),
                   CLF_ARG_MEM(idx), CLF_ARG_INT(B), CLF_ARG_INT(T), CLF_ARG_INT(n), CLF_ARG_INT(d));
}
