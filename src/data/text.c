/* The file readers: TSV pairs (seq2seq) and raw bytes (lm). Both keep the whole file in memory;
 * pairs are offsets into it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

void clf_data_options_default(clf_data_options *opt) {
    opt->max_len = 256;
    opt->truncate = false;
    opt->heldout_fraction = 0.05;
}

static clf_status check_options(const char *what, const char *path, const clf_data_options *o) {
    if (!path) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: path is NULL", what);
    if (o->max_len < 2 || o->max_len > (1 << 24))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: max_len %d outside [2, %d]", what, o->max_len, 1 << 24);
    if (!(o->heldout_fraction >= 0.0 && o->heldout_fraction <= 0.5))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: heldout_fraction %g outside [0, 0.5]", what, o->heldout_fraction);
    return CLF_OK;
}

/* ceil(fraction * n) without trusting the product to round the right way. */
static size_t heldout_size(double fraction, size_t n) {
    double want = fraction * (double)n;
    size_t h = (size_t)want;
    if ((double)h < want) h++;
    return h;
}

static clf_status read_whole(const char *path, uint8_t **out, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return CLF_ERROR(CLF_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    clf_status st = CLF_OK;
    if (!buf) {
        st = CLF_ERROR(CLF_ERR_NO_MEMORY, "reading %s", path);
        goto out_close;
    }
    for (;;) {
        if (len == cap) {
            uint8_t *grown = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!grown) {
                st = CLF_ERROR(CLF_ERR_NO_MEMORY, "reading %s: more than %zu bytes", path, cap);
                goto out_free;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        st = CLF_ERROR(CLF_ERR_IO, "reading %s: %s", path, strerror(errno));
        goto out_free;
    }
    *out = buf;
    *n = len;
    goto out_close;
out_free:
    free(buf);
out_close:
    fclose(f);
    return st;
}

/* Check one line's pair and append it; lengths checked against max_len before any int cast. */
static clf_status add_pair(clf_dataset *ds, size_t *cap, const char *path, long line, size_t start, size_t len,
                           const clf_data_options *o) {
    const uint8_t *p = ds->bytes + start;
    const uint8_t *tab = memchr(p, '\t', len);
    if (!tab) return CLF_ERROR(CLF_ERR_FORMAT, "%s:%ld: no TAB between source and target", path, line);
    size_t src_len = (size_t)(tab - p), tgt_len = len - src_len - 1;
    if (memchr(tab + 1, '\t', tgt_len))
        return CLF_ERROR(CLF_ERR_FORMAT, "%s:%ld: more than one TAB (expected source<TAB>target)", path, line);
    if (src_len == 0) return CLF_ERROR(CLF_ERR_FORMAT, "%s:%ld: empty source", path, line);
    if (tgt_len == 0) return CLF_ERROR(CLF_ERR_FORMAT, "%s:%ld: empty target", path, line);
    size_t max = (size_t)o->max_len;
    if (src_len > max) {
        if (!o->truncate)
            return CLF_ERROR(CLF_ERR_FORMAT, "%s:%ld: source of %zu bytes is longer than max_len %d", path, line,
                             src_len, o->max_len);
        src_len = max;
    }
    if (tgt_len + 1 > max) { /* BOS target / target EOS take tgt_len + 1 positions */
        if (!o->truncate)
            return CLF_ERROR(CLF_ERR_FORMAT, "%s:%ld: target of %zu bytes plus EOS is longer than max_len %d", path,
                             line, tgt_len, o->max_len);
        tgt_len = max - 1;
    }
    if (ds->n_train == *cap) {
        size_t ncap = *cap ? *cap * 2 : 1024;
        clf_pair *grown = realloc(ds->pairs, ncap * sizeof *grown);
        if (!grown) return CLF_ERROR(CLF_ERR_NO_MEMORY, "%s:%ld: %zu pairs", path, line, ncap);
        ds->pairs = grown;
        *cap = ncap;
    }
    clf_pair *q = &ds->pairs[ds->n_train++];
    q->src_off = start;
    q->src_len = (int)src_len;
    q->tgt_off = start + (size_t)(tab - p) + 1;
    q->tgt_len = (int)tgt_len;
    if (q->src_len > ds->max_src) ds->max_src = q->src_len;
    if (q->tgt_len > ds->max_tgt) ds->max_tgt = q->tgt_len;
    return CLF_OK;
}

/* What both readers start with: *out cleared, the options (the defaults when opt is NULL) checked,
 * and a dataset of `kind` holding the whole file. */
static clf_status read_start(const char *fn, const char *path, const clf_data_options *opt, clf_data_kind kind,
                             clf_dataset **out, clf_data_options *o, clf_dataset **ds) {
    if (!out) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    clf_data_options_default(o);
    if (opt) *o = *opt;
    clf_status st = check_options(fn, path, o);
    if (st != CLF_OK) return st;
    *ds = clf_dataset_alloc(kind);
    if (!*ds) return CLF_ERROR(CLF_ERR_NO_MEMORY, "reading %s", path);
    st = read_whole(path, &(*ds)->bytes, &(*ds)->n_bytes);
    if (st != CLF_OK) {
        clf_dataset_free(*ds);
        *ds = NULL;
    }
    return st;
}

clf_status clf_dataset_read_tsv(const char *path, const clf_data_options *opt, clf_dataset **out) {
    clf_data_options o;
    clf_dataset *ds = NULL;
    clf_status st = read_start("clf_dataset_read_tsv", path, opt, CLF_DATA_SEQ2SEQ, out, &o, &ds);
    if (st != CLF_OK) return st;

    size_t cap = 0, pos = 0;
    long line = 1;
    /* n_train counts every pair while reading; the split comes after. */
    for (; pos < ds->n_bytes; line++) {
        const uint8_t *nl = memchr(ds->bytes + pos, '\n', ds->n_bytes - pos);
        size_t end = nl ? (size_t)(nl - ds->bytes) : ds->n_bytes, len = end - pos;
        if (len > 0 && ds->bytes[pos + len - 1] == '\r') len--;
        if (len > 0) {
            st = add_pair(ds, &cap, path, line, pos, len, &o);
            if (st != CLF_OK) goto out_free;
        }
        pos = end + 1;
    }
    size_t n = ds->n_train;
    if (n < 2) {
        st = CLF_ERROR(CLF_ERR_FORMAT, "%s: %zu pair%s; at least 2 are needed (one trains, one is held out)", path, n,
                       n == 1 ? "" : "s");
        goto out_free;
    }
    size_t h = heldout_size(o.heldout_fraction, n);
    if (h < 1) h = 1;
    if (h > n - 1) h = n - 1;
    ds->n_train = n - h;
    ds->n_heldout = h;
    st = clf_dataset_alloc_heldout_set(ds, h);
    if (st != CLF_OK) goto out_free;
    for (size_t i = 0; i < h; i++) clf_dataset_heldout_insert(ds, i);

    uint64_t fp = clf_fnv1a(CLF_FNV_OFFSET, "tsv", 3);
    fp = clf_fnv1a(fp, ds->bytes, ds->n_bytes);
    uint64_t words[4] = {ds->n_train, ds->n_heldout, (uint64_t)o.max_len, o.truncate};
    ds->fingerprint = clf_fnv1a(fp, words, sizeof words);
    *out = ds;
    return CLF_OK;
out_free:
    clf_dataset_free(ds);
    return st;
}

clf_status clf_dataset_read_lm(const char *path, const clf_data_options *opt, clf_dataset **out) {
    clf_data_options o;
    clf_dataset *ds = NULL;
    clf_status st = read_start("clf_dataset_read_lm", path, opt, CLF_DATA_LM, out, &o, &ds);
    if (st != CLF_OK) return st;
    size_t n = ds->n_bytes, h = heldout_size(o.heldout_fraction, n);
    if (h < 2) h = 2;
    if (n < 4 || h > n - 2) {
        st = CLF_ERROR(CLF_ERR_FORMAT, "%s: %zu bytes; too short to train on and hold out %zu", path, n, h);
        goto out_free;
    }
    ds->lm_train = n - h;
    uint64_t fp = clf_fnv1a(CLF_FNV_OFFSET, "lm", 2);
    fp = clf_fnv1a(fp, ds->bytes, n);
    ds->fingerprint = clf_fnv1a(fp, &ds->lm_train, sizeof ds->lm_train);
    *out = ds;
    return CLF_OK;
out_free:
    clf_dataset_free(ds);
    return st;
}
