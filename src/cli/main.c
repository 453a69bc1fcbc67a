/* clformer: the command-line tool. Dispatches to one file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} subcommand;

static const subcommand commands[] = {
    {"devices", cmd_devices, "list OpenCL devices and their capabilities"},
    {"train", cmd_train, "train a Transformer (no flags: the reverse task on a small model)"},
    {"eval", cmd_eval, "held-out loss, perplexity, accuracy and exact match of a checkpoint"},
    {"generate", cmd_generate, "translate lines (encdec) or continue a prompt (decoder)"},
    {"bench", cmd_bench, "time every kernel against the device's measured limits"},
    {"compare", cmd_compare, "the same suite on every device side by side: speed and numerical agreement"},
    {"grad", cmd_grad, "one forward and backward pass on a batch file; dump loss, logits, gradients"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: clformer COMMAND [options]   (clformer COMMAND --help for its flags)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nenvironment:\n"
                 "  CLFORMER_DEVICE      device selector when --device is not given (P:D, gpu, cpu, any, name)\n"
                 "  CLFORMER_KERNEL_DIR  read kernel sources from this folder instead of the built-in copies\n"
                 "  CLFORMER_NO_CACHE=1  do not read or write compiled kernels under $XDG_CACHE_HOME/clformer\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "clformer: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
