/* Linear forward and backward: clf_gemm products plus the epilogues of cl/linear.cl, in the element
 * layout (GPUs) or the row layout (CPUs: float16 rows, per-block bias-gradient partials). */
#include "ops/linear.h"

#include <stdio.h>

#include "clformer/gemm.h"
#include "clformer/launch.h"
#include "tune.h"

enum { EPILOGUE_WG = 64, DB_COLS = 32, DB_ROWS_MAX = 8 };
/* Launch configurations the tuner picks among (tune.h). Forward: the row layout with its usual rows per
 * item or one, the element layout in groups of 64 x 1 or 64 x 4. Backward: the two layouts. */
enum { FWD_ROWS, FWD_ROWS_1, FWD_ELEMENTS, FWD_ELEMENTS_X4, FWD_CANDIDATES };
enum { BWD_ROWS, BWD_ELEMENTS, BWD_CANDIDATES };
/* Timing runs on the first rows only, about this many floats: the layouts' ranking settles well below.
 * Outputs under TUNE_MIN_FLOATS are not worth timing (launch costs decide them): the default. */
enum { TUNE_FLOATS = 1 << 22, TUNE_MIN_FLOATS = 1 << 16 };
/* Row layout: rows per backward block (fixes the workspace size), floats a forward item takes. */
enum { LIN_ROWS = 32, LIN_FWD_FLOATS = 4096 };

static size_t lin_blocks(int n) { return ((size_t)n + LIN_ROWS - 1) / LIN_ROWS; }

/* Forward rows per work-item in the row layout: about LIN_FWD_FLOATS, as a group costs more than a row. */
static int fwd_rows(int out) {
    int rows = LIN_FWD_FLOATS / out;
    return rows < 1 ? 1 : rows > 16 ? 16 : rows;
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

/* The forward epilogue in configuration `variant`: y = act(prod + b), prod = prod + b. */
static clf_status fwd_epilogue(clf_device *dev, const char *o, int variant, cl_mem y, cl_mem prod, cl_mem b, int n,
                               int out, clf_activation act) {
    if (variant == FWD_ROWS || variant == FWD_ROWS_1) {
        int rows = variant == FWD_ROWS ? fwd_rows(out) : 1;
        size_t global = ((size_t)n + rows - 1) / rows, local = 1;
        return CLF_RUN(dev, "linear", o, "linear_fwd_epilogue_rows", 1, &global, &local, CLF_ARG_MEM(y),
                       CLF_ARG_MEM(prod), CLF_ARG_MEM(b ? b : prod), CLF_ARG_INT(n), CLF_ARG_INT(out),
                       CLF_ARG_INT(act), CLF_ARG_INT(b != NULL), CLF_ARG_INT(rows));
    }
    size_t global[2] = {(size_t)out, (size_t)n}, local[2] = {EPILOGUE_WG, variant == FWD_ELEMENTS_X4 ? 4 : 1};
    return CLF_RUN(dev, "linear", o, "linear_fwd_epilogue", 2, global, local, CLF_ARG_MEM(y), CLF_ARG_MEM(prod),
                   CLF_ARG_MEM(b ? b : prod), CLF_ARG_INT(n), CLF_ARG_INT(out), CLF_ARG_INT(act),
                   CLF_ARG_INT(b != NULL));
}

static int tune_rows(int n, int out) {
    int rows = TUNE_FLOATS / out;
    return rows < 1 ? 1 : rows < n ? rows : n;
}

typedef struct fwd_tune {
    const char *o;
    cl_mem y, prod, b;
    int n, out;
    clf_activation act;
    bool filled;
} fwd_tune;

static clf_status fwd_try(clf_device *dev, void *ctx, int variant) {
    fwd_tune *t = ctx;
    if (!t->filled) { /* ordinary numbers, not whatever the outputs held (denormals would skew the times) */
        size_t count = (size_t)t->n * t->out;
        clf_status st = clf_buffer_fill_float(dev, t->y, 0, count, 0.25f);
        if (st == CLF_OK && t->prod != t->y) st = clf_buffer_fill_float(dev, t->prod, 0, count, 0.25f);
        if (st != CLF_OK) return st;
        t->filled = true;
    }
    return fwd_epilogue(dev, t->o, variant, t->y, t->prod, t->b, t->n, t->out, t->act);
}

/* The configuration: forced by cfg, else tuned. Timed before the product, on the first rows of y and
 * pre: outputs that the GEMM and the epilogue overwrite whole afterwards. */
static clf_status fwd_variant(clf_device *dev, const clf_linear_cfg *cfg, const char *o, cl_mem y, cl_mem pre,
                              cl_mem b, int n, int out, clf_activation act, int *variant) {
    const clf_device_info *di = clf_device_get_info(dev);
    if ((cfg && cfg->layout != CLF_LINEAR_AUTO) || (size_t)n * out < TUNE_MIN_FLOATS) {
        bool rows = cfg && cfg->layout != CLF_LINEAR_AUTO ? cfg->layout == CLF_LINEAR_ROWS : di->is_cpu;
        *variant = rows ? FWD_ROWS : FWD_ELEMENTS;
        return CLF_OK;
    }
    unsigned valid = 1u << FWD_ROWS | 1u << FWD_ELEMENTS;
    if (fwd_rows(out) > 1) valid |= 1u << FWD_ROWS_1;
    if (di->max_work_group >= 4 * EPILOGUE_WG && n >= 4) valid |= 1u << FWD_ELEMENTS_X4;
    char key[CLF_TUNE_MAX_KEY];
    snprintf(key, sizeof key, "linear_fwd act=%d bias=%d pre=%d n=%zu out=%zu", (int)act, b != NULL, pre != NULL,
             clf_tune_bucket((size_t)n), clf_tune_bucket((size_t)out));
    fwd_tune t = {o, y, pre ? pre : y, b, tune_rows(n, out), out, act, false};
    clf_tune_request r = {key, "linear", FWD_CANDIDATES, di->is_cpu ? FWD_ROWS : FWD_ELEMENTS, valid, fwd_try, &t};
    return clf_tune_choose(dev, &r, variant);
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

    bool epilogue = act != CLF_ACT_NONE || b || pre;
    if (epilogue && (!cfg || cfg->layout == CLF_LINEAR_AUTO)) { /* in the GEMM's own store when it can */
        clf_gemm_args g = {.trans_b = true, .m = (size_t)n, .n = (size_t)out, .k = (size_t)in, .alpha = 1.0f,
                           .beta = 0.0f, .a = x, .b = w, .c = y};
        bool fuses = false;
        st = clf_gemm_fuses_epilogue(dev, &g, &fuses);
        if (st == CLF_OK && fuses) {
            clf_gemm_epilogue e = {.bias = b, .pre = pre, .act = (int)act};
            st = clf_gemm_epi(dev, &g, &e, NULL);
        }
        if (st != CLF_OK) return clf_error_context(st, "linear_fwd %dx%d->%d", n, in, out);
        if (fuses) return CLF_OK;
    }
    char opts[96];
    const char *o = program_options(dev, opts, sizeof opts);
    int variant = 0;
    if (epilogue) {
        st = fwd_variant(dev, cfg, o, y, pre, b, n, out, act, &variant);
        if (st != CLF_OK) return clf_error_context(st, "linear_fwd %dx%d->%d", n, in, out);
    }
    /* The product lands in pre when it is kept, so the epilogue reads it once and writes both. */
    cl_mem prod = pre ? pre : y;
    clf_gemm_args g = {.trans_b = true, .m = (size_t)n, .n = (size_t)out, .k = (size_t)in, .alpha = 1.0f,
                       .beta = 0.0f, .a = x, .b = w, .c = prod};
    st = clf_gemm(dev, &g);
    if (st != CLF_OK) return clf_error_context(st, "linear_fwd %dx%d->%d", n, in, out);
    if (!epilogue) return CLF_OK;
    return fwd_epilogue(dev, o, variant, y, prod, b, n, out, act);
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

/* dpre (with an activation) and db += its column sums, in configuration `variant`. */
static clf_status bwd_dpre(clf_device *dev, const char *o, int variant, cl_mem db, cl_mem dy, cl_mem y, cl_mem pre,
                           cl_mem workspace, int n, int out, clf_activation act) {
    if (variant == BWD_ROWS) return bwd_dpre_rows(dev, o, db, dy, y, pre, workspace, n, out, act);
    size_t rows = (size_t)db_rows(dev);
    size_t global[2] = {clf_round_up((size_t)out, DB_COLS), rows}, local[2] = {DB_COLS, rows};
    return CLF_RUN(dev, "linear", o, "linear_bwd_dpre", 2, global, local,
                   CLF_ARG_MEM(act == CLF_ACT_NONE ? dy : workspace), CLF_ARG_MEM(db ? db : dy), CLF_ARG_MEM(dy),
                   CLF_ARG_MEM(y ? y : dy), CLF_ARG_MEM(pre ? pre : dy), CLF_ARG_INT(n), CLF_ARG_INT(out),
                   CLF_ARG_INT(act), CLF_ARG_INT(db != NULL));
}

typedef struct bwd_tune {
    const char *o;
    bool want_db;
    cl_mem db; /* scratch [out]: db accumulates, so the caller's is never timed on */
    cl_mem dy, y, pre, workspace;
    int n, out;
    clf_activation act;
} bwd_tune;

static clf_status bwd_try(clf_device *dev, void *ctx, int variant) {
    bwd_tune *t = ctx;
    if (t->want_db && !t->db) {
        clf_status st = clf_buffer_alloc(dev, (size_t)t->out * sizeof(float), "linear tuning db", &t->db);
        if (st == CLF_OK) st = clf_buffer_fill_float(dev, t->db, 0, (size_t)t->out, 0.0f);
        if (st != CLF_OK) return st;
    }
    return bwd_dpre(dev, t->o, variant, t->db, t->dy, t->y, t->pre, t->workspace, t->n, t->out, t->act);
}

/* Forced by cfg, else tuned on the first rows, with the workspace (the op's scratch, rewritten by the
 * real call) and a scratch db. */
static clf_status bwd_variant(clf_device *dev, const clf_linear_cfg *cfg, const char *o, cl_mem db, cl_mem dy,
                              cl_mem y, cl_mem pre, cl_mem workspace, int n, int out, clf_activation act,
                              int *variant) {
    if ((cfg && cfg->layout != CLF_LINEAR_AUTO) || (size_t)n * out < TUNE_MIN_FLOATS) {
        bool rows = cfg && cfg->layout != CLF_LINEAR_AUTO ? cfg->layout == CLF_LINEAR_ROWS
                                                          : clf_device_get_info(dev)->is_cpu;
        *variant = rows ? BWD_ROWS : BWD_ELEMENTS;
        return CLF_OK;
    }
    char key[CLF_TUNE_MAX_KEY];
    snprintf(key, sizeof key, "linear_bwd act=%d db=%d n=%zu out=%zu", (int)act, db != NULL,
             clf_tune_bucket((size_t)n), clf_tune_bucket((size_t)out));
    bwd_tune t = {o, db != NULL, NULL, dy, y, pre, workspace, tune_rows(n, out), out, act};
    clf_tune_request r = {key, "linear", BWD_CANDIDATES, clf_device_get_info(dev)->is_cpu ? BWD_ROWS : BWD_ELEMENTS,
                          0, bwd_try, &t};
    clf_status st = clf_tune_choose(dev, &r, variant);
    clf_buffer_release(dev, t.db);
    return st;
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
    if (act != CLF_ACT_NONE || db) {
        int variant = 0;
        st = bwd_variant(dev, cfg, o, db, dy, y, pre, workspace, n, out, act, &variant);
        if (st == CLF_OK) st = bwd_dpre(dev, o, variant, db, dy, y, pre, workspace, n, out, act);
        if (st != CLF_OK) return clf_error_context(st, "linear_bwd %dx%d->%d", n, in, out);
    }
    if (dx) { /* dx [n, in] += dpre [n, out] W [out, in] (= with overwrite_dx) */
        float beta = cfg && cfg->overwrite_dx ? 0.0f : 1.0f;
        clf_gemm_args g = {.m = (size_t)n, .n = (size_t)in, .k = (size_t)out, .alpha = 1.0f, .beta = beta,
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
