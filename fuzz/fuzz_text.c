/* libFuzzer harness: the text data readers and the batcher on what they read. Built twice:
 * with FUZZ_TSV the input is source<TAB>target pairs (clf_dataset_read_tsv), otherwise an lm byte
 * stream (clf_dataset_read_lm). Each input is read with two sets of options (strict at max_len
 * 256; truncating at max_len 8), and a dataset that loads is cut into a few training batches and
 * every held-out batch, each checked against the layout data.h promises. */
#include <stdint.h>
#include <stdlib.h>

#include "clformer/data.h"
#include "fuzz_file.h"

static void check_batch(const clf_batch *b, bool lm, int max_len, int budget) {
    CHECK(b->B >= 1 && b->Tt >= 1 && b->Tt <= max_len && b->Ts <= max_len);
    CHECK(lm ? b->Ts == 0 && !b->src : b->Ts >= 1);
    CHECK((long)b->B * (b->Ts > b->Tt ? b->Ts : b->Tt) <= budget);
    long tokens = 0;
    for (long i = 0; i < (long)b->B * b->Tt; i++) {
        CHECK(b->tgt_in[i] >= 0 && b->tgt_in[i] < CLF_BYTE_VOCAB);
        CHECK(b->tgt_out[i] >= 0 && b->tgt_out[i] < CLF_BYTE_VOCAB);
        tokens += b->tgt_out[i] != CLF_PAD;
    }
    CHECK(tokens == b->n_tgt_tokens);
    for (long i = 0; i < (long)b->B * b->Ts; i++) CHECK(b->src[i] >= 0 && b->src[i] < CLF_BYTE_VOCAB);
}

static void run(const char *path, bool tsv, int max_len, bool truncate) {
    clf_data_options o;
    clf_data_options_default(&o);
    o.max_len = max_len;
    o.truncate = truncate;
    clf_dataset *ds;
    bool lm = !tsv;
    if ((tsv ? clf_dataset_read_tsv : clf_dataset_read_lm)(path, &o, &ds) != CLF_OK) return;
    for (size_t i = 0; tsv && i < clf_dataset_heldout_count(ds); i++) {
        const uint8_t *s, *t;
        int sl, tl;
        CHECK(clf_dataset_heldout_pair(ds, i, &s, &sl, &t, &tl) == CLF_OK);
        CHECK(sl >= 1 && sl <= max_len && tl >= 1 && tl < max_len);
        CHECK(clf_dataset_is_heldout(ds, s, sl));
    }
    clf_batch_options bo;
    clf_batch_options_default(&bo);
    bo.max_len = max_len;
    bo.batch_tokens = 4 * max_len;
    bo.seq_len = lm ? (max_len < 16 ? max_len : 16) : 0;
    bo.pool_batches = 2;
    clf_batcher *bt;
    clf_batch b = {0};
    if (clf_batcher_new(ds, &bo, &bt) == CLF_OK) {
        for (int i = 0; i < 3; i++) {
            CHECK(clf_batcher_next(bt, &b) == CLF_OK);
            check_batch(&b, lm, max_len, bo.batch_tokens);
        }
        size_t cursor = 0, n = 0;
        bool done = false;
        for (;;) {
            CHECK(clf_batcher_heldout(bt, &cursor, &b, &done) == CLF_OK);
            if (done) break;
            check_batch(&b, lm, max_len, bo.batch_tokens);
            n++;
        }
        CHECK(n == clf_batcher_heldout_batches(bt));
        clf_batcher_free(bt);
    }
    clf_batch_free(&b);
    clf_dataset_free(ds);
}

static int text_input(const uint8_t *data, size_t size, bool tsv) {
    if (size > (1 << 20)) return 0; /* the readers are linear; large inputs only slow the search */
    const char *path = fuzz_file(data, size);
    run(path, tsv, 256, false);
    run(path, tsv, 8, true);
    return 0;
}

int fuzz_tsv(const uint8_t *data, size_t size) { return text_input(data, size, true); }
int fuzz_lm(const uint8_t *data, size_t size) { return text_input(data, size, false); }

#ifndef FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#ifdef FUZZ_TSV
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_tsv(data, size); }
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_lm(data, size); }
#endif
#endif
