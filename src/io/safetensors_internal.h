/* What the safetensors reader and writer share: dtype names, checked size arithmetic, the
 * streaming XXH64 behind the checksum, and shape formatting for messages. */
#ifndef CLFORMER_IO_SAFETENSORS_INTERNAL_H
#define CLFORMER_IO_SAFETENSORS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clformer/safetensors.h"

/* Tensor data is used in place, so the host must share the file's byte order. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; clformer supports little-endian hosts only"
#endif

/* The metadata key of the checksum and the prefix of its value. */
#define CLF_ST_CHECKSUM_KEY "checksum"
#define CLF_ST_CHECKSUM_PREFIX "xxh64:"

/* "F32" -> CLF_ST_F32; false for a name the format does not define. */
bool clf_st_dtype_parse(const char *name, clf_st_dtype *out);

/* *out = a * b; false (and *out untouched) when it overflows. */
static inline bool clf_st_mul(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > UINT64_MAX / a) return false;
    *out = a * b;
    return true;
}

/* "[2, 3]" into buf (truncated to fit). */
void clf_st_format_shape(char *buf, size_t size, int rank, const int64_t *shape);

/* Streaming XXH64: feed pieces in order, then digest; same value as clf_xxh64 on the
 * concatenation. */
typedef struct clf_xxh64_state {
    uint64_t v[4];
    uint64_t total;
    uint64_t seed;
    unsigned char buf[32];
    size_t buffered;
} clf_xxh64_state;

void clf_xxh64_init(clf_xxh64_state *s, uint64_t seed);
void clf_xxh64_update(clf_xxh64_state *s, const void *data, size_t n);
uint64_t clf_xxh64_digest(const clf_xxh64_state *s);

#endif
