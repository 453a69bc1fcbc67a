/* The model, optimizer and data flags shared by train, eval and grad, named after SPEC's fields. */
#ifndef CLFORMER_CLI_OPTIONS_H
#define CLFORMER_CLI_OPTIONS_H

#include "args.h"
#include "clformer/train.h"

/* Flag storage for the model configuration (strings for enums, longs for ints). */
typedef struct cli_model_flags {
    const char *arch, *norm, *activation;
    long vocab_size, d_model, n_heads, d_ff, n_enc_layers, n_dec_layers, max_len;
    double ln_eps, dropout;
    bool tie_embeddings;
} cli_model_flags;

void cli_model_flags_from(cli_model_flags *f, const clf_config *c);
/* Check and copy into c; the message names the flag. */
int cli_model_flags_to(const char *cmd, const cli_model_flags *f, clf_config *c);
/* Append the model flags to opts (room for at least CLI_MODEL_OPTS entries). */
#define CLI_MODEL_OPTS 13
size_t cli_model_opts(cli_model_flags *f, cli_opt *opts);

/* Flag storage for the optimizer, schedule and loss (the flags `train` takes, by the same names). */
typedef struct cli_optim_flags {
    const char *schedule;
    long warmup, seed, accum;
    double lr, lr_min, noam_scale, beta1, beta2, eps, weight_decay, clip, label_smoothing;
    bool recompute;
} cli_optim_flags;

void cli_optim_flags_from(cli_optim_flags *f, const clf_train_options *o);
/* Check and copy into o; the message names the flag. */
int cli_optim_flags_to(const char *cmd, const cli_optim_flags *f, clf_train_options *o);
/* Append the optimizer flags to opts (room for at least CLI_OPTIM_OPTS entries). */
#define CLI_OPTIM_OPTS 14
size_t cli_optim_opts(cli_optim_flags *f, cli_opt *opts);

/* The value following `--name` (or in `--name=value`) in argv, or NULL. */
const char *cli_peek(int argc, char **argv, const char *name);
/* Whether --name appears in argv. */
bool cli_given(int argc, char **argv, const char *name);

/* Open the device a selector names (or CLFORMER_DEVICE, or the default), printing the error. */
struct clf_device;
int cli_open_device(const char *cmd, const char *selector, struct clf_device **dev);

#endif
