/* The outputs of `clformer compare`, all from one report: the terminal table, JSON, CSV, a
 * self-contained HTML page, and the reading of an earlier JSON as the baseline. */
#ifndef CLFORMER_CLI_COMPARE_WRITERS_H
#define CLFORMER_CLI_COMPARE_WRITERS_H

#include <stdbool.h>
#include <stdio.h>

#include "report.h"

/* The aligned table, the best figure of each row marked '*', failures in red when color is on,
 * then the full text of every failure. */
void cmp_write_table(FILE *out, const cmp_report *r, bool color);

/* Each returns 0, or -1 with a reason in err. */
int cmp_write_json(const char *path, const cmp_report *r, char *err, size_t cap);
int cmp_write_csv(const char *path, const cmp_report *r, char *err, size_t cap);
int cmp_write_html(const char *path, const cmp_report *r, char *err, size_t cap);

/* Read a JSON written by cmp_write_json and set each cell's baseline: same row key, and the device of
 * the same name (else the same column). */
int cmp_baseline_load(const char *path, cmp_report *r, char *err, size_t cap);

/* The text of a cell as every format shows it: the value (or text), without marks. */
void cmp_cell_text(const cmp_row *row, const cmp_cell *c, char *buf, size_t cap);

#endif
