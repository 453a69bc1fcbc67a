/* safetensors files: checkpoints, batch files and gradient dumps (SPEC "Checkpoint: safetensors").
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON, then the raw tensor data,
 * contiguous and ending exactly at the end of the file. Data is little-endian; the library only
 * builds on little-endian hosts, so a tensor's bytes are used in place.
 *
 * Reading checks everything the format allows to go wrong (header size, JSON, dtypes, shapes,
 * offsets, sizes, overflow, the checksum) before any tensor is handed out; every message names
 * the file, the problem and the tensor where there is one.
 *
 * Writing collects tensors (not copied) and metadata, then replaces the target atomically: a
 * temporary file in the same folder, fsync, rename, fsync of the folder. The header stores
 * __metadata__["checksum"] = "xxh64:<16 hex digits>", the XXH64 (seed 0) of all data bytes in file
 * order; a reader verifies it when present. */
#ifndef CLFORMER_SAFETENSORS_H
#define CLFORMER_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "clformer/status.h"

/* Headers longer than this are rejected (as the reference implementation does). */
#define CLF_ST_MAX_HEADER 100000000u
/* Tensors of higher rank are rejected. */
#define CLF_ST_MAX_RANK 8

/* The dtypes of the format. clformer itself stores F32 and I32; the others are read so that the
 * caller can say "expected F32, found F16" instead of "unknown dtype". */
typedef enum clf_st_dtype {
    CLF_ST_F32,
    CLF_ST_I32,
    CLF_ST_F64,
    CLF_ST_F16,
    CLF_ST_BF16,
    CLF_ST_I64,
    CLF_ST_I16,
    CLF_ST_I8,
    CLF_ST_U64,
    CLF_ST_U32,
    CLF_ST_U16,
    CLF_ST_U8,
    CLF_ST_BOOL,
    CLF_ST_DTYPE_COUNT
} clf_st_dtype;

/* "F32", "I32", ...; "?" for a value out of range. */
const char *clf_st_dtype_name(clf_st_dtype dt);
/* Bytes per element; 0 for a value out of range. */
size_t clf_st_dtype_size(clf_st_dtype dt);

/* One tensor of an open file: a read-only descriptor owned by the file. */
typedef struct clf_st_tensor {
    const char *name;
    clf_st_dtype dtype;
    int rank;                        /* 0 for a scalar (shape []) */
    int64_t shape[CLF_ST_MAX_RANK];  /* rank entries, each >= 0 */
    size_t numel;                    /* product of shape (1 for a scalar, 0 when a dim is 0) */
    size_t nbytes;                   /* numel * dtype size */
    const void *data;                /* nbytes little-endian bytes, aligned to the dtype size */
} clf_st_tensor;

/* ---- reading ---------------------------------------------------------------------------- */

typedef struct clf_st_file clf_st_file;

/* Read and check the whole file. CLF_ERR_IO when it cannot be read, CLF_ERR_FORMAT for any
 * problem in its content (including a checksum mismatch), CLF_ERR_NO_MEMORY. */
clf_status clf_st_open(const char *path, clf_st_file **out);
void clf_st_close(clf_st_file *f);

/* The path the file was opened with (for messages). */
const char *clf_st_path(const clf_st_file *f);

/* Tensors in file order (by data offset): clf_st_tensor_at(f, i) for i < clf_st_count(f). */
size_t clf_st_count(const clf_st_file *f);
const clf_st_tensor *clf_st_tensor_at(const clf_st_file *f, size_t i);

/* The tensor called name, or NULL. */
const clf_st_tensor *clf_st_find(const clf_st_file *f, const char *name);

/* The tensor called name, checked: CLF_ERR_FORMAT naming file and tensor when it is missing, has
 * another dtype, another rank (rank < 0: any) or another shape (shape NULL: any; else rank dims). */
clf_status clf_st_get(const clf_st_file *f, const char *name, clf_st_dtype dtype, int rank,
                      const int64_t *shape, const clf_st_tensor **out);

/* __metadata__[key], or NULL when absent. Metadata in key order: clf_st_meta_at for i <
 * clf_st_meta_count (key and value owned by the file). */
const char *clf_st_meta(const clf_st_file *f, const char *key);
size_t clf_st_meta_count(const clf_st_file *f);
void clf_st_meta_at(const clf_st_file *f, size_t i, const char **key, const char **value);

/* An I32 tensor of a known rank, viewed in place (valid while the file is open). */
typedef struct clf_st_i32 {
    const char *path;  /* the file's, for messages */
    const char *name;
    int rank;
    int64_t shape[CLF_ST_MAX_RANK];
    size_t numel;
    const int32_t *data; /* [shape...], row-major */
} clf_st_i32;

/* View the I32 tensor `name` of rank `rank`: CLF_ERR_FORMAT when missing, not I32 or of another
 * rank. */
clf_status clf_st_read_i32(const clf_st_file *f, const char *name, int rank, clf_st_i32 *out);

/* Every value in [0, limit) (token ids against vocab_size), else CLF_ERR_FORMAT naming the file,
 * the tensor, the first bad value and its index: "b.safetensors: tensor 'src': value 300 at
 * [1, 4] is outside [0, 259)". limit <= 0 is CLF_ERR_INVALID_ARG. */
clf_status clf_st_i32_check_range(const clf_st_i32 *v, int32_t limit);

/* ---- writing ---------------------------------------------------------------------------- */

typedef struct clf_st_writer clf_st_writer;

clf_status clf_st_writer_new(clf_st_writer **out);
void clf_st_writer_free(clf_st_writer *w);

/* Add a tensor; its data (numel * dtype size bytes, little-endian) is read at write time, not
 * copied, so it must stay valid until then. Data is laid out in the order of adding.
 * CLF_ERR_INVALID_ARG for a repeated or reserved name ("__metadata__"), a name that is not UTF-8,
 * rank outside [0, CLF_ST_MAX_RANK], a negative dim, a size that overflows, NULL data for a
 * non-empty tensor. */
clf_status clf_st_writer_add(clf_st_writer *w, const char *name, clf_st_dtype dtype, int rank,
                             const int64_t *shape, const void *data);

/* Set __metadata__[key] = value (both copied; a second call replaces the value). "checksum" is
 * reserved for the writer. */
clf_status clf_st_writer_set_meta(clf_st_writer *w, const char *key, const char *value);

/* Write everything to path atomically. On failure the temporary file is removed, a file already
 * at path is left as it was, and the message names path and the system's error text. */
clf_status clf_st_writer_write(clf_st_writer *w, const char *path);

/* ---- checksum --------------------------------------------------------------------------- */

/* XXH64 of n bytes, as the xxHash library computes it. */
uint64_t clf_xxh64(const void *data, size_t n, uint64_t seed);

#endif
