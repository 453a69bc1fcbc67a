/* Batch files (SPEC "Batch file and gradient dump"): I32 safetensors holding src, tgt_in, tgt_out
 * (encdec) or tokens_in, tokens_out (decoder), each [B, T] with PAD as padding. */
#ifndef CLFORMER_BATCH_FILE_H
#define CLFORMER_BATCH_FILE_H

#include "clformer/config.h"
#include "clformer/data.h"
#include "clformer/safetensors.h"

/* The batch file's tensors as a clf_batch whose arrays are views into the open file (valid until it
 * is closed). Refuses, naming the file: missing tensors, wrong dtype or rank, ids outside
 * [0, vocab_size), shapes that disagree with each other, empty batches, lengths over max_len. */
clf_status clf_batch_file_read(const clf_st_file *f, const clf_config *cfg, clf_batch *b);

#endif
