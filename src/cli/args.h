/* The command line: a table of flags per subcommand, parsed strictly, with --help from the table. */
#ifndef CLFORMER_CLI_ARGS_H
#define CLFORMER_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum { CLI_FLAG, CLI_INT, CLI_FLOAT, CLI_STRING } cli_type;

typedef struct cli_opt {
    const char *name;    /* "d-model" for --d-model */
    cli_type type;
    void *target;        /* bool*, long*, double*, const char** */
    const char *metavar; /* "N", "FILE", ... */
    const char *help;
    double min, max;     /* inclusive range for numbers; min > max means unchecked */
} cli_opt;

typedef struct cli_command {
    const char *name, *summary, *usage; /* usage: the words after the command, e.g. "[options] FILE" */
    const cli_opt *opts;
    size_t n_opts;
} cli_command;

/* Parse argv[1..argc) (argv[0] is the command's name). Positional words go to positional[] (at most
 * max_positional). Returns 0 to go on, 1 when --help was printed, 2 on a bad flag or value (the
 * message names it). */
int cli_parse(const cli_command *cmd, int argc, char **argv, const char **positional, size_t max_positional,
              size_t *n_positional);
void cli_usage(FILE *out, const cli_command *cmd);

/* Print "clformer CMD: error: <msg>" to stderr; returns the exit code to use (1). */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A library message without its "file.c:NN: " origin, for errors about the user's own input. */
const char *cli_plain(const char *msg);

#endif
