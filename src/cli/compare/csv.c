/* --csv: one line per row; per device its value, fraction of the limit and status (ok, best, FAIL or
 * the failure's text), so a spreadsheet or a script reads numbers, not formatted text. */
#include <math.h>
#include <string.h>

#include "writers.h"

/* RFC 4180: quote every text field, double the quotes inside; one line (newlines become spaces). */
static void field(FILE *f, const char *s) {
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
    fputc('"', f);
}

int cmp_write_csv(const char *path, const cmp_report *r, char *err, size_t cap) {
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, cap, "cannot write %s", path);
        return -1;
    }
    char h[400];
    fputs("key,section,label,unit,tolerance", f);
    for (size_t d = 0; d < r->n_dev; d++) {
        const char *what[] = {"value", "fraction", "status"};
        for (int k = 0; k < 3; k++) {
            snprintf(h, sizeof h, "%s %s %s", r->dev[d].selector, r->dev[d].name, what[k]);
            fputc(',', f);
            field(f, h);
        }
    }
    fputc('\n', f);
    for (size_t i = 0; i < r->n_rows; i++) {
        const cmp_row *row = r->rows[i];
        field(f, row->key);
        fputc(',', f);
        field(f, row->section);
        fputc(',', f);
        field(f, row->label);
        fputc(',', f);
        field(f, row->unit);
        fputc(',', f);
        if (row->tol > 0) fprintf(f, "%.3g", row->tol);
        for (size_t d = 0; d < r->n_dev; d++) {
            const cmp_cell *c = &row->cells[d];
            fputc(',', f);
            if (c->has_value && isfinite(c->value)) fprintf(f, "%.9g", c->value);
            else if (c->set) field(f, c->has_value ? "nan" : c->text);
            fputc(',', f);
            if (c->frac >= 0) fprintf(f, "%.4f", c->frac);
            fputc(',', f);
            if (c->failed) field(f, c->has_value ? "FAIL" : c->text ? c->text : "FAILED");
            else if (c->set) field(f, c->best ? "best" : "ok");
        }
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        snprintf(err, cap, "cannot write %s", path);
        return -1;
    }
    return 0;
}
