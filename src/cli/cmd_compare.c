/* clformer compare: one suite on every selected device, side by side: capabilities, program builds,
 * numerical agreement with float64 references, kernel benchmarks and a whole training run; as a
 * terminal table, JSON, CSV and a self-contained HTML page, optionally against an earlier run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "clformer/device.h"
#include "commands.h"
#include "compare/accuracy.h"
#include "compare/builds.h"
#include "compare/report.h"
#include "compare/suite.h"
#include "compare/writers.h"

#define LOSS_TOLERANCE 1e-3

/* The devices a --devices list names, in its order, each once; 0 or the exit code of the error. */
static int select_devices(const char *spec, const clf_device_info *list, size_t n, size_t *chosen, size_t *n_chosen) {
    *n_chosen = 0;
    if (n == 0) {
        clf_device_select(NULL, list, 0, NULL); /* the message with the install hint */
        return cli_fail("compare", "%s", clf_errmsg()) + 1;
    }
    if (!strcmp(spec, "all")) {
        for (size_t i = 0; i < n; i++) chosen[(*n_chosen)++] = i;
        return 0;
    }
    char *copy = malloc(strlen(spec) + 1);
    if (!copy) return cli_fail("compare", "out of host memory");
    strcpy(copy, spec);
    int rc = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        if (!*tok) continue;
        size_t idx;
        if (clf_device_select(tok, list, n, &idx) != CLF_OK) {
            rc = cli_fail("compare", "--devices: %s", cli_plain(clf_errmsg())) + 1;
            break;
        }
        bool dup = false;
        for (size_t i = 0; i < *n_chosen; i++) dup |= chosen[i] == idx;
        if (!dup) chosen[(*n_chosen)++] = idx;
    }
    free(copy);
    if (!rc && *n_chosen == 0) rc = cli_fail("compare", "--devices '%s' names no device", spec) + 1;
    return rc;
}

int cmd_compare(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], CMP_BUILDS_CHILD_FLAG)) return cmp_builds_child(argv[2]);

    const char *devices = "all", *json = NULL, *csv = NULL, *html = NULL, *baseline = NULL;
    bool quick = false, tiny = false, no_color = false;
    long seed = 1;
    const cli_opt opts[] = {
        {"devices", CLI_STRING, &devices, "LIST", "all, or selectors as --device takes (P:D, gpu, cpu, any, part of a name), "
                                                   "comma-separated",
         1, 0},
        {"quick", CLI_FLAG, &quick, NULL, "a reduced suite (smaller shapes, fewer runs): about a minute per CPU device", 1, 0},
        {"tiny", CLI_FLAG, &tiny, NULL, "the smallest suite that fills every row (for tests: its figures mean little)", 1,
         0},
        {"json", CLI_STRING, &json, "FILE", "also write every row as JSON (what --baseline reads)", 1, 0},
        {"csv", CLI_STRING, &csv, "FILE", "also write the rows as CSV", 1, 0},
        {"html", CLI_STRING, &html, "FILE", "also write one self-contained page with the table and bar charts", 1, 0},
        {"baseline", CLI_STRING, &baseline, "FILE.json", "an earlier --json: show the change of every row against it", 1,
         0},
        {"seed", CLI_INT, &seed, "N", "seed of the inputs of the numerical checks and of the training run", 0, 2147483647},
        {"no-color", CLI_FLAG, &no_color, NULL, "no colors in the table (also when NO_COLOR is set or not a terminal)", 1,
         0},
    };
    const cli_command cmd = {
        "compare",
        "Run one suite on every selected device and put the results side by side: capabilities, program build\n"
        "times, numerical agreement with float64 references (FAIL over tolerance), kernel times as a fraction of\n"
        "each device's measured limits, and a whole training run (tokens/s, generation, peak memory, losses).\n"
        "Progress goes to stderr, the table to stdout.\n\n"
        "exit status: 0 every device ran and agreed; 1 a device failed (build error, out of memory, results over\n"
        "tolerance: its column says why, the others still ran) or an output file could not be written;\n"
        "2 bad flags, a --devices selector that matches nothing, or an unreadable --baseline",
        "[options]", opts, sizeof opts / sizeof opts[0]};
    int rc = cli_parse(&cmd, argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : 2;
    if (quick && tiny) return cli_fail("compare", "--quick and --tiny exclude each other") + 1;
    cmp_suite suite;
    cmp_suite_preset(tiny ? "tiny" : quick ? "quick" : "full", &suite);
    suite.seed = (uint64_t)seed;

    char err[8192];
    if (baseline) { /* refuse a bad baseline before the long run, not after */
        cmp_report *probe = cmp_report_new(0, suite.name);
        int bad = probe ? cmp_baseline_load(baseline, probe, err, sizeof err) : -1;
        cmp_report_free(probe);
        if (bad) return cli_fail("compare", "--baseline: %s", err) + 1;
    }

    clf_device_info *list = NULL;
    size_t n = 0;
    if (clf_device_enumerate(&list, &n) != CLF_OK) return cli_fail("compare", "%s", clf_errmsg());
    size_t *chosen = malloc((n ? n : 1) * sizeof *chosen), n_chosen = 0;
    if (!chosen) {
        free(list);
        return cli_fail("compare", "out of host memory");
    }
    rc = select_devices(devices, list, n, chosen, &n_chosen);
    cmp_report *r = rc ? NULL : cmp_report_new(n_chosen, suite.name);
    if (!rc && !r) rc = cli_fail("compare", "out of host memory");
    if (rc) {
        free(chosen);
        free(list);
        return rc;
    }

    fprintf(stderr, "compare: %s suite on %zu device%s\n", suite.name, n_chosen, n_chosen == 1 ? "" : "s");
    for (size_t d = 0; d < n_chosen; d++) cmp_suite_run(r, d, n_chosen, &list[chosen[d]], &suite);
    cmp_accuracy_losses(r, LOSS_TOLERANCE);
    cmp_suite_results(r);
    cmp_report_finish(r);

    int exit_code = cmp_report_any_failed(r) ? 1 : 0;
    if (baseline && cmp_baseline_load(baseline, r, err, sizeof err)) exit_code = cli_fail("compare", "--baseline: %s", err);
    bool color = !no_color && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
    cmp_write_table(stdout, r, color);
    fflush(stdout);
    struct {
        const char *path;
        int (*write)(const char *, const cmp_report *, char *, size_t);
    } outs[] = {{json, cmp_write_json}, {csv, cmp_write_csv}, {html, cmp_write_html}};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++)
        if (outs[i].path && outs[i].write(outs[i].path, r, err, sizeof err)) exit_code = cli_fail("compare", "%s", err);
    if (exit_code && cmp_report_any_failed(r)) fprintf(stderr, "compare: a device failed (see its column)\n");
    cmp_report_free(r);
    free(chosen);
    free(list);
    return exit_code;
}
