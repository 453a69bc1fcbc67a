/* clformer train: the main job. Trains on a built-in task or a file, shows progress, logs metrics,
 * evaluates on held-out data, saves resumable checkpoints, and plots the loss at the end. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clformer/checkpoint.h"
#include "clformer/model.h"
#include "commands.h"
#include "options.h"
#include "plot.h"
#include "host_util.h"

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { g_stop = sig; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The preset behind the defaults: "small" trains the built-in tasks in minutes on a CPU (the
 * configuration measured in FINDINGS.md), "spec" is SPEC's model and the paper's optimizer. */
static int apply_preset(const char *name, clf_train_options *o) {
    clf_train_options_default(o);
    if (!strcmp(name, "spec")) return 0;
    if (strcmp(name, "small") != 0) return cli_fail("train", "--preset must be small or spec, got '%s'", name);
    o->model.d_model = 64;
    o->model.n_heads = 4;
    o->model.d_ff = 256;
    o->model.n_enc_layers = 1;
    o->model.n_dec_layers = 1;
    o->model.dropout = 0.0f;
    o->model.max_len = 64;
    o->steps = 1500;
    o->batch_tokens = 1000;
    o->schedule = (clf_schedule){CLF_SCHEDULE_COSINE, 1.0, 200, 2e-3, 0.0, 1500, 64};
    return 0;
}

typedef struct metrics {
    double *x, *loss, *ex, *eloss;
    size_t n, cap, ne, cape;
} metrics;

static void push(double **a, double **b, size_t *n, size_t *cap, double x, double y) {
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 256;
        double *na = realloc(*a, c * sizeof **a), *nb = realloc(*b, c * sizeof **b);
        if (na) *a = na;
        if (nb) *b = nb;
        if (!na || !nb) return;
        *cap = c;
    }
    (*a)[*n] = x;
    (*b)[*n] = y;
    (*n)++;
}

static void fmt_time(double s, char *out, size_t n) {
    if (!isfinite(s) || s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(out, n, "%ld:%02ld", t / 60, t % 60);
}

static void print_memory(const clf_memory_report *m) {
    double mib = 1.0 / (1 << 20);
    printf("device memory: peak %.2f MiB = parameters %.2f + gradients %.2f + AdamW state %.2f + activations %.2f "
           "+ activation gradients %.2f + workspace %.2f + GEMM packing %.2f + inputs %.2f MiB; %zu launches per "
           "step\n",
           (double)m->peak * mib, (double)m->params * mib, (double)m->grads * mib, (double)m->optimizer * mib,
           (double)m->activations * mib, (double)m->activation_grads * mib, (double)m->workspace * mib,
           (double)m->gemm_packing * mib, (double)m->inputs * mib, m->launches_per_step);
}

/* What the step loop logs: a CSV row per step, the progress bar or plain lines, the loss curve. */
typedef struct run_log {
    FILE *csv;
    bool tty;
    const clf_device *dev; /* its bytes in use go to metrics.csv (flat over a long run: no leak) */
    long steps, log_every;
    metrics mt;
    double t_window;
    long tok_window, tok_total, window_steps;
    long eval_step; /* the step the last held-out evaluation saw, shown with that step's figures */
    double eval_loss, eval_acc;
} run_log;

static void log_report(run_log *lg, const clf_step_report *rep, bool last) {
    lg->tok_window += rep->tokens;
    lg->tok_total += rep->tokens;
    lg->window_steps++;
    double now = now_s(), tps = lg->tok_window / fmax(now - lg->t_window, 1e-9);
    double eta = (double)(lg->steps - rep->step) * (now - lg->t_window) / (double)lg->window_steps;
    bool eval = rep->step == lg->eval_step;
    push(&lg->mt.x, &lg->mt.loss, &lg->mt.n, &lg->mt.cap, (double)rep->step, rep->loss);
    fprintf(lg->csv, "%ld,%.6f,%.6g,%.6f,%.1f,%d,", rep->step, rep->loss, rep->lr, rep->grad_norm, tps, rep->skipped);
    if (eval) fprintf(lg->csv, "%.6f,%.6f,", lg->eval_loss, lg->eval_acc);
    else fprintf(lg->csv, ",,");
    fprintf(lg->csv, "%zu\n", clf_device_bytes_in_use(lg->dev));
    fflush(lg->csv); /* rows survive a kill; one write a step costs nothing next to a step */
    char eta_s[32];
    fmt_time(eta, eta_s, sizeof eta_s);
    if (rep->skipped)
        fprintf(stderr, "%sstep %ld skipped: non-finite loss or gradient norm (%ld in a row)\n", lg->tty ? "\r\033[K" : "",
                rep->step, rep->bad_in_a_row);
    if (lg->tty) {
        int width = 24, fill = (int)((double)width * (double)rep->step / (double)lg->steps);
        fprintf(stderr, "\r\033[K[%.*s%*s] step %ld/%ld  loss %.4f  lr %.3g  |g| %.3g  %.0f tok/s  ETA %s", fill,
                "========================", width - fill, "", rep->step, lg->steps, rep->loss, rep->lr, rep->grad_norm,
                tps, eta_s);
        if (eval) fprintf(stderr, "  eval %.4f", lg->eval_loss);
        fflush(stderr);
    } else if (rep->step % lg->log_every == 0 || last || eval) {
        printf("step %ld/%ld  loss %.4f  lr %.3g  |g| %.3g  %.0f tok/s  ETA %s", rep->step, lg->steps, rep->loss, rep->lr,
               rep->grad_norm, tps, eta_s);
        if (eval) printf("  eval loss %.4f  token accuracy %.1f%%", lg->eval_loss, 100 * lg->eval_acc);
        printf("\n");
        fflush(stdout);
    }
    if (now - lg->t_window > 5) { /* a moving window for tokens/s */
        lg->t_window = now;
        lg->tok_window = 0;
        lg->window_steps = 0;
    }
}

/* Model flags given with --resume must agree with the checkpoint's configuration: 2 when they do
 * not (a usage error), 1 when the checkpoint cannot be read (missing, corrupt). */
static int check_resume_flags(int argc, char **argv, const char *path, const clf_config *want) {
    clf_st_file *f;
    clf_config have;
    if (clf_checkpoint_open(path, &f, &have) != CLF_OK) return cli_fail("train", "%s", clf_errmsg());
    clf_st_close(f);
    static const char *fields[] = {"arch", "vocab-size", "d-model", "n-heads", "d-ff", "n-enc-layers",
                                   "n-dec-layers", "max-len", "norm", "activation", "ln-eps", "dropout", "tie-embeddings"};
    bool any = false;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) any |= cli_given(argc, argv, fields[i]);
    if (any && clf_config_compare(want, &have) != CLF_OK)
        return cli_fail("train", "--resume %s: %s (leave the model flags out to use the checkpoint's)", path,
                        cli_plain(clf_errmsg())) + 1;
    return 0;
}

int cmd_train(int argc, char **argv) {
    const char *preset = cli_peek(argc, argv, "preset");
    clf_train_options o;
    if (apply_preset(preset ? preset : "small", &o)) return 2;
    cli_model_flags mf;
    cli_model_flags_from(&mf, &o.model);
    cli_optim_flags of;
    cli_optim_flags_from(&of, &o);
    long steps = o.steps, batch_tokens = o.batch_tokens;
    long eval_every = 100, save_every = 0, log_every = 50, samples = 5, max_bad = o.max_bad_steps;
    const char *device = NULL, *out = "clformer-run", *resume = NULL;
    const char *task = o.task, *data = NULL, *preset_flag = preset ? preset : "small";
    cli_opt opts[64];
    size_t n = 0;
    opts[n++] = (cli_opt){"preset", CLI_STRING, &preset_flag, "small|spec", "defaults: a small model that learns the built-in tasks in minutes, or SPEC's model", 1, 0};
    n += cli_model_opts(&mf, opts + n);
    n += cli_optim_opts(&of, opts + n);
    const cli_opt rest[] = {
        {"task", CLI_STRING, &task, "NAME", "built-in task: reverse, sort, add, copy", 1, 0},
        {"data", CLI_STRING, &data, "FILE", "train on a file instead: TSV pairs (encdec) or text (decoder)", 1, 0},
        {"steps", CLI_INT, &steps, "N", "total optimizer steps of the run (a resumed run continues to N)", 1, 1e12},
        {"batch-tokens", CLI_INT, &batch_tokens, "N", "token budget of a batch (batch x longest sequence)", 1, 1e9},
        {"max-bad-steps", CLI_INT, &max_bad, "N", "stop after N non-finite steps in a row", 1, 1e9},
        {"device", CLI_STRING, &device, "SPEC", "device: P:D, gpu, cpu, any or part of its name", 1, 0},
        {"out", CLI_STRING, &out, "DIR", "folder for checkpoints, metrics.csv and loss.svg", 1, 0},
        {"resume", CLI_STRING, &resume, "CHECKPOINT", "continue a run saved in this checkpoint", 1, 0},
        {"eval-every", CLI_INT, &eval_every, "N", "held-out loss every N steps (0: only at the end)", 0, 1e12},
        {"save-every", CLI_INT, &save_every, "N", "checkpoint every N steps (0: only at the end)", 0, 1e12},
        {"log-every", CLI_INT, &log_every, "N", "a log line every N steps when not on a terminal", 1, 1e12},
        {"samples", CLI_INT, &samples, "N", "held-out translations shown at the end", 0, 100},
    };
    memcpy(opts + n, rest, sizeof rest);
    n += sizeof rest / sizeof rest[0];
    const cli_command cmd = {"train",
                             "Train the Transformer. With no flags: the reverse task on a small model.\n\n"
                             "Checkpoints are written atomically: a crash or a full disk leaves the previous one intact.\n"
                             "A failed periodic save warns and training goes on; a failed final save is an error.\n"
                             "Ctrl-C (SIGINT) or SIGTERM saves last.safetensors and exits 130 or 143.\n"
                             "Exit status: 0 done, 1 error (the message says what; after --max-bad-steps the last\n"
                             "good state is saved), 2 bad flags.",
                             "[options]",
                             opts, n};
    int rc = cli_parse(&cmd, argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : 2;
    if (cli_model_flags_to("train", &mf, &o.model)) return 2;
    if (cli_optim_flags_to("train", &of, &o)) return 2;
    o.task = task;
    o.data = data;
    o.steps = steps;
    o.batch_tokens = (int)batch_tokens;
    o.max_bad_steps = (int)max_bad;
    o.resume = resume;
    if (resume && (rc = check_resume_flags(argc, argv, resume, &o.model)) != 0) return rc;
    if (clf_mkdir_p(out) != 0) return cli_fail("train", "cannot create the output folder %s: %s", out, strerror(errno));

    clf_device *dev;
    if (cli_open_device("train", device, &dev)) return 1;
    double t_start = now_s();
    clf_trainer *t;
    if (clf_trainer_new(dev, &o, &t) != CLF_OK) {
        int r = cli_fail("train", "%s", clf_errmsg());
        clf_device_free(dev);
        return r;
    }
    const clf_config *c = clf_trainer_config(t);
    printf("device: %s\n", clf_device_get_info(dev)->name);
    printf("model: %s, d_model %d, %d heads, d_ff %d, %d+%d layers, %s-norm, %s, dropout %g, %zu parameters\n",
           clf_arch_name(c->arch), c->d_model, c->n_heads, c->d_ff, c->arch == CLF_ARCH_ENCDEC ? c->n_enc_layers : 0,
           c->n_dec_layers, clf_norm_name(c->norm), clf_activation_name(c->activation), c->dropout,
           clf_trainer_model(t)->layout.total);
    long start = clf_trainer_step(t);
    if (start > 0) printf("resumed from %s at step %ld\n", resume, start);
    fflush(stdout);

    char csv_path[4200], last[4200], svg[4200];
    snprintf(csv_path, sizeof csv_path, "%s/metrics.csv", out);
    snprintf(last, sizeof last, "%s/last.safetensors", out);
    snprintf(svg, sizeof svg, "%s/loss.svg", out);
    FILE *csv = fopen(csv_path, start > 0 ? "a" : "w");
    if (!csv) {
        clf_trainer_free(t);
        clf_device_free(dev);
        return cli_fail("train", "cannot write %s: %s", csv_path, strerror(errno));
    }
    if (ftell(csv) == 0) fprintf(csv, "step,loss,lr,grad_norm,tokens_per_s,skipped,eval_loss,eval_token_accuracy,device_bytes\n");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    bool tty = isatty(STDERR_FILENO);
    run_log lg = {.csv = csv, .tty = tty, .dev = dev, .steps = o.steps, .log_every = log_every,
                  .t_window = now_s(), .eval_step = -1};
    clf_status st = CLF_OK;
    double t_first = 0;
    for (long step = start + 1; step <= o.steps && !g_stop; step++) {
        /* a step's figures arrive while the next one runs: at the end, flush the last as well */
        clf_step_report reps[2];
        int n_reps = 0;
        st = clf_trainer_run_step(t, &reps[0]);
        if (reps[0].step) n_reps++; /* also the step that made the run stop */
        if (step == start + 1) t_first = now_s() - t_start;
        bool last_step = step == o.steps || g_stop;
        if (st == CLF_OK && last_step) {
            st = clf_trainer_flush(t, &reps[n_reps]);
            if (st == CLF_OK && reps[n_reps].step) n_reps++;
        }
        for (int k = 0; k < n_reps; k++) log_report(&lg, &reps[k], k == n_reps - 1 && last_step);
        if (st != CLF_OK) break;
        long done = clf_trainer_step(t); /* the state evaluation and saving see */
        if (eval_every > 0 && done % eval_every == 0 && !last_step) {
            clf_eval_report ev;
            st = clf_trainer_evaluate(t, false, &ev);
            if (st != CLF_OK) break;
            lg.eval_step = done;
            lg.eval_loss = ev.loss;
            lg.eval_acc = ev.token_accuracy;
            push(&lg.mt.ex, &lg.mt.eloss, &lg.mt.ne, &lg.mt.cape, (double)done, ev.loss);
        }
        if (save_every > 0 && done % save_every == 0 && !last_step) {
            /* A failed periodic save (disk full, folder gone) costs only that save: the files
             * already there stay intact (writes are atomic), so warn and keep training; the next
             * save tries again, and a failed final save ends the run with an error. */
            char path[4200];
            snprintf(path, sizeof path, "%s/step-%ld.safetensors", out, done);
            const char *paths[2] = {path, last};
            for (int k = 0; k < 2; k++)
                if (clf_trainer_save(t, paths[k]) != CLF_OK) {
                    if (tty) fprintf(stderr, "\r\033[K");
                    fprintf(stderr, "clformer train: warning: %s; training goes on (the previous checkpoint is intact)\n",
                            cli_plain(clf_errmsg()));
                }
        }
    }
    metrics mt = lg.mt;
    long tok_total = lg.tok_total;
    if (tty) fprintf(stderr, "\n");
    fclose(csv);
    double train_s = now_s() - t_start;
    int exit_code = 0;
    if (st != CLF_OK) {
        cli_fail("train", "%s", clf_errmsg());
        exit_code = 1;
        /* Too many non-finite steps: their updates were skipped, so the weights and optimizer state
         * on the device are still those of the last good step; keep them. */
        if (st == CLF_ERR_NUMERIC) {
            if (clf_trainer_save(t, last) == CLF_OK)
                fprintf(stderr, "saved the last good state to %s (the skipped steps changed neither weights nor "
                        "optimizer state)\n", last);
            else
                cli_fail("train", "%s", clf_errmsg());
        }
    } else {
        if (clf_trainer_save(t, last) != CLF_OK) {
            exit_code = cli_fail("train", "%s", clf_errmsg());
            fprintf(stderr, "clformer train: the final checkpoint was not saved; files already in %s are intact\n", out);
        } else if (g_stop) {
            printf("interrupted by %s at step %ld: saved %s (continue with --resume %s)\n",
                   g_stop == SIGINT ? "SIGINT" : "SIGTERM", clf_trainer_step(t), last, last);
            exit_code = 128 + g_stop; /* the shell's convention: 130 for SIGINT, 143 for SIGTERM */
        } else {
            printf("saved %s\n", last);
        }
    }
    if (exit_code == 0) {
        clf_eval_report ev;
        if (clf_trainer_evaluate(t, true, &ev) != CLF_OK) {
            exit_code = cli_fail("train", "%s", clf_errmsg());
        } else {
            push(&mt.ex, &mt.eloss, &mt.ne, &mt.cape, (double)clf_trainer_step(t), ev.loss);
            printf("held-out: loss %.4f  perplexity %.3f  token accuracy %.2f%%  (%ld sequences)\n", ev.loss,
                   ev.perplexity, 100 * ev.token_accuracy, ev.sequences);
            if (ev.exact_match >= 0) printf("exact match: %.1f%%\n", 100 * ev.exact_match);
            enum { W = 200 };
            static char s[100][W], g[100][W], y[100][W];
            int got = 0;
            if (samples > 0 && clf_trainer_samples(t, (int)samples, W, &s[0][0], &g[0][0], &y[0][0], &got) == CLF_OK)
                for (int i = 0; i < got; i++)
                    printf("  %-16s -> %-16s %s %s\n", s[i], y[i], strcmp(g[i], y[i]) ? "!=" : "==", g[i]);
        }
        long trained = clf_trainer_step(t) - start;
        printf("trained %ld steps in %.1f s (first step after %.2f s), %.0f target tokens/s\n", trained, train_s,
               t_first, (double)tok_total / fmax(train_s - t_first, 1e-9));
        clf_memory_report mem;
        clf_trainer_memory(t, &mem);
        print_memory(&mem);
    }
    plot_series ps[2] = {{"training loss", "#1f77b4", mt.x, mt.loss, mt.n}, {"held-out loss", "#d62728", mt.ex, mt.eloss, mt.ne}};
    if (mt.n && plot_svg(svg, "clformer: loss", "step", "loss", ps, 2) != 0)
        fprintf(stderr, "clformer train: warning: cannot write %s\n", svg);
    free(mt.x), free(mt.loss), free(mt.ex), free(mt.eloss);
    clf_trainer_free(t);
    clf_device_free(dev);
    return exit_code;
}
