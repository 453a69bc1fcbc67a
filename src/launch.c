/* Kernel launch: arguments, rounded NDRange, checked enqueue, profiling event. */
#include "clformer/launch.h"
#include "clformer/program.h"
#include "device_internal.h"

clf_status clf_launch(clf_device *dev, cl_kernel kernel, const char *name, cl_uint dims, const size_t *global,
                      const size_t *local, size_t nargs, const clf_arg *args) {
    if (!kernel) return CLF_ERROR(CLF_ERR_INVALID_ARG, "launch of %s without a kernel", name);
    for (size_t i = 0; i < nargs; i++) {
        cl_int err = clSetKernelArg(kernel, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "clSetKernelArg(%s, arg %zu)", name, i);
    }
    size_t g[3] = {1, 1, 1};
    for (cl_uint d = 0; d < dims; d++) {
        g[d] = local ? clf_round_up(global[d], local[d]) : global[d];
        if (g[d] == 0) return CLF_OK; /* nothing to do */
    }
    cl_event ev = NULL;
    cl_int err = clEnqueueNDRangeKernel(dev->queue, kernel, dims, NULL, g, local, 0, NULL,
                                        dev->profiling ? &ev : NULL);
    if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "clEnqueueNDRangeKernel(%s)", name);
    dev->launches++;
    if (ev) clf_device_profile_add(dev, ev);
    return CLF_OK;
}

clf_status clf_run(clf_device *dev, const char *program, const char *options, const char *name, cl_uint dims,
                   const size_t *global, const size_t *local, size_t nargs, const clf_arg *args) {
    cl_kernel k;
    clf_status st = clf_kernel_get(dev, program, options, name, &k);
    if (st != CLF_OK) return st;
    return clf_launch(dev, k, name, dims, global, local, nargs, args);
}
