/* Dtype table, shape formatting and XXH64 (the checksum of the data section), shared by the
 * safetensors reader and writer. XXH64 follows the published xxHash specification; it hashes
 * several GB/s, so checking a checkpoint costs little next to reading it. */
#include <stdio.h>
#include <string.h>

#include "io/safetensors_internal.h"

static const struct {
    const char *name;
    size_t size;
} g_dtypes[] = {
    [CLF_ST_F32] = {"F32", 4}, [CLF_ST_I32] = {"I32", 4}, [CLF_ST_F64] = {"F64", 8},
    [CLF_ST_F16] = {"F16", 2}, [CLF_ST_BF16] = {"BF16", 2}, [CLF_ST_I64] = {"I64", 8},
    [CLF_ST_I16] = {"I16", 2}, [CLF_ST_I8] = {"I8", 1},      [CLF_ST_U64] = {"U64", 8},
    [CLF_ST_U32] = {"U32", 4}, [CLF_ST_U16] = {"U16", 2},   [CLF_ST_U8] = {"U8", 1},
    [CLF_ST_BOOL] = {"BOOL", 1},
};
_Static_assert(sizeof g_dtypes / sizeof g_dtypes[0] == CLF_ST_DTYPE_COUNT, "a dtype lacks its entry");

const char *clf_st_dtype_name(clf_st_dtype dt) {
    return (unsigned)dt < CLF_ST_DTYPE_COUNT ? g_dtypes[dt].name : "?";
}

size_t clf_st_dtype_size(clf_st_dtype dt) { return (unsigned)dt < CLF_ST_DTYPE_COUNT ? g_dtypes[dt].size : 0; }

bool clf_st_dtype_parse(const char *name, clf_st_dtype *out) {
    for (int i = 0; i < CLF_ST_DTYPE_COUNT; i++) {
        if (strcmp(name, g_dtypes[i].name) == 0) {
            *out = (clf_st_dtype)i;
            return true;
        }
    }
    return false;
}

void clf_st_format_shape(char *buf, size_t size, int rank, const int64_t *shape) {
    size_t n = 0;
    int w = snprintf(buf, size, "[");
    for (int i = 0; i < rank && w >= 0 && (n += (size_t)w) < size; i++)
        w = snprintf(buf + n, size - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (w >= 0 && (n += (size_t)w) < size) snprintf(buf + n, size - n, "]");
}

/* ---- XXH64 ---------------------------------------------------------------------------- */

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull
#define P4 0x85EBCA77C2B2AE63ull
#define P5 0x27D4EB2F165667C5ull

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* Little-endian loads through memcpy: any alignment, no aliasing questions. */
static inline uint64_t load64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t load32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t round64(uint64_t acc, uint64_t input) {
    acc += input * P2;
    acc = rotl(acc, 31);
    return acc * P1;
}

static inline uint64_t merge64(uint64_t acc, uint64_t v) {
    acc ^= round64(0, v);
    return acc * P1 + P4;
}

static void stripe(uint64_t v[4], const unsigned char *p) {
    v[0] = round64(v[0], load64(p));
    v[1] = round64(v[1], load64(p + 8));
    v[2] = round64(v[2], load64(p + 16));
    v[3] = round64(v[3], load64(p + 24));
}

void clf_xxh64_init(clf_xxh64_state *s, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->v[0] = seed + P1 + P2;
    s->v[1] = seed + P2;
    s->v[2] = seed;
    s->v[3] = seed - P1;
}

void clf_xxh64_update(clf_xxh64_state *s, const void *data, size_t n) {
    const unsigned char *p = data;
    s->total += n;
    if (s->buffered + n < 32) {
        if (n) memcpy(s->buf + s->buffered, p, n);
        s->buffered += n;
        return;
    }
    if (s->buffered) {
        size_t fill = 32 - s->buffered;
        memcpy(s->buf + s->buffered, p, fill);
        stripe(s->v, s->buf);
        p += fill;
        n -= fill;
        s->buffered = 0;
    }
    for (; n >= 32; p += 32, n -= 32) stripe(s->v, p);
    if (n) memcpy(s->buf, p, n);
    s->buffered = n;
}

uint64_t clf_xxh64_digest(const clf_xxh64_state *s) {
    uint64_t h;
    if (s->total >= 32) {
        h = rotl(s->v[0], 1) + rotl(s->v[1], 7) + rotl(s->v[2], 12) + rotl(s->v[3], 18);
        for (int i = 0; i < 4; i++) h = merge64(h, s->v[i]);
    } else {
        h = s->seed + P5;
    }
    h += s->total;
    const unsigned char *p = s->buf;
    size_t n = s->buffered;
    for (; n >= 8; p += 8, n -= 8) {
        h ^= round64(0, load64(p));
        h = rotl(h, 27) * P1 + P4;
    }
    if (n >= 4) {
        h ^= (uint64_t)load32(p) * P1;
        h = rotl(h, 23) * P2 + P3;
        p += 4;
        n -= 4;
    }
    for (; n > 0; p++, n--) {
        h ^= (uint64_t)*p * P5;
        h = rotl(h, 11) * P1;
    }
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

uint64_t clf_xxh64(const void *data, size_t n, uint64_t seed) {
    clf_xxh64_state s;
    clf_xxh64_init(&s, seed);
    clf_xxh64_update(&s, data, n);
    return clf_xxh64_digest(&s);
}
