/* The safetensors writer: tensors are collected by reference, the header is built with jansson
 * (sorted keys, padded with spaces to a multiple of 8 bytes as the reference implementation
 * does, so the data section starts 8-byte aligned), and the file replaces its target atomically:
 * a crash at any moment leaves either the old file or the new one at the path, never a mix. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "io/safetensors_internal.h"

typedef struct item {
    json_t *entry; /* {"dtype", "shape"}; "data_offsets" is set at write time; owned by header */
    const void *data;
    size_t nbytes;
} item;

struct clf_st_writer {
    json_t *header; /* name -> entry, and "__metadata__" at write time */
    json_t *meta;   /* key -> string */
    item *items;
    size_t count, cap;
};

clf_status clf_st_writer_new(clf_st_writer **out) {
    if (!out) return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_writer_new: out is NULL");
    clf_st_writer *w = calloc(1, sizeof *w);
    if (w) w->header = json_object();
    if (w) w->meta = json_object();
    if (!w || !w->header || !w->meta) {
        clf_st_writer_free(w);
        *out = NULL;
        return CLF_ERROR(CLF_ERR_NO_MEMORY, "clf_st_writer_new: no memory");
    }
    *out = w;
    return CLF_OK;
}

void clf_st_writer_free(clf_st_writer *w) {
    if (!w) return;
    json_decref(w->header);
    json_decref(w->meta);
    free(w->items);
    free(w);
}

/* *out = {"dtype": "F32", "shape": [..]} and *nbytes its data size. */
static clf_status make_entry(const char *name, clf_st_dtype dtype, int rank, const int64_t *shape, json_t **out,
                             size_t *nbytes) {
    uint64_t n = clf_st_dtype_size(dtype);
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_writer_add('%s'): shape[%d] = %lld is negative", name, i,
                             (long long)shape[i]);
        if (!clf_st_mul(n, (uint64_t)shape[i], &n) || n > (uint64_t)INT64_MAX)
            return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_writer_add('%s'): the byte size overflows", name);
    }
    json_t *dims = json_array();
    for (int i = 0; dims && i < rank; i++) {
        if (json_array_append_new(dims, json_integer((json_int_t)shape[i])) != 0) {
            json_decref(dims);
            dims = NULL;
        }
    }
    json_t *e = dims ? json_pack("{s:s, s:o}", "dtype", clf_st_dtype_name(dtype), "shape", dims) : NULL;
    if (!e) return CLF_ERROR(CLF_ERR_NO_MEMORY, "clf_st_writer_add('%s'): no memory", name);
    *out = e;
    *nbytes = (size_t)n;
    return CLF_OK;
}

clf_status clf_st_writer_add(clf_st_writer *w, const char *name, clf_st_dtype dtype, int rank,
                             const int64_t *shape, const void *data) {
    if (!w || !name) return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_writer_add: writer and name must not be NULL");
    if (strcmp(name, "__metadata__") == 0)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_writer_add: the name '__metadata__' is reserved");
    if (json_object_get(w->header, name))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_writer_add: tensor '%s' added twice", name);
    if ((unsigned)dtype >= CLF_ST_DTYPE_COUNT)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_writer_add('%s'): unknown dtype %d", name, (int)dtype);
    if (rank < 0 || rank > CLF_ST_MAX_RANK || (rank > 0 && !shape))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_writer_add('%s'): rank %d outside [0, %d] or shape NULL",
                         name, rank, CLF_ST_MAX_RANK);
    json_t *e = NULL;
    size_t nbytes = 0;
    clf_status st = make_entry(name, dtype, rank, shape, &e, &nbytes);
    if (st != CLF_OK) return st;
    if (nbytes && !data) {
        json_decref(e);
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_writer_add('%s'): data is NULL for %zu bytes", name, nbytes);
    }
    if (w->count == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        item *items = realloc(w->items, cap * sizeof *items);
        if (!items) {
            json_decref(e);
            return CLF_ERROR(CLF_ERR_NO_MEMORY, "clf_st_writer_add('%s'): no memory", name);
        }
        w->items = items;
        w->cap = cap;
    }
    /* jansson refuses keys that are not UTF-8 (set_new drops e then). */
    if (json_object_set_new(w->header, name, e) != 0)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_writer_add: tensor name '%s' is not valid UTF-8", name);
    w->items[w->count++] = (item){e, data, nbytes};
    return CLF_OK;
}

clf_status clf_st_writer_set_meta(clf_st_writer *w, const char *key, const char *value) {
    if (!w || !key || !value)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_writer_set_meta: writer, key and value must not be NULL");
    if (strcmp(key, CLF_ST_CHECKSUM_KEY) == 0)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_writer_set_meta: the key '%s' is reserved for the writer", key);
    json_t *v = json_string(value);
    if (!v) return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_writer_set_meta('%s'): the value is not valid UTF-8", key);
    if (json_object_set_new(w->meta, key, v) != 0)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_writer_set_meta: the key '%s' is not valid UTF-8", key);
    return CLF_OK;
}

/* The 8-byte length and the JSON header padded with spaces, with offsets and checksum filled in
 * (malloc'ed into *out, *len bytes). */
static clf_status build_header(clf_st_writer *w, unsigned char **out, size_t *len) {
    clf_xxh64_state hash;
    clf_xxh64_init(&hash, 0);
    uint64_t at = 0;
    for (size_t i = 0; i < w->count; i++) {
        const item *it = &w->items[i];
        if (it->nbytes > (uint64_t)INT64_MAX - at)
            return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_writer_write: the data size overflows");
        json_t *off = json_pack("[I, I]", (json_int_t)at, (json_int_t)(at + it->nbytes));
        if (!off || json_object_set_new(it->entry, "data_offsets", off) != 0)
            return CLF_ERROR(CLF_ERR_NO_MEMORY, "clf_st_writer_write: no memory");
        clf_xxh64_update(&hash, it->data, it->nbytes);
        at += it->nbytes;
    }
    char sum[32];
    snprintf(sum, sizeof sum, CLF_ST_CHECKSUM_PREFIX "%016llx", (unsigned long long)clf_xxh64_digest(&hash));
    char *text = NULL;
    /* Metadata and checksum join the header only for the dump, so the writer can be changed and
     * written again. */
    if (json_object_set_new(w->meta, CLF_ST_CHECKSUM_KEY, json_string(sum)) == 0 &&
        json_object_set(w->header, "__metadata__", w->meta) == 0)
        text = json_dumps(w->header, JSON_COMPACT | JSON_SORT_KEYS);
    json_object_del(w->header, "__metadata__");
    json_object_del(w->meta, CLF_ST_CHECKSUM_KEY);
    if (!text) return CLF_ERROR(CLF_ERR_NO_MEMORY, "clf_st_writer_write: no memory for the header");
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    unsigned char *buf = malloc(8 + padded);
    if (!buf) {
        free(text);
        return CLF_ERROR(CLF_ERR_NO_MEMORY, "clf_st_writer_write: no memory for the header");
    }
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, text, n);
    memset(buf + 8 + n, ' ', padded - n);
    free(text);
    *out = buf;
    *len = 8 + padded;
    return CLF_OK;
}

/* fsync the folder holding path, so the rename itself survives a crash. */
static clf_status sync_folder(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return CLF_ERROR(CLF_ERR_NO_MEMORY, "cannot write %s: no memory", path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    clf_status st = CLF_OK;
    /* EINVAL: a file system that cannot sync folders; nothing more can be done there. */
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL))
        st = CLF_ERROR(CLF_ERR_IO, "%s was written, but syncing its folder %s failed: %s", path, dir, strerror(errno));
    if (fd >= 0) close(fd);
    free(dir);
    return st;
}

static atomic_uint g_tmp_counter;

/* Temporary files of this target left by a writer that died mid-write (kill -9, power loss):
 * "<name>.tmp.<pid>.<n>" whose process no longer exists. Removed before a new write so crashed
 * runs do not pile up half-written copies; a live writer's file (pid alive) is left alone. */
static void remove_stale_temps(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    DIR *d = dir ? opendir(dir) : NULL;
    size_t blen = strlen(base);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        const char *n = de->d_name;
        if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp.", 5) != 0) continue;
        char *end;
        long pid = strtol(n + blen + 5, &end, 10);
        if (pid <= 0 || *end != '.' || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char full[4096];
        if (snprintf(full, sizeof full, "%s/%s", dir, n) < (int)sizeof full) unlink(full);
    }
    if (d) closedir(d);
    free(dir);
}

/* A fresh file next to path (O_EXCL, so two writers never share one); mode 0666 less umask, as
 * any new file. */
static clf_status create_temp(const char *path, char **tmp_out, int *fd_out) {
    size_t size = strlen(path) + 64;
    char *tmp = malloc(size);
    if (!tmp) return CLF_ERROR(CLF_ERR_NO_MEMORY, "cannot write %s: no memory", path);
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(tmp, size, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&g_tmp_counter, 1u));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        clf_status st = CLF_ERROR(CLF_ERR_IO, "cannot write %s: cannot create the temporary file %s: %s", path, tmp,
                                  strerror(errno));
        free(tmp);
        return st;
    }
    *tmp_out = tmp;
    *fd_out = fd;
    return CLF_OK;
}

/* The bytes of one file on their way out. Fault injection (fault.h) acts at the halfway mark:
 * write=N stops there with ENOSPC, write_delay_ms=MS pauses there. */
typedef struct sink {
    FILE *fp;
    uint64_t done, half;
    bool fail;  /* injected: the disk fills up at the halfway mark */
    long delay_ms;
} sink;

static bool put(sink *k, const void *data, size_t n) {
    const unsigned char *p = data;
    if (k->done < k->half && k->done + n >= k->half) { /* this piece crosses the halfway mark */
        size_t first = (size_t)(k->half - k->done);
        if (first && fwrite(p, 1, first, k->fp) != first) return false;
        k->done += first;
        p += first;
        n -= first;
        if (k->fail) {
            fflush(k->fp);
            errno = ENOSPC;
            return false;
        }
        if (k->delay_ms > 0) {
            fflush(k->fp);
            struct timespec ts = {k->delay_ms / 1000, (k->delay_ms % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
        }
    }
    if (n && fwrite(p, 1, n, k->fp) != n) return false;
    k->done += n;
    return true;
}

static clf_status write_atomic(const char *path, const unsigned char *head, size_t head_len, const item *items,
                               size_t count) {
    remove_stale_temps(path);
    char *tmp = NULL;
    int fd = -1;
    clf_status st = create_temp(path, &tmp, &fd);
    if (st != CLF_OK) return st;
    uint64_t total = head_len;
    for (size_t i = 0; i < count; i++) total += items[i].nbytes;
    sink k = {fdopen(fd, "wb"), 0, total / 2, clf_fault_write(), clf_fault_write_delay_ms()};
    const char *step = "opening";
    int err = 0;
    bool ok = k.fp != NULL;
    if (ok) {
        step = "writing";
        ok = put(&k, head, head_len);
        for (size_t i = 0; ok && i < count; i++) ok = put(&k, items[i].data, items[i].nbytes);
    }
    if (ok) ok = (step = "flushing", fflush(k.fp) == 0);
    if (ok) ok = (step = "syncing", fsync(fd) == 0);
    if (!ok) err = errno;
    if (k.fp) {
        if (fclose(k.fp) != 0 && ok) ok = (step = "closing", err = errno, false);
    } else {
        close(fd);
    }
    if (ok && rename(tmp, path) != 0) ok = (step = "renaming", err = errno, false);
    if (!ok) {
        unlink(tmp);
        st = CLF_ERROR(CLF_ERR_IO, "cannot write %s: %s the temporary file %s failed: %s%s", path, step, tmp,
                       strerror(err), k.fail ? " (injected by CLFORMER_FAULT)" : "");
    }
    free(tmp);
    return ok ? sync_folder(path) : st;
}

clf_status clf_st_writer_write(clf_st_writer *w, const char *path) {
    if (!w || !path || !*path)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_st_writer_write: writer and path must not be NULL or empty");
    unsigned char *head = NULL;
    size_t head_len = 0;
    clf_status st = build_header(w, &head, &head_len);
    if (st != CLF_OK) return st;
    st = write_atomic(path, head, head_len, w->items, w->count);
    free(head);
    return st;
}
