/* libFuzzer harness: the safetensors reader (clf_st_open and every lookup), then what a checkpoint
 * load checks on the host: format and config metadata, the parameter layout of that config and
 * each parameter's dtype and shape, and the data stream state a resume parses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clformer/checkpoint.h"
#include "clformer/data.h"
#include "clformer/params.h"
#include "clformer/safetensors.h"
#include "fuzz_file.h"

static void check_tensors(const clf_st_file *f) {
    size_t n = clf_st_count(f);
    for (size_t i = 0; i < n; i++) {
        const clf_st_tensor *t = clf_st_tensor_at(f, i);
        CHECK(t && t->name && t->rank >= 0 && t->rank <= CLF_ST_MAX_RANK);
        CHECK(clf_st_find(f, t->name) == t);
        size_t numel = 1;
        for (int d = 0; d < t->rank; d++) {
            CHECK(t->shape[d] >= 0);
            numel *= (size_t)t->shape[d];
        }
        size_t es = clf_st_dtype_size(t->dtype);
        CHECK(es > 0 && t->numel == numel && t->nbytes == numel * es);
        CHECK(t->nbytes == 0 || (t->data && (uintptr_t)t->data % es == 0));
        /* touch every byte: the sanitizer checks the range really is the file's */
        const uint8_t *p = t->data;
        uint8_t x = 0;
        for (size_t b = 0; b < t->nbytes; b++) x ^= p[b];
        volatile uint8_t sink = x;
        (void)sink;
        const clf_st_tensor *got;
        CHECK(clf_st_get(f, t->name, t->dtype, t->rank, t->rank ? t->shape : NULL, &got) == CLF_OK && got == t);
        if (t->dtype == CLF_ST_I32) {
            clf_st_i32 v;
            CHECK(clf_st_read_i32(f, t->name, t->rank, &v) == CLF_OK);
            (void)clf_st_i32_check_range(&v, CLF_BYTE_VOCAB);
        }
    }
    CHECK(clf_st_tensor_at(f, n) == NULL);
    for (size_t i = 0; i < clf_st_meta_count(f); i++) {
        const char *k, *v;
        clf_st_meta_at(f, i, &k, &v);
        CHECK(k && v && clf_st_meta(f, k) != NULL);
    }
}

/* What clf_checkpoint_load checks before touching the device. */
static void check_checkpoint(const char *path) {
    clf_st_file *f;
    clf_config cfg;
    if (clf_checkpoint_open(path, &f, &cfg) != CLF_OK) return;
    clf_param_layout layout;
    if (clf_config_validate(&cfg) == CLF_OK && clf_param_layout_build(&cfg, 16, &layout) == CLF_OK) {
        for (size_t i = 0; i < layout.n; i++) {
            const clf_param_info *p = &layout.params[i];
            int64_t shape[2] = {p->shape[0], p->shape[1]};
            const clf_st_tensor *t;
            (void)clf_st_get(f, p->name, CLF_ST_F32, p->rank, shape, &t);
        }
        clf_param_layout_free(&layout);
    }
    const char *text = clf_st_meta(f, "data_state");
    clf_data_state ds;
    if (text && clf_data_state_parse(text, &ds) == CLF_OK) {
        char back[CLF_DATA_STATE_CHARS];
        clf_data_state_format(&ds, back);
        clf_data_state again;
        CHECK(clf_data_state_parse(back, &again) == CLF_OK && !memcmp(&ds, &again, sizeof ds));
    }
    clf_st_close(f);
}

int fuzz_safetensors(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size);
    clf_st_file *f;
    if (clf_st_open(path, &f) == CLF_OK) {
        check_tensors(f);
        clf_st_close(f);
        check_checkpoint(path);
    }
    return 0;
}

#ifndef FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_safetensors(data, size); }
#endif
