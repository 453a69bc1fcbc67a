/* Kernel programs: the sources of cl/ embedded in the library, built at run time with device
 * options, cached per device in memory and as binaries on disk. */
#ifndef CLFORMER_PROGRAM_H
#define CLFORMER_PROGRAM_H

#include <stdbool.h>

#include "clformer/device.h"

/* The built program for cl/<name>.cl with extra build options (may be NULL), built on first use.
 * The device owns it. A build failure is CLF_ERR_BUILD with the file, options and full log. */
clf_status clf_program_get(clf_device *dev, const char *name, const char *options, cl_program *out);

/* A kernel of that program, created once per (program, options, kernel) and owned by the device. */
clf_status clf_kernel_get(clf_device *dev, const char *program, const char *options,
                          const char *kernel, cl_kernel *out);

/* Names of the embedded programs, NULL-terminated. */
const char *const *clf_program_names(void);

/* What the builds of this device cost so far. */
typedef struct clf_build_stats {
    int from_source, from_disk_cache; /* programs built each way */
    int cache_rejected;               /* disk entries found corrupt, truncated or stale */
    double source_ms, disk_cache_ms;  /* wall time spent in each */
} clf_build_stats;
void clf_program_build_stats(const clf_device *dev, clf_build_stats *out);

/* The cache folder: $XDG_CACHE_HOME/clformer or ~/.cache/clformer; NULL when CLFORMER_NO_CACHE=1. */
const char *clf_cache_dir(void);

#endif
