/* CLBlast's SGEMM parameters chosen for the device by measurement (internal). Before a device's first
 * CLBlast SGEMM, a bounded list of parameter sets taken from CLBlast's own database (entries of NVIDIA,
 * AMD and Intel GPUs and of CPUs) is timed against CLBlast's choice on proxy products, within a time
 * budget; the fastest that reproduces a float64 host GEMM is applied with CLBlastOverrideParameters
 * ("Xgemm", "XgemmDirect", "GemmRoutine") and written to <cache>/clblast-<device key>.txt, which the
 * next start applies without measuring. A malformed or stale file is measured again.
 *
 * CLFORMER_CLBLAST_TUNE=auto (default: GPUs only) | on | off; CLFORMER_TUNE=off turns it off too
 * unless CLFORMER_CLBLAST_TUNE=on. Off: CLBlast's own parameters, nothing read or measured.
 *
 * CLBlast's C API can set parameters but not read or restore its own: once a process has tried a
 * set, CLBlast's database choice is gone for that device. When CLBlast's own set wins, the file says
 * so (later starts keep it) and the measuring process runs on with the fastest checked set. */
#ifndef CLFORMER_GEMM_CLBLAST_TUNE_H
#define CLFORMER_GEMM_CLBLAST_TUNE_H

#include <stdbool.h>
#include <stddef.h>

#include <clblast_c.h>

#include "gemm_internal.h"

/* Once per device and process: nothing (off), the cached choice applied, or a measurement. Cheap
 * after the first call. Candidates that do not build or run are left out; only failures of the
 * measurement's own buffers, or of applying a choice, are errors. */
clf_status clf_clblast_tune(clf_device *dev);

/* Whether tuning applies to dev under the environment (an unknown value is an error naming the choices). */
clf_status clf_clblast_tune_enabled(const clf_device *dev, bool *on);

/* Whether no parameter set has been applied to dev's CLBlast in this process (its database's own). */
bool clf_clblast_tune_pristine(const clf_device *dev);

/* ---- gemm.c ---- */

/* CLBlast's SGEMM (strided batched when s->batch > 1), without tuning first. */
clf_status clf_gemm_clblast_untuned(clf_device *dev, const clf_gemm_shape *s);
/* "CLBlastInvalidLocalMemUsage", or the OpenCL name for codes CLBlast passes through. */
const char *clf_clblast_status_name(CLBlastStatusCode s);

/* ---- tests and reports ---- */

typedef struct clf_clblast_tune_stats {
    int measured;      /* devices measured by this process */
    int loaded;        /* devices given their choice from the file */
    int tried;         /* candidate sets timed (CLBlast's own included) */
    int skipped;       /* left out before trying: past the device's work-group or local memory limits */
    int failed;        /* did not build or run, or missed the host reference */
    double ms;         /* wall time measuring (within the budget), the other sets' builds included */
    double build_ms;   /* CLBlast's first run with its own set, mostly its build, paid untuned too */
    double default_ms; /* CLBlast's own set on the proxies (best runs summed), 0 when not measured */
    double chosen_ms;  /* the chosen set on the proxies */
    double proxy_flops; /* of the proxies together */
    char choice[32];   /* the last choice made or loaded: "clblast" = CLBlast's own */
} clf_clblast_tune_stats;
void clf_clblast_tune_stats_get(clf_clblast_tune_stats *out);

/* Forget which devices were handled and the statistics, as a fresh process would start; CLBlast keeps
 * what was applied, so a new measurement's "CLBlast's own" is then the set last applied. */
void clf_clblast_tune_forget(void);

/* At most max_candidates sets besides CLBlast's own (<= 0: all), within budget_ms (<= 0: 20 s), which
 * counts everything after CLBlast's first run with its own set (its build, paid untuned too). */
void clf_clblast_tune_limit(int max_candidates, double budget_ms);

/* The file of dev ("" when the cache is off: CLFORMER_NO_CACHE). */
void clf_clblast_tune_file(const clf_device *dev, char *out, size_t size);

#endif
