/* Linear forward and backward: clf_gemm products plus the epilogues of cl/linear.cl, in the element
 * layout (GPUs) or the row layout (CPUs: float16 rows, per-block bias-gradient partials). */
#include "ops/linear.h"

#include <stdio.h>

#include "clformer/gemm.h"
#include "clformer/launch.h"

enum { EPILOGUE_WG = 64, DB_COLS = 32, DB_ROWS_MAX = 8 };
/* Row layout: rows per backward block (fixes the workspace size), floats a forward item takes. */
enum { LIN_ROWS = 32, LIN_FWD_FLOATS = 4096 };

static size_t lin_blocks(int n) { return ((size_t)n + LIN_ROWS - 1) / LIN_ROWS; }

/* Forward rows per work-item in the row layout: about LIN_FWD_FLOATS, as a group costs more than a row. */
static int fwd_rows(int out) {
    int rows = LIN_FWD_FLOATS / out;
    return rows < 1 ? 1 : rows > 16 ? 16 : rows;
}

static bool use_rows(clf_device *dev, const clf_linear_cfg *cfg) {
    if (cfg && cfg->layout != CLF_LINEAR_AUTO) return cfg->layout == CLF_LINEAR_ROWS;
    return clf_device_get_info(dev)->is_cpu;
}

/* Row lanes of the backward work-group: DB_ROWS_MAX, halved on devices whose work-groups cannot
 * hold DB_COLS x DB_ROWS_MAX work-items. */
static int db_rows(clf_device *dev) {
    size_t max_wg = clf_device_get_info(dev)->max_work_group;
    int rows = DB_ROWS_MAX;
    while (rows > 1 && (size_t)(DB_COLS * rows) > max_wg) rows /= 2;
    return rows;
}

/* One options string for every kernel of the program, so it is built once. */
static const char *program_options(clf_device *dev, char *buf, size_t size) {
    snprintf(buf, size, "-DDB_COLS=%d -DDB_ROWS=%d -DROWS=%d", DB_COLS, db_rows(dev), LIN_ROWS);
    return buf;
}

static clf_status check_sizes(clf_device *dev, int n, int in, int out, clf_activation act,
                              const clf_linear_cfg *cfg) {
    if (!dev) return CLF_ERROR(CLF_ERR_INVALID_ARG, "linear: dev is NULL");
    if (n <= 0 || in <= 0 || out <= 0)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "linear: sizes must be positive (n=%d in=%d out=%d)", n, in, out);
    if (act != CLF_ACT_NONE && act != CLF_ACT_RELU && act != CLF_ACT_GELU)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "linear: unknown activation %d", (int)act);
    if (cfg && cfg->layout != CLF_LINEAR_AUTO && cfg->layout != CLF_LINEAR_ELEMENTS && cfg->layout != CLF_LINEAR_ROWS)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "linear: unknown layout %d", (int)cfg->layout);
    return CLF_OK;
}

/* dpre [n, out] (with an activation), then the row layout's partials [blocks, 2, out]. */
static size_t dpre_floats(int n, int out, clf_activation act) {
    return act == CLF_ACT_NONE ? 0 : (size_t)n * (size_t)out;
}

size_t clf_linear_workspace_floats(int n, int out, clf_activation act) {
    if (n <= 0 || out <= 0) return 0;
    return dpre_floats(n, out, act) + lin_blocks(n) * 2 * (size_t)out;
}

clf_status clf_linear_fwd_cfg(clf_device *dev, cl_mem y, cl_mem pre, cl_mem x, cl_mem w, cl_mem b, int n, int in,
                              int out, clf_activation act, const clf_linear_cfg *cfg) {
    clf_status st = check_sizes(dev, n, in, out, act, cfg);
    if (st != CLF_OK) return st;
    size_t no = (size_t)n * out * sizeof(float);
    st = clf_buffer_check(y, no, "y");
    if (st == CLF_OK) st = clf_buffer_check(x, (size_t)n * in * sizeof(float), "x");
    if (st == CLF_OK) st = clf_buffer_check(w, (size_t)out * in * sizeof(float), "w");
    if (st == CLF_OK && b) st = clf_buffer_check(b, (size_t)out * sizeof(float), "b");
    if (st == CLF_OK && pre) st = clf_buffer_check(pre, no, "pre");
    if (st != CLF_OK) return clf_error_context(st, "linear_fwd");
    if (act == CLF_ACT_GELU && !pre)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "linear: pre is NULL but GELU's backward needs it");

    /* The product lands in pre when it is kept, so the epilogue reads it once and writes both. */
    cl_mem prod = pre ? pre : y;
    clf_gemm_args g = {.trans_b = true, .m = (size_t)n, .n = (size_t)out, .k = (size_t)in, .alpha = 1.0f,
                       .beta = 0.0f, .a = x, .b = w, .c = prod};
    st = clf_gemm(dev, &g);
    if (st != CLF_OK) return clf_error_context(st, "linear_fwd %dx%d->%d", n, in, out);
    if (act == CLF_ACT_NONE && !b && !pre) return CLF_OK;

    char opts[96];
    const char *o = program_options(dev, opts, sizeof opts);
    if (use_rows(dev, cfg)) {
        size_t global = ((size_t)n + fwd_rows(out) - 1) / fwd_rows(out), local = 1;
        return CLF_RUN(dev, "linear", o, "linear_fwd_epilogue_rows", 1, &global, &local, CLF_ARG_MEM(y),
                       CLF_ARG_MEM(prod), CLF_ARG_MEM(b ? b : prod), CLF_ARG_INT(n), CLF_ARG_INT(out),
                       CLF_ARG_INT(act), CLF_ARG_INT(b != NULL), CLF_ARG_INT(fwd_rows(out)));
    }
    size_t global[2] = {(size_t)out, (size_t)n}, local[2] = {EPILOGUE_WG, 1};
    return CLF_RUN(dev, "linear", o, "linear_fwd_epilogue", 2, global, local, CLF_ARG_MEM(y), CLF_ARG_MEM(prod),
                   CLF_ARG_MEM(b ? b : prod), CLF_ARG_INT(n), CLF_ARG_INT(out), CLF_ARG_INT(act),
                   CLF_ARG_INT(b != NULL));
}

clf_status clf_linear_fwd(clf_device *dev, cl_mem y, cl_mem pre, cl_mem x, cl_mem w, cl_mem b, int n, int in,
                          int out, clf_activation act) {
    return clf_linear_fwd_cfg(dev, y, pre, x, w, b, n, in, out, act, NULL);
}

/* dpre into the workspace (with an activation) and db += its column sums, in the row layout. */
static clf_status bwd_dpre_rows(clf_device *dev, const char *o, cl_mem db, cl_mem dy, cl_mem y, cl_mem pre,
                                cl_mem workspace, int n, int out, clf_activation act) {
    cl_ulong part_off = dpre_floats(n, out, act);
    clf_arg off = {sizeof(cl_ulong), &part_off};
    size_t blocks = lin_blocks(n), one = 1;
    clf_status st = CLF_RUN(dev, "linear", o, "linear_bwd_dpre_rows", 1, &blocks, &one, CLF_ARG_MEM(workspace),
                            CLF_ARG_MEM(workspace), CLF_ARG_MEM(dy), CLF_ARG_MEM(y ? y : dy),
                            CLF_ARG_MEM(pre ? pre : dy), off, CLF_ARG_INT(n), CLF_ARG_INT(out), CLF_ARG_INT(act),
                            CLF_ARG_INT(db != NULL));
    if (st != CLF_OK || !db) return st;
    size_t chunks = ((size_t)out + 15) / 16, lc = chunks < 64 ? chunks : 64;
    return CLF_RUN(dev, "linear", o, "linear_bwd_db", 1, &chunks, &lc, CLF_ARG_MEM(db), CLF_ARG_MEM(workspace), off,
                   CLF_ARG_INT((int)blocks), CLF_ARG_INT(out));
}

clf_status clf_linear_bwd_cfg(clf_device *dev, cl_mem dx, cl_mem dw, cl_mem db, cl_mem dy, cl_mem x, cl_mem w,
                              cl_mem y, cl_mem pre, cl_mem workspace, int n, int in, int out, clf_activation act,
                              const clf_linear_cfg *cfg) {
    clf_status st = check_sizes(dev, n, in, out, act, cfg);
    if (st != CLF_OK) return st;
    size_t no = (size_t)n * out * sizeof(float), ni = (size_t)n * in * sizeof(float);
    st = clf_buffer_check(dw, (size_t)out * in * sizeof(float), "dw");
    if (st == CLF_OK) st = clf_buffer_check(dy, no, "dy");
    if (st == CLF_OK) st = clf_buffer_check(x, ni, "x");
    if (st == CLF_OK) st = clf_buffer_check(w, (size_t)out * in * sizeof(float), "w");
    if (st == CLF_OK && dx) st = clf_buffer_check(dx, ni, "dx");
    if (st == CLF_OK && db) st = clf_buffer_check(db, (size_t)out * sizeof(float), "db");
    if (st == CLF_OK && act == CLF_ACT_RELU) st = clf_buffer_check(y, no, "y (ReLU's backward reads it)");
    if (st == CLF_OK && act == CLF_ACT_GELU) st = clf_buffer_check(pre, no, "pre (GELU's backward reads it)");
    if (st == CLF_OK && (act != CLF_ACT_NONE || db))
        st = clf_buffer_check(workspace, clf_linear_workspace_floats(n, out, act) * sizeof(float), "workspace");
    if (st != CLF_OK) return clf_error_context(st, "linear_bwd");

    cl_mem dpre = act == CLF_ACT_NONE ? dy : workspace;
    char opts[96];
    const char *o = program_options(dev, opts, sizeof opts);
    if ((act != CLF_ACT_NONE || db) && use_rows(dev, cfg)) {
        st = bwd_dpre_rows(dev, o, db, dy, y, pre, workspace, n, out, act);
        if (st != CLF_OK) return st;
    } else if (act != CLF_ACT_NONE || db) {
        size_t rows = (size_t)db_rows(dev);
        size_t global[2] = {clf_round_up((size_t)out, DB_COLS), rows}, local[2] = {DB_COLS, rows};
        st = CLF_RUN(dev, "linear", o, "linear_bwd_dpre", 2, global, local, CLF_ARG_MEM(dpre),
                     CLF_ARG_MEM(db ? db : dy), CLF_ARG_MEM(dy), CLF_ARG_MEM(y ? y : dy), CLF_ARG_MEM(pre ? pre : dy),
                     CLF_ARG_INT(n), CLF_ARG_INT(out), CLF_ARG_INT(act), CLF_ARG_INT(db != NULL));
        if (st != CLF_OK) return st;
    }
    if (dx) { /* dx [n, in] += dpre [n, out] W [out, in] */
        clf_gemm_args g = {.m = (size_t)n, .n = (size_t)in, .k = (size_t)out, .alpha = 1.0f, .beta = 1.0f,
                           .a = dpre, .b = w, .c = dx};
        st = clf_gemm(dev, &g);
        if (st != CLF_OK) return clf_error_context(st, "linear_bwd dx %dx%d->%d", n, in, out);
    }
    /* dw [out, in] += dpre^T [out, n] x [n, in] */
    clf_gemm_args g = {.trans_a = true, .m = (size_t)out, .n = (size_t)in, .k = (size_t)n, .alpha = 1.0f,
                       .beta = 1.0f, .a = dpre, .b = x, .c = dw};
    st = clf_gemm(dev, &g);
    if (st != CLF_OK) return clf_error_context(st, "linear_bwd dw %dx%d->%d", n, in, out);
    return CLF_OK;
}

clf_status clf_linear_bwd(clf_device *dev, cl_mem dx, cl_mem dw, cl_mem db, cl_mem dy, cl_mem x, cl_mem w,
                          cl_mem y, cl_mem pre, cl_mem workspace, int n, int in, int out, clf_activation act) {
    return clf_linear_bwd_cfg(dev, dx, dw, db, dy, x, w, y, pre, workspace, n, in, out, act, NULL);
}
