/* Embedding launchers. The backward is a stable counting sort of the token ids on the device (one
 * work-group: the ids live on the device and the scheduler never waits on the host), then each id
 * sums its rows in ascending order: O(n * d) work in all, deterministic, no float atomics. */
#include "ops/embedding.h"

#include <math.h>
#include <stdio.h>

#include "clformer/launch.h"

#define EMB_GPU_WG 64       /* items per row or id on GPUs; CPUs take 1 */
#define EMB_GPU_SORT_WG 256 /* the sort's single work-group on GPUs; CPUs take 1 */

void clf_positional_table(float *out /* [max_len, d] */, int max_len, int d) {
    for (int p = 0; p < max_len; p++)
        for (int j = 0; j < d; j++) {
            double angle = (double)p / pow(10000.0, (double)(j - j % 2) / (double)d);
            out[(size_t)p * (size_t)d + (size_t)j] = (float)(j % 2 ? cos(angle) : sin(angle));
        }
}

size_t clf_embedding_workspace_floats(int n, int d, int vocab) {
    (void)d;
    return n > 0 && vocab > 0 ? (size_t)vocab + (size_t)n : 0; /* end [vocab], rows [n], as ints */
}

/* A power of two the device accepts, or 0 after setting the error. */
static size_t pick_wg(const clf_device_info *info, const char *fn, const char *what, int asked, int gpu_default) {
    int w = asked ? asked : info->is_cpu ? 1 : gpu_default;
    if (w < 0 || (w & (w - 1)) || (size_t)w > info->max_work_group) {
        CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: %s %d is not a power of two up to the device's %zu", fn, what, w,
                  info->max_work_group);
        return 0;
    }
    return (size_t)w;
}

/* Checks what both passes share; resolves the work-group sizes and the build options. */
static clf_status emb_prepare(clf_device *dev, const char *fn, int n, int d, int vocab, float scale,
                              const clf_embedding_cfg *cfg, size_t *wg, size_t *sort_wg, char *opts, size_t len) {
    if (!dev) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: dev is NULL", fn);
    if (n <= 0 || d <= 0 || vocab <= 0)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: sizes must be positive (n %d, d %d, vocab %d)", fn, n, d, vocab);
    if (!isfinite(scale)) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: scale %g is not finite", fn, (double)scale);
    const clf_device_info *info = clf_device_get_info(dev);
    if (!(*wg = pick_wg(info, fn, "wg", cfg ? cfg->wg : 0, EMB_GPU_WG))) return CLF_ERR_INVALID_ARG;
    size_t max = info->max_work_group, dflt = EMB_GPU_SORT_WG;
    while (dflt > max) dflt /= 2;
    if (!(*sort_wg = pick_wg(info, fn, "sort_wg", cfg ? cfg->sort_wg : 0, (int)dflt))) return CLF_ERR_INVALID_ARG;
    snprintf(opts, len, "-DWG=%zu -DSORT_WG=%zu", *wg, *sort_wg);
    return CLF_OK;
}

/* The forward of every public variant; offset (int32 [1]) may be NULL: positions start at 0. */
static clf_status emb_fwd(clf_device *dev, cl_mem out, cl_mem table, cl_mem tokens, cl_mem pe, cl_mem offset, int n,
                          int t, int d, int vocab, float scale, const clf_embedding_cfg *cfg) {
    static const char fn[] = "embedding_fwd";
    size_t wg = 0, sort_wg = 0;
    char opts[64];
    clf_status st = emb_prepare(dev, fn, n, d, vocab, scale, cfg, &wg, &sort_wg, opts, sizeof opts);
    if (st != CLF_OK) return st;
    if (t <= 0 || n % t) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: n %d is not a multiple of t %d", fn, n, t);
    st = clf_buffer_check(out, (size_t)n * (size_t)d * sizeof(float), "out");
    if (st == CLF_OK) st = clf_buffer_check(table, (size_t)vocab * (size_t)d * sizeof(float), "table");
    if (st == CLF_OK) st = clf_buffer_check(tokens, (size_t)n * sizeof(cl_int), "tokens");
    if (st == CLF_OK && pe) st = clf_buffer_check(pe, (size_t)t * (size_t)d * sizeof(float), "pe (max_len < t?)");
    if (st == CLF_OK && offset) st = clf_buffer_check(offset, sizeof(cl_int), "offset");
    if (st != CLF_OK) return clf_error_context(st, "%s", fn);
    size_t pe_bytes = 0; /* the positions pe holds bound the device-side offset */
    cl_int err = pe ? clGetMemObjectInfo(pe, CL_MEM_SIZE, sizeof pe_bytes, &pe_bytes, NULL) : CL_SUCCESS;
    if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "%s: clGetMemObjectInfo(pe)", fn);
    size_t pe_rows = pe_bytes / ((size_t)d * sizeof(float));
    size_t global[2] = {wg, (size_t)n}, local[2] = {wg, 1};
    /* a NULL buffer argument is legal OpenCL; the kernel never reads pe or offset then */
    return CLF_RUN(dev, "embedding", opts, "embedding_fwd", 2, global, local, CLF_ARG_MEM(out), CLF_ARG_MEM(table),
                   CLF_ARG_MEM(tokens), CLF_ARG_MEM(pe), CLF_ARG_MEM(offset), CLF_ARG_INT(n), CLF_ARG_INT(t),
                   CLF_ARG_INT(d), CLF_ARG_INT(pe != NULL), CLF_ARG_INT(offset != NULL),
                   CLF_ARG_INT(pe_rows > 2147483647u ? 2147483647 : (int)pe_rows), CLF_ARG_FLOAT(scale));
}

clf_status clf_embedding_fwd_cfg(clf_device *dev, cl_mem out /* [n, d] */, cl_mem table /* [vocab, d] */,
                                 cl_mem tokens /* int32 [n] */, cl_mem pe /* [max_len, d] or NULL */, int n, int t,
                                 int d, int vocab, float scale, const clf_embedding_cfg *cfg) {
    return emb_fwd(dev, out, table, tokens, pe, NULL, n, t, d, vocab, scale, cfg);
}

clf_status clf_embedding_fwd_offset(clf_device *dev, cl_mem out /* [n, d] */, cl_mem table /* [vocab, d] */,
                                    cl_mem tokens /* int32 [n] */, cl_mem pe /* [max_len, d] or NULL */,
                                    cl_mem offset /* int32 [1] or NULL */, int n, int t, int d, int vocab,
                                    float scale) {
    return emb_fwd(dev, out, table, tokens, pe, offset, n, t, d, vocab, scale, NULL);
}

clf_status clf_embedding_bwd_cfg(clf_device *dev, cl_mem dtable /* [vocab, d] */, cl_mem dout /* [n, d] */,
                                 cl_mem tokens /* int32 [n] */, cl_mem workspace, int n, int d, int vocab,
                                 float scale, const clf_embedding_cfg *cfg) {
    static const char fn[] = "embedding_bwd";
    size_t wg = 0, sort_wg = 0;
    char opts[64];
    clf_status st = emb_prepare(dev, fn, n, d, vocab, scale, cfg, &wg, &sort_wg, opts, sizeof opts);
    if (st != CLF_OK) return st;
    st = clf_buffer_check(dtable, (size_t)vocab * (size_t)d * sizeof(float), "dtable");
    if (st == CLF_OK) st = clf_buffer_check(dout, (size_t)n * (size_t)d * sizeof(float), "dout");
    if (st == CLF_OK) st = clf_buffer_check(tokens, (size_t)n * sizeof(cl_int), "tokens");
    if (st == CLF_OK)
        st = clf_buffer_check(workspace, clf_embedding_workspace_floats(n, d, vocab) * sizeof(float), "workspace");
    if (st != CLF_OK) return clf_error_context(st, "%s", fn);
    st = CLF_RUN(dev, "embedding", opts, "embedding_bwd_sort", 1, &sort_wg, &sort_wg, CLF_ARG_MEM(workspace),
                 CLF_ARG_MEM(tokens), CLF_ARG_INT(n), CLF_ARG_INT(vocab));
    if (st != CLF_OK) return st;
    size_t global[2] = {wg, (size_t)vocab}, local[2] = {wg, 1};
    return CLF_RUN(dev, "embedding", opts, "embedding_bwd_sum", 2, global, local, CLF_ARG_MEM(dtable),
                   CLF_ARG_MEM(dout), CLF_ARG_MEM(workspace), CLF_ARG_INT(d), CLF_ARG_INT(vocab), CLF_ARG_FLOAT(scale));
}

clf_status clf_embedding_fwd(clf_device *dev, cl_mem out /* [n, d] */, cl_mem table /* [vocab, d] */,
                             cl_mem tokens /* int32 [n] */, cl_mem pe /* [max_len, d] or NULL */,
                             int n, int t, int d, int vocab, float scale) {
    return clf_embedding_fwd_cfg(dev, out, table, tokens, pe, n, t, d, vocab, scale, NULL);
}

clf_status clf_embedding_bwd(clf_device *dev, cl_mem dtable /* [vocab, d] */, cl_mem dout /* [n, d] */,
                             cl_mem tokens /* int32 [n] */, cl_mem workspace, int n, int d, int vocab, float scale) {
    return clf_embedding_bwd_cfg(dev, dtable, dout, tokens, workspace, n, d, vocab, scale, NULL);
}
