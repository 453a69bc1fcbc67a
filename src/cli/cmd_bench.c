/* clformer bench: every kernel at the shapes of a training step, timed with profiling events, with
 * achieved GB/s or GFLOP/s and the fraction of the device's own measured limits. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_limits.h"
#include "clformer/program.h"
#include "commands.h"
#include "options.h"

static int write_json(const char *path, const clf_bench *b) {
    json_t *rows = json_array();
    for (size_t i = 0; i < b->n_rows; i++) {
        const clf_bench_row *r = &b->rows[i];
        json_array_append_new(rows, json_pack("{s:s, s:s, s:f, s:f, s:f, s:f, s:f}", "name", r->name, "shape", r->shape,
                                              "ms", r->ms, "gbps", r->gbps, "gflops", r->gflops, "fraction", r->frac,
                                              "mem_mib", r->mem_mib));
    }
    json_t *o = json_pack("{s:s, s:f, s:f, s:o}", "device", clf_device_get_info(b->dev)->name, "copy_gbps", b->copy_gbps,
                          "gemm_gflops", b->gemm_gflops, "rows", rows);
    int rc = json_dump_file(o, path, JSON_INDENT(2)) == 0 ? 0 : -1;
    json_decref(o);
    return rc;
}

/* Build every embedded program on a fresh context: from source (the disk cache off), then from the
 * disk cache (filled first). The cache is switched through the environment, as a user would. */
static int measure_builds(const char *selector, clf_build_stats *cold, clf_build_stats *cached) {
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 0) setenv("CLFORMER_NO_CACHE", "1", 1);
        else unsetenv("CLFORMER_NO_CACHE");
        clf_device *dev;
        if (clf_device_open(selector, &dev) != CLF_OK) return cli_fail("bench", "%s", clf_errmsg());
        for (const char *const *name = clf_program_names(); *name; name++) {
            cl_program p;
            if (clf_program_get(dev, *name, NULL, &p) != CLF_OK) {
                clf_device_free(dev);
                return cli_fail("bench", "%s", clf_errmsg());
            }
        }
        if (pass == 0) clf_program_build_stats(dev, cold);
        if (pass == 2) clf_program_build_stats(dev, cached);
        clf_device_free(dev);
    }
    return 0;
}

int cmd_bench(int argc, char **argv) {
    const char *device = NULL, *json = NULL, *only = NULL;
    bool quick = false, builds = false;
    long iters = 10;
    const cli_opt opts[] = {
        {"device", CLI_STRING, &device, "SPEC", "device: P:D, gpu, cpu, any or part of its name", 1, 0},
        {"quick", CLI_FLAG, &quick, NULL, "smaller shapes and sweeps", 1, 0},
        {"iters", CLI_INT, &iters, "N", "timed runs per kernel (the median is reported)", 1, 10000},
        {"only", CLI_STRING, &only, "NAME", "one family: linear, attention, norm, elementwise, optim", 1, 0},
        {"json", CLI_STRING, &json, "FILE", "also write the figures as JSON", 1, 0},
        {"builds", CLI_FLAG, &builds, NULL, "also time building every kernel program, from source and from the cache", 1, 0},
    };
    const cli_command cmd = {"bench", "Time every kernel at the shapes of a training step (d_model 512, 8 heads, d_ff 2048, 4096 tokens).",
                             "[options]", opts, sizeof opts / sizeof opts[0]};
    int rc = cli_parse(&cmd, argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : 2;
    if (builds) {
        clf_build_stats cold, cached;
        if (measure_builds(device, &cold, &cached)) return 1;
        printf("program builds: %d from source in %.0f ms; %d from the disk cache in %.0f ms\n", cold.from_source,
               cold.source_ms, cached.from_disk_cache, cached.disk_cache_ms);
    }
    clf_device *dev;
    if (cli_open_device("bench", device, &dev)) return 1;
    clf_bench b = {.dev = dev,
                   .cfg = {512, 8, 2048, 4096, 16, 256, 259, quick ? 1 : 2, (int)iters, quick}};
    fprintf(stderr, "benchmarking on %s%s...\n", clf_device_get_info(dev)->name, quick ? " (quick)" : "");
    clf_status st = clf_bench_all(&b, only);
    printf("%-34s %-22s %10s %10s %10s %8s\n", "kernel", "shape", "ms", "GB/s", "GFLOP/s", "of limit");
    for (size_t i = 0; i < b.n_rows; i++) {
        const clf_bench_row *r = &b.rows[i];
        printf("%-34s %-22s %10.3f %10.2f %10.2f %7.1f%%", r->name, r->shape, r->ms, r->gbps, r->gflops, 100 * r->frac);
        if (r->mem_mib > 0) printf("  %.1f MiB", r->mem_mib);
        printf("\n");
    }
    printf("limits: copy %.1f GB/s, sgemm %.1f GFLOP/s (measured above)\n", b.copy_gbps, b.gemm_gflops);
    int exit_code = 0;
    if (st != CLF_OK) exit_code = cli_fail("bench", "%s", clf_errmsg());
    if (json && write_json(json, &b) != 0) exit_code = cli_fail("bench", "cannot write %s", json);
    free(b.rows);
    clf_device_free(dev);
    return exit_code;
}
