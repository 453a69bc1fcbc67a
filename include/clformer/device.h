/* The device layer: platforms and devices, one context and one in-order profiling queue per
 * opened device, and every buffer allocated through it so bytes in use and the peak are known. */
#ifndef CLFORMER_DEVICE_H
#define CLFORMER_DEVICE_H

#include <stdbool.h>
#include <stddef.h>

#include <CL/cl.h>

#include "clformer/status.h"

typedef struct clf_device_info {
    int platform_index, device_index; /* the "P:D" a selector can name */
    char platform[256];
    char platform_version[128];
    char name[256];
    char vendor[256];
    char driver[128];      /* CL_DRIVER_VERSION */
    char version[128];     /* CL_DEVICE_VERSION */
    char c_version[128];   /* CL_DEVICE_OPENCL_C_VERSION */
    bool is_gpu, is_cpu;
    unsigned compute_units;
    unsigned clock_mhz;
    size_t max_work_group;
    unsigned long long local_mem;
    unsigned long long global_mem;
    unsigned long long max_alloc;
    unsigned mem_base_align; /* bytes a sub-buffer's origin must be a multiple of */
    bool fp64, fp16, subgroups;
} clf_device_info;

typedef struct clf_device clf_device;

/* Every device of every platform. *out is malloc'ed (free() it); *count may be 0. Fails with
 * CLF_ERR_NO_DEVICE and an install hint when no OpenCL platform exists at all. */
clf_status clf_device_enumerate(clf_device_info **out, size_t *count);

/* Pick one of list[0..n) by selector: "P:D", "gpu", "cpu", "any", or a case-insensitive
 * substring of the device name. NULL or "" means the default: the first GPU, else the first
 * CPU, else the first device. No match is CLF_ERR_NO_DEVICE with the devices listed. */
clf_status clf_device_select(const char *selector, const clf_device_info *list, size_t n,
                             size_t *chosen);

/* Open the device a selector names; a NULL selector reads CLFORMER_DEVICE, then the default. */
clf_status clf_device_open(const char *selector, clf_device **out);
void clf_device_free(clf_device *dev);

const clf_device_info *clf_device_get_info(const clf_device *dev);
cl_context clf_device_context(const clf_device *dev);
cl_command_queue clf_device_queue(const clf_device *dev);
cl_device_id clf_device_id(const clf_device *dev);

/* Allocate a buffer of `bytes` (what names it in errors). Refused before the driver is asked when
 * it exceeds the device's max allocation; failures report the size asked and the bytes in use. */
clf_status clf_buffer_alloc(clf_device *dev, size_t bytes, const char *what, cl_mem *out);
/* A view of [offset, offset+bytes) of a buffer; offset must be a multiple of mem_base_align. Views
 * are not counted as bytes in use. */
clf_status clf_buffer_view(clf_device *dev, cl_mem parent, size_t offset, size_t bytes, cl_mem *out);
/* Launchers' argument check: buf is not NULL and holds at least `bytes` (a shape mismatch would
 * otherwise read or write out of bounds). CLF_ERR_INVALID_ARG names `what`, the bytes needed and held. */
clf_status clf_buffer_check(cl_mem buf, size_t bytes, const char *what);
/* Release a buffer or a view (NULL is fine). */
void clf_buffer_release(clf_device *dev, cl_mem buf);

size_t clf_device_bytes_in_use(const clf_device *dev);
size_t clf_device_bytes_peak(const clf_device *dev);
void clf_device_reset_peak(clf_device *dev);

/* Blocking transfers and a fill, each checked. */
clf_status clf_buffer_write(clf_device *dev, cl_mem buf, size_t offset, size_t bytes, const void *src);
clf_status clf_buffer_read(clf_device *dev, cl_mem buf, size_t offset, size_t bytes, void *dst);
clf_status clf_buffer_fill_float(clf_device *dev, cl_mem buf, size_t offset_floats, size_t count,
                                 float value);
clf_status clf_device_finish(clf_device *dev);

/* Profiling: between begin and end every launch through clf_launch (and every GEMM) is counted and
 * its device time summed from OpenCL profiling events. */
void clf_device_profile_begin(clf_device *dev);
clf_status clf_device_profile_end(clf_device *dev, double *kernel_ms, size_t *launches);
/* For code that enqueues through another library (CLBlast): the event slot to hand it, or NULL when
 * not profiling. Call clf_device_profile_commit after the enqueue. */
cl_event *clf_device_profile_slot(clf_device *dev);
void clf_device_profile_commit(clf_device *dev);
/* Launches since the device was opened (profiling or not): launches per step is a figure we report. */
size_t clf_device_launch_count(const clf_device *dev);
/* Times the host blocked on the device (finish, blocking reads and writes, waits on events): host
 * waits per step is reported next to launches per step. */
size_t clf_device_wait_count(const clf_device *dev);
void clf_device_note_wait(clf_device *dev);

/* The OpenCL name of an error code: "CL_OUT_OF_RESOURCES". */
const char *clf_cl_errname(cl_int err);
/* Set the message "<what>: CL_NAME" and return CLF_ERR_OPENCL (CLF_ERR_NO_MEMORY for allocation
 * failures, CLF_ERR_BUILD for build failures). */
clf_status clf_cl_error(cl_int err, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define CLF_CL_ERROR(err, ...) clf_cl_error((err), __FILE__, __LINE__, __VA_ARGS__)

#endif
