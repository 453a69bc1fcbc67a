/* Loading a checkpoint's model for the commands that use one (eval, generate, grad). */
#ifndef CLFORMER_CLI_LOAD_H
#define CLFORMER_CLI_LOAD_H

#include <stdbool.h>

#include "clformer/checkpoint.h"

/* Open path, build a model of its configuration on dev and load its parameters. The file stays
 * open in *f (for its metadata); close it with clf_st_close. Prints the error; returns 0 or 1. */
int cli_load_model(const char *cmd, clf_device *dev, const char *path, bool training, clf_model **m, clf_st_file **f);

#endif
