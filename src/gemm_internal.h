/* GEMM's insides: the variants clf_gemm chooses from, the per-device state (workspace, checked
 * variants, choices per shape) and the hooks the tests and benchmarks use to force one. */
#ifndef CLFORMER_GEMM_INTERNAL_H
#define CLFORMER_GEMM_INTERNAL_H

#include "clformer/gemm.h"

typedef enum clf_gemm_variant {
    CLF_GEMM_AUTO = 0,   /* choose per shape by measurement */
    CLF_GEMM_CLBLAST,    /* CLBlast's SGEMM */
    CLF_GEMM_OWN_PACKED, /* own kernel, A and B packed into panels */
    CLF_GEMM_OWN_DIRECT, /* own kernel, B packed, A read in place */
    CLF_GEMM_OWN_SPLIT,  /* as DIRECT with K split into parts summed in a fixed order */
    CLF_GEMM_OWN_INPLACE, /* own kernel, A and B read in place: one launch, for small products */
    CLF_GEMM_OWN_DOT,     /* own kernel, C = A B^T as dot products of rows in place: one launch, for few
                             rows of C (a decoding step); other transposes run as OWN_INPLACE */
    CLF_GEMM_OWN_LOCAL,   /* own kernel for GPUs: tiles of C from operand slices staged in local memory, one
                             launch, all transposes; timed on GPUs only (slow on CPU devices) */
    CLF_GEMM_VARIANT_COUNT
} clf_gemm_variant;

/* "auto", "clblast", "own-packed", ... */
const char *clf_gemm_variant_name(clf_gemm_variant v);
/* Parses a name as above; "own" means the fastest own variant for the shape. false if unknown. */
bool clf_gemm_variant_parse(const char *name, clf_gemm_variant *v, bool *own_only);

/* Arguments with defaults resolved (batch >= 1, leading dimensions and strides filled in). */
typedef struct clf_gemm_shape {
    clf_gemm_args g;
    size_t batch, lda, ldb, ldc;
    size_t splits; /* parts of K for CLF_GEMM_OWN_SPLIT; 0: clf_gemm_own_splits decides */
} clf_gemm_shape;

/* Force a variant for this device's next calls, over CLFORMER_GEMM; (CLF_GEMM_AUTO, own_only) picks
 * the fastest own variant; (CLF_GEMM_AUTO, false) lifts the force. */
clf_status clf_gemm_force(clf_device *dev, clf_gemm_variant v, bool own_only);

/* Tests: parts of K the split variant uses from now on, whatever the shape (0: its own rule). */
clf_status clf_gemm_force_splits(clf_device *dev, size_t parts);
size_t clf_gemm_forced_splits(const clf_device *dev);

/* Run one variant as is, no selection (the self-check and the measurements use it). With an epilogue
 * (may be NULL), *fused (may be NULL) says whether the variant applied it (own kernels do, CLBlast not). */
clf_status clf_gemm_run_variant(clf_device *dev, const clf_gemm_shape *s, clf_gemm_variant v);
clf_status clf_gemm_run_variant_epi(clf_device *dev, const clf_gemm_shape *s, clf_gemm_variant v,
                                    const clf_gemm_epilogue *e, bool *fused);

/* The variant auto selection picks (measuring if the shape is new); for reports. */
clf_status clf_gemm_choose(clf_device *dev, const clf_gemm_shape *s, clf_gemm_variant *out);


/* ---- between the gemm_*.c files ---- */

struct clf_gemm_state; /* gemm_select.c; freed with the device */
clf_status clf_gemm_state_get(clf_device *dev, struct clf_gemm_state **out);

/* gemm_own.c: own kernels (CLF_GEMM_OWN_*); splits > 1 only for CLF_GEMM_OWN_SPLIT. */
clf_status clf_gemm_own(clf_device *dev, const clf_gemm_shape *s, clf_gemm_variant v, const clf_gemm_epilogue *e);
/* Whether the device can run CLF_GEMM_OWN_LOCAL (its work-group size and local memory). */
bool clf_gemm_local_supported(const clf_device *dev);
/* Whether the own kernels can take this shape (sizes fit their int arguments). */
bool clf_gemm_own_fits(const clf_gemm_shape *s);
/* Parts the split variant uses for this shape (1: splitting does not apply). */
size_t clf_gemm_own_splits(const clf_gemm_shape *s);
/* The workspace, grown to at least `floats` (device-owned, counted in bytes in use). */
clf_status clf_gemm_workspace(clf_device *dev, size_t floats, cl_mem *out);

/* gemm.c: CLBlast. */
clf_status clf_gemm_clblast(clf_device *dev, const clf_gemm_shape *s);

#endif
