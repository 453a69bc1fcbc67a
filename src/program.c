/* Program building: sources from the embedded table (or CLFORMER_KERNEL_DIR), device -D options,
 * an in-memory cache per device and a binary cache on disk keyed by source, options, platform,
 * device and driver. A bad disk entry is rebuilt, never trusted. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clformer/program.h"
#include "device_internal.h"
#include "fault.h"
#include "program_sources.h"
#include "host_util.h"

typedef struct kernel_entry {
    char *name;
    cl_kernel kernel;
    struct kernel_entry *next;
} kernel_entry;

typedef struct program_entry {
    char *name, *options;
    cl_program program;
    kernel_entry *kernels;
    struct program_entry *next;
} program_entry;

struct clf_program_cache {
    program_entry *programs;
    clf_build_stats stats;
};

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void clf_program_cache_free(struct clf_program_cache *cache) {
    if (!cache) return;
    for (program_entry *p = cache->programs, *pn; p; p = pn) {
        pn = p->next;
        for (kernel_entry *k = p->kernels, *kn; k; k = kn) {
            kn = k->next;
            clReleaseKernel(k->kernel);
            free(k->name);
            free(k);
        }
        clReleaseProgram(p->program);
        free(p->name);
        free(p->options);
        free(p);
    }
    free(cache);
}

const char *const *clf_program_names(void) {
    static const char *names[256];
    if (!names[0]) {
        size_t n = 0;
        for (const clf_embedded_source *s = clf_embedded_sources; s->name && n < 255; s++) names[n++] = s->name;
        names[n] = NULL;
    }
    return names;
}

/* ---- sources ---- */

static clf_status read_file(const char *path, char **text, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return CLF_ERROR(CLF_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 16384;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory reading %s", path);
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return CLF_ERROR(CLF_ERR_IO, "error reading %s", path);
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return CLF_OK;
}

/* The source text of a program (malloc'ed) and where it came from, for messages. */
static clf_status program_source(const char *name, char **text, size_t *len, char *origin, size_t on) {
    const char *dir = getenv("CLFORMER_KERNEL_DIR");
    if (dir && *dir) {
        snprintf(origin, on, "%s/%s.cl", dir, name);
        return read_file(origin, text, len);
    }
    for (const clf_embedded_source *s = clf_embedded_sources; s->name; s++) {
        if (strcmp(s->name, name) != 0) continue;
        snprintf(origin, on, "cl/%s.cl (embedded)", name);
        *text = malloc(s->length + 1);
        if (!*text) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory for %s", origin);
        memcpy(*text, s->text, s->length + 1);
        *len = s->length;
        return CLF_OK;
    }
    return CLF_ERROR(CLF_ERR_INVALID_ARG, "no kernel program named '%s'", name);
}

/* Options every program gets: what the kernels may specialise on. */
static void device_options(const clf_device *dev, const char *extra, char *out, size_t n) {
    const clf_device_info *i = &dev->info;
    const char *vendor = "";
    if (strstr(i->vendor, "NVIDIA")) vendor = " -DCLF_NVIDIA=1";
    else if (strstr(i->vendor, "Advanced Micro") || strstr(i->vendor, "AMD")) vendor = " -DCLF_AMD=1";
    else if (strstr(i->vendor, "Intel")) vendor = " -DCLF_INTEL=1";
    if (strstr(i->platform, "Portable Computing Language")) vendor = " -DCLF_POCL=1";
    const char *dir = getenv("CLFORMER_KERNEL_DIR");
    char include[1100] = "";
    if (dir && *dir) snprintf(include, sizeof include, " -I %s", dir);
    snprintf(out, n, "-cl-std=CL1.2 -DCLF_%s=1 -DCLF_FP64=%d -DCLF_MAX_WG=%zu%s%s%s%s", i->is_gpu ? "GPU" : "CPU",
             i->fp64 ? 1 : 0, i->max_work_group, vendor, include, extra && *extra ? " " : "", extra ? extra : "");
}

/* ---- the disk cache ---- */

const char *clf_cache_dir(void) {
    static _Thread_local char dir[4096];
    const char *off = getenv("CLFORMER_NO_CACHE");
    if (off && *off && strcmp(off, "0") != 0) return NULL;
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/clformer", xdg);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.cache/clformer", home);
    else return NULL;
    return dir;
}

typedef struct {
    uint64_t lo, hi;
} cache_key;

static cache_key make_key(const clf_device *dev, const char *src, size_t len, const char *opts) {
    cache_key k = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull};
    const char *parts[] = {"clformer-program-cache-v1", opts, dev->info.platform, dev->info.platform_version,
                           dev->info.name, dev->info.driver, dev->info.version};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        k.lo = clf_fnv_str(k.lo, parts[i]);
        k.hi = clf_fnv_str(k.hi, parts[i]);
    }
    k.lo = clf_fnv1a(k.lo, src, len);
    k.hi = clf_fnv1a(k.hi ^ 0x5bd1e995u, src, len);
    return k;
}

#define CACHE_MAGIC "CLFBIN01"
typedef struct {
    char magic[8];
    uint64_t key_lo, key_hi, size, checksum;
} cache_header;

static void cache_path(const char *dir, cache_key k, char *out, size_t n) {
    snprintf(out, n, "%s/%016llx%016llx.bin", dir, (unsigned long long)k.hi, (unsigned long long)k.lo);
}

/* Read and verify an entry; NULL when absent. *rejected is set when present but bad. */
static unsigned char *cache_load(const char *path, cache_key k, size_t *size, bool *rejected) {
    *rejected = false;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    cache_header h;
    unsigned char *bin = NULL;
    *rejected = true;
    if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, CACHE_MAGIC, 8) != 0 || h.key_lo != k.lo ||
        h.key_hi != k.hi || h.size == 0 || h.size > (1ull << 31))
        goto out;
    bin = malloc(h.size);
    if (!bin) goto out;
    if (fread(bin, 1, h.size, f) != h.size || fgetc(f) != EOF ||
        clf_fnv1a(CLF_FNV_OFFSET, bin, h.size) != h.checksum) {
        free(bin);
        bin = NULL;
        goto out;
    }
    *rejected = false;
    *size = h.size;
out:
    fclose(f);
    return bin;
}

/* Write atomically: a temporary file beside the entry, fsync, rename. Failures are not errors: the
 * cache only saves time. */
static void cache_store(const char *dir, const char *path, cache_key k, const unsigned char *bin, size_t size) {
    if (clf_mkdir_p(dir) != 0) return;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    cache_header h;
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.key_lo = k.lo;
    h.key_hi = k.hi;
    h.size = size;
    h.checksum = clf_fnv1a(CLF_FNV_OFFSET, bin, size);
    bool ok = fwrite(&h, sizeof h, 1, f) == 1 && fwrite(bin, 1, size, f) == size && fflush(f) == 0 &&
              fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) unlink(tmp);
}

/* ---- building ---- */

static clf_status build_error(clf_device *dev, cl_program prog, cl_int err, const char *origin,
                              const char *opts) {
    size_t n = 0;
    clGetProgramBuildInfo(prog, dev->id, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
    char *log = malloc(n + 1);
    if (log) {
        log[0] = '\0';
        clGetProgramBuildInfo(prog, dev->id, CL_PROGRAM_BUILD_LOG, n, log, NULL);
        log[n] = '\0';
    }
    clf_status st = CLF_ERROR(CLF_ERR_BUILD, "building %s with options '%s' for %s failed: %s (%d)\n%s", origin,
                              opts, dev->info.name, clf_cl_errname(err), (int)err, log ? log : "(no log)");
    free(log);
    return st;
}

static bool load_binary(clf_device *dev, const unsigned char *bin, size_t size, const char *opts,
                        cl_program *out) {
    cl_int status = CL_SUCCESS, err;
    cl_program p = clCreateProgramWithBinary(dev->context, 1, &dev->id, &size, &bin, &status, &err);
    if (err != CL_SUCCESS || status != CL_SUCCESS) {
        if (p) clReleaseProgram(p);
        return false;
    }
    if (clBuildProgram(p, 1, &dev->id, opts, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        return false;
    }
    *out = p;
    return true;
}

static void save_binary(cl_program p, const char *dir, const char *path, cache_key k) {
    size_t size = 0;
    if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS || size == 0) return;
    unsigned char *bin = malloc(size);
    if (!bin) return;
    if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS)
        cache_store(dir, path, k, bin, size);
    free(bin);
}

static clf_status build_program(clf_device *dev, const char *name, const char *extra, cl_program *out) {
    char origin[4200], opts[2048];
    char *src = NULL;
    size_t len = 0;
    clf_status st = program_source(name, &src, &len, origin, sizeof origin);
    if (st != CLF_OK) return st;
    device_options(dev, extra, opts, sizeof opts);
    if (clf_fault_build(dev->info.name, name)) {
        free(src);
        return CLF_ERROR(CLF_ERR_BUILD, "building %s with options '%s' for %s failed: %s (%d)\n%s", origin, opts,
                         dev->info.name, clf_cl_errname(CL_BUILD_PROGRAM_FAILURE), (int)CL_BUILD_PROGRAM_FAILURE,
                         "error: build failure injected by CLFORMER_FAULT");
    }
    clf_build_stats *stats = &dev->programs->stats;
    double t0 = clf_now_ms();

    const char *dir = clf_cache_dir();
    char path[4400] = "";
    cache_key k = make_key(dev, src, len, opts);
    if (dir) {
        cache_path(dir, k, path, sizeof path);
        size_t size = 0;
        bool rejected = false;
        unsigned char *bin = cache_load(path, k, &size, &rejected);
        bool ok = bin && load_binary(dev, bin, size, opts, out);
        free(bin);
        if (ok) {
            stats->from_disk_cache++;
            stats->disk_cache_ms += clf_now_ms() - t0;
            free(src);
            return CLF_OK;
        }
        if (rejected || bin) stats->cache_rejected++;
    }

    cl_int err;
    const char *srcp = src;
    cl_program p = clCreateProgramWithSource(dev->context, 1, &srcp, &len, &err);
    if (err != CL_SUCCESS) {
        free(src);
        return CLF_CL_ERROR(err, "clCreateProgramWithSource(%s)", origin);
    }
    err = clBuildProgram(p, 1, &dev->id, opts, NULL, NULL);
    if (err != CL_SUCCESS) {
        st = build_error(dev, p, err, origin, opts);
        clReleaseProgram(p);
        free(src);
        return st;
    }
    free(src);
    if (dir) save_binary(p, dir, path, k);
    stats->from_source++;
    stats->source_ms += clf_now_ms() - t0;
    *out = p;
    return CLF_OK;
}

static clf_status find_program(clf_device *dev, const char *name, const char *options, program_entry **out) {
    if (!options) options = "";
    if (!dev->programs) {
        dev->programs = calloc(1, sizeof *dev->programs);
        if (!dev->programs) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    }
    for (program_entry *p = dev->programs->programs; p; p = p->next)
        if (!strcmp(p->name, name) && !strcmp(p->options, options)) {
            *out = p;
            return CLF_OK;
        }
    program_entry *e = calloc(1, sizeof *e);
    if (!e) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    e->name = dup_str(name);
    e->options = dup_str(options);
    clf_status st = e->name && e->options ? build_program(dev, name, options, &e->program)
                                          : CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    if (st != CLF_OK) {
        free(e->name);
        free(e->options);
        free(e);
        return st;
    }
    e->next = dev->programs->programs;
    dev->programs->programs = e;
    *out = e;
    return CLF_OK;
}

clf_status clf_program_get(clf_device *dev, const char *name, const char *options, cl_program *out) {
    program_entry *e;
    clf_status st = find_program(dev, name, options, &e);
    if (st == CLF_OK) *out = e->program;
    return st;
}

clf_status clf_kernel_get(clf_device *dev, const char *program, const char *options, const char *kernel,
                          cl_kernel *out) {
    program_entry *e;
    clf_status st = find_program(dev, program, options, &e);
    if (st != CLF_OK) return st;
    for (kernel_entry *k = e->kernels; k; k = k->next)
        if (!strcmp(k->name, kernel)) {
            *out = k->kernel;
            return CLF_OK;
        }
    kernel_entry *k = calloc(1, sizeof *k);
    if (!k) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    cl_int err;
    k->kernel = clCreateKernel(e->program, kernel, &err);
    if (err != CL_SUCCESS) {
        free(k);
        return CLF_CL_ERROR(err, "clCreateKernel(%s in cl/%s.cl)", kernel, program);
    }
    k->name = dup_str(kernel);
    if (!k->name) {
        clReleaseKernel(k->kernel);
        free(k);
        return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    }
    k->next = e->kernels;
    e->kernels = k;
    *out = k->kernel;
    return CLF_OK;
}

void clf_program_build_stats(const clf_device *dev, clf_build_stats *out) {
    if (dev->programs) *out = dev->programs->stats;
    else memset(out, 0, sizeof *out);
}
