/* A small SVG line chart of training and evaluation loss, written at the end of a run. */
#ifndef CLFORMER_CLI_PLOT_H
#define CLFORMER_CLI_PLOT_H

#include <stddef.h>

typedef struct plot_series {
    const char *label, *color;
    const double *x, *y;
    size_t n;
} plot_series;

/* 0 on success, -1 when the file cannot be written. */
int plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel, const plot_series *s,
             size_t n_series);

#endif
