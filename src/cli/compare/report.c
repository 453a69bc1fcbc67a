#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

cmp_report *cmp_report_new(size_t n_dev, const char *suite) {
    cmp_report *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->n_dev = n_dev;
    r->dev = calloc(n_dev ? n_dev : 1, sizeof *r->dev);
    if (!r->dev) {
        free(r);
        return NULL;
    }
    snprintf(r->suite, sizeof r->suite, "%s", suite);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(r->created, sizeof r->created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return r;
}

void cmp_report_free(cmp_report *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_rows; i++) {
        for (size_t d = 0; d < r->n_dev; d++) free(r->rows[i]->cells[d].text);
        free(r->rows[i]->cells);
        free(r->rows[i]);
    }
    free(r->rows);
    free(r->dev);
    free(r);
}

cmp_row *cmp_row_find(const cmp_report *r, const char *key) {
    for (size_t i = 0; i < r->n_rows; i++)
        if (!strcmp(r->rows[i]->key, key)) return r->rows[i];
    return NULL;
}

cmp_row *cmp_row_get(cmp_report *r, const char *key, const char *section, const char *label, const char *unit,
                     cmp_better better, double tol) {
    cmp_row *row = cmp_row_find(r, key);
    if (row) return row;
    if (r->n_rows == r->cap_rows) {
        size_t cap = r->cap_rows ? 2 * r->cap_rows : 64;
        cmp_row **rows = realloc(r->rows, cap * sizeof *rows);
        if (!rows) return NULL;
        r->rows = rows;
        r->cap_rows = cap;
    }
    row = calloc(1, sizeof *row);
    if (!row) return NULL;
    row->cells = calloc(r->n_dev ? r->n_dev : 1, sizeof *row->cells);
    if (!row->cells) {
        free(row);
        return NULL;
    }
    r->rows[r->n_rows] = row;
    for (size_t d = 0; d < r->n_dev; d++) row->cells[d].frac = -1;
    snprintf(row->key, sizeof row->key, "%s", key);
    snprintf(row->section, sizeof row->section, "%s", section);
    snprintf(row->label, sizeof row->label, "%s", label);
    snprintf(row->unit, sizeof row->unit, "%s", unit ? unit : "");
    row->better = better;
    row->tol = tol;
    r->n_rows++;
    return row;
}

void cmp_put(cmp_row *row, size_t dev, double value, double frac) {
    if (!row) return;
    cmp_cell *c = &row->cells[dev];
    c->set = c->has_value = true;
    c->value = value;
    c->frac = frac;
    if (row->tol > 0 && !(value <= row->tol)) c->failed = true; /* NaN fails too */
}

static void set_text(cmp_cell *c, const char *fmt, va_list ap) {
    char buf[8192];
    vsnprintf(buf, sizeof buf, fmt, ap);
    free(c->text);
    size_t n = strlen(buf) + 1;
    c->text = malloc(n);
    if (c->text) memcpy(c->text, buf, n);
    c->set = true;
}

void cmp_put_text(cmp_row *row, size_t dev, const char *fmt, ...) {
    if (!row) return;
    va_list ap;
    va_start(ap, fmt);
    set_text(&row->cells[dev], fmt, ap);
    va_end(ap);
}

void cmp_put_fail(cmp_row *row, size_t dev, const char *fmt, ...) {
    if (!row) return;
    va_list ap;
    va_start(ap, fmt);
    set_text(&row->cells[dev], fmt, ap);
    va_end(ap);
    row->cells[dev].failed = true;
}

/* Sections in the order every output shows them; a row a later device added joins its section. */
static int section_rank(const char *s) {
    static const char *const order[] = {"status", "device", "builds", "accuracy", "losses", "limits", "kernels", "model"};
    for (int i = 0; i < (int)(sizeof order / sizeof order[0]); i++)
        if (!strcmp(order[i], s)) return i;
    return 99;
}

void cmp_report_finish(cmp_report *r) {
    for (size_t i = 1; i < r->n_rows; i++) { /* stable insertion sort by section */
        cmp_row *row = r->rows[i];
        size_t j = i;
        for (; j > 0 && section_rank(r->rows[j - 1]->section) > section_rank(row->section); j--)
            r->rows[j] = r->rows[j - 1];
        r->rows[j] = row;
    }
    for (size_t i = 0; i < r->n_rows; i++) {
        cmp_row *row = r->rows[i];
        size_t best = r->n_dev, n = 0;
        for (size_t d = 0; d < r->n_dev; d++) {
            cmp_cell *c = &row->cells[d];
            c->best = false;
            if (c->failed) r->dev[d].failed = true;
            if (row->better == CMP_BETTER_NONE || !c->has_value || c->failed || !isfinite(c->value)) continue;
            n++;
            if (best == r->n_dev || (row->better == CMP_BETTER_HIGHER ? c->value > row->cells[best].value
                                                                     : c->value < row->cells[best].value))
                best = d;
        }
        /* every cell equal to the best is marked; when all are equal, none is */
        size_t ties = 0;
        for (size_t d = 0; n >= 2 && d < r->n_dev; d++)
            ties += row->cells[d].has_value && !row->cells[d].failed && row->cells[d].value == row->cells[best].value;
        for (size_t d = 0; n >= 2 && ties < n && d < r->n_dev; d++)
            row->cells[d].best = row->cells[d].has_value && !row->cells[d].failed &&
                                 row->cells[d].value == row->cells[best].value;
    }
}

bool cmp_report_any_failed(const cmp_report *r) {
    for (size_t d = 0; d < r->n_dev; d++)
        if (r->dev[d].failed) return true;
    return false;
}

/* 3-4 significant digits without an exponent for the usual range, an exponent for tiny errors. */
static void fmt_number(double v, char *buf, size_t cap) {
    double a = fabs(v);
    if (v == 0) snprintf(buf, cap, "0");
    else if (!isfinite(v)) snprintf(buf, cap, "%s", isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf");
    else if (a < 1e-3 || a >= 1e7) snprintf(buf, cap, "%.2e", v);
    else if (a >= 1000 || (v == floor(v) && a >= 1)) snprintf(buf, cap, "%.0f", v);
    else if (a >= 100) snprintf(buf, cap, "%.1f", v);
    else if (a >= 10) snprintf(buf, cap, "%.2f", v);
    else snprintf(buf, cap, "%.3f", v);
}

void cmp_format_value(const cmp_row *row, const cmp_cell *c, char *buf, size_t cap) {
    if (!c->set) {
        snprintf(buf, cap, "-");
        return;
    }
    if (!c->has_value) {
        snprintf(buf, cap, "%s", c->text ? c->text : "");
        return;
    }
    char num[48];
    fmt_number(c->value, num, sizeof num);
    int n = snprintf(buf, cap, "%s%s%s", num, row->unit[0] ? " " : "", row->unit);
    if (c->frac >= 0 && n > 0 && (size_t)n < cap) snprintf(buf + n, cap - (size_t)n, " %3.0f%%", 100 * c->frac);
}

int cmp_format_change(const cmp_row *row, const cmp_cell *c, char *buf, size_t cap) {
    if (!c->has_value || !c->has_base || !isfinite(c->value) || !isfinite(c->base) || c->base == 0) {
        snprintf(buf, cap, "%s", c->has_value && !c->has_base ? "new" : "");
        return 0;
    }
    double ch = (c->value - c->base) / fabs(c->base);
    if (row->section[0] == 'a' || row->section[0] == 'l') { /* errors: a ratio says more than a percentage */
        snprintf(buf, cap, "x%.2g", c->value / c->base);
    } else if (fabs(ch) < 0.0005) {
        snprintf(buf, cap, "=");
        return 0;
    } else {
        snprintf(buf, cap, "%+.1f%%", 100 * ch);
    }
    if (row->better == CMP_BETTER_NONE || fabs(ch) < 0.02) return 0; /* within noise */
    return (row->better == CMP_BETTER_HIGHER) == (ch > 0) ? 1 : -1;
}
