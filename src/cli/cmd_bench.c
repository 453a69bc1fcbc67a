/* clformer bench: every kernel at the shapes of a training step, timed with profiling events, with
 * achieved GB/s or GFLOP/s and the fraction of the device's own measured limits; with --train, whole
 * training steps and generation of one model (bench_train.c) and the start-up to the first step. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_limits.h"
#include "bench/bench_train.h"
#include "clformer/program.h"
#include "commands.h"
#include "options.h"
#include "tune.h"
#include "host_util.h"

/* Whether a cache is switched off the way its owner reads the variable. */
static bool env_off(const char *name, bool zero_means_off) {
    const char *v = getenv(name);
    if (!v || !*v) return false;
    return zero_means_off ? strcmp(v, "0") == 0 : strcmp(v, "0") != 0;
}

/* Start-up of the --train run, from the start of the command. */
typedef struct startup {
    double open_ms, setup_ms, first_step_ms, total_ms;
    bool clformer_cache, pocl_cache;
} startup;

static int write_train_json(const char *path, const char *device, const clf_bench_train_options *o,
                            const clf_bench_train_result *r, const startup *su) {
    const clf_config *c = &o->train.model;
    json_t *losses = json_array();
    for (int i = 0; i < r->n_losses; i++) json_array_append_new(losses, json_real(r->losses[i]));
    json_t *model = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:s, s:s}", "arch", clf_arch_name(c->arch),
                              "vocab_size", c->vocab_size, "d_model", c->d_model, "n_heads", c->n_heads, "d_ff", c->d_ff,
                              "n_enc_layers", c->n_enc_layers, "n_dec_layers", c->n_dec_layers, "max_len", c->max_len,
                              "dropout", (double)c->dropout, "norm", clf_norm_name(c->norm), "activation",
                              clf_activation_name(c->activation));
    json_t *start = json_pack("{s:f, s:f, s:f, s:f, s:b, s:b}", "device_open_ms", su->open_ms, "setup_ms", su->setup_ms,
                              "first_step_ms", su->first_step_ms, "first_step_done_ms", su->total_ms, "clformer_cache",
                              su->clformer_cache, "pocl_cache", su->pocl_cache);
    json_t *j = json_pack("{s:s, s:o, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "device", device, "model", model, "batch",
                          o->batch, "src_len", o->src_len, "tgt_len", o->tgt_len, "warmup_steps", o->warmup_steps,
                          "steps", o->steps, "gen_batch", o->gen_batch, "gen_tokens", o->gen_tokens);
    json_object_set_new(j, "params", json_integer((json_int_t)r->params));
    json_object_set_new(j, "step_ms", json_real(r->step_ms));
    json_object_set_new(j, "train_tokens_per_s", json_real(r->train_tokens_per_s));
    json_object_set_new(j, "gen_ms", json_real(r->gen_ms));
    json_object_set_new(j, "gen_tokens_per_s", json_real(r->gen_tokens_per_s));
    json_object_set_new(j, "launches_per_step", json_real(r->launches_per_step));
    json_object_set_new(j, "waits_per_step", json_real(r->waits_per_step));
    json_object_set_new(j, "peak_bytes", json_integer((json_int_t)r->peak_bytes));
    const clf_memory_report *m = &r->memory;
    json_object_set_new(j, "memory",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "params", (json_int_t)m->params, "grads",
                                  (json_int_t)m->grads, "optimizer", (json_int_t)m->optimizer, "activations",
                                  (json_int_t)m->activations, "activation_grads", (json_int_t)m->activation_grads,
                                  "workspace", (json_int_t)m->workspace, "gemm_packing", (json_int_t)m->gemm_packing,
                                  "inputs", (json_int_t)m->inputs));
    json_object_set_new(j, "startup", start);
    json_object_set_new(j, "losses", losses);
    int rc = j && json_dump_file(j, path, JSON_INDENT(2)) == 0 ? 0 : -1;
    json_decref(j);
    return rc;
}

static void print_train(const char *device, const clf_bench_train_options *o, const clf_bench_train_result *r,
                        const startup *su) {
    const clf_config *c = &o->train.model;
    printf("device: %s\n", device);
    char layers[32];
    if (c->arch == CLF_ARCH_DECODER) snprintf(layers, sizeof layers, "%d", c->n_dec_layers);
    else snprintf(layers, sizeof layers, "%d+%d", c->n_enc_layers, c->n_dec_layers);
    printf("model: %s, d_model %d, %d heads, d_ff %d, %s layers, vocab %d, dropout %g; %.2fM parameters\n",
           clf_arch_name(c->arch), c->d_model, c->n_heads, c->d_ff, layers, c->vocab_size, (double)c->dropout,
           (double)r->params / 1e6);
    if (o->batch > 0 && c->arch == CLF_ARCH_ENCDEC)
        printf("batches: %d rows x (%d source + %d target tokens), random tokens, no PAD", o->batch, o->src_len,
               o->tgt_len);
    else if (o->batch > 0)
        printf("batches: %d rows x %d tokens, random tokens, no PAD", o->batch, o->tgt_len);
    else
        printf("batches: %s, %d tokens", o->train.data ? o->train.data : o->train.task, o->train.batch_tokens);
    printf("; %d warm-up + %d timed steps\n", o->warmup_steps, o->steps);
    printf("training: %.1f ms/step, %.0f target tokens/s\n", r->step_ms, r->train_tokens_per_s);
    printf("per step: %.1f launches, %.2f host waits; peak device memory %.1f MiB\n", r->launches_per_step,
           r->waits_per_step, (double)r->peak_bytes / (1024.0 * 1024.0));
    const clf_memory_report *m = &r->memory;
    double mib = 1.0 / (1024.0 * 1024.0), base = (double)(m->params + m->grads + m->optimizer + m->activations);
    printf("memory: parameters %.1f + gradients %.1f + AdamW %.1f + activations kept for the backward %.1f = %.1f MiB; "
           "peak %.2fx that (activation gradients %.1f, workspace %.1f, GEMM packing %.1f MiB)\n",
           (double)m->params * mib, (double)m->grads * mib, (double)m->optimizer * mib, (double)m->activations * mib,
           base * mib, base > 0 ? (double)r->peak_bytes / base : 0.0, (double)m->activation_grads * mib,
           (double)m->workspace * mib, (double)m->gemm_packing * mib);
    if (o->gen_batch > 0)
        printf("generation: %d x %d new tokens in %.0f ms, %.0f tokens/s (greedy, key/value cache)\n", o->gen_batch,
               o->gen_tokens, r->gen_ms, r->gen_tokens_per_s);
    printf("start-up: device open %.0f ms, trainer %.0f ms, first step %.0f ms; first step finished %.2f s after the "
           "command started (clformer cache %s, PoCL cache %s)\n",
           su->open_ms, su->setup_ms, su->first_step_ms, su->total_ms / 1e3, su->clformer_cache ? "on" : "off",
           su->pocl_cache ? "on" : "off");
    clf_tune_stats ts;
    clf_tune_stats_get(&ts);
    printf("kernel tuning: %d shapes measured in %.2f s, %d taken from the cache\n", ts.measured, ts.ms / 1e3,
           ts.loaded);
    printf("losses:");
    for (int i = 0; i < r->n_losses; i++) printf(" %.4f", r->losses[i]);
    printf("\n");
}

/* clformer bench --train: the defaults are the encoder-decoder of the comparison with PyTorch. */
static int cmd_bench_train(int argc, char **argv) {
    double t_start = clf_now_ms();
    clf_bench_train_options o;
    clf_bench_train_options_default(&o);
    clf_config *c = &o.train.model;
    c->vocab_size = 1000;
    c->d_model = 256;
    c->n_heads = 4;
    c->d_ff = 1024;
    cli_model_flags mf;
    cli_model_flags_from(&mf, c);
    cli_optim_flags of;
    cli_optim_flags_from(&of, &o.train);
    const char *device = NULL, *json = NULL, *task = o.train.task, *data = NULL;
    bool train = false;
    long batch = 16, src_len = 64, tgt_len = 64, steps = o.steps, warmup = o.warmup_steps, gen_batch = 0,
         gen_tokens = 64, batch_tokens = o.train.batch_tokens;
    cli_opt opts[64];
    size_t n = 0;
    opts[n++] = (cli_opt){"train", CLI_FLAG, &train, NULL, "time whole training steps and generation of one model", 1, 0};
    n += cli_model_opts(&mf, opts + n);
    size_t k = n;
    n += cli_optim_opts(&of, opts + n);
    for (; k < n; k++) /* --warmup counts untimed steps here */
        if (!strcmp(opts[k].name, "warmup")) opts[k].name = "lr-warmup";
    const cli_opt rest[] = {
        {"batch", CLI_INT, &batch, "N", "rows of random tokens per step (0: batches of --task or --data)", 0, 1e6},
        {"src-len", CLI_INT, &src_len, "N", "source tokens per row (encdec)", 1, 65536},
        {"tgt-len", CLI_INT, &tgt_len, "N", "target tokens per row (decoder: the window)", 2, 65536},
        {"steps", CLI_INT, &steps, "N", "timed steps", 1, 1e6},
        {"warmup", CLI_INT, &warmup, "N", "untimed steps first (the first one gives the start-up figure)", 0, 1e6},
        {"gen-batch", CLI_INT, &gen_batch, "N", "then greedy generation of N sequences (0: none)", 0, 1e6},
        {"gen-tokens", CLI_INT, &gen_tokens, "N", "new tokens per generated sequence", 1, 65536},
        {"task", CLI_STRING, &task, "NAME", "with --batch 0: built-in task", 1, 0},
        {"data", CLI_STRING, &data, "FILE", "with --batch 0: TSV pairs (encdec) or text (decoder)", 1, 0},
        {"batch-tokens", CLI_INT, &batch_tokens, "N", "with --batch 0: token budget of a batch", 1, 1e9},
        {"device", CLI_STRING, &device, "SPEC", "device: P:D, gpu, cpu, any or part of its name", 1, 0},
        {"json", CLI_STRING, &json, "FILE", "also write every figure and the losses as JSON", 1, 0},
    };
    memcpy(opts + n, rest, sizeof rest);
    n += sizeof rest / sizeof rest[0];
    const cli_command cmd = {"bench --train",
                             "Time training steps and generation of one model (default: encdec d_model 256, 4 heads, "
                             "d_ff 1024, 2+2 layers, vocab 1000, batch 16 x 64).",
                             "[options]", opts, n};
    int rc = cli_parse(&cmd, argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : 2;
    if (cli_model_flags_to("bench", &mf, c) || cli_optim_flags_to("bench", &of, &o.train)) return 2;
    o.train.task = task;
    o.train.data = data;
    o.train.batch_tokens = (int)batch_tokens;
    o.batch = (int)batch;
    o.src_len = (int)src_len;
    o.tgt_len = (int)tgt_len;
    o.steps = (int)steps;
    o.warmup_steps = (int)warmup;
    o.gen_batch = (int)gen_batch;
    o.gen_tokens = (int)gen_tokens;

    startup su = {0};
    su.clformer_cache = !env_off("CLFORMER_NO_CACHE", false);
    su.pocl_cache = !env_off("POCL_KERNEL_CACHE", true);
    clf_device *dev;
    double t0 = clf_now_ms();
    if (cli_open_device("bench", device, &dev)) return 1;
    su.open_ms = clf_now_ms() - t0;
    const char *name = clf_device_get_info(dev)->name;
    fprintf(stderr, "benchmarking training on %s...\n", name);
    clf_bench_train_result r;
    clf_status st = clf_bench_train(dev, &o, &r);
    if (st != CLF_OK) {
        clf_device_free(dev);
        return cli_fail("bench", "%s", clf_errmsg());
    }
    su.setup_ms = r.setup_ms;
    su.first_step_ms = r.first_step_ms;
    su.total_ms = t0 - t_start + su.open_ms + r.setup_ms + r.first_step_ms;
    if (o.train.model.arch == CLF_ARCH_DECODER && o.batch > 0) o.train.model.max_len = o.tgt_len; /* as trained */
    print_train(name, &o, &r, &su);
    int exit_code = 0;
    if (json && write_train_json(json, name, &o, &r, &su) != 0) exit_code = cli_fail("bench", "cannot write %s", json);
    clf_device_free(dev);
    return exit_code;
}

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
    if (cli_given(argc, argv, "train")) return cmd_bench_train(argc, argv);
    const char *device = NULL, *json = NULL, *only = NULL;
    bool quick = false, builds = false;
    long iters = 10;
    const cli_opt opts[] = {
        {"device", CLI_STRING, &device, "SPEC", "device: P:D, gpu, cpu, any or part of its name", 1, 0},
        {"quick", CLI_FLAG, &quick, NULL, "smaller shapes and sweeps", 1, 0},
        {"iters", CLI_INT, &iters, "N", "timed runs per kernel (the median is reported)", 1, 10000},
        {"only", CLI_STRING, &only, "NAME", "one family: gemm, linear, attention, norm, elementwise, optim", 1, 0},
        {"json", CLI_STRING, &json, "FILE", "also write the figures as JSON", 1, 0},
        {"builds", CLI_FLAG, &builds, NULL, "also time building every kernel program, from source and from the cache", 1, 0},
    };
    const cli_command cmd = {"bench", "Time every kernel at the shapes of a training step (d_model 512, 8 heads, d_ff 2048, 4096 tokens);\n"
                             "`clformer bench --train --help` for whole training steps and generation.",
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
