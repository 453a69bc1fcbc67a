/* The results of `clformer compare`: rows (one figure each) by columns (one per device). Every
 * part of the command writes into this table and every output format reads it. */
#ifndef CLFORMER_CLI_COMPARE_REPORT_H
#define CLFORMER_CLI_COMPARE_REPORT_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { CMP_BETTER_NONE = 0, CMP_BETTER_HIGHER, CMP_BETTER_LOWER } cmp_better;

typedef struct cmp_cell {
    bool set;      /* anything here at all */
    bool has_value;
    double value;  /* the figure, in the row's unit */
    double frac;   /* of the device's measured limit; < 0 when none */
    char *text;    /* a text row's value, or why the figure is missing (malloc'ed; may be NULL) */
    bool failed;   /* the figure could not be measured, or lies over the row's tolerance */
    bool best;     /* the best figure of its row (filled by cmp_report_mark_best) */
    bool has_base; /* --baseline: the earlier figure of the same row and device */
    double base;
} cmp_cell;

typedef struct cmp_row {
    char key[160];     /* stable name, used by --baseline: "kernel/layernorm_fwd/4096x512" */
    char section[32];  /* "device", "status", "builds", "limits", "kernels", "model", "accuracy", "losses" */
    char label[160];
    char unit[16];
    cmp_better better;
    double tol;        /* accuracy rows: a figure above it (or not finite) fails; 0: no tolerance */
    cmp_cell *cells;   /* [n_dev] */
} cmp_row;

#define CMP_MAX_LOSSES 256

typedef struct cmp_device {
    char name[256];
    char selector[32]; /* "P:D" */
    bool failed;       /* some row of this device failed */
    double seconds;    /* wall time of its suite */
    int n_losses;      /* the fixed-seed training run */
    double losses[CMP_MAX_LOSSES];
} cmp_device;

typedef struct cmp_report {
    char suite[16];    /* "full", "quick", "tiny" */
    char created[32];  /* ISO 8601, UTC */
    size_t n_dev;
    cmp_device *dev;
    cmp_row **rows; /* pointers: a row stays where it is while rows are added */
    size_t n_rows, cap_rows;
    char bench_desc[160]; /* the suite's shapes, said once above the table */
    char train_desc[160];
    bool has_baseline;
    char baseline_path[512];
} cmp_report;

/* An empty table for n_dev devices; NULL when out of memory. */
cmp_report *cmp_report_new(size_t n_dev, const char *suite);
void cmp_report_free(cmp_report *r);

/* The row with this key, appended (with the other fields) the first time; NULL when out of memory. */
cmp_row *cmp_row_get(cmp_report *r, const char *key, const char *section, const char *label, const char *unit,
                     cmp_better better, double tol);
cmp_row *cmp_row_find(const cmp_report *r, const char *key);

/* Put a figure (frac < 0: none); on a row with a tolerance, a figure over it or not finite fails. */
void cmp_put(cmp_row *row, size_t dev, double value, double frac);
/* Put a text value. */
void cmp_put_text(cmp_row *row, size_t dev, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Mark the cell failed with a reason (kept with any figure already there). */
void cmp_put_fail(cmp_row *row, size_t dev, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Fill best flags and each device's failed flag. */
void cmp_report_finish(cmp_report *r);

/* Any device failed. */
bool cmp_report_any_failed(const cmp_report *r);

/* A figure as text: value with 3-4 significant digits, the unit, the fraction. buf of at least 64. */
void cmp_format_value(const cmp_row *row, const cmp_cell *c, char *buf, size_t cap);
/* The change from the baseline as text ("+12.5%", "=" when none), and whether it is an improvement
 * (1), a regression (-1) or neither (0). */
int cmp_format_change(const cmp_row *row, const cmp_cell *c, char *buf, size_t cap);

#endif
