/* Small host-side helpers the library's parts share: a monotonic clock, FNV-1a hashing for cache
 * keys and file names, creating a folder with its parents, power-of-two size buckets. */
#ifndef CLFORMER_HOST_UTIL_H
#define CLFORMER_HOST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds on the monotonic clock (for durations only). */
double clf_now_ms(void);

/* FNV-1a over n bytes, continuing from h (start from CLF_FNV_OFFSET). */
#define CLF_FNV_OFFSET 0xcbf29ce484222325ull
uint64_t clf_fnv1a(uint64_t h, const void *data, size_t n);
/* The same over a string and its terminating zero, so "ab" + "c" differs from "a" + "bc". */
uint64_t clf_fnv_str(uint64_t h, const char *s);

/* mkdir -p with mode 0755: 0, or -1 with errno set. */
int clf_mkdir_p(const char *path);

/* The smallest power of two >= x (1 for 0): the buckets measured choices are remembered by. */
size_t clf_pow2_bucket(size_t x);

#endif
