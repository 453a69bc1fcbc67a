#include "plot.h"

#include <math.h>
#include <stdio.h>

int plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel, const plot_series *s,
             size_t n_series) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t k = 0; k < n_series; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].y[i])) continue;
            x0 = fmin(x0, s[k].x[i]), x1 = fmax(x1, s[k].x[i]);
            y0 = fmin(y0, s[k].y[i]), y1 = fmax(y1, s[k].y[i]);
        }
    if (!(x1 > x0)) x1 = x0 + 1;
    if (!(y1 > y0)) y1 = y0 + 1;
    if (y0 > 0) y0 = 0;
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const double W = 720, H = 420, L = 70, R = 20, T = 40, B = 50;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"24\" font-size=\"16\" text-anchor=\"middle\">%s</text>\n", W / 2, title);
    for (int i = 0; i <= 5; i++) { /* grid and tick labels */
        double gy = T + (H - T - B) * i / 5.0, vy = y1 - (y1 - y0) * i / 5.0;
        double gx = L + (W - L - R) * i / 5.0, vx = x0 + (x1 - x0) * i / 5.0;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, gy, W - R, gy);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L - 6, gy + 4, vy);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", gx, H - B + 18, vx);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n", (L + W - R) / 2, H - 10, xlabel);
    fprintf(f, "<text x=\"16\" y=\"%.0f\" transform=\"rotate(-90 16 %.0f)\" text-anchor=\"middle\">%s</text>\n",
            (T + H - B) / 2, (T + H - B) / 2, ylabel);
    for (size_t k = 0; k < n_series; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", s[k].color);
        for (size_t i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].y[i])) continue;
            double px = L + (W - L - R) * (s[k].x[i] - x0) / (x1 - x0);
            double py = T + (H - T - B) * (y1 - s[k].y[i]) / (y1 - y0);
            fprintf(f, "%.1f,%.1f ", px, py);
        }
        fprintf(f, "\"/>\n<text x=\"%.0f\" y=\"%.0f\" fill=\"%s\">%s</text>\n", W - R - 150, T + 16 + 16.0 * (double)k,
                s[k].color, s[k].label);
    }
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}
