/* The readers under test take a path: each input is written to one in-memory file (memfd) whose
 * /proc/self/fd path is handed to them, so fuzzing never touches the disk. */
#ifndef CLFORMER_FUZZ_FILE_H
#define CLFORMER_FUZZ_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* A broken promise of the code under test: crash, so that libFuzzer keeps the input. */
#define CHECK(cond)                                                                                            \
    do {                                                                                                       \
        if (!(cond)) abort();                                                                                  \
    } while (0)

/* The path of a file holding exactly data[0..size); the same path every call (contents replaced).
 * Aborts when the file cannot be made: that is the harness failing, not the reader. */
const char *fuzz_file(const uint8_t *data, size_t size);

/* One input through each harness. Each fuzz_<name>.c also defines libFuzzer's entry point unless
 * FUZZ_REPLAY is defined: tests/test_fuzz_regressions.c includes them to replay the corpora. */
int fuzz_safetensors(const uint8_t *data, size_t size);
int fuzz_batch(const uint8_t *data, size_t size);
int fuzz_tsv(const uint8_t *data, size_t size);
int fuzz_lm(const uint8_t *data, size_t size);
int fuzz_cli(const uint8_t *data, size_t size);

#endif
