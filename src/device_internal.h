/* The device's insides, shared by the device layer, the program cache, launch and GEMM. */
#ifndef CLFORMER_DEVICE_INTERNAL_H
#define CLFORMER_DEVICE_INTERNAL_H

#include "clformer/device.h"

struct clf_program_cache; /* program.c */
struct clf_gemm_state;    /* gemm_select.c */

struct clf_device {
    clf_device_info info;
    cl_platform_id platform;
    cl_device_id id;
    cl_context context;
    cl_command_queue queue;
    size_t bytes_in_use, bytes_peak;
    size_t launches, waits;
    /* profiling between clf_device_profile_begin and _end */
    bool profiling;
    cl_event *events;
    size_t n_events, cap_events;
    cl_event pending; /* slot handed out by clf_device_profile_slot */
    struct clf_program_cache *programs;
    struct clf_gemm_state *gemm; /* workspace and choices, made on first use */
};

void clf_program_cache_free(struct clf_program_cache *cache);
void clf_gemm_state_free(clf_device *dev, struct clf_gemm_state *st);
/* Keep an event for the profile (takes ownership); releases it when not profiling. */
void clf_device_profile_add(clf_device *dev, cl_event ev);

#endif
