#include "options.h"

#include <string.h>

void cli_model_flags_from(cli_model_flags *f, const clf_config *c) {
    f->arch = clf_arch_name(c->arch);
    f->norm = clf_norm_name(c->norm);
    f->activation = clf_activation_name(c->activation);
    f->vocab_size = c->vocab_size;
    f->d_model = c->d_model;
    f->n_heads = c->n_heads;
    f->d_ff = c->d_ff;
    f->n_enc_layers = c->n_enc_layers;
    f->n_dec_layers = c->n_dec_layers;
    f->max_len = c->max_len;
    f->ln_eps = c->ln_eps;
    f->dropout = c->dropout;
    f->tie_embeddings = c->tie_embeddings;
}

int cli_model_flags_to(const char *cmd, const cli_model_flags *f, clf_config *c) {
    clf_config x = *c;
    if (clf_arch_parse(f->arch, &x.arch) != CLF_OK || clf_norm_parse(f->norm, &x.norm) != CLF_OK ||
        clf_activation_parse(f->activation, &x.activation) != CLF_OK)
        return cli_fail(cmd, "%s", cli_plain(clf_errmsg()));
    x.vocab_size = (int)f->vocab_size;
    x.d_model = (int)f->d_model;
    x.n_heads = (int)f->n_heads;
    x.d_ff = (int)f->d_ff;
    x.n_enc_layers = (int)f->n_enc_layers;
    x.n_dec_layers = (int)f->n_dec_layers;
    x.max_len = (int)f->max_len;
    x.ln_eps = (float)f->ln_eps;
    x.dropout = (float)f->dropout;
    x.tie_embeddings = f->tie_embeddings;
    if (clf_config_validate(&x) != CLF_OK) return cli_fail(cmd, "%s", cli_plain(clf_errmsg()));
    *c = x;
    return 0;
}

size_t cli_model_opts(cli_model_flags *f, cli_opt *o) {
    const cli_opt opts[CLI_MODEL_OPTS] = {
        {"arch", CLI_STRING, &f->arch, "encdec|decoder", "encoder-decoder or decoder-only", 1, 0},
        {"vocab-size", CLI_INT, &f->vocab_size, "N", "vocabulary (bytes, PAD, BOS, EOS: 259)", 259, 16777216},
        {"d-model", CLI_INT, &f->d_model, "N", "model width", 1, 1048576},
        {"n-heads", CLI_INT, &f->n_heads, "N", "attention heads (must divide d-model)", 1, 65536},
        {"d-ff", CLI_INT, &f->d_ff, "N", "feed-forward width", 1, 1048576},
        {"n-enc-layers", CLI_INT, &f->n_enc_layers, "N", "encoder layers", 1, 1024},
        {"n-dec-layers", CLI_INT, &f->n_dec_layers, "N", "decoder layers", 1, 1024},
        {"max-len", CLI_INT, &f->max_len, "N", "longest sequence", 2, 65536},
        {"norm", CLI_STRING, &f->norm, "post|pre", "LayerNorm after (paper) or before each sub-layer", 1, 0},
        {"activation", CLI_STRING, &f->activation, "relu|gelu", "feed-forward activation", 1, 0},
        {"ln-eps", CLI_FLOAT, &f->ln_eps, "X", "LayerNorm epsilon", 1e-30, 1},
        {"dropout", CLI_FLOAT, &f->dropout, "P", "dropout rate (residual, embedding, attention)", 0, 0.999},
        {"tie-embeddings", CLI_FLAG, &f->tie_embeddings, NULL, "one matrix for embeddings and generator", 1, 0},
    };
    memcpy(o, opts, sizeof opts);
    return CLI_MODEL_OPTS;
}

void cli_optim_flags_from(cli_optim_flags *f, const clf_train_options *o) {
    f->schedule = clf_schedule_name(o->schedule.kind);
    f->warmup = o->schedule.warmup;
    f->seed = (long)o->seed;
    f->accum = o->accum;
    f->lr = o->schedule.lr_max;
    f->lr_min = o->schedule.lr_min;
    f->noam_scale = o->schedule.scale;
    f->beta1 = o->beta1;
    f->beta2 = o->beta2;
    f->eps = o->eps;
    f->weight_decay = o->weight_decay;
    f->clip = o->clip;
    f->label_smoothing = o->label_smoothing;
    f->recompute = o->recompute;
}

int cli_optim_flags_to(const char *cmd, const cli_optim_flags *f, clf_train_options *o) {
    if (clf_schedule_parse(f->schedule, &o->schedule.kind) != CLF_OK) return cli_fail(cmd, "%s", cli_plain(clf_errmsg()));
    o->schedule.warmup = f->warmup;
    o->schedule.lr_max = f->lr;
    o->schedule.lr_min = f->lr_min;
    o->schedule.scale = f->noam_scale;
    o->seed = (uint64_t)f->seed;
    o->accum = (int)f->accum;
    o->beta1 = (float)f->beta1;
    o->beta2 = (float)f->beta2;
    o->eps = (float)f->eps;
    o->weight_decay = (float)f->weight_decay;
    o->clip = (float)f->clip;
    o->label_smoothing = (float)f->label_smoothing;
    o->recompute = f->recompute;
    return 0;
}

size_t cli_optim_opts(cli_optim_flags *f, cli_opt *o) {
    const cli_opt opts[CLI_OPTIM_OPTS] = {
        {"seed", CLI_INT, &f->seed, "N", "initialisation, data order and dropout", 0, 9.2e18},
        {"accum", CLI_INT, &f->accum, "N", "micro-batches accumulated per step", 1, 1024},
        {"label-smoothing", CLI_FLOAT, &f->label_smoothing, "X", "label smoothing of the loss", 0, 0.999},
        {"schedule", CLI_STRING, &f->schedule, "noam|cosine|constant", "learning-rate schedule", 1, 0},
        {"lr", CLI_FLOAT, &f->lr, "X", "peak learning rate (cosine, constant)", 0, 10},
        {"lr-min", CLI_FLOAT, &f->lr_min, "X", "final learning rate (cosine)", 0, 10},
        {"warmup", CLI_INT, &f->warmup, "N", "warm-up steps of the schedule (noam, cosine)", 0, 1e12},
        {"noam-scale", CLI_FLOAT, &f->noam_scale, "X", "noam's scale factor", 0, 1e6},
        {"beta1", CLI_FLOAT, &f->beta1, "X", "AdamW beta1", 0, 0.999999},
        {"beta2", CLI_FLOAT, &f->beta2, "X", "AdamW beta2", 0, 0.999999},
        {"adam-eps", CLI_FLOAT, &f->eps, "X", "AdamW epsilon", 0, 1},
        {"weight-decay", CLI_FLOAT, &f->weight_decay, "X", "decoupled weight decay (2-D weights only)", 0, 10},
        {"clip", CLI_FLOAT, &f->clip, "X", "clip the gradient's global norm to X (0: off)", 0, 1e12},
        {"recompute", CLI_FLAG, &f->recompute, NULL,
         "recompute each sub-layer's activations in the backward (less memory, ~1/3 more compute)", 1, 0},
    };
    memcpy(o, opts, sizeof opts);
    return CLI_OPTIM_OPTS;
}

const char *cli_peek(int argc, char **argv, const char *name) {
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, n) != 0) continue;
        if (a[2 + n] == '=') return a + 3 + n;
        if (a[2 + n] == '\0' && i + 1 < argc) return argv[i + 1];
    }
    return NULL;
}

bool cli_given(int argc, char **argv, const char *name) {
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--", 2) && !strncmp(argv[i] + 2, name, n) && (argv[i][2 + n] == '\0' || argv[i][2 + n] == '='))
            return true;
    return false;
}

int cli_open_device(const char *cmd, const char *selector, struct clf_device **dev) {
    if (clf_device_open(selector, dev) != CLF_OK) return cli_fail(cmd, "%s", clf_errmsg());
    return 0;
}
