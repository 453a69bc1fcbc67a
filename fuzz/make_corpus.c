/* Writes the fuzzers' seed corpora (tests/corpus/<name>/) with the library's own writer:
 *   make_corpus DIR
 * Small valid files of every kind each reader accepts; deterministic, so a rerun gives the same
 * bytes. Safetensors seeds are named *.st (not *.safetensors, which git ignores). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clformer/data.h"
#include "clformer/params.h"
#include "clformer/safetensors.h"

static const char *root;

static void fail(const char *what) {
    fprintf(stderr, "make_corpus: %s: %s\n", what, clf_errmsg());
    exit(1);
}

static void path_of(char *out, size_t n, const char *dir, const char *name) {
    snprintf(out, n, "%s/%s", root, dir);
    mkdir(out, 0755);
    snprintf(out, n, "%s/%s/%s", root, dir, name);
}

static void write_bytes(const char *dir, const char *name, const void *data, size_t n) {
    char path[1024];
    path_of(path, sizeof path, dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "make_corpus: cannot write %s\n", path);
        exit(1);
    }
}

static void write_text(const char *dir, const char *name, const char *text) {
    write_bytes(dir, name, text, strlen(text));
}

static void finish(clf_st_writer *w, const char *dir, const char *name) {
    char path[1024];
    path_of(path, sizeof path, dir, name);
    if (clf_st_writer_write(w, path) != CLF_OK) fail(path);
    clf_st_writer_free(w);
}

/* A checkpoint of a tiny model as clf_checkpoint_save lays it out, without a device: parameters
 * (initialised), optimizer moments, format, config, step and a data stream state. */
static void checkpoint(const char *name, clf_config c, bool optimizer) {
    clf_param_layout l;
    if (clf_param_layout_build(&c, 1, &l) != CLF_OK) fail("layout");
    float *flat = calloc(l.total, sizeof *flat);
    if (!flat) fail("memory");
    clf_params_init(&l, 1, flat);
    clf_st_writer *w;
    if (clf_st_writer_new(&w) != CLF_OK) fail("writer");
    char names[3][160];
    for (int copy = 0; copy < (optimizer ? 3 : 1); copy++)
        for (size_t i = 0; i < l.n; i++) {
            const clf_param_info *p = &l.params[i];
            snprintf(names[0], sizeof names[0], "%s%s", copy == 0 ? "" : copy == 1 ? "optim.m." : "optim.v.", p->name);
            int64_t shape[2] = {p->shape[0], p->shape[1]};
            if (clf_st_writer_add(w, names[0], CLF_ST_F32, p->rank, shape, flat + p->offset) != CLF_OK) fail(p->name);
        }
    char *config = clf_config_to_json(&c);
    clf_data_state ds = {{1, 2, 3, 4}, 1, 5, 0, 7, 0x123456789abcdefull};
    char state[CLF_DATA_STATE_CHARS];
    clf_data_state_format(&ds, state);
    if (!config || clf_st_writer_set_meta(w, "format", "clformer") != CLF_OK ||
        clf_st_writer_set_meta(w, "config", config) != CLF_OK || clf_st_writer_set_meta(w, "step", "7") != CLF_OK ||
        clf_st_writer_set_meta(w, "data_state", state) != CLF_OK ||
        (optimizer && clf_st_writer_set_meta(w, "optim_step", "7") != CLF_OK))
        fail("metadata");
    finish(w, "safetensors", name);
    free(config);
    free(flat);
    clf_param_layout_free(&l);
}

/* One tensor of each dtype and of ranks 0 to CLF_ST_MAX_RANK, an empty one, and metadata. */
static void assorted(void) {
    static const uint8_t bytes[64] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    clf_st_writer *w;
    if (clf_st_writer_new(&w) != CLF_OK) fail("writer");
    for (int dt = 0; dt < CLF_ST_DTYPE_COUNT; dt++) {
        int64_t shape[1] = {(int64_t)(8 / clf_st_dtype_size((clf_st_dtype)dt))};
        if (clf_st_writer_add(w, clf_st_dtype_name((clf_st_dtype)dt), (clf_st_dtype)dt, 1, shape, bytes) != CLF_OK)
            fail("dtype");
    }
    int64_t ones[CLF_ST_MAX_RANK] = {1, 1, 1, 1, 1, 1, 1, 2}, zero[2] = {3, 0};
    if (clf_st_writer_add(w, "scalar", CLF_ST_F32, 0, NULL, bytes) != CLF_OK ||
        clf_st_writer_add(w, "rank8", CLF_ST_I32, CLF_ST_MAX_RANK, ones, bytes) != CLF_OK ||
        clf_st_writer_add(w, "empty", CLF_ST_F32, 2, zero, NULL) != CLF_OK ||
        clf_st_writer_set_meta(w, "note", "caf\xc3\xa9 \"quoted\" \\ \t") != CLF_OK)
        fail("assorted");
    finish(w, "safetensors", "assorted.st");
    if (clf_st_writer_new(&w) != CLF_OK) fail("writer");
    finish(w, "safetensors", "no-tensors.st");
}

static void batch(const char *name, bool encdec, int B, int Ts, int Tt) {
    int32_t *src = calloc((size_t)(B * Ts) + 1, 4), *tin = calloc((size_t)(B * Tt), 4),
            *tout = calloc((size_t)(B * Tt), 4);
    if (!src || !tin || !tout) fail("memory");
    for (int b = 0; b < B; b++) {
        int len = 1 + b % (Tt - 1); /* target bytes in this row */
        for (int t = 0; t < Ts; t++) src[b * Ts + t] = t < 1 + b % Ts ? 'a' + (b + t) % 26 : CLF_PAD;
        for (int t = 0; t < Tt; t++) {
            tin[b * Tt + t] = t == 0 ? CLF_BOS : t <= len ? 'a' + (b * 7 + t) % 26 : CLF_PAD;
            tout[b * Tt + t] = t < len ? tin[b * Tt + t + 1] : t == len ? CLF_EOS : CLF_PAD;
        }
    }
    clf_st_writer *w;
    int64_t ss[2] = {B, Ts}, ts[2] = {B, Tt};
    if (clf_st_writer_new(&w) != CLF_OK) fail("writer");
    if ((encdec && clf_st_writer_add(w, "src", CLF_ST_I32, 2, ss, src) != CLF_OK) ||
        clf_st_writer_add(w, encdec ? "tgt_in" : "tokens_in", CLF_ST_I32, 2, ts, tin) != CLF_OK ||
        clf_st_writer_add(w, encdec ? "tgt_out" : "tokens_out", CLF_ST_I32, 2, ts, tout) != CLF_OK)
        fail("batch");
    finish(w, "batch", name);
    free(src);
    free(tin);
    free(tout);
}

static void argv_seed(const char *name, const char *const *words, int n) {
    char buf[1024];
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(words[i]) + (i + 1 < n); /* NUL between words */
        memcpy(buf + len, words[i], k);
        len += k;
    }
    write_bytes("cli", name, buf, len);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus DIR (tests/corpus)\n");
        return 2;
    }
    root = argv[1];
    mkdir(root, 0755);

    clf_config c = clf_config_default();
    c.d_model = 8;
    c.n_heads = 2;
    c.d_ff = 16;
    c.n_enc_layers = c.n_dec_layers = 1;
    c.max_len = 16;
    c.tie_embeddings = true;
    checkpoint("checkpoint-encdec.st", c, false);
    c.arch = CLF_ARCH_DECODER;
    c.norm = CLF_NORM_PRE;
    c.activation = CLF_ACTIVATION_GELU;
    c.d_model = 4;
    c.n_heads = 1;
    c.d_ff = 4;
    checkpoint("checkpoint-decoder-optim.st", c, true);
    assorted();

    batch("encdec.st", true, 3, 5, 4);
    batch("decoder.st", false, 2, 0, 6);
    batch("one-row.st", true, 1, 1, 2);

    write_text("tsv", "pairs.tsv", "abc\tcba\nhello\tolleh\nxy\tyx\n");
    write_text("tsv", "crlf-blank-lines.tsv", "a\tb\r\n\r\n\nsource text\ttarget text\r\nlast\tline");
    write_text("tsv", "utf8.tsv", "caf\xc3\xa9\t\xc3\xa9\x66\x61\x63\n123+4567\t4690\n1+1\t2\n");
    write_text("lm", "text.txt", "The quick brown fox jumps over the lazy dog.\nAnd again, the fox.\n");
    static const uint8_t bin[] = {0, 1, 2, 255, 254, 10, 13, 9, 0, 0, 128, 127, 7, 7, 7, 7, 200, 100, 50, 25};
    write_bytes("lm", "binary.bin", bin, sizeof bin);

    const char *a1[] = {"--d-model", "64", "--n-heads=4", "--arch", "decoder", "--tie-embeddings", "data.txt"};
    const char *a2[] = {"--norm=pre", "--activation", "gelu", "--ln-eps", "1e-6", "--dropout=0.1", "--steps", "-3"};
    const char *a3[] = {"--help"};
    const char *a4[] = {"--lr", "2e-3", "--out", "dir", "--quick", "a", "b", "--max-len", "65536", "--vocab-size=300"};
    argv_seed("model.args", a1, 7);
    argv_seed("numbers.args", a2, 8);
    argv_seed("help.args", a3, 1);
    argv_seed("positional.args", a4, 10);
    return 0;
}
