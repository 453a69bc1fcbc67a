/* --html: one self-contained page (inline CSS and SVG, no script, nothing fetched): a summary per
 * device, bar charts of the headline figures, kernels and errors, the loss curves, then the table. */
#include <math.h>
#include <string.h>

#include "writers.h"

static const char *const palette[] = {"#3566c8", "#e0861a", "#2a9a5b", "#9a4dc9", "#c73a5a", "#50657a"};
#define COLOR(d) palette[(d) % (sizeof palette / sizeof palette[0])]

static void esc(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f4f6f9;color:#1d2530}"
    "main{max-width:1320px;margin:0 auto;padding:24px 28px 48px}"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}"
    ".meta{color:#5b6776;margin:2px 0}"
    ".cards{display:flex;gap:14px;flex-wrap:wrap;margin:18px 0}"
    ".card{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 3px rgba(0,0,0,.12);min-width:260px;"
    "border-top:5px solid var(--c)}"
    ".card b{display:block;font-size:15px}.ok{color:#1f7a45;font-weight:600}.bad{color:#c62828;font-weight:700}"
    ".charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(600px,1fr));gap:16px}"
    ".chart{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 3px rgba(0,0,0,.12)}"
    ".chart.wide{grid-column:1/-1}.chart h3{font-size:14px;margin:2px 0 6px}"
    ".legend span{display:inline-block;margin-right:16px}.legend i{display:inline-block;width:12px;height:12px;"
    "border-radius:2px;margin-right:5px;vertical-align:-1px}"
    "table{border-collapse:collapse;background:#fff;box-shadow:0 1px 3px rgba(0,0,0,.12);border-radius:8px;"
    "overflow:hidden;width:100%}"
    "th,td{padding:4px 10px;border-bottom:1px solid #e6e9ee;text-align:left;vertical-align:top}"
    "thead th{background:#263241;color:#fff;font-weight:600;position:sticky;top:0}"
    "tr.sec td{background:#e9eef5;font-weight:700;color:#2c3a4b;padding-top:8px}"
    "td.v{font-variant-numeric:tabular-nums;white-space:nowrap}td.lab{color:#333;padding-left:22px}"
    "td.best{background:#e3f5e8;font-weight:700;color:#155c33}"
    "td.fail{background:#fde2e2;color:#b71c1c;font-weight:700;white-space:normal;max-width:360px}"
    ".frac{color:#6b7785;font-weight:400;margin-left:6px}.ch{font-size:12px;margin-left:6px;color:#6b7785}"
    ".ch.up{color:#1f7a45}.ch.down{color:#c62828}"
    "pre{background:#fff;border-left:4px solid #c62828;padding:8px 12px;white-space:pre-wrap;font-size:12px}";

/* One bar chart: n rows (labels), per row one bar per device; log scale from 1e-9 to 1 when log is set,
 * with a tolerance tick per row when tol is given. Missing or failed values are said, not drawn. */
static void bar_chart(FILE *f, const cmp_report *r, const char *title, const cmp_row *const *rows, size_t n,
                      bool log, bool frac) {
    const int label_w = frac ? 360 : 250, bar_w = frac ? 760 : 250, bar_h = 11, gap = 10, width = label_w + bar_w + 90;
    const size_t max_chars = frac ? 58 : 38;
    int group_h = (int)r->n_dev * (bar_h + 2) + gap;
    int height = (int)n * group_h + 24;
    double max = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < r->n_dev; d++) {
            const cmp_cell *c = &rows[i]->cells[d];
            double v = frac ? c->frac : c->value;
            if (c->has_value && isfinite(v) && v > max) max = v;
        }
    if (max <= 0) max = 1;
    fprintf(f, "<div class='chart%s'><h3>", frac ? " wide" : "");
    esc(f, title);
    fprintf(f, "</h3><svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-size='11' "
               "font-family='system-ui,sans-serif'>",
            width, height);
    for (size_t i = 0; i < n; i++) {
        int y0 = (int)i * group_h + 4;
        fprintf(f, "<text x='%d' y='%d' text-anchor='end' fill='#333'>", label_w - 8,
                y0 + (int)r->n_dev * (bar_h + 2) / 2 + 4);
        char lab[64] = "";
        size_t len = strlen(rows[i]->label);
        memcpy(lab, rows[i]->label, len <= max_chars ? len : max_chars - 3);
        if (len > max_chars) strcpy(lab + max_chars - 3, "...");
        esc(f, lab);
        fprintf(f, "</text>");
        for (size_t d = 0; d < r->n_dev; d++) {
            const cmp_cell *c = &rows[i]->cells[d];
            int y = y0 + (int)d * (bar_h + 2);
            double v = frac ? c->frac : c->value;
            if (!c->has_value || (frac && v < 0)) {
                fprintf(f, "<text x='%d' y='%d' fill='#c62828'>%s</text>", label_w + 2, y + bar_h - 1,
                        c->failed ? "failed" : "n/a");
                continue;
            }
            double pos = log ? (log10(fmax(v, 1e-9)) + 9) / 9 : v / max;
            if (!isfinite(v)) pos = 1;
            pos = fmax(0.004, fmin(1, pos));
            fprintf(f, "<rect x='%d' y='%d' width='%.1f' height='%d' rx='2' fill='%s'%s/>", label_w, y, pos * bar_w,
                    bar_h, c->failed ? "#c62828" : COLOR(d), c->failed ? " stroke='#7f0000'" : "");
            char txt[64];
            if (frac) snprintf(txt, sizeof txt, "%.0f%%", 100 * v);
            else if (log) snprintf(txt, sizeof txt, "%.1e%s", v, c->failed ? " FAIL" : "");
            else snprintf(txt, sizeof txt, v >= 1000 ? "%.0f" : "%.3g", v);
            fprintf(f, "<text x='%.1f' y='%d' fill='%s'>%s%s</text>", label_w + pos * bar_w + 4, y + bar_h - 1,
                    c->failed ? "#c62828" : "#333", txt, c->best && !frac ? " \xe2\x98\x85" : "");
        }
        if (log && rows[i]->tol > 0) {
            double tx = label_w + (log10(rows[i]->tol) + 9) / 9 * bar_w;
            fprintf(f, "<line x1='%.1f' x2='%.1f' y1='%d' y2='%d' stroke='#c62828' stroke-dasharray='3,2'/>", tx, tx,
                    y0 - 2, y0 + (int)r->n_dev * (bar_h + 2));
        }
    }
    if (log)
        fprintf(f, "<text x='%d' y='%d' fill='#777'>1e-9</text><text x='%d' y='%d' fill='#777' text-anchor='end'>1"
                   "</text>",
                label_w, height - 4, label_w + bar_w, height - 4);
    fprintf(f, "</svg></div>\n");
}

/* The rows of a section (or one key), for a chart. */
static size_t pick(const cmp_report *r, const char *section, const char *const *keys, const cmp_row **out,
                   size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < r->n_rows && n < cap; i++) {
        const cmp_row *row = r->rows[i];
        bool take = section && !strcmp(row->section, section);
        for (size_t k = 0; keys && keys[k]; k++) take |= !strcmp(row->key, keys[k]);
        if (take) out[n++] = row;
    }
    return n;
}

static void loss_chart(FILE *f, const cmp_report *r) {
    const int w = 600, h = 220, l = 50, b = 24, t = 8;
    double lo = INFINITY, hi = -INFINITY;
    int steps = 0;
    for (size_t d = 0; d < r->n_dev; d++)
        for (int i = 0; i < r->dev[d].n_losses; i++) {
            double v = r->dev[d].losses[i];
            if (!isfinite(v)) continue;
            lo = fmin(lo, v), hi = fmax(hi, v);
            if (i + 1 > steps) steps = i + 1;
        }
    if (steps < 2) return;
    if (hi - lo < 1e-9) hi = lo + 1e-9;
    fprintf(f, "<div class=chart><h3>Training loss per step (fixed seed: the curves should lie on each other)</h3>"
               "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-size='11' "
               "font-family='system-ui,sans-serif'><rect x='%d' y='%d' width='%d' height='%d' fill='#fafbfc' "
               "stroke='#d5dae1'/>",
            w, h, l, t, w - l - 10, h - t - b);
    fprintf(f, "<text x='%d' y='%d' text-anchor='end' fill='#555'>%.3f</text>", l - 4, t + 10, hi);
    fprintf(f, "<text x='%d' y='%d' text-anchor='end' fill='#555'>%.3f</text>", l - 4, h - b, lo);
    fprintf(f, "<text x='%d' y='%d' fill='#555'>step 1</text><text x='%d' y='%d' text-anchor='end' fill='#555'>step "
               "%d</text>",
            l, h - 6, w - 10, h - 6, steps);
    for (size_t d = 0; d < r->n_dev; d++) {
        if (r->dev[d].n_losses < 2) continue;
        fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='%d' stroke-opacity='0.85' points='", COLOR(d),
                d ? 2 : 4);
        for (int i = 0; i < r->dev[d].n_losses; i++) {
            double v = r->dev[d].losses[i];
            if (!isfinite(v)) continue;
            fprintf(f, "%.1f,%.1f ", l + (double)i / (steps - 1) * (w - l - 10),
                    t + (hi - v) / (hi - lo) * (h - t - b));
        }
        fprintf(f, "'/>");
    }
    fprintf(f, "</svg></div>\n");
}

static void table(FILE *f, const cmp_report *r) {
    fprintf(f, "<table><thead><tr><th>figure</th>");
    for (size_t d = 0; d < r->n_dev; d++) {
        fprintf(f, "<th><span style='color:%s'>&#9632;</span> %s ", COLOR(d), r->dev[d].selector);
        esc(f, r->dev[d].name);
        fprintf(f, "</th>");
    }
    fprintf(f, "</tr></thead><tbody>\n");
    const char *section = "";
    char buf[512], ch[32];
    for (size_t i = 0; i < r->n_rows; i++) {
        const cmp_row *row = r->rows[i];
        if (strcmp(section, row->section)) {
            section = row->section;
            fprintf(f, "<tr class=sec><td colspan=%zu>", r->n_dev + 1);
            esc(f, section);
            fprintf(f, "</td></tr>\n");
        }
        fprintf(f, "<tr><td class=lab>");
        esc(f, row->label);
        if (row->tol > 0) fprintf(f, " <span class=frac>(tolerance %.0e)</span>", row->tol);
        fprintf(f, "</td>");
        for (size_t d = 0; d < r->n_dev; d++) {
            const cmp_cell *c = &row->cells[d];
            fprintf(f, "<td class='v%s'", c->failed ? " fail" : c->best ? " best" : "");
            if (c->text && c->has_value) {
                fprintf(f, " title='");
                esc(f, c->text);
                fputc('\'', f);
            }
            fputc('>', f);
            if (c->failed && c->has_value) fprintf(f, "FAIL ");
            cmp_cell_text(row, c, buf, sizeof buf);
            if (c->frac >= 0 && c->has_value) { /* the fraction in grey after the figure */
                char *pct = strrchr(buf, ' ');
                if (pct) *pct = '\0';
                esc(f, buf);
                fprintf(f, "<span class=frac>%s</span>", pct ? pct + 1 : "");
            } else {
                esc(f, buf);
            }
            if (c->best) fprintf(f, " &#9733;");
            if (r->has_baseline && c->has_value) {
                int dir = cmp_format_change(row, c, ch, sizeof ch);
                if (ch[0]) fprintf(f, "<span class='ch%s'>%s</span>", dir > 0 ? " up" : dir < 0 ? " down" : "", ch);
            }
            fprintf(f, "</td>");
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</tbody></table>\n");
}

int cmp_write_html(const char *path, const cmp_report *r, char *err, size_t cap) {
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, cap, "cannot write %s", path);
        return -1;
    }
    fprintf(f, "<!DOCTYPE html>\n<html lang=en><head><meta charset='utf-8'><title>clformer compare</title>"
               "<style>%s</style></head><body><main>\n<h1>clformer compare</h1>\n",
            css);
    fprintf(f, "<p class=meta>%s suite &middot; %zu device%s &middot; %s</p>", r->suite, r->n_dev,
            r->n_dev == 1 ? "" : "s", r->created);
    if (r->bench_desc[0]) {
        fprintf(f, "<p class=meta>Kernels at ");
        esc(f, r->bench_desc);
        fprintf(f, "</p>");
    }
    if (r->train_desc[0]) {
        fprintf(f, "<p class=meta>Training: ");
        esc(f, r->train_desc);
        fprintf(f, "</p>");
    }
    if (r->has_baseline) {
        fprintf(f, "<p class=meta>Changes against ");
        esc(f, r->baseline_path);
        fprintf(f, "</p>");
    }
    const cmp_row *status = cmp_row_find(r, "status/device");
    fprintf(f, "<div class=cards>");
    for (size_t d = 0; d < r->n_dev; d++) {
        const cmp_cell *c = status ? &status->cells[d] : NULL;
        fprintf(f, "<div class=card style='--c:%s'><b>%s ", COLOR(d), r->dev[d].selector);
        esc(f, r->dev[d].name);
        fprintf(f, "</b><span class=%s>", r->dev[d].failed ? "bad" : "ok");
        esc(f, c && c->text ? c->text : r->dev[d].failed ? "FAILED" : "ok");
        fprintf(f, "</span></div>");
    }
    fprintf(f, "</div>\n<div class=legend>");
    for (size_t d = 0; d < r->n_dev; d++) {
        fprintf(f, "<span><i style='background:%s'></i>", COLOR(d));
        esc(f, r->dev[d].name);
        fprintf(f, "</span>");
    }
    fprintf(f, "</div>\n<h2>At a glance</h2><div class=charts>\n");

    enum { CAP = 256 };
    const cmp_row *rows[CAP];
    static const char *const headline[] = {"model/train_tokens_per_s", "model/gen_tokens_per_s", NULL};
    static const char *const limits[] = {"limits/copy", "limits/gemm", NULL};
    size_t n = pick(r, NULL, headline, rows, CAP);
    if (n) bar_chart(f, r, "Whole model: tokens per second (longer is better)", rows, n, false, false);
    n = pick(r, NULL, limits, rows, CAP);
    if (n) bar_chart(f, r, "Measured limits: copy GB/s and SGEMM GFLOP/s (longer is better)", rows, n, false, false);
    n = pick(r, "accuracy", NULL, rows, CAP);
    if (n)
        bar_chart(f, r, "Worst relative error against float64, log scale (dashed: tolerance; shorter is better)",
                  rows, n, true, false);
    loss_chart(f, r);
    fprintf(f, "</div>\n<h2>All figures</h2>\n");
    table(f, r);
    n = pick(r, "kernels", NULL, rows, CAP);
    if (n) {
        fprintf(f, "<h2>Kernels</h2><div class=charts>\n");
        bar_chart(f, r, "Kernels: % of the device's copy bandwidth or SGEMM rate (longer is better)", rows, n, false,
                  true);
        fprintf(f, "</div>\n");
    }

    bool any = false;
    for (size_t d = 0; d < r->n_dev; d++)
        for (size_t i = 0; i < r->n_rows; i++) {
            const cmp_cell *c = &r->rows[i]->cells[d];
            if (!c->failed || c->has_value || !c->text || !strcmp(r->rows[i]->key, "status/device")) continue;
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++) {
                const cmp_cell *e = &r->rows[j]->cells[d];
                seen = e->failed && !e->has_value && e->text && !strcmp(e->text, c->text);
            }
            if (seen) continue;
            if (!any) fprintf(f, "<h2>Failures in full</h2>\n");
            any = true;
            fprintf(f, "<p><b>%s ", r->dev[d].selector);
            esc(f, r->dev[d].name);
            fprintf(f, "</b> &middot; ");
            esc(f, r->rows[i]->label);
            fprintf(f, "</p><pre>");
            esc(f, c->text);
            fprintf(f, "</pre>\n");
        }
    fprintf(f, "</main></body></html>\n");
    if (fclose(f) != 0) {
        snprintf(err, cap, "cannot write %s", path);
        return -1;
    }
    return 0;
}
