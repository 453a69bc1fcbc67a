/* The CLBlast SGEMM parameter sets (gemm_clblast_sets.h), taken from CLBlast 1.5.3's database. */
#include "gemm_clblast_sets.h"

#include <stdlib.h>
#include <string.h>

#include "host_util.h"

/* Parameter names in the order of the values below (CLBlast's database order). */
const char *const clf_clblast_xgemm_names[CLF_CLBLAST_NX] = {"GEMMK", "KREG", "KWG",   "KWI",  "MDIMA", "MDIMC",
                                                             "MWG",   "NDIMB", "NDIMC", "NWG",  "SA",    "SB",
                                                             "STRM",  "STRN",  "VWM",   "VWN"};
const char *const clf_clblast_direct_names[CLF_CLBLAST_ND] = {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD",
                                                              "PADA", "PADB",   "VWMD",   "VWND",   "WGD"};
enum { GEMMK, KREG, KWG, KWI, MDIMA, MDIMC, MWG, NDIMB, NDIMC, NWG, SA, SB, STRM, STRN, VWM, VWN };
enum { KWID, MDIMAD, MDIMCD, NDIMBD, NDIMCD, PADA, PADB, VWMD, VWND, WGD };

/* Entries of CLBlast's single-precision database (src/database/kernels/xgemm{,_direct}/xgemm*_32.hpp,
 * gemm_routine_32.hpp), named after the device they were tuned on. The "indirect" sets route the
 * proxies through the Xgemm kernel (products from 512^3 on); the "direct" ones keep training-size
 * products on the single-kernel XgemmDirect path, as CLBlast does on NVIDIA below 1984^3. */
#define XD_ALL {2, 8, 8, 8, 8, 1, 1, 1, 1, 16}       /* XgemmDirect, default of all devices */
#define XD_SM80 {8, 8, 16, 32, 16, 1, 1, 2, 1, 32}   /* XgemmDirect, NVIDIA SM8.0 */
#define XG_ALL {0, 1, 32, 2, 8, 8, 32, 8, 8, 32, 1, 1, 0, 0, 4, 4} /* Xgemm, default of all devices */
const clf_clblast_set clf_clblast_sets[CLF_CLBLAST_N_SETS] = {
    {"a100", 'N', {0, 1, 32, 2, 8, 8, 32, 16, 16, 64, 1, 1, 0, 0, 4, 4}, XD_SM80, 512},      /* A100-PCIE-40GB */
    {"a100-direct", 'N', XG_ALL, XD_SM80, 4096},                                              /* SM8.0 direct */
    {"v100", 'N', {0, 1, 32, 2, 16, 16, 64, 8, 8, 32, 1, 1, 0, 0, 4, 4},                     /* Tesla V100 */
     {2, 16, 16, 16, 16, 1, 1, 1, 2, 32}, 512},
    {"v100-direct", 'N', XG_ALL, {2, 16, 16, 16, 16, 1, 1, 1, 2, 32}, 4096},                 /* SM7.0 direct */
    {"rtx3080", 'N', {0, 1, 32, 2, 8, 8, 64, 32, 16, 128, 1, 1, 1, 1, 2, 2}, XD_SM80, 512},  /* RTX 3080 */
    {"rtx4090", 'N', {0, 1, 32, 2, 32, 32, 128, 8, 8, 64, 0, 1, 1, 1, 4, 4}, XD_SM80, 512},  /* RTX 4090 */
    {"sm89-k1", 'N', {1, 8, 1, 1, 8, 8, 64, 8, 8, 64, 0, 0, 0, 0, 4, 8}, XD_SM80, 512},      /* SM8.9 default */
    {"mi50", 'A', {0, 1, 32, 2, 16, 16, 64, 16, 16, 64, 1, 1, 0, 0, 4, 4},                   /* Instinct MI50 */
     {8, 16, 16, 32, 16, 1, 1, 4, 1, 64}, 512},
    {"rx7900xtx", 'A', {0, 1, 32, 2, 16, 16, 64, 8, 8, 32, 0, 1, 1, 0, 4, 4}, XD_ALL, 512},  /* gfx1100 */
    {"rx9070xt", 'A', {0, 1, 32, 2, 16, 8, 64, 16, 8, 128, 1, 1, 0, 1, 4, 8}, XD_ALL, 512},  /* gfx1201 */
    {"arc-a770", 'I', {1, 16, 1, 1, 16, 16, 64, 4, 4, 32, 0, 0, 0, 0, 1, 8},                 /* Arc A770 */
     {2, 8, 8, 8, 8, 1, 1, 1, 1, 8}, 512},
    {"iris-xe", 'I', {0, 1, 16, 2, 8, 8, 64, 16, 8, 64, 1, 1, 0, 1, 1, 2}, XD_ALL, 512},     /* Iris Xe */
    {"cpu", 'C', {0, 1, 32, 2, 16, 16, 64, 8, 8, 64, 0, 0, 0, 0, 4, 4},                      /* Intel CPUs */
     {2, 8, 8, 8, 8, 1, 1, 4, 4, 32}, 512},
    {"i9-9980hk", 'C', {1, 2, 1, 1, 16, 16, 64, 4, 4, 64, 0, 0, 0, 0, 1, 1},                 /* Core i9-9980HK */
     {2, 8, 8, 8, 8, 1, 1, 4, 4, 32}, 512},
};
_Static_assert(sizeof clf_clblast_sets / sizeof clf_clblast_sets[0] == CLF_CLBLAST_N_SETS, "every set is listed");

/* ---- sets against CLBlast's constraints (src/tuning/kernels/xgemm*.hpp) and the device ---- */

static bool mult(size_t x, size_t d) { return d != 0 && x % d == 0; }

bool clf_clblast_set_fits(const clf_clblast_set *c, const clf_clblast_limits *l) {
    const size_t *x = c->xg, *d = c->xd;
    for (int i = 0; i < CLF_CLBLAST_NX; i++)
        if (x[i] == 0 && i != GEMMK && i != SA && i != SB && i != STRM && i != STRN) return false;
    for (int i = 0; i < CLF_CLBLAST_ND; i++)
        if (d[i] == 0 && i != PADA && i != PADB) return false;
    bool ok = x[GEMMK] <= 1 && mult(x[MWG], x[MDIMC] * x[VWM]) && mult(x[NWG], x[NDIMC] * x[VWN]) &&
              mult(x[MWG], x[MDIMA] * x[VWM]) && mult(x[NWG], x[NDIMB] * x[VWN]) && mult(x[KWG], x[KWI]);
    if (x[GEMMK] == 0)
        ok = ok && mult(x[KWG], x[MDIMC] * x[NDIMC] / x[MDIMA]) && mult(x[KWG], x[MDIMC] * x[NDIMC] / x[NDIMB]);
    else /* the second kernel: no local memory, K in registers */
        ok = ok && mult(x[KREG], x[VWN]) && x[MDIMA] == x[MDIMC] && x[NDIMB] == x[NDIMC] && !x[SA] && !x[SB];
    ok = ok && mult(d[WGD], d[KWID]) && mult(d[WGD], d[MDIMCD] * d[VWMD]) && mult(d[WGD], d[NDIMCD] * d[VWND]) &&
         mult(d[WGD], d[MDIMAD] * d[VWMD]) && mult(d[WGD], d[NDIMBD] * d[VWND]) &&
         mult(d[WGD], d[MDIMCD] * d[NDIMCD] / d[MDIMAD]) && mult(d[WGD], d[MDIMCD] * d[NDIMCD] / d[NDIMBD]);
    if (!ok || c->min_indirect == 0) return false;
    unsigned long long lx = 4ull * (x[SA] * x[KWG] * x[MWG] + x[SB] * x[KWG] * x[NWG]);
    unsigned long long ld = 4ull * (d[WGD] * (d[WGD] + d[PADA]) + d[WGD] * (d[WGD] + d[PADB]));
    return x[MDIMC] * x[NDIMC] <= l->wg && x[MDIMC] <= l->item[0] && x[NDIMC] <= l->item[1] &&
           d[MDIMCD] * d[NDIMCD] <= l->wg && d[MDIMCD] <= l->item[0] && d[NDIMCD] <= l->item[1] &&
           lx <= l->local && ld <= l->local;
}

clf_status clf_clblast_device_limits(const clf_device *dev, clf_clblast_limits *l) {
    size_t items[3] = {0, 0, 0};
    cl_uint dims = 0;
    cl_int err = clGetDeviceInfo(dev->id, CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS, sizeof dims, &dims, NULL);
    if (err != CL_SUCCESS)
        return CLF_CL_ERROR(err, "CLBlast tuning: CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS of %s", dev->info.name);
    if (dims < 2)
        return CLF_ERROR(CLF_ERR_UNSUPPORTED, "CLBlast tuning: %s has %u work-item dimensions", dev->info.name, dims);
    size_t *all = calloc(dims, sizeof *all);
    if (!all) return CLF_ERROR(CLF_ERR_NO_MEMORY, "CLBlast tuning: out of host memory");
    err = clGetDeviceInfo(dev->id, CL_DEVICE_MAX_WORK_ITEM_SIZES, dims * sizeof *all, all, NULL);
    if (err == CL_SUCCESS) memcpy(items, all, 2 * sizeof *all);
    free(all);
    if (err != CL_SUCCESS)
        return CLF_CL_ERROR(err, "CLBlast tuning: CL_DEVICE_MAX_WORK_ITEM_SIZES of %s", dev->info.name);
    *l = (clf_clblast_limits){dev->info.max_work_group, {items[0], items[1]}, dev->info.local_mem};
    return CLF_OK;
}

uint64_t clf_clblast_sets_hash(void) {
    uint64_t h = CLF_FNV_OFFSET;
    for (size_t i = 0; i < CLF_CLBLAST_N_SETS; i++) {
        h = clf_fnv_str(h, clf_clblast_sets[i].name);
        h = clf_fnv1a(h, clf_clblast_sets[i].xg, sizeof clf_clblast_sets[i].xg);
        h = clf_fnv1a(h, clf_clblast_sets[i].xd, sizeof clf_clblast_sets[i].xd);
        h = clf_fnv1a(h, &clf_clblast_sets[i].min_indirect, sizeof clf_clblast_sets[i].min_indirect);
    }
    return h;
}

