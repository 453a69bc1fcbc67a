/* clformer eval: loss, perplexity and accuracy of a checkpoint on held-out data of a task or file. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "load.h"
#include "options.h"

/* The task, data file and seed the checkpoint was trained with, from its metadata. */
static void training_data(clf_st_file *f, const char **task, const char **data, long *seed, json_t **keep) {
    json_error_t e;
    const char *text = clf_st_meta(f, "train");
    json_t *j = text ? json_loads(text, 0, &e) : NULL;
    if (!j) return;
    if (!*task && !*data) {
        *task = json_string_value(json_object_get(j, "task"));
        *data = json_string_value(json_object_get(j, "data"));
    }
    const char *s = json_string_value(json_object_get(j, "seed"));
    if (s && *seed < 0) *seed = strtol(s, NULL, 10);
    *keep = j;
}

int cmd_eval(int argc, char **argv) {
    const char *ckpt = NULL, *task = NULL, *data = NULL, *device = NULL;
    long batch_tokens = 4096, seed = -1;
    bool no_exact = false;
    const cli_opt opts[] = {
        {"checkpoint", CLI_STRING, &ckpt, "FILE", "the model (safetensors checkpoint)", 1, 0},
        {"task", CLI_STRING, &task, "NAME", "built-in task (default: the one the checkpoint trained on)", 1, 0},
        {"data", CLI_STRING, &data, "FILE", "evaluate on this file's held-out part instead", 1, 0},
        {"seed", CLI_INT, &seed, "N", "the task's seed, which fixes its held-out set (default: the training seed)", 0, 9.2e18},
        {"batch-tokens", CLI_INT, &batch_tokens, "N", "token budget of a batch", 1, 1e9},
        {"no-exact", CLI_FLAG, &no_exact, NULL, "skip greedy decoding (exact match) for seq2seq data", 1, 0},
        {"device", CLI_STRING, &device, "SPEC", "device: P:D, gpu, cpu, any or part of its name", 1, 0},
    };
    const cli_command cmd = {"eval", "Held-out loss, perplexity, token accuracy and exact match of a checkpoint.",
                             "--checkpoint CK [options]", opts, sizeof opts / sizeof opts[0]};
    int rc = cli_parse(&cmd, argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : 2;
    if (!ckpt) return cli_fail("eval", "--checkpoint is required (see --help)") + 1;

    clf_device *dev;
    if (cli_open_device("eval", device, &dev)) return 1;
    clf_model *m = NULL;
    clf_st_file *f = NULL;
    clf_dataset *ds = NULL;
    clf_batcher *bt = NULL;
    clf_model_graph *mg = NULL;
    json_t *meta = NULL;
    int exit_code = 1;
    if (cli_load_model("eval", dev, ckpt, false, &m, &f)) goto out;
    training_data(f, &task, &data, &seed, &meta);
    if (!task && !data) task = "reverse";
    if (seed < 0) seed = 1;
    clf_data_options dopt;
    clf_data_options_default(&dopt);
    dopt.max_len = m->cfg.max_len;
    clf_status st = data ? (m->cfg.arch == CLF_ARCH_DECODER ? clf_dataset_read_lm(data, &dopt, &ds)
                                                            : clf_dataset_read_tsv(data, &dopt, &ds))
                         : clf_dataset_task(task, (uint64_t)seed, NULL, &ds);
    clf_batch_options bo;
    clf_batch_options_default(&bo);
    bo.batch_tokens = (int)batch_tokens;
    bo.max_len = m->cfg.max_len;
    bo.vocab_size = m->cfg.vocab_size;
    if (st == CLF_OK) st = clf_batcher_new(ds, &bo, &bt);
    int max_src = 0, max_tgt = 0;
    if (st == CLF_OK) clf_dataset_max_lengths(ds, &max_src, &max_tgt);
    bool lm = m->cfg.arch == CLF_ARCH_DECODER;
    clf_dims max = {(int)batch_tokens, lm ? 0 : max_src, lm ? m->cfg.max_len : max_tgt + 1, (int)batch_tokens};
    if (max.tgt_len > m->cfg.max_len) max.tgt_len = m->cfg.max_len;
    if (st == CLF_OK) st = clf_model_graph_new(m, max, CLF_GRAPH_INFERENCE, 0.0f, &mg);
    clf_eval_report ev;
    clf_evaluator e = {mg, bt, ds, max_tgt};
    if (st == CLF_OK) st = clf_evaluate(&e, !no_exact, &ev);
    if (st != CLF_OK) {
        cli_fail("eval", "%s", clf_errmsg());
        goto out;
    }
    printf("%s on %s (held-out: %ld sequences, %ld target tokens)\n", ckpt, data ? data : task, ev.sequences, ev.tokens);
    printf("loss %.4f  perplexity %.3f  token accuracy %.2f%%\n", ev.loss, ev.perplexity, 100 * ev.token_accuracy);
    if (ev.exact_match >= 0) printf("exact match: %.1f%%\n", 100 * ev.exact_match);
    exit_code = 0;
out:
    json_decref(meta);
    clf_model_graph_free(mg);
    clf_batcher_free(bt);
    clf_dataset_free(ds);
    if (f) clf_st_close(f);
    clf_model_free(m);
    clf_device_free(dev);
    return exit_code;
}
