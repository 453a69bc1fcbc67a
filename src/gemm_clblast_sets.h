/* The CLBlast SGEMM parameter sets the tuning tries (gemm_clblast_tune.c): entries of CLBlast's own
 * database, and whether a device can take one under CLBlast's constraints and its limits. */
#ifndef CLFORMER_GEMM_CLBLAST_SETS_H
#define CLFORMER_GEMM_CLBLAST_SETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device_internal.h"

enum { CLF_CLBLAST_NX = 16, CLF_CLBLAST_ND = 10, CLF_CLBLAST_N_SETS = 14 };

/* Parameter names of the "Xgemm" and "XgemmDirect" kernels, in the order of a set's values. */
extern const char *const clf_clblast_xgemm_names[CLF_CLBLAST_NX];
extern const char *const clf_clblast_direct_names[CLF_CLBLAST_ND];

typedef struct clf_clblast_set {
    const char *name;
    char family; /* 'N' NVIDIA, 'A' AMD, 'I' Intel GPUs, 'C' CPUs: the device's family is tried first */
    size_t xg[CLF_CLBLAST_NX], xd[CLF_CLBLAST_ND];
    size_t min_indirect; /* "GemmRoutine" XGEMM_MIN_INDIRECT_SIZE: below it CLBlast runs XgemmDirect */
} clf_clblast_set;

extern const clf_clblast_set clf_clblast_sets[CLF_CLBLAST_N_SETS];

typedef struct clf_clblast_limits {
    size_t wg, item[2];       /* work-group size, work-item sizes along the first two dimensions */
    unsigned long long local; /* local memory, bytes */
} clf_clblast_limits;

clf_status clf_clblast_device_limits(const clf_device *dev, clf_clblast_limits *l);
/* Whether CLBlast accepts the set (its tuners' constraints) and the device can run it. */
bool clf_clblast_set_fits(const clf_clblast_set *c, const clf_clblast_limits *l);
/* Changes whenever the table does, so a cached choice naming an old set is stale. */
uint64_t clf_clblast_sets_hash(void);

#endif
