#include "suite.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accuracy.h"
#include "bench/bench_limits.h"
#include "bench/bench_train.h"
#include "builds.h"

bool cmp_suite_preset(const char *name, cmp_suite *s) {
    /* bench: d_model, heads, d_ff, tokens, batch, seq, vocab, warmup, iters, quick.
     * training: d_model, heads, d_ff, layers, batch, seq, warm-up, timed steps, generation. */
    static const cmp_suite presets[] = {
        {"full", {512, 8, 2048, 4096, 16, 256, 259, 2, 10, 0}, 512, 8, 2048, 2, 16, 64, 5, 25, 8, 32, 1},
        {"quick", {256, 4, 1024, 1024, 8, 128, 259, 1, 3, 1}, 128, 4, 512, 2, 8, 32, 3, 27, 4, 16, 1},
        {"tiny", {64, 2, 128, 256, 2, 128, 259, 0, 1, 1}, 32, 2, 64, 1, 4, 12, 2, 28, 2, 8, 1},
    };
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (!strcmp(presets[i].name, name)) {
            *s = presets[i];
            return true;
        }
    return false;
}

void cmp_progress(size_t d, size_t n_dev, const char *dev_name, const char *fmt, ...) {
    fprintf(stderr, "compare [%zu/%zu %s]: ", d + 1, n_dev, dev_name);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void capabilities(cmp_report *r, size_t d, const clf_device_info *i) {
    const double gib = 1024.0 * 1024.0 * 1024.0;
    cmp_put_text(cmp_row_get(r, "device/name", "device", "name", "", CMP_BETTER_NONE, 0), d, "%s", i->name);
    cmp_put_text(cmp_row_get(r, "device/platform", "device", "platform", "", CMP_BETTER_NONE, 0), d, "%s",
                 i->platform);
    cmp_put_text(cmp_row_get(r, "device/type", "device", "type", "", CMP_BETTER_NONE, 0), d, "%s",
                 i->is_gpu ? "GPU" : i->is_cpu ? "CPU" : "other");
    cmp_put_text(cmp_row_get(r, "device/driver", "device", "driver", "", CMP_BETTER_NONE, 0), d, "%s", i->driver);
    cmp_put_text(cmp_row_get(r, "device/version", "device", "OpenCL", "", CMP_BETTER_NONE, 0), d, "%s", i->version);
    cmp_put(cmp_row_get(r, "device/compute_units", "device", "compute units", "", CMP_BETTER_NONE, 0), d,
            i->compute_units, -1);
    cmp_put(cmp_row_get(r, "device/clock", "device", "clock", "MHz", CMP_BETTER_NONE, 0), d, i->clock_mhz, -1);
    cmp_put(cmp_row_get(r, "device/global_mem", "device", "global memory", "GiB", CMP_BETTER_NONE, 0), d,
            (double)i->global_mem / gib, -1);
    cmp_put(cmp_row_get(r, "device/max_alloc", "device", "largest buffer", "GiB", CMP_BETTER_NONE, 0), d,
            (double)i->max_alloc / gib, -1);
    cmp_put(cmp_row_get(r, "device/local_mem", "device", "local memory", "KiB", CMP_BETTER_NONE, 0), d,
            (double)i->local_mem / 1024.0, -1);
    cmp_put(cmp_row_get(r, "device/max_work_group", "device", "work-group max", "", CMP_BETTER_NONE, 0), d,
            (double)i->max_work_group, -1);
    cmp_put_text(cmp_row_get(r, "device/features", "device", "fp64 / fp16 / subgroups", "", CMP_BETTER_NONE, 0), d,
                 "%s / %s / %s", i->fp64 ? "yes" : "no", i->fp16 ? "yes" : "no", i->subgroups ? "yes" : "no");
}

/* Every benchmark row becomes a kernel row (time and fraction of the limit); the limits get their own. */
static clf_status kernels(cmp_report *r, size_t d, clf_device *dev, const cmp_suite *s) {
    clf_bench b = {.dev = dev, .cfg = s->bench};
    clf_status st = clf_bench_all(&b, NULL);
    if (b.copy_gbps > 0)
        cmp_put(cmp_row_get(r, "limits/copy", "limits", "copy bandwidth (measured)", "GB/s", CMP_BETTER_HIGHER, 0), d,
                b.copy_gbps, -1);
    if (b.gemm_gflops > 0)
        cmp_put(cmp_row_get(r, "limits/gemm", "limits", "SGEMM rate (measured)", "GFLOP/s", CMP_BETTER_HIGHER,
                            0),
                d, b.gemm_gflops, -1);
    for (size_t i = 0; i < b.n_rows; i++) {
        const clf_bench_row *br = &b.rows[i];
        if (!strncmp(br->name, "copy", 4) || !strncmp(br->name, "sgemm", 5)) continue; /* the limits above */
        char key[256], label[256];
        snprintf(key, sizeof key, "kernel/%s/%s", br->name, br->shape);
        snprintf(label, sizeof label, "%s  %s", br->name, br->shape);
        cmp_row *row = cmp_row_get(r, key, "kernels", label, "ms", CMP_BETTER_LOWER, 0);
        if (br->ms > 0) cmp_put(row, d, br->ms, br->frac > 0 ? br->frac : -1);
        else cmp_put_text(row, d, "n/a");
    }
    free(b.rows);
    return st;
}

static clf_status training(cmp_report *r, size_t d, clf_device *dev, const cmp_suite *s) {
    clf_bench_train_options o;
    clf_bench_train_options_default(&o);
    o.train.model.arch = CLF_ARCH_ENCDEC;
    o.train.model.d_model = s->d_model;
    o.train.model.n_heads = s->n_heads;
    o.train.model.d_ff = s->d_ff;
    o.train.model.n_enc_layers = o.train.model.n_dec_layers = s->layers;
    o.train.seed = s->seed;
    /* a constant rate moves the weights from the first step, so a wrong kernel shows in the losses */
    o.train.schedule = (clf_schedule){CLF_SCHEDULE_CONSTANT, 1.0, 0, 1e-3, 0.0, 0, s->d_model};
    o.batch = s->batch;
    o.src_len = o.tgt_len = s->seq;
    o.warmup_steps = s->warmup;
    o.steps = s->steps;
    o.gen_batch = s->gen_batch;
    o.gen_tokens = s->gen_tokens;
    clf_bench_train_result *res = calloc(1, sizeof *res);
    if (!res) return CLF_ERROR(CLF_ERR_NO_MEMORY, "compare: out of host memory");
    clf_status st = clf_bench_train(dev, &o, res);
    if (st == CLF_OK) {
        cmp_put(cmp_row_get(r, "model/train_tokens_per_s", "model", "training step, target tokens/s", "tok/s",
                            CMP_BETTER_HIGHER, 0),
                d, res->train_tokens_per_s, -1);
        cmp_put(cmp_row_get(r, "model/step_ms", "model", "training step time", "ms", CMP_BETTER_LOWER, 0), d,
                res->step_ms, -1);
        cmp_put(cmp_row_get(r, "model/gen_tokens_per_s", "model", "generation (greedy, KV cache), tokens/s", "tok/s",
                            CMP_BETTER_HIGHER, 0),
                d, res->gen_tokens_per_s, -1);
        cmp_put(cmp_row_get(r, "model/peak_mib", "model", "peak device memory of a step", "MiB", CMP_BETTER_LOWER, 0),
                d, (double)res->peak_bytes / (1024.0 * 1024.0), -1);
        cmp_put(cmp_row_get(r, "model/startup_ms", "model", "start-up to the first finished step", "ms",
                            CMP_BETTER_LOWER, 0),
                d, res->setup_ms + res->first_step_ms, -1);
        cmp_put(cmp_row_get(r, "model/launches", "model", "kernel launches per step", "", CMP_BETTER_NONE, 0), d,
                res->launches_per_step, -1);
        cmp_put(cmp_row_get(r, "model/waits", "model", "host waits per step", "", CMP_BETTER_LOWER, 0), d,
                res->waits_per_step, -1);
        cmp_device *cd = &r->dev[d];
        cd->n_losses = res->n_losses < CMP_MAX_LOSSES ? res->n_losses : CMP_MAX_LOSSES;
        memcpy(cd->losses, res->losses, (size_t)cd->n_losses * sizeof *cd->losses);
        snprintf(r->train_desc, sizeof r->train_desc,
                 "encdec d_model %d, %d heads, d_ff %d, %d+%d layers, %zu parameters; batches %d x %d+%d tokens; "
                 "%d + %d steps; generation %d x %d",
                 s->d_model, s->n_heads, s->d_ff, s->layers, s->layers, res->params, s->batch, s->seq, s->seq,
                 s->warmup, s->steps, s->gen_batch, s->gen_tokens);
    }
    free(res);
    return st;
}

/* A stage's status row: "ok (1.2 s)" or its failure. */
static void stage_done(cmp_row *row, size_t d, clf_status st, int wrong, double t0) {
    if (st != CLF_OK) cmp_put_fail(row, d, "%s", clf_errmsg());
    else if (wrong) cmp_put_fail(row, d, "%d result%s over tolerance", wrong, wrong == 1 ? "" : "s");
    else cmp_put_text(row, d, "ok (%.1f s)", now_s() - t0);
}

void cmp_suite_run(cmp_report *r, size_t d, size_t n_dev, const clf_device_info *info, const cmp_suite *s) {
    double t_start = now_s();
    const char *name = info->name;
    cmp_device *cd = &r->dev[d];
    snprintf(cd->name, sizeof cd->name, "%s", info->name);
    snprintf(cd->selector, sizeof cd->selector, "%d:%d", info->platform_index, info->device_index);
    snprintf(r->bench_desc, sizeof r->bench_desc, "d_model %d, %d heads, d_ff %d, %d tokens (batch %d x %d), "
             "vocab %d; median of %d runs", s->bench.d_model, s->bench.n_heads, s->bench.d_ff, s->bench.tokens,
             s->bench.batch, s->bench.seq, s->bench.vocab, s->bench.iters);
    cmp_row *st_dev = cmp_row_get(r, "status/device", "status", "result", "", CMP_BETTER_NONE, 0);
    cmp_row *st_build = cmp_row_get(r, "status/builds", "status", "builds", "", CMP_BETTER_NONE, 0);
    cmp_row *st_acc = cmp_row_get(r, "status/accuracy", "status", "numerical agreement", "", CMP_BETTER_NONE, 0);
    cmp_row *st_kern = cmp_row_get(r, "status/kernels", "status", "kernel benchmarks", "", CMP_BETTER_NONE, 0);
    cmp_row *st_train = cmp_row_get(r, "status/training", "status", "training run", "", CMP_BETTER_NONE, 0);
    capabilities(r, d, info);

    cmp_progress(d, n_dev, name, "building every program (cold, then from the cache)");
    double t0 = now_s();
    clf_device *dev = NULL;
    cmp_builds_run(r, d, cd->selector, &dev);
    cmp_row *cold = cmp_row_find(r, "builds/cold"), *cached = cmp_row_find(r, "builds/cached");
    if (cold && cached && (cold->cells[d].failed || cached->cells[d].failed))
        cmp_put_fail(st_build, d, "%s", cold->cells[d].failed ? cold->cells[d].text : cached->cells[d].text);
    else cmp_put_text(st_build, d, "ok (%.1f s)", now_s() - t0);
    if (!dev) {
        cmp_put_fail(st_dev, d, "cannot open the device: %s", clf_errmsg());
        cd->seconds = now_s() - t_start;
        return;
    }

    cmp_progress(d, n_dev, name, "numerical agreement with the float64 references");
    t0 = now_s();
    int wrong = cmp_accuracy_run(r, d, dev, s->seed * 1000003u);
    stage_done(st_acc, d, CLF_OK, wrong, t0);
    if (wrong) cmp_progress(d, n_dev, name, "%d kernel famil%s disagree with the references", wrong,
                            wrong == 1 ? "y does" : "ies");

    cmp_progress(d, n_dev, name, "kernel benchmarks (%s suite)", s->name);
    t0 = now_s();
    clf_error_clear();
    clf_status st = kernels(r, d, dev, s);
    stage_done(st_kern, d, st, 0, t0);

    cmp_progress(d, n_dev, name, "training: %d + %d steps, then generation", s->warmup, s->steps);
    t0 = now_s();
    clf_error_clear();
    st = training(r, d, dev, s);
    stage_done(st_train, d, st, 0, t0);
    clf_device_free(dev);

    cd->seconds = now_s() - t_start;
    cmp_progress(d, n_dev, name, "done in %.1f s", cd->seconds);
}

void cmp_suite_results(cmp_report *r) {
    cmp_row *row = cmp_row_find(r, "status/device");
    for (size_t d = 0; row && d < r->n_dev; d++) {
        if (row->cells[d].failed) continue; /* could not even be opened: says so already */
        int failed = 0;
        for (size_t i = 0; i < r->n_rows; i++) failed += r->rows[i]->cells[d].failed;
        if (failed) cmp_put_fail(row, d, "FAILED (%d row%s)", failed, failed == 1 ? "" : "s");
        else cmp_put_text(row, d, "ok (%.0f s)", r->dev[d].seconds);
    }
}
