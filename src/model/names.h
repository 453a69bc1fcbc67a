/* Parameter names are built from pieces ("decoder.layers.1" + ".ffn.w1"); one formatter that says
 * when a name did not fit. */
#ifndef CLFORMER_MODEL_NAMES_H
#define CLFORMER_MODEL_NAMES_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static inline bool __attribute__((format(printf, 3, 4))) clf_name_format(char *out, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(out, n, fmt, ap);
    va_end(ap);
    return r >= 0 && (size_t)r < n;
}

#endif
