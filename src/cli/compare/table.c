/* The terminal table: a label column, then one column per device; sections as headings. */
#include <string.h>

#include "writers.h"

#define LABEL_MAX 46
#define COL_MIN 14
#define COL_MAX 30

static const char *const section_titles[][2] = {
    {"status", "status"},
    {"device", "device"},
    {"builds", "program builds"},
    {"accuracy", "numerical agreement (worst relative error against float64; FAIL above tolerance)"},
    {"losses", "fixed-seed training losses"},
    {"limits", "measured limits"},
    {"kernels", "kernels (median time, % of the device's copy bandwidth or SGEMM rate)"},
    {"model", "whole model"},
};

static const char *section_title(const char *s) {
    for (size_t i = 0; i < sizeof section_titles / sizeof section_titles[0]; i++)
        if (!strcmp(section_titles[i][0], s)) return section_titles[i][1];
    return s;
}

void cmp_cell_text(const cmp_row *row, const cmp_cell *c, char *buf, size_t cap) {
    if (c->failed && !c->has_value) {
        /* the first line of the reason, without the source location */
        const char *t = c->text ? c->text : "failed";
        const char *p = strstr(t, ".c:");
        if (p && (p = strstr(p, ": ")) && p - t < 48) t = p + 2;
        snprintf(buf, cap, "%s", t);
        buf[strcspn(buf, "\n")] = '\0';
        return;
    }
    cmp_format_value(row, c, buf, cap);
}

/* The cell as the table shows it: value, best mark, FAIL, change from the baseline. */
static void cell_line(const cmp_report *r, const cmp_row *row, const cmp_cell *c, char *buf, size_t cap) {
    char v[256], ch[32] = "";
    cmp_cell_text(row, c, v, sizeof v);
    if (r->has_baseline && c->has_value) cmp_format_change(row, c, ch, sizeof ch);
    snprintf(buf, cap, "%s%s%s%s%s%s", c->failed && c->has_value ? "FAIL " : c->failed ? "FAILED: " : "", v,
             c->best ? " *" : "", ch[0] ? " (" : "", ch, ch[0] ? ")" : "");
}

/* Print s in exactly w columns (cut with ".." when longer). */
static void put_fixed(FILE *out, const char *s, size_t w, const char *pre, const char *post) {
    size_t n = strlen(s);
    fputs(pre, out);
    if (n <= w) fprintf(out, "%s%*s", s, (int)(w - n), "");
    else fprintf(out, "%.*s..", (int)(w - 2), s);
    fputs(post, out);
}

void cmp_write_table(FILE *out, const cmp_report *r, bool color) {
    size_t label_w = 10, col_w = COL_MIN;
    char buf[512];
    for (size_t i = 0; i < r->n_rows; i++) {
        size_t n = strlen(r->rows[i]->label) + 2;
        if (n > label_w) label_w = n;
        for (size_t d = 0; d < r->n_dev; d++) {
            cell_line(r, r->rows[i], &r->rows[i]->cells[d], buf, sizeof buf);
            if (strlen(buf) > col_w) col_w = strlen(buf);
        }
    }
    if (label_w > LABEL_MAX) label_w = LABEL_MAX;
    if (col_w > COL_MAX) col_w = COL_MAX;
    const char *red = color ? "\033[1;31m" : "", *bold = color ? "\033[1m" : "", *off = color ? "\033[0m" : "";

    fprintf(out, "clformer compare: %s suite, %zu device%s, %s\n", r->suite, r->n_dev, r->n_dev == 1 ? "" : "s",
            r->created);
    if (r->bench_desc[0]) fprintf(out, "kernels at %s\n", r->bench_desc);
    if (r->train_desc[0]) fprintf(out, "training: %s\n", r->train_desc);
    if (r->has_baseline) fprintf(out, "changes in parentheses are against %s\n", r->baseline_path);
    fputc('\n', out);
    put_fixed(out, "", label_w, "", "");
    for (size_t d = 0; d < r->n_dev; d++) {
        snprintf(buf, sizeof buf, "%s %s", r->dev[d].selector, r->dev[d].name);
        put_fixed(out, buf, col_w, "  ", "");
    }
    fputc('\n', out);
    const char *section = "";
    for (size_t i = 0; i < r->n_rows; i++) {
        const cmp_row *row = r->rows[i];
        if (strcmp(section, row->section)) {
            section = row->section;
            fprintf(out, "%s%s%s\n", bold, section_title(section), off);
        }
        snprintf(buf, sizeof buf, "  %s", row->label);
        put_fixed(out, buf, label_w, "", "");
        for (size_t d = 0; d < r->n_dev; d++) {
            const cmp_cell *c = &row->cells[d];
            cell_line(r, row, c, buf, sizeof buf);
            fputs("  ", out);
            put_fixed(out, buf, col_w, c->failed ? red : c->best ? bold : "", c->failed || c->best ? off : "");
        }
        fputc('\n', out);
    }
    fputs("\n* best figure of the row", out);
    if (r->has_baseline) fputs("; (change) against the baseline", out);
    fputc('\n', out);

    /* the failures in full: a column only has room for their start; one message once per device */
    bool any = false;
    for (size_t d = 0; d < r->n_dev; d++)
        for (size_t i = 0; i < r->n_rows; i++) {
            const cmp_cell *c = &r->rows[i]->cells[d];
            if (!c->failed || !strcmp(r->rows[i]->key, "status/device")) continue;
            bool seen = false;
            for (size_t j = 0; j < i && !seen && !c->has_value && c->text; j++) {
                const cmp_cell *e = &r->rows[j]->cells[d];
                seen = e->failed && !e->has_value && e->text && !strcmp(e->text, c->text);
            }
            if (seen) continue;
            if (!any) fprintf(out, "\n%sfailures:%s\n", red, off);
            any = true;
            fprintf(out, "  [%s %s] %s: ", r->dev[d].selector, r->dev[d].name, r->rows[i]->label);
            if (c->has_value) fprintf(out, "%.3g over the tolerance %.3g%s%s\n", c->value, r->rows[i]->tol,
                                      c->text ? "; " : "", c->text ? c->text : "");
            else fprintf(out, "%s\n", c->text ? c->text : "failed");
        }
}
