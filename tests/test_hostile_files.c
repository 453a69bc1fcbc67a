/* Hostile and broken checkpoints: each test builds one bad file (a valid checkpoint with one thing
 * wrong, or raw bytes breaking a rule of the format) and checks that opening it is refused with a
 * message naming the file and the problem, before any model or device memory exists. Host only. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clformer/checkpoint.h"
#include "clformer/params.h"
#include "harness.h"

static char g_dir[64];
static char g_path[128];

static void make_dir(void) {
    strcpy(g_dir, "/tmp/clf_hostile_XXXXXX");
    ck_assert_msg(mkdtemp(g_dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(g_path, sizeof g_path, "%s/ck.safetensors", g_dir);
}

static void drop_dir(void) {
    unlink(g_path);
    rmdir(g_dir);
}

/* A small configuration: 1+1 layers, d_model 16, 2 heads, d_ff 16. */
static clf_config small(void) {
    clf_config c = clf_config_default();
    c.d_model = 16;
    c.n_heads = 2;
    c.d_ff = 16;
    c.n_enc_layers = 1;
    c.n_dec_layers = 1;
    c.max_len = 32;
    return c;
}

/* What to write, and the one thing to break. */
typedef struct spec {
    clf_config cfg;         /* the tensors follow this configuration */
    const char *config;     /* metadata 'config' (NULL: cfg's JSON; "-": none) */
    const char *format;     /* metadata 'format' (NULL: "clformer"; "-": none) */
    bool optim;             /* write optim.m.* / optim.v.* and optim_step */
    const char *skip;       /* leave this tensor out */
    const char *extra;      /* add a tensor of this name (shape [4]) */
    const char *reshape;    /* write this tensor with shape [1] */
    const char *as_i32;     /* write this tensor as I32 */
    const char *poison;     /* put `poison_value` at element 3 of this tensor */
    float poison_value;
    const char *meta_key, *meta_value; /* one more metadata entry (replaces a default) */
} spec;

static spec base(void) {
    spec s;
    memset(&s, 0, sizeof s);
    s.cfg = small();
    s.optim = true;
    return s;
}

/* Write s to g_path through the library's writer (so the checksum is right unless said otherwise). */
static void write_spec(const spec *s) {
    clf_param_layout l;
    CLF_CK(clf_param_layout_build(&s->cfg, 1, &l));
    size_t n = l.total;
    float *flat = malloc(3 * n * sizeof *flat + 64);
    ck_assert_ptr_nonnull(flat);
    for (size_t i = 0; i < 3 * n; i++) flat[i] = 0.01f * (float)(i % 97); /* v >= 0 */
    clf_st_writer *w;
    CLF_CK(clf_st_writer_new(&w));
    static const char *prefixes[] = {"", "optim.m.", "optim.v."};
    char names[3][64][160];
    ck_assert_uint_le(l.n, 64);
    for (int k = 0; k < (s->optim ? 3 : 1); k++) {
        for (size_t i = 0; i < l.n; i++) {
            const clf_param_info *p = &l.params[i];
            char *name = names[k][i];
            snprintf(name, 160, "%s%s", prefixes[k], p->name);
            if (s->skip && !strcmp(name, s->skip)) continue;
            int64_t shape[2] = {p->shape[0], p->shape[1]};
            float *data = flat + (size_t)k * n + p->offset;
            int rank = p->rank;
            if (s->reshape && !strcmp(name, s->reshape)) rank = 1, shape[0] = 1;
            if (s->poison && !strcmp(name, s->poison)) data[3] = s->poison_value;
            clf_st_dtype dt = s->as_i32 && !strcmp(name, s->as_i32) ? CLF_ST_I32 : CLF_ST_F32;
            CLF_CK(clf_st_writer_add(w, name, dt, rank, shape, data));
        }
    }
    int64_t four = 4;
    if (s->extra) CLF_CK(clf_st_writer_add(w, s->extra, CLF_ST_F32, 1, &four, flat));
    char *cfg_json = clf_config_to_json(&s->cfg);
    const char *config = s->config ? s->config : cfg_json;
    const char *format = s->format ? s->format : "clformer";
    if (strcmp(format, "-") != 0) CLF_CK(clf_st_writer_set_meta(w, "format", format));
    if (strcmp(config, "-") != 0) CLF_CK(clf_st_writer_set_meta(w, "config", config));
    CLF_CK(clf_st_writer_set_meta(w, "step", "7"));
    if (s->optim) CLF_CK(clf_st_writer_set_meta(w, "optim_step", "7"));
    if (s->meta_key) CLF_CK(clf_st_writer_set_meta(w, s->meta_key, s->meta_value));
    CLF_CK(clf_st_writer_write(w, g_path));
    clf_st_writer_free(w);
    free(cfg_json);
    free(flat);
    clf_param_layout_free(&l);
}

/* clf_checkpoint_open refuses g_path with a message naming the file and holding want. */
static void expect_refused(const char *want) {
    clf_st_file *f = NULL;
    clf_config cfg;
    clf_error_clear();
    clf_status st = clf_checkpoint_open(g_path, &f, &cfg);
    if (st == CLF_OK) clf_st_close(f);
    ck_assert_msg(st != CLF_OK, "%s was accepted; want a refusal saying '%s'", g_path, want);
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(clf_errmsg(), g_path) != NULL, "the message does not name the file: %s", clf_errmsg());
    ck_assert_msg(strstr(clf_errmsg(), want) != NULL, "the message lacks '%s': %s", want, clf_errmsg());
}

static void expect_bad(const spec *s, const char *want) {
    write_spec(s);
    expect_refused(want);
}

START_TEST(good_file_opens) {
    spec s = base();
    write_spec(&s);
    clf_st_file *f;
    clf_config cfg;
    CLF_CK(clf_checkpoint_open(g_path, &f, &cfg));
    ck_assert_int_eq(cfg.d_ff, 16);
    clf_st_close(f);
    s.optim = false; /* weights only, as eval and generate need */
    write_spec(&s);
    CLF_CK(clf_checkpoint_open(g_path, &f, &cfg));
    clf_st_close(f);
}
END_TEST

START_TEST(missing_and_extra_tensors) {
    spec s = base();
    s.skip = "decoder.layers.0.ffn.w2.bias";
    expect_bad(&s, "tensor 'decoder.layers.0.ffn.w2.bias' is missing");
    s = base();
    s.extra = "decoder.layers.7.ffn.w1.weight";
    expect_bad(&s, "tensor 'decoder.layers.7.ffn.w1.weight' is not a parameter of this configuration");
    s = base();
    s.extra = "optim.m.nonsense";
    expect_bad(&s, "tensor 'optim.m.nonsense' is not the optimizer state of a parameter");
    s = base();
    s.skip = "optim.v.generator.weight";
    expect_bad(&s, "the optimizer state is incomplete: tensor 'optim.v.generator.weight' is missing");
    /* a tied-embedding configuration has no generator: a file that has one is refused */
    s = base();
    s.cfg.tie_embeddings = true;
    s.extra = "generator.weight";
    expect_bad(&s, "tensor 'generator.weight' is not a parameter");
}
END_TEST

START_TEST(shapes_and_dtypes) {
    spec s = base();
    s.reshape = "encoder.layers.0.norm1.weight";
    expect_bad(&s, "tensor 'encoder.layers.0.norm1.weight' has shape [1], expected [16]");
    s = base();
    s.reshape = "tgt_embed.weight";
    expect_bad(&s, "tensor 'tgt_embed.weight' has rank 1 (shape [1]), expected rank 2");
    s = base();
    s.as_i32 = "encoder.layers.0.self_attn.q.bias";
    expect_bad(&s, "tensor 'encoder.layers.0.self_attn.q.bias' is I32, expected F32");
    /* tensors of d_ff 32 under a config saying 16: the shapes disagree with the configuration */
    s = base();
    s.cfg.d_ff = 32;
    clf_config said = small();
    char *json = clf_config_to_json(&said);
    s.config = json;
    expect_bad(&s, "ffn.w1.weight' has shape [32, 16], expected [16, 16]");
    free(json);
}
END_TEST

/* A tiny file claiming a huge model is refused from its tensors, before anything is allocated. */
START_TEST(huge_config_small_file) {
    spec s = base();
    s.config = "{\"arch\":\"encdec\",\"vocab_size\":16777216,\"d_model\":1048576,\"n_heads\":8192,\"d_ff\":1048576,"
               "\"n_enc_layers\":1024,\"n_dec_layers\":1024,\"max_len\":65536,\"norm\":\"post\",\"activation\":\"relu\","
               "\"ln_eps\":1e-5,\"dropout\":0,\"tie_embeddings\":false}";
    expect_bad(&s, "tensor 'src_embed.weight' has shape [259, 16], expected [16777216, 1048576]");
}
END_TEST

START_TEST(bad_config) {
    spec s = base();
    s.config = "{\"arch\": \"encdec\",";
    expect_bad(&s, "config is not valid JSON");
    s.config = "[1, 2]";
    expect_bad(&s, "config must be a JSON object");
    s.config = "-";
    expect_bad(&s, "the metadata has no 'config'");
    s.config = "{\"arch\":\"encdec\",\"vocab_size\":259,\"d_model\":16,\"n_heads\":2,\"n_enc_layers\":1,"
               "\"n_dec_layers\":1,\"max_len\":32,\"norm\":\"post\",\"activation\":\"relu\",\"ln_eps\":1e-5,"
               "\"dropout\":0,\"tie_embeddings\":false}";
    expect_bad(&s, "config has no 'd_ff'");
    s.config = "{\"arch\":\"encdec\",\"vocab_size\":259,\"d_model\":16,\"n_heads\":3,\"d_ff\":16,\"n_enc_layers\":1,"
               "\"n_dec_layers\":1,\"max_len\":32,\"norm\":\"post\",\"activation\":\"relu\",\"ln_eps\":1e-5,"
               "\"dropout\":0,\"tie_embeddings\":false}";
    expect_bad(&s, "n_heads 3 does not divide d_model 16");
    s.config = "{\"arch\":\"encdec\",\"vocab_size\":259,\"d_model\":\"16\",\"n_heads\":2,\"d_ff\":16,\"n_enc_layers\":1,"
               "\"n_dec_layers\":1,\"max_len\":32,\"norm\":\"post\",\"activation\":\"relu\",\"ln_eps\":1e-5,"
               "\"dropout\":0,\"tie_embeddings\":false}";
    expect_bad(&s, "config 'd_model' must be an integer");
    s.config = "{\"arch\":\"rnn\",\"vocab_size\":259,\"d_model\":16,\"n_heads\":2,\"d_ff\":16,\"n_enc_layers\":1,"
               "\"n_dec_layers\":1,\"max_len\":32,\"norm\":\"post\",\"activation\":\"relu\",\"ln_eps\":1e-5,"
               "\"dropout\":0,\"tie_embeddings\":false}";
    expect_bad(&s, "arch 'rnn' is not one of encdec, decoder");
}
END_TEST

START_TEST(bad_metadata) {
    spec s = base();
    s.format = "-";
    expect_bad(&s, "not a clformer checkpoint (metadata 'format' is missing)");
    s.format = "pytorch";
    expect_bad(&s, "not a clformer checkpoint (metadata 'format' is pytorch)");
    s = base();
    s.meta_key = "step", s.meta_value = "-1";
    expect_bad(&s, "metadata 'step' = '-1' is not a step count");
    s.meta_value = "12abc";
    expect_bad(&s, "metadata 'step' = '12abc'");
    s = base();
    s.meta_key = "optim_step", s.meta_value = "99999999999";
    expect_bad(&s, "metadata 'optim_step' = '99999999999' is not a step count");
}
END_TEST

/* Numbers a checksum cannot catch (the writer summed them as they were): refused, not trained on. */
START_TEST(non_finite_values) {
    spec s = base();
    s.poison = "decoder.layers.0.self_attn.k.weight", s.poison_value = NAN;
    expect_bad(&s, "tensor 'decoder.layers.0.self_attn.k.weight' holds a non-finite value nan at element 3");
    s.poison = "optim.m.generator.weight", s.poison_value = INFINITY;
    expect_bad(&s, "tensor 'optim.m.generator.weight' holds a non-finite value inf at element 3");
    s.poison = "optim.v.tgt_embed.weight", s.poison_value = -1.0f;
    expect_bad(&s, "tensor 'optim.v.tgt_embed.weight' holds a negative second moment -1 at element 3");
}
END_TEST

/* Read the file, let edit change its header object or data, write it back with a fresh length. */
static void rewrite(void (*edit)(json_t *header, unsigned char *data, size_t n)) {
    FILE *fp = fopen(g_path, "rb");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    size_t size = (size_t)ftell(fp);
    rewind(fp);
    unsigned char *raw = malloc(size);
    ck_assert_uint_eq(fread(raw, 1, size, fp), size);
    fclose(fp);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
    json_t *h = json_loadb((const char *)raw + 8, (size_t)hlen, 0, NULL);
    ck_assert_ptr_nonnull(h);
    unsigned char *data = raw + 8 + hlen;
    size_t n = size - 8 - (size_t)hlen;
    edit(h, data, n);
    char *text = json_dumps(h, JSON_COMPACT);
    size_t tl = strlen(text);
    fp = fopen(g_path, "wb");
    for (int i = 0; i < 8; i++) fputc((int)(((uint64_t)tl >> (8 * i)) & 0xff), fp);
    fwrite(text, 1, tl, fp);
    fwrite(data, 1, n, fp);
    fclose(fp);
    free(text);
    json_decref(h);
    free(raw);
}

static void strip_checksum(json_t *h, unsigned char *d, size_t n) {
    (void)d, (void)n;
    json_object_del(json_object_get(h, "__metadata__"), "checksum");
}

static void flip_bit(json_t *h, unsigned char *d, size_t n) {
    (void)h;
    d[n / 3] ^= 0x04;
}

START_TEST(checksum_verified) {
    spec s = base();
    write_spec(&s);
    rewrite(strip_checksum);
    /* SPEC's checkpoint has no checksum: a file from another implementation opens */
    clf_st_file *f = NULL;
    clf_config cfg;
    ck_assert_msg(clf_checkpoint_open(g_path, &f, &cfg) == CLF_OK, "no checksum refused: %s", clf_errmsg());
    clf_st_close(f);
    write_spec(&s);
    rewrite(flip_bit);
    expect_refused("checksum mismatch: the data is corrupt");
}
END_TEST

/* The format's own rules, through the checkpoint path (raw header text, data of dlen zero bytes). */
static void craft(uint64_t hlen, const char *header, size_t dlen) {
    FILE *fp = fopen(g_path, "wb");
    ck_assert_ptr_nonnull(fp);
    for (int i = 0; i < 8; i++) fputc((int)((hlen >> (8 * i)) & 0xff), fp);
    fputs(header, fp);
    for (size_t i = 0; i < dlen; i++) fputc(0, fp);
    fclose(fp);
}

START_TEST(format_rules) {
    static const struct {
        uint64_t hlen; /* 0: the header's length */
        const char *header;
        size_t dlen;
        const char *want;
    } cases[] = {
        {200000000, "{}", 0, "header length 200000000 is over the limit"},
        {4096, "{}", 0, "header length 4096 runs past the end of the file"},
        {0, "{\"a\": {\"dtype\": \"F32\", ", 0, "the header is not valid JSON"},
        {0, "[1]", 0, "the header is a JSON array, not an object"},
        {0, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         4, "duplicate"},
        {0, "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "unknown dtype 'F8_E4M3'"},
        {0, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "run past the end of the data"},
        {0, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, "overlap tensor"},
        {0, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "4 unused bytes (a gap)"},
        {0, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12, "8 trailing bytes"},
        {0, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "hold 8 bytes but F32 [3] needs 12"},
        {0, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
         "the element count overflows 64 bits"},
        {0, "{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}", 8,
         "the byte size overflows 64 bits"},
        {0, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0] = -1 is negative"},
        {0, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551615]}}", 4,
         "too big integer"},
        {0, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[9223372036854775800,9223372036854775804]}}", 4,
         "run past the end of the data"},
        {0, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,-4]}}", 4,
         "\"data_offsets\" is not two non-negative integers"},
        {0, "{\"__metadata__\":{\"format\":7}}", 0, "__metadata__['format'] is a JSON integer, not a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        craft(cases[i].hlen ? cases[i].hlen : strlen(cases[i].header), cases[i].header, cases[i].dlen);
        expect_refused(cases[i].want);
    }
    /* a file shorter than the length field, and an empty one */
    craft(0, "", 0);
    truncate(g_path, 5);
    expect_refused("truncated: 5 bytes");
    truncate(g_path, 0);
    expect_refused("truncated: 0 bytes");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("hostile_files");
    TCase *tc = tcase_create("hostile_files");
    tcase_add_checked_fixture(tc, make_dir, drop_dir);
    tcase_add_test(tc, good_file_opens);
    tcase_add_test(tc, missing_and_extra_tensors);
    tcase_add_test(tc, shapes_and_dtypes);
    tcase_add_test(tc, huge_config_small_file);
    tcase_add_test(tc, bad_config);
    tcase_add_test(tc, bad_metadata);
    tcase_add_test(tc, non_finite_values);
    tcase_add_test(tc, checksum_verified);
    tcase_add_test(tc, format_rules);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
