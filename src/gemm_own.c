/* Launchers of cl/gemm.cl: pack B (and A), the register-tiled kernel, and the fixed-order sum of
 * the split-K parts. Packing goes to the device-owned workspace, grown on demand. Also the launcher
 * of cl/gemm_local.cl, the local-memory tiled kernel for GPUs. */
#include <limits.h>
#include <stdio.h>

#include "clformer/launch.h"
#include "device_internal.h"
#include "gemm_internal.h"

enum { NR = 32 };

/* Kernel tunables: rows per tile and work-items per group along M (a group shares a B panel). */
#ifndef CLF_GEMM_MR
#define CLF_GEMM_MR 8
#endif
#ifndef CLF_GEMM_WGM
#define CLF_GEMM_WGM 16
#endif
#define PACK_WG 32 /* work-items per group of the packing and summing kernels */
#define GEMM_OPTIONS "-DMR=8"
_Static_assert(CLF_GEMM_MR == 8, "GEMM_OPTIONS must match CLF_GEMM_MR");

static size_t cdiv(size_t a, size_t b) { return (a + b - 1) / b; }

bool clf_gemm_own_fits(const clf_gemm_shape *s) {
    const clf_gemm_args *g = &s->g;
    size_t big = (size_t)INT_MAX / 2;
    size_t packed = s->batch * (cdiv(g->n, NR) * NR + cdiv(g->m, CLF_GEMM_MR) * CLF_GEMM_MR) * g->k;
    size_t ea = g->a_off + s->batch * (g->stride_a + (g->trans_a ? g->k : g->m) * s->lda);
    size_t eb = g->b_off + s->batch * (g->stride_b + (g->trans_b ? g->n : g->k) * s->ldb);
    size_t ec = g->c_off + s->batch * (g->stride_c + g->m * s->ldc);
    return packed < big && ea < big && eb < big && ec < big && s->batch * 64 < big;
}

/* Split K when K is long next to the tiles of C: parts of at least 256, at most 8 parts. */
size_t clf_gemm_own_splits(const clf_gemm_shape *s) {
    const clf_gemm_args *g = &s->g;
    size_t tiles = s->batch * cdiv(g->m, CLF_GEMM_MR) * cdiv(g->n, NR);
    if (g->k < 1024 || tiles > 4096) return 1;
    size_t parts = g->k / 512;
    return parts < 2 ? 1 : parts > 8 ? 8 : parts;
}

/* Rows and columns of C per work-item of gemm_dot, and work-items per group along N. */
#define DOT_DM 4
#define DOT_DN 4
#define DOT_WG 8
#define STR_(x) #x
#define STR(x) STR_(x)
#define DOT_OPTIONS "-DDM=" STR(DOT_DM) " -DDN=" STR(DOT_DN)

/* The five epilogue arguments of the kernel that writes C (EPI_PARAMS of cl/common.cl); absent buffers
 * are stood in for by c, never touched. */
#define EPI_ARGS(e, c)                                                                                    \
    CLF_ARG_MEM((e) && (e)->bias ? (e)->bias : (c)), CLF_ARG_INT((e) && (e)->bias), CLF_ARG_INT((e) ? (e)->act : 0), \
        CLF_ARG_MEM((e) && (e)->pre ? (e)->pre : (c)), CLF_ARG_INT((e) && (e)->pre)

/* C = act(alpha A B^T + beta C + bias) with both operands' rows along k, no packing (see gemm_dot). */
static clf_status gemm_dot(clf_device *dev, const clf_gemm_shape *s, const clf_gemm_epilogue *e) {
    const clf_gemm_args *g = &s->g;
    size_t gd[3] = {cdiv(g->n, DOT_DN), cdiv(g->m, DOT_DM), s->batch}, ld[3] = {DOT_WG, 1, 1};
    return CLF_RUN(dev, "gemm", DOT_OPTIONS, "gemm_dot", 3, gd, ld, CLF_ARG_MEM(g->c), CLF_ARG_INT(g->c_off),
                   CLF_ARG_INT(s->ldc), CLF_ARG_INT(g->stride_c), CLF_ARG_MEM(g->a), CLF_ARG_INT(g->a_off),
                   CLF_ARG_INT(s->lda), CLF_ARG_INT(g->stride_a), CLF_ARG_MEM(g->b), CLF_ARG_INT(g->b_off),
                   CLF_ARG_INT(s->ldb), CLF_ARG_INT(g->stride_b), CLF_ARG_INT(g->m), CLF_ARG_INT(g->n),
                   CLF_ARG_INT(g->k), CLF_ARG_FLOAT(g->alpha), CLF_ARG_FLOAT(g->beta), EPI_ARGS(e, g->c));
}

/* gemm_local (cl/gemm_local.cl): tiles of C of LOC_TM x LOC_TN per work-group of LOC_WX x LOC_WY items,
 * k in slices of LOC_TK staged in local memory (two k-major tiles, rows padded by one word). */
#define LOC_TM 64
#define LOC_TN 64
#define LOC_TK 16
#define LOC_WX 16
#define LOC_WY 16
#define LOC_OPTIONS                                                                                      \
    "-DTM=" STR(LOC_TM) " -DTN=" STR(LOC_TN) " -DTK=" STR(LOC_TK) " -DWX=" STR(LOC_WX) " -DWY=" STR(LOC_WY)
#define LOC_LOCAL_BYTES ((size_t)LOC_TK * (LOC_TM + LOC_TN + 2) * sizeof(float))

bool clf_gemm_local_supported(const clf_device *dev) {
    return dev->info.max_work_group >= LOC_WX * LOC_WY && dev->info.local_mem >= LOC_LOCAL_BYTES;
}

/* C = act(alpha op(A) op(B) + beta C + bias): one launch, operands read in place, no workspace. */
static clf_status gemm_local(clf_device *dev, const clf_gemm_shape *s, const clf_gemm_epilogue *e) {
    const clf_gemm_args *g = &s->g;
    if (!clf_gemm_local_supported(dev))
        return CLF_ERROR(CLF_ERR_UNSUPPORTED, "gemm own-local needs work-groups of %d and %zu bytes of local memory; "
                         "%s has %zu and %llu", LOC_WX * LOC_WY, LOC_LOCAL_BYTES, dev->info.name,
                         dev->info.max_work_group, dev->info.local_mem);
    size_t gd[3] = {cdiv(g->n, LOC_TN) * LOC_WX, cdiv(g->m, LOC_TM) * LOC_WY, s->batch};
    size_t ld[3] = {LOC_WX, LOC_WY, 1};
    return CLF_RUN(dev, "gemm_local", LOC_OPTIONS, "gemm_local", 3, gd, ld, CLF_ARG_MEM(g->c), CLF_ARG_INT(g->c_off),
                   CLF_ARG_INT(s->ldc), CLF_ARG_INT(g->stride_c), CLF_ARG_MEM(g->a), CLF_ARG_INT(g->a_off),
                   CLF_ARG_INT(s->lda), CLF_ARG_INT(g->stride_a), CLF_ARG_INT(g->trans_a), CLF_ARG_MEM(g->b),
                   CLF_ARG_INT(g->b_off), CLF_ARG_INT(s->ldb), CLF_ARG_INT(g->stride_b), CLF_ARG_INT(g->trans_b),
                   CLF_ARG_INT(g->m), CLF_ARG_INT(g->n), CLF_ARG_INT(g->k), CLF_ARG_FLOAT(g->alpha),
                   CLF_ARG_FLOAT(g->beta), EPI_ARGS(e, g->c));
}

clf_status clf_gemm_own(clf_device *dev, const clf_gemm_shape *s, clf_gemm_variant v, const clf_gemm_epilogue *e) {
    const clf_gemm_args *g = &s->g;
    if (v == CLF_GEMM_OWN_LOCAL) return gemm_local(dev, s, e);
    if (v == CLF_GEMM_OWN_DOT) {
        if (!g->trans_a && g->trans_b) return gemm_dot(dev, s, e);
        v = CLF_GEMM_OWN_INPLACE; /* the other transposes have no rows along k on both sides */
    }
    size_t m = g->m, n = g->n, k = g->k, batch = s->batch;
    size_t np = cdiv(n, NR), mp = cdiv(m, CLF_GEMM_MR);
    size_t splits = v != CLF_GEMM_OWN_SPLIT ? 1
                    : s->splits                  ? s->splits
                    : clf_gemm_forced_splits(dev) ? clf_gemm_forced_splits(dev)
                                                  : clf_gemm_own_splits(s);
    if (splits > k) splits = k;
    size_t kchunk = cdiv(k, splits);
    bool inplace = v == CLF_GEMM_OWN_INPLACE;
    size_t bp_floats = inplace ? 0 : np * NR * k, ap_floats = v == CLF_GEMM_OWN_PACKED ? mp * CLF_GEMM_MR * k : 0;
    size_t part_floats = splits > 1 ? splits * m * n : 0;
    size_t ap_off = batch * bp_floats, part_off = ap_off + batch * ap_floats;
    cl_mem ws = NULL;
    clf_status st = CLF_OK;
    if (!inplace) st = clf_gemm_workspace(dev, part_off + batch * part_floats, &ws);
    if (st != CLF_OK) return st;

    /* op(B) element (kk, j) at b_off + j * js + kk * ks; a panel of 32 columns starts ps further */
    cl_mem b = g->b;
    size_t b_off = g->b_off, js = g->trans_b ? s->ldb : 1, bks = g->trans_b ? 1 : s->ldb, bps = NR * js;
    size_t stride_b = g->stride_b;
    /* fixed local sizes: PoCL compiles a kernel again for every new local size it picks itself */
    size_t gb[3] = {k, np, batch}, lp[3] = {PACK_WG, 1, 1};
    if (!inplace) {
        b = ws;
        b_off = 0;
        js = 1;
        bks = NR;
        bps = NR * k;
        stride_b = bp_floats;
        st = CLF_RUN(dev, "gemm", GEMM_OPTIONS, "gemm_pack_b", 3, gb, lp, CLF_ARG_MEM(ws), CLF_ARG_INT(0),
                     CLF_ARG_INT(bp_floats), CLF_ARG_MEM(g->b), CLF_ARG_INT(g->b_off), CLF_ARG_INT(s->ldb),
                     CLF_ARG_INT(g->stride_b), CLF_ARG_INT(g->trans_b), CLF_ARG_INT(k), CLF_ARG_INT(n));
        if (st != CLF_OK) return st;
    }

    /* op(A) element (i, kk) at a_off + i * rs + kk * ks; a panel of MR rows starts ps further */
    cl_mem a = g->a;
    size_t a_off = g->a_off, rs = g->trans_a ? 1 : s->lda, ks = g->trans_a ? s->lda : 1, stride_a = g->stride_a;
    size_t ps = CLF_GEMM_MR * rs;
    if (v == CLF_GEMM_OWN_PACKED) {
        size_t ga[3] = {k, mp, batch};
        st = CLF_RUN(dev, "gemm", GEMM_OPTIONS, "gemm_pack_a", 3, ga, lp, CLF_ARG_MEM(ws), CLF_ARG_INT(ap_off),
                     CLF_ARG_INT(ap_floats), CLF_ARG_MEM(g->a), CLF_ARG_INT(g->a_off), CLF_ARG_INT(s->lda),
                     CLF_ARG_INT(g->stride_a), CLF_ARG_INT(g->trans_a), CLF_ARG_INT(m), CLF_ARG_INT(k));
        if (st != CLF_OK) return st;
        a = ws;
        a_off = ap_off;
        rs = 1;
        ks = CLF_GEMM_MR;
        ps = CLF_GEMM_MR * k;
        stride_a = ap_floats;
    }

    cl_mem c = g->c;
    size_t c_off = g->c_off, ldc = s->ldc, stride_c = g->stride_c;
    float alpha = g->alpha, beta = g->beta;
    if (splits > 1) { /* parts go to the scratch; the sum applies alpha and beta */
        c = ws;
        c_off = part_off;
        ldc = n;
        stride_c = m * n;
        alpha = 1.0f;
        beta = 0.0f;
    }
    size_t gt[3] = {mp, np, batch * splits}, lt[3] = {CLF_GEMM_WGM, 1, 1};
    st = CLF_RUN(dev, "gemm", inplace ? GEMM_OPTIONS " -DB_INPLACE=1" : GEMM_OPTIONS, "gemm_tile", 3, gt, lt,
                 CLF_ARG_MEM(c), CLF_ARG_INT(c_off), CLF_ARG_INT(ldc), CLF_ARG_INT(stride_c), CLF_ARG_MEM(a),
                 CLF_ARG_INT(a_off), CLF_ARG_INT(rs), CLF_ARG_INT(ks), CLF_ARG_INT(ps), CLF_ARG_INT(stride_a),
                 CLF_ARG_MEM(b), CLF_ARG_INT(b_off), CLF_ARG_INT(js), CLF_ARG_INT(bks), CLF_ARG_INT(bps),
                 CLF_ARG_INT(stride_b), CLF_ARG_INT(m), CLF_ARG_INT(n), CLF_ARG_INT(k), CLF_ARG_INT(kchunk),
                 CLF_ARG_INT(splits), CLF_ARG_FLOAT(alpha), CLF_ARG_FLOAT(beta), EPI_ARGS(splits > 1 ? NULL : e, c));
    if (st != CLF_OK || splits == 1) return st;
    size_t gr[3] = {n, m, batch};
    return CLF_RUN(dev, "gemm", GEMM_OPTIONS, "gemm_reduce_split", 3, gr, lp, CLF_ARG_MEM(g->c),
                   CLF_ARG_INT(g->c_off), CLF_ARG_INT(s->ldc), CLF_ARG_INT(g->stride_c), CLF_ARG_MEM(ws),
                   CLF_ARG_INT(part_off), CLF_ARG_INT(m), CLF_ARG_INT(n), CLF_ARG_INT(splits), CLF_ARG_FLOAT(g->alpha),
                   CLF_ARG_FLOAT(g->beta), EPI_ARGS(e, g->c));
}
