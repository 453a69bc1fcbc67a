/* libFuzzer harness: the command-line parser. The input is split at NUL bytes into argv words and
 * parsed against the model flags `clformer train` uses (from src/cli/options.c) plus one flag of
 * each kind with unchecked range; what parses is then checked and turned into a configuration the
 * way the subcommands do. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cli/args.h"
#include "../src/cli/options.h"
#include "fuzz_file.h"

#define MAX_WORDS 64

#ifndef FUZZ_REPLAY
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* --help prints the usage to stdout on every other input */
    if (!freopen("/dev/null", "w", stdout)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_cli(data, size); }
#endif

int fuzz_cli(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    /* argv words live in one NUL-terminated copy of the input */
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *argv[MAX_WORDS + 1];
    int argc = 0;
    argv[argc++] = "fuzz";
    for (size_t i = 0; i <= size && argc < MAX_WORDS;) {
        argv[argc++] = text + i;
        i += strlen(text + i) + 1;
    }
    argv[argc] = NULL;

    clf_config cfg = clf_config_default();
    cli_model_flags mf;
    cli_model_flags_from(&mf, &cfg);
    long steps = 10;
    double lr = 1e-3;
    const char *out = "run";
    bool quick = false;
    cli_opt opts[CLI_MODEL_OPTS + 4];
    size_t n = cli_model_opts(&mf, opts);
    opts[n++] = (cli_opt){"steps", CLI_INT, &steps, "N", "unchecked integer", 1, 0};
    opts[n++] = (cli_opt){"lr", CLI_FLOAT, &lr, "X", "unchecked number", 1, 0};
    opts[n++] = (cli_opt){"out", CLI_STRING, &out, "DIR", "string", 1, 0};
    opts[n++] = (cli_opt){"quick", CLI_FLAG, &quick, NULL, "flag", 1, 0};
    const cli_command cmd = {"fuzz", "The parser under fuzzing.", "[options] FILE", opts, n};
    const char *positional[2];
    size_t np = 0;
    int rc = cli_parse(&cmd, argc, argv, positional, 2, &np);
    if (rc == 0) {
        CHECK(np <= 2);
        (void)cli_model_flags_to("fuzz", &mf, &cfg);
    }
    (void)cli_peek(argc, argv, "steps");
    (void)cli_given(argc, argv, "quick");
    (void)cli_plain(text);
    free(text);
    return 0;
}
