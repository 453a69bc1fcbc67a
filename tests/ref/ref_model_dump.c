/* Test-only: one safetensors file holding a reference run (config, params, batch, loss, logits,
 * gradients), read by tools/ref_model_torch.py. Little-endian hosts only, like the checkpoints. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_model.h"

typedef struct strbuf {
    char *s;
    size_t len, cap;
    int failed;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->len + (size_t)n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

typedef struct entry {
    char name[80];
    const char *dtype; /* "F64" or "I32" */
    int ndim, shape[3];
    const void *data;
    size_t bytes;
} entry;

static void put(entry *e, int *n, const char *prefix, const char *name, const char *dtype, int ndim, int s0, int s1,
                int s2, const void *data, size_t elem) {
    entry *x = &e[(*n)++];
    snprintf(x->name, sizeof x->name, "%s%s", prefix, name);
    x->dtype = dtype;
    x->ndim = ndim;
    x->shape[0] = s0;
    x->shape[1] = s1;
    x->shape[2] = s2;
    x->data = data;
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= (size_t)x->shape[i];
    x->bytes = numel * elem;
}

clf_status ref_model_dump(const char *path, const ref_config *cfg, const ref_params *params, const ref_batch *batch,
                          double label_smoothing, double loss, const double *logits, const ref_params *grads) {
    if (!path || !cfg || !params || !batch)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "ref_model_dump: path, cfg, params and batch must not be NULL");
    int encdec = cfg->arch == REF_ARCH_ENCDEC, B = batch->B, Tt = batch->Tt;
    int cap = 2 * params->count + 8, n = 0;
    entry *e = calloc((size_t)cap, sizeof *e);
    if (!e) return CLF_ERROR(CLF_ERR_NO_MEMORY, "ref_model_dump: entries");
    for (int i = 0; i < params->count; i++) {
        const ref_tensor *t = &params->tensors[i];
        put(e, &n, "", t->name, "F64", t->ndim, t->shape[0], t->shape[1], 0, t->data, sizeof(double));
    }
    if (grads)
        for (int i = 0; i < grads->count; i++) {
            const ref_tensor *t = &grads->tensors[i];
            put(e, &n, "grad.", t->name, "F64", t->ndim, t->shape[0], t->shape[1], 0, t->data, sizeof(double));
        }
    put(e, &n, "", "loss", "F64", 0, 0, 0, 0, &loss, sizeof(double));
    if (logits) put(e, &n, "", "logits", "F64", 3, B, Tt, cfg->vocab_size, logits, sizeof(double));
    if (encdec) put(e, &n, "", "src", "I32", 2, B, batch->Ts, 0, batch->src, sizeof(int32_t));
    put(e, &n, "", encdec ? "tgt_in" : "tokens_in", "I32", 2, B, Tt, 0, batch->tgt_in, sizeof(int32_t));
    put(e, &n, "", encdec ? "tgt_out" : "tokens_out", "I32", 2, B, Tt, 0, batch->tgt_out, sizeof(int32_t));

    strbuf h = {0};
    /* config as SPEC's JSON object, escaped into a metadata string */
    sb_printf(&h,
              "{\"__metadata__\":{\"format\":\"clformer-ref\",\"label_smoothing\":\"%.17g\",\"config\":"
              "\"{\\\"arch\\\":\\\"%s\\\",\\\"vocab_size\\\":%d,\\\"d_model\\\":%d,\\\"n_heads\\\":%d,"
              "\\\"d_ff\\\":%d,\\\"n_enc_layers\\\":%d,\\\"n_dec_layers\\\":%d,\\\"max_len\\\":%d,"
              "\\\"norm\\\":\\\"%s\\\",\\\"activation\\\":\\\"%s\\\",\\\"ln_eps\\\":%.17g,\\\"dropout\\\":0,"
              "\\\"tie_embeddings\\\":%s}\"}",
              label_smoothing, encdec ? "encdec" : "decoder", cfg->vocab_size, cfg->d_model, cfg->n_heads, cfg->d_ff,
              cfg->n_enc_layers, cfg->n_dec_layers, cfg->max_len, cfg->norm == REF_NORM_PRE ? "pre" : "post",
              cfg->activation == REF_ACT_GELU ? "gelu" : "relu", cfg->ln_eps, cfg->tie_embeddings ? "true" : "false");
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        sb_printf(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", e[i].name, e[i].dtype);
        for (int d = 0; d < e[i].ndim; d++) sb_printf(&h, "%s%d", d ? "," : "", e[i].shape[d]);
        sb_printf(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + e[i].bytes);
        off += e[i].bytes;
    }
    sb_printf(&h, "}");
    while (!h.failed && h.len % 8) sb_printf(&h, " "); /* keep the data 8-byte aligned */
    clf_status st = CLF_OK;
    FILE *f = h.failed ? NULL : fopen(path, "wb");
    if (h.failed) {
        st = CLF_ERROR(CLF_ERR_NO_MEMORY, "ref_model_dump: header");
        goto out;
    }
    if (!f) {
        st = CLF_ERROR(CLF_ERR_IO, "ref_model_dump: cannot open %s", path);
        goto out;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(h.s, 1, h.len, f) == h.len;
    for (int i = 0; ok && i < n; i++) ok = fwrite(e[i].data, 1, e[i].bytes, f) == e[i].bytes;
    if (fclose(f) != 0 || !ok) st = CLF_ERROR(CLF_ERR_IO, "ref_model_dump: writing %s failed", path);
out:
    free(h.s);
    free(e);
    return st;
}
