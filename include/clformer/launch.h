/* One place that sets kernel arguments, rounds NDRanges up to the work-group size, checks every
 * error and records profiling. Kernels guard their own bounds. */
#ifndef CLFORMER_LAUNCH_H
#define CLFORMER_LAUNCH_H

#include "clformer/device.h"

typedef struct clf_arg {
    size_t size;
    const void *value; /* NULL with a size: __local memory of that many bytes */
} clf_arg;

#define CLF_ARG_MEM(m) ((clf_arg){sizeof(cl_mem), &(cl_mem){(m)}})
#define CLF_ARG_INT(v) ((clf_arg){sizeof(cl_int), &(cl_int){(cl_int)(v)}})
#define CLF_ARG_UINT(v) ((clf_arg){sizeof(cl_uint), &(cl_uint){(cl_uint)(v)}})
#define CLF_ARG_FLOAT(v) ((clf_arg){sizeof(cl_float), &(cl_float){(cl_float)(v)}})
#define CLF_ARG_LOCAL(bytes) ((clf_arg){(bytes), NULL})

/* Set args[0..nargs) on kernel and enqueue it over global (rounded up to a multiple of local;
 * local may be NULL to let the driver choose). name is for messages. */
clf_status clf_launch(clf_device *dev, cl_kernel kernel, const char *name, cl_uint dims, const size_t *global,
                      const size_t *local, size_t nargs, const clf_arg *args);

#define CLF_LAUNCH(dev, kernel, name, dims, global, local, ...)                                  \
    clf_launch((dev), (kernel), (name), (dims), (global), (local),                              \
               sizeof((clf_arg[]){__VA_ARGS__}) / sizeof(clf_arg), (clf_arg[]){__VA_ARGS__})

/* Get kernel `name` of cl/<program>.cl (built with options) and launch it: the common case. */
clf_status clf_run(clf_device *dev, const char *program, const char *options, const char *name, cl_uint dims,
                   const size_t *global, const size_t *local, size_t nargs, const clf_arg *args);

#define CLF_RUN(dev, program, options, name, dims, global, local, ...)                           \
    clf_run((dev), (program), (options), (name), (dims), (global), (local),                     \
            sizeof((clf_arg[]){__VA_ARGS__}) / sizeof(clf_arg), (clf_arg[]){__VA_ARGS__})

/* Smallest multiple of m that is >= n. */
static inline size_t clf_round_up(size_t n, size_t m) { return m ? (n + m - 1) / m * m : n; }

#endif
