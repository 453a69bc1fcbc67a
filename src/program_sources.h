/* The kernel sources embedded at build time by tools/embed_kernels.py. */
#ifndef CLFORMER_PROGRAM_SOURCES_H
#define CLFORMER_PROGRAM_SOURCES_H

#include <stddef.h>

typedef struct clf_embedded_source {
    const char *name; /* file stem: "layernorm" for cl/layernorm.cl */
    const char *text; /* with #include "common.cl" inlined */
    size_t length;
} clf_embedded_source;

/* Terminated by an entry whose name is NULL. */
extern const clf_embedded_source clf_embedded_sources[];

#endif
