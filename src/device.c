/* Platforms, devices, the context and queue of an opened device, and accounted allocation. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clformer/launch.h"
#include "device_internal.h"
#include "fault.h"

static const char *install_hint =
    "no OpenCL platform found. Install a driver: on Debian/Ubuntu `apt-get install "
    "pocl-opencl-icd` gives the CPU device; GPU vendors ship their own ICD "
    "(see /etc/OpenCL/vendors)";

static void get_string(cl_device_id d, cl_device_info what, char *buf, size_t n) {
    buf[0] = '\0';
    if (clGetDeviceInfo(d, what, n, buf, NULL) != CL_SUCCESS) buf[0] = '\0';
    buf[n - 1] = '\0';
}

/* Numeric device properties; 0 when the query fails. */
static cl_uint get_uint(cl_device_id d, cl_device_info what) {
    cl_uint v = 0;
    return clGetDeviceInfo(d, what, sizeof v, &v, NULL) == CL_SUCCESS ? v : 0;
}

static cl_ulong get_ulong(cl_device_id d, cl_device_info what) {
    cl_ulong v = 0;
    return clGetDeviceInfo(d, what, sizeof v, &v, NULL) == CL_SUCCESS ? v : 0;
}

static bool has_extension(cl_device_id d, const char *ext) {
    size_t n = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &n) != CL_SUCCESS || n == 0) return false;
    char *s = malloc(n + 1);
    if (!s) return false;
    bool found = false;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, n, s, NULL) == CL_SUCCESS) {
        s[n] = '\0';
        size_t len = strlen(ext);
        for (char *p = strstr(s, ext); p; p = strstr(p + 1, ext))
            if ((p == s || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0')) found = true;
    }
    free(s);
    return found;
}

static void fill_info(cl_platform_id p, cl_device_id d, int pi, int di, clf_device_info *info) {
    memset(info, 0, sizeof *info);
    info->platform_index = pi;
    info->device_index = di;
    clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof info->platform, info->platform, NULL);
    clGetPlatformInfo(p, CL_PLATFORM_VERSION, sizeof info->platform_version, info->platform_version, NULL);
    info->platform[sizeof info->platform - 1] = '\0';
    info->platform_version[sizeof info->platform_version - 1] = '\0';
    get_string(d, CL_DEVICE_NAME, info->name, sizeof info->name);
    get_string(d, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    get_string(d, CL_DRIVER_VERSION, info->driver, sizeof info->driver);
    get_string(d, CL_DEVICE_VERSION, info->version, sizeof info->version);
    get_string(d, CL_DEVICE_OPENCL_C_VERSION, info->c_version, sizeof info->c_version);
    cl_device_type type = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    info->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    info->compute_units = get_uint(d, CL_DEVICE_MAX_COMPUTE_UNITS);
    info->clock_mhz = get_uint(d, CL_DEVICE_MAX_CLOCK_FREQUENCY);
    size_t wg = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    info->max_work_group = wg;
    info->local_mem = get_ulong(d, CL_DEVICE_LOCAL_MEM_SIZE);
    info->global_mem = get_ulong(d, CL_DEVICE_GLOBAL_MEM_SIZE);
    info->max_alloc = get_ulong(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
    cl_uint bits = get_uint(d, CL_DEVICE_MEM_BASE_ADDR_ALIGN);
    info->mem_base_align = bits >= 8 ? bits / 8 : 128;
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp, &fp, NULL);
    info->fp64 = fp != 0 || has_extension(d, "cl_khr_fp64");
    info->fp16 = has_extension(d, "cl_khr_fp16");
    info->subgroups = has_extension(d, "cl_khr_subgroups") || has_extension(d, "cl_intel_subgroups");
}

/* Walk every platform and device, calling visit for each; visit returns true to stop. */
typedef bool (*visit_fn)(cl_platform_id, cl_device_id, int, int, void *);

static clf_status walk_devices(visit_fn visit, void *ctx) {
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0))
        return CLF_ERROR(CLF_ERR_NO_DEVICE, "%s", install_hint);
    if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "clGetPlatformIDs");
    cl_platform_id plats[64];
    if (np > 64) np = 64;
    err = clGetPlatformIDs(np, plats, NULL);
    if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "clGetPlatformIDs");
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        err = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
        if (err == CL_DEVICE_NOT_FOUND || nd == 0) continue;
        if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "clGetDeviceIDs(platform %u)", p);
        cl_device_id devs[64];
        if (nd > 64) nd = 64;
        err = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL);
        if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "clGetDeviceIDs(platform %u)", p);
        for (cl_uint d = 0; d < nd; d++)
            if (visit(plats[p], devs[d], (int)p, (int)d, ctx)) return CLF_OK;
    }
    return CLF_OK;
}

typedef struct {
    clf_device_info *list;
    size_t n, cap;
    bool oom;
} collect_ctx;

static bool collect(cl_platform_id p, cl_device_id d, int pi, int di, void *vctx) {
    collect_ctx *c = vctx;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        clf_device_info *list = realloc(c->list, cap * sizeof *list);
        if (!list) {
            c->oom = true;
            return true;
        }
        c->list = list;
        c->cap = cap;
    }
    fill_info(p, d, pi, di, &c->list[c->n++]);
    return false;
}

clf_status clf_device_enumerate(clf_device_info **out, size_t *count) {
    collect_ctx c = {0};
    *out = NULL;
    *count = 0;
    clf_status st = walk_devices(collect, &c);
    if (st == CLF_OK && c.oom) st = CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory listing devices");
    if (st != CLF_OK) {
        free(c.list);
        return st;
    }
    *out = c.list;
    *count = c.n;
    return CLF_OK;
}

static bool contains_nocase(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return true;
    }
    return n == 0;
}

static bool parse_index(const char *s, int *p, int *d) {
    char tail;
    return sscanf(s, "%d:%d%c", p, d, &tail) == 2;
}

clf_status clf_device_select(const char *selector, const clf_device_info *list, size_t n,
                             size_t *chosen) {
    if (n == 0) return CLF_ERROR(CLF_ERR_NO_DEVICE, "%s", install_hint);
    const char *sel = selector && *selector ? selector : "default";
    int p = -1, d = -1;
    bool by_index = parse_index(sel, &p, &d);
    /* the default looks for a GPU, then a CPU, then takes anything */
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < n; i++) {
            const clf_device_info *x = &list[i];
            bool ok;
            if (by_index) ok = x->platform_index == p && x->device_index == d;
            else if (!strcmp(sel, "any")) ok = true;
            else if (!strcasecmp(sel, "gpu")) ok = x->is_gpu;
            else if (!strcasecmp(sel, "cpu")) ok = x->is_cpu;
            else if (!strcmp(sel, "default")) ok = pass == 0 ? x->is_gpu : pass == 1 ? x->is_cpu : true;
            else ok = contains_nocase(x->name, sel);
            if (ok) {
                *chosen = i;
                return CLF_OK;
            }
        }
        if (strcmp(sel, "default") != 0) break;
    }
    char avail[4096];
    size_t len = 0;
    avail[0] = '\0';
    for (size_t i = 0; i < n && len < sizeof avail; i++) {
        int w = snprintf(avail + len, sizeof avail - len, "\n  %d:%d  %s (%s)", list[i].platform_index,
                         list[i].device_index, list[i].name, list[i].platform);
        if (w > 0) len += (size_t)w;
    }
    return CLF_ERROR(CLF_ERR_NO_DEVICE,
                     "no device matches '%s' (use P:D, gpu, cpu, any or part of a name); "
                     "devices present:%s",
                     sel, avail);
}

typedef struct {
    int p, d;
    cl_platform_id plat;
    cl_device_id dev;
} find_ctx;

static bool find(cl_platform_id p, cl_device_id d, int pi, int di, void *vctx) {
    find_ctx *f = vctx;
    if (pi != f->p || di != f->d) return false;
    f->plat = p;
    f->dev = d;
    return true;
}

clf_status clf_device_open(const char *selector, clf_device **out) {
    *out = NULL;
    if (!selector) selector = getenv("CLFORMER_DEVICE");
    clf_device_info *list = NULL;
    size_t n = 0, idx = 0;
    clf_status st = clf_device_enumerate(&list, &n);
    if (st != CLF_OK) return st;
    st = clf_device_select(selector, list, n, &idx);
    if (st != CLF_OK) {
        free(list);
        return st;
    }
    clf_device *dev = calloc(1, sizeof *dev);
    if (!dev) {
        free(list);
        return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory opening a device");
    }
    dev->info = list[idx];
    free(list);

    find_ctx f = {dev->info.platform_index, dev->info.device_index, NULL, NULL};
    st = walk_devices(find, &f);
    if (st != CLF_OK) goto out_free;
    if (!f.dev) {
        st = CLF_ERROR(CLF_ERR_NO_DEVICE, "device %s vanished while opening it", dev->info.name);
        goto out_free;
    }
    dev->platform = f.plat;
    dev->id = f.dev;

    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)f.plat, 0};
    dev->context = clCreateContext(props, 1, &dev->id, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        st = CLF_CL_ERROR(err, "clCreateContext(%s)", dev->info.name);
        goto out_free;
    }
    dev->queue = clCreateCommandQueue(dev->context, dev->id, CL_QUEUE_PROFILING_ENABLE, &err);
    if (err != CL_SUCCESS) {
        st = CLF_CL_ERROR(err, "clCreateCommandQueue(%s)", dev->info.name);
        goto out_release_context;
    }
    *out = dev;
    return CLF_OK;

out_release_context:
    clReleaseContext(dev->context);
out_free:
    free(dev);
    return st;
}

void clf_device_free(clf_device *dev) {
    if (!dev) return;
    if (dev->queue) clFinish(dev->queue);
    for (size_t i = 0; i < dev->n_events; i++) clReleaseEvent(dev->events[i]);
    free(dev->events);
    clf_gemm_state_free(dev, dev->gemm);
    clf_program_cache_free(dev->programs);
    if (dev->queue) clReleaseCommandQueue(dev->queue);
    if (dev->context) clReleaseContext(dev->context);
    free(dev);
}

const clf_device_info *clf_device_get_info(const clf_device *dev) { return &dev->info; }
cl_context clf_device_context(const clf_device *dev) { return dev->context; }
cl_command_queue clf_device_queue(const clf_device *dev) { return dev->queue; }
cl_device_id clf_device_id(const clf_device *dev) { return dev->id; }

static void human_bytes(size_t b, char *buf, size_t n) {
    if (b >= (1u << 30)) snprintf(buf, n, "%.2f GiB", (double)b / (1u << 30));
    else if (b >= (1u << 20)) snprintf(buf, n, "%.2f MiB", (double)b / (1u << 20));
    else if (b >= 1024) snprintf(buf, n, "%.1f KiB", (double)b / 1024);
    else snprintf(buf, n, "%zu B", b);
}

clf_status clf_buffer_alloc(clf_device *dev, size_t bytes, const char *what, cl_mem *out) {
    *out = NULL;
    char asked[32], used[32], limit[32];
    human_bytes(bytes, asked, sizeof asked);
    human_bytes(dev->bytes_in_use, used, sizeof used);
    if (bytes == 0) return CLF_ERROR(CLF_ERR_INVALID_ARG, "buffer '%s' of 0 bytes", what);
    if (bytes > dev->info.max_alloc) {
        human_bytes((size_t)dev->info.max_alloc, limit, sizeof limit);
        return CLF_ERROR(CLF_ERR_NO_MEMORY,
                         "buffer '%s' of %s exceeds %s's largest allocation (%s); %s in use", what,
                         asked, dev->info.name, limit, used);
    }
    cl_int err;
    cl_mem m = clf_fault_alloc(dev->info.name) ? (err = CL_MEM_OBJECT_ALLOCATION_FAILURE, NULL)
                                               : clCreateBuffer(dev->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS || !m) {
        clf_status st = CLF_CL_ERROR(err, "clCreateBuffer('%s', %s) with %s already in use on %s",
                                     what, asked, used, dev->info.name);
        return st == CLF_ERR_OPENCL && (err == CL_OUT_OF_RESOURCES || err == CL_MEM_OBJECT_ALLOCATION_FAILURE)
                   ? CLF_ERR_NO_MEMORY
                   : st;
    }
    dev->bytes_in_use += bytes;
    if (dev->bytes_in_use > dev->bytes_peak) dev->bytes_peak = dev->bytes_in_use;
    *out = m;
    return CLF_OK;
}

clf_status clf_buffer_view(clf_device *dev, cl_mem parent, size_t offset, size_t bytes, cl_mem *out) {
    *out = NULL;
    if (offset % dev->info.mem_base_align)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "view offset %zu is not a multiple of %u bytes", offset,
                         dev->info.mem_base_align);
    cl_buffer_region r = {offset, bytes};
    cl_int err;
    cl_mem m = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &r, &err);
    if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "clCreateSubBuffer(offset %zu, %zu bytes)", offset, bytes);
    *out = m;
    return CLF_OK;
}

clf_status clf_buffer_check(cl_mem buf, size_t bytes, const char *what) {
    if (!buf) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s is NULL (needs %zu bytes)", what, bytes);
    size_t have = 0;
    cl_int err = clGetMemObjectInfo(buf, CL_MEM_SIZE, sizeof have, &have, NULL);
    if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "clGetMemObjectInfo(%s)", what);
    if (have < bytes) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s holds %zu bytes, needs %zu", what, have, bytes);
    return CLF_OK;
}

void clf_buffer_release(clf_device *dev, cl_mem buf) {
    if (!buf) return;
    cl_mem parent = NULL;
    size_t size = 0;
    clGetMemObjectInfo(buf, CL_MEM_ASSOCIATED_MEMOBJECT, sizeof parent, &parent, NULL);
    clGetMemObjectInfo(buf, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (!parent && size <= dev->bytes_in_use) dev->bytes_in_use -= size;
    clReleaseMemObject(buf);
}

size_t clf_device_bytes_in_use(const clf_device *dev) { return dev->bytes_in_use; }
size_t clf_device_bytes_peak(const clf_device *dev) { return dev->bytes_peak; }
void clf_device_reset_peak(clf_device *dev) { dev->bytes_peak = dev->bytes_in_use; }

clf_status clf_buffer_write(clf_device *dev, cl_mem buf, size_t offset, size_t bytes, const void *src) {
    if (bytes == 0) return CLF_OK;
    dev->waits++;
    cl_int err = clEnqueueWriteBuffer(dev->queue, buf, CL_TRUE, offset, bytes, src, 0, NULL, NULL);
    if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "clEnqueueWriteBuffer(%zu bytes at %zu)", bytes, offset);
    return CLF_OK;
}

clf_status clf_buffer_read(clf_device *dev, cl_mem buf, size_t offset, size_t bytes, void *dst) {
    if (bytes == 0) return CLF_OK;
    dev->waits++;
    cl_int err = clEnqueueReadBuffer(dev->queue, buf, CL_TRUE, offset, bytes, dst, 0, NULL, NULL);
    if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "clEnqueueReadBuffer(%zu bytes at %zu)", bytes, offset);
    return CLF_OK;
}

clf_status clf_buffer_fill_float(clf_device *dev, cl_mem buf, size_t offset_floats, size_t count,
                                 float value) {
    if (count == 0) return CLF_OK;
    if (offset_floats + count <= (size_t)INT_MAX - 16) { /* a kernel: all cores, vector stores */
        size_t global = (count + 15) / 16, local = 64;
        return CLF_RUN(dev, "copy", NULL, "fill_f32", 1, &global, &local, CLF_ARG_MEM(buf), CLF_ARG_INT(offset_floats),
                       CLF_ARG_INT(count), CLF_ARG_FLOAT(value));
    }
    cl_event ev = NULL;
    cl_int err = clEnqueueFillBuffer(dev->queue, buf, &value, sizeof value, offset_floats * sizeof(float),
                                     count * sizeof(float), 0, NULL, dev->profiling ? &ev : NULL);
    if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "clEnqueueFillBuffer(%zu floats)", count);
    dev->launches++;
    if (ev) clf_device_profile_add(dev, ev);
    return CLF_OK;
}

clf_status clf_device_finish(clf_device *dev) {
    dev->waits++;
    cl_int err = clFinish(dev->queue);
    if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "clFinish(%s)", dev->info.name);
    return CLF_OK;
}

void clf_device_profile_begin(clf_device *dev) {
    for (size_t i = 0; i < dev->n_events; i++) clReleaseEvent(dev->events[i]);
    dev->n_events = 0;
    dev->profiling = true;
}

void clf_device_profile_add(clf_device *dev, cl_event ev) {
    if (!dev->profiling) {
        clReleaseEvent(ev);
        return;
    }
    if (dev->n_events == dev->cap_events) {
        size_t cap = dev->cap_events ? 2 * dev->cap_events : 256;
        cl_event *e = realloc(dev->events, cap * sizeof *e);
        if (!e) { /* profiling is best effort: drop the event rather than fail the work */
            clReleaseEvent(ev);
            return;
        }
        dev->events = e;
        dev->cap_events = cap;
    }
    dev->events[dev->n_events++] = ev;
}

cl_event *clf_device_profile_slot(clf_device *dev) {
    dev->pending = NULL;
    return dev->profiling ? &dev->pending : NULL;
}

void clf_device_profile_commit(clf_device *dev) {
    dev->launches++;
    if (dev->pending) clf_device_profile_add(dev, dev->pending);
    dev->pending = NULL;
}

clf_status clf_device_profile_end(clf_device *dev, double *kernel_ms, size_t *launches) {
    clf_status st = clf_device_finish(dev);
    double total = 0;
    for (size_t i = 0; st == CLF_OK && i < dev->n_events; i++) {
        cl_ulong t0 = 0, t1 = 0;
        cl_int err = clGetEventProfilingInfo(dev->events[i], CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
        if (err == CL_SUCCESS)
            err = clGetEventProfilingInfo(dev->events[i], CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
        if (err != CL_SUCCESS) st = CLF_CL_ERROR(err, "clGetEventProfilingInfo");
        else total += (double)(t1 - t0) * 1e-6;
    }
    if (kernel_ms) *kernel_ms = total;
    if (launches) *launches = dev->n_events;
    for (size_t i = 0; i < dev->n_events; i++) clReleaseEvent(dev->events[i]);
    dev->n_events = 0;
    dev->profiling = false;
    return st;
}

size_t clf_device_launch_count(const clf_device *dev) { return dev->launches; }
size_t clf_device_wait_count(const clf_device *dev) { return dev->waits; }
void clf_device_note_wait(clf_device *dev) { dev->waits++; }
