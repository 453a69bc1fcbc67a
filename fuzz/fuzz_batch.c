/* libFuzzer harness: batch files (SPEC "Batch file and gradient dump"), read as `clformer grad`
 * reads them (clf_batch_file_read), then every entry of an accepted batch visited as the graph
 * would. */
#include <stdint.h>
#include <stdlib.h>

#include "clformer/batch_file.h"
#include "clformer/safetensors.h"
#include "fuzz_file.h"

#define MAX_LEN 256

/* The batch through the library's reader, for each architecture; every id of an accepted batch is
 * in range, as the graph will index with it. */
static void read_batch(const clf_st_file *bf, clf_arch arch) {
    clf_config cfg = clf_config_default();
    cfg.arch = arch;
    cfg.max_len = MAX_LEN;
    clf_batch b;
    if (clf_batch_file_read(bf, &cfg, &b) != CLF_OK) return;
    size_t nt = (size_t)b.B * (size_t)b.Tt, ns = (size_t)b.B * (size_t)b.Ts;
    for (size_t i = 0; i < nt; i++) CHECK(b.tgt_in[i] >= 0 && b.tgt_in[i] < cfg.vocab_size && b.tgt_out[i] >= 0 &&
                                          b.tgt_out[i] < cfg.vocab_size);
    for (size_t i = 0; i < ns; i++) CHECK(b.src[i] >= 0 && b.src[i] < cfg.vocab_size);
}

int fuzz_batch(const uint8_t *data, size_t size) {
    clf_st_file *bf;
    if (clf_st_open(fuzz_file(data, size), &bf) != CLF_OK) return 0;
    read_batch(bf, CLF_ARCH_ENCDEC);
    read_batch(bf, CLF_ARCH_DECODER);
    clf_st_close(bf);
    return 0;
}

#ifndef FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_batch(data, size); }
#endif
