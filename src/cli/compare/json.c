/* --json: every row with every device's figure, and --baseline: the same file read back. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "writers.h"

static const char *const better_names[] = {"none", "higher", "lower"};

/* JSON has no NaN or infinity: those become null with the text saying what they were. */
static json_t *number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *cell_json(const cmp_row *row, const cmp_cell *c) {
    json_t *o = json_object();
    char buf[256];
    cmp_cell_text(row, c, buf, sizeof buf);
    json_object_set_new(o, "value", c->has_value ? number(c->value) : json_null());
    json_object_set_new(o, "fraction", c->frac >= 0 ? json_real(c->frac) : json_null());
    json_object_set_new(o, "shown", json_string(c->set ? buf : ""));
    json_object_set_new(o, "text", c->text ? json_string(c->text) : json_null());
    json_object_set_new(o, "failed", json_boolean(c->failed));
    json_object_set_new(o, "best", json_boolean(c->best));
    if (c->has_base) {
        json_object_set_new(o, "baseline", number(c->base));
        json_object_set_new(o, "change", c->has_value && c->base != 0 && isfinite(c->value) && isfinite(c->base)
                                             ? json_real((c->value - c->base) / fabs(c->base))
                                             : json_null());
    }
    return o;
}

int cmp_write_json(const char *path, const cmp_report *r, char *err, size_t cap) {
    json_t *devs = json_array(), *rows = json_array();
    for (size_t d = 0; d < r->n_dev; d++) {
        json_t *losses = json_array();
        for (int i = 0; i < r->dev[d].n_losses; i++) json_array_append_new(losses, number(r->dev[d].losses[i]));
        json_array_append_new(devs, json_pack("{s:s, s:s, s:b, s:f, s:o}", "name", r->dev[d].name, "selector",
                                              r->dev[d].selector, "failed", r->dev[d].failed, "seconds",
                                              r->dev[d].seconds, "losses", losses));
    }
    for (size_t i = 0; i < r->n_rows; i++) {
        const cmp_row *row = r->rows[i];
        json_t *cells = json_array();
        for (size_t d = 0; d < r->n_dev; d++) json_array_append_new(cells, cell_json(row, &row->cells[d]));
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "key", row->key, "section", row->section, "label",
                              row->label, "unit", row->unit, "better", better_names[row->better], "cells", cells);
        if (row->tol > 0) json_object_set_new(o, "tolerance", json_real(row->tol));
        json_array_append_new(rows, o);
    }
    json_t *top = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:b, s:o, s:o}", "tool", "clformer compare", "format", 1,
                            "suite", r->suite, "created", r->created, "kernel_shapes", r->bench_desc, "training",
                            r->train_desc, "failed", cmp_report_any_failed(r), "devices", devs, "rows", rows);
    if (!top) {
        snprintf(err, cap, "cannot build the JSON document");
        return -1;
    }
    int rc = json_dump_file(top, path, JSON_INDENT(2)) == 0 ? 0 : -1;
    json_decref(top);
    if (rc) snprintf(err, cap, "cannot write %s", path);
    return rc;
}

int cmp_baseline_load(const char *path, cmp_report *r, char *err, size_t cap) {
    json_error_t je;
    json_t *top = json_load_file(path, 0, &je);
    if (!top) {
        snprintf(err, cap, "%s:%d: %s", path, je.line, je.text);
        return -1;
    }
    json_t *devs = json_object_get(top, "devices"), *rows = json_object_get(top, "rows");
    if (!json_is_array(devs) || !json_is_array(rows)) {
        json_decref(top);
        snprintf(err, cap, "%s is not the JSON of clformer compare (no devices or rows)", path);
        return -1;
    }
    /* the baseline column of each device: the same name, else the same position */
    size_t n_base = json_array_size(devs);
    long col[64];
    for (size_t d = 0; d < r->n_dev && d < 64; d++) {
        col[d] = d < n_base ? (long)d : -1;
        for (size_t b = 0; b < n_base; b++) {
            const char *name = json_string_value(json_object_get(json_array_get(devs, b), "name"));
            if (name && !strcmp(name, r->dev[d].name)) {
                col[d] = (long)b;
                break;
            }
        }
    }
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        cmp_row *mine = cmp_row_find(r, json_string_value(json_object_get(row, "key")) ? json_string_value(json_object_get(row, "key")) : "");
        json_t *cells = json_object_get(row, "cells");
        for (size_t d = 0; mine && d < r->n_dev && d < 64; d++) {
            if (col[d] < 0) continue;
            json_t *v = json_object_get(json_array_get(cells, (size_t)col[d]), "value");
            if (!json_is_number(v)) continue;
            mine->cells[d].has_base = true;
            mine->cells[d].base = json_number_value(v);
        }
    }
    json_decref(top);
    r->has_baseline = true;
    snprintf(r->baseline_path, sizeof r->baseline_path, "%s", path);
    return 0;
}
