/* safetensors reader and writer: round trips, one crafted file per rule the reader enforces,
 * the atomic writer's failure paths, the id range check and random corruption. Host only. */
#include "clformer/safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char g_dir[64];

static void make_dir(void) {
    strcpy(g_dir, "/tmp/clf_st_XXXXXX");
    ck_assert_msg(mkdtemp(g_dir) != NULL, "mkdtemp: %s", strerror(errno));
}

/* Remove the folder and what the tests left in it (files and one level of folders). */
static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char p[512];
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (unlink(p) != 0) remove_tree(p);
    }
    closedir(d);
    rmdir(dir);
}

static void drop_dir(void) { remove_tree(g_dir); }

static const char *path_in(const char *name) {
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    ck_assert_msg(fp != NULL, "fopen %s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(b, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "fopen %s: %s", path, strerror(errno));
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    rewind(fp);
    unsigned char *b = malloc(*n + 1);
    ck_assert_uint_eq(fread(b, 1, *n, fp), *n);
    fclose(fp);
    return b;
}

/* A file of an explicit header length, header text and data bytes. */
static const char *craft_len(const char *name, uint64_t hlen, const char *header, const void *data, size_t dlen) {
    size_t n = strlen(header);
    unsigned char *b = malloc(8 + n + dlen + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + 8, header, n);
    if (dlen) memcpy(b + 8 + n, data, dlen);
    const char *p = path_in(name);
    write_bytes(p, b, 8 + n + dlen);
    free(b);
    return p;
}

static const char *craft(const char *name, const char *header, size_t dlen) {
    unsigned char data[256] = {0};
    ck_assert_uint_le(dlen, sizeof data);
    return craft_len(name, strlen(header), header, data, dlen);
}

/* Opening path fails with st and a message naming the file and holding `want`. */
static void expect_reject(const char *path, clf_status st, const char *want) {
    clf_st_file *f = (clf_st_file *)1;
    clf_error_clear();
    clf_status got = clf_st_open(path, &f);
    if (got == CLF_OK) clf_st_close(f);
    ck_assert_msg(got == st, "%s: got %s (%s), want %s", path, clf_status_name(got), clf_errmsg(),
                  clf_status_name(st));
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(clf_errmsg(), path) != NULL, "message does not name the file: %s", clf_errmsg());
    ck_assert_msg(strstr(clf_errmsg(), want) != NULL, "message lacks '%s': %s", want, clf_errmsg());
}

static void expect_bad(const char *header, size_t dlen, const char *want) {
    expect_reject(craft("bad.safetensors", header, dlen), CLF_ERR_FORMAT, want);
}

/* ---- checksum --------------------------------------------------------------------------- */

START_TEST(xxh64_known_answers) {
    /* Values of the xxHash library (XXH64, seed 0). */
    ck_assert_uint_eq(clf_xxh64("", 0, 0), 0xef46db3751d8e999ull);
    ck_assert_uint_eq(clf_xxh64("a", 1, 0), 0xd24ec4f1a98c6e5bull);
    ck_assert_uint_eq(clf_xxh64("abc", 3, 0), 0x44bc2cf5ad770999ull);
    const char *fox = "The quick brown fox jumps over the lazy dog";
    ck_assert_uint_eq(clf_xxh64(fox, strlen(fox), 0), 0x0b242d361fda71bcull);
    unsigned char seq[256];
    for (int i = 0; i < 256; i++) seq[i] = (unsigned char)i;
    ck_assert_uint_eq(clf_xxh64(seq, 256, 0), 0x1facbe8406cd904bull);
}
END_TEST

/* ---- round trip ------------------------------------------------------------------------- */

START_TEST(round_trip) {
    float w[6] = {0.5f, -1.25f, 3.0f, 1e-30f, -0.0f, 7.75f}, s = 2.5f;
    int32_t ids[5] = {0, 1, 256, 258, 7};
    const int64_t sw[2] = {2, 3}, sid[1] = {5}, s0[1] = {0}, s30[2] = {3, 0};
    clf_st_writer *wr;
    CLF_CK(clf_st_writer_new(&wr));
    /* Added out of name order: data follows the order of adding, the header is sorted. */
    CLF_CK(clf_st_writer_add(wr, "x.weight", CLF_ST_F32, 2, sw, w));
    CLF_CK(clf_st_writer_add(wr, "ids", CLF_ST_I32, 1, sid, ids));
    CLF_CK(clf_st_writer_add(wr, "loss", CLF_ST_F32, 0, NULL, &s));
    CLF_CK(clf_st_writer_add(wr, "empty", CLF_ST_F32, 1, s0, NULL));
    CLF_CK(clf_st_writer_add(wr, "empty2", CLF_ST_I32, 2, s30, NULL));
    CLF_CK(clf_st_writer_set_meta(wr, "format", "clformer"));
    CLF_CK(clf_st_writer_set_meta(wr, "config", "{\"d_model\": 8}"));
    CLF_CK(clf_st_writer_set_meta(wr, "step", "1"));
    CLF_CK(clf_st_writer_set_meta(wr, "step", "12")); /* replaces */
    const char *p = path_in("rt.safetensors");
    CLF_CK(clf_st_writer_write(wr, p));
    clf_st_writer_free(wr);

    clf_st_file *f;
    CLF_CK(clf_st_open(p, &f));
    ck_assert_str_eq(clf_st_path(f), p);
    ck_assert_uint_eq(clf_st_count(f), 5);
    const char *order[5] = {"x.weight", "ids", "loss", "empty", "empty2"};
    for (size_t i = 0; i < 5; i++) ck_assert_str_eq(clf_st_tensor_at(f, i)->name, order[i]);
    ck_assert_ptr_null(clf_st_tensor_at(f, 5));

    const clf_st_tensor *t;
    CLF_CK(clf_st_get(f, "x.weight", CLF_ST_F32, 2, sw, &t));
    ck_assert_uint_eq(t->numel, 6);
    ck_assert_uint_eq(t->nbytes, 24);
    ck_assert_int_eq(memcmp(t->data, w, sizeof w), 0);
    ck_assert_uint_eq((uintptr_t)t->data % 4, 0);
    CLF_CK(clf_st_get(f, "ids", CLF_ST_I32, 1, sid, &t));
    ck_assert_int_eq(memcmp(t->data, ids, sizeof ids), 0);
    CLF_CK(clf_st_get(f, "loss", CLF_ST_F32, 0, NULL, &t));
    ck_assert_int_eq(t->rank, 0);
    ck_assert_uint_eq(t->numel, 1);
    ck_assert(*(const float *)t->data == 2.5f);
    CLF_CK(clf_st_get(f, "empty", CLF_ST_F32, 1, s0, &t));
    ck_assert_uint_eq(t->numel, 0);
    ck_assert_uint_eq(t->nbytes, 0);
    CLF_CK(clf_st_get(f, "empty2", CLF_ST_I32, 2, s30, &t));
    ck_assert_uint_eq(t->numel, 0);
    ck_assert_ptr_null(clf_st_find(f, "nope"));

    ck_assert_str_eq(clf_st_meta(f, "format"), "clformer");
    ck_assert_str_eq(clf_st_meta(f, "config"), "{\"d_model\": 8}");
    ck_assert_str_eq(clf_st_meta(f, "step"), "12");
    ck_assert_ptr_null(clf_st_meta(f, "nope"));
    const char *sum = clf_st_meta(f, "checksum");
    ck_assert_ptr_nonnull(sum);
    ck_assert_int_eq(strncmp(sum, "xxh64:", 6), 0);
    ck_assert_uint_eq(clf_st_meta_count(f), 4);
    const char *k, *v, *prev = "";
    for (size_t i = 0; i < 4; i++) {
        clf_st_meta_at(f, i, &k, &v);
        ck_assert_msg(strcmp(prev, k) < 0, "metadata not in key order: '%s' then '%s'", prev, k);
        prev = k;
    }
    clf_st_close(f);

    /* The bytes: 8-byte length, header padded with spaces to a multiple of 8, keys sorted. */
    size_t n;
    unsigned char *b = read_bytes(p, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
    ck_assert_uint_eq(hlen % 8, 0);
    ck_assert_uint_eq(n, 8 + hlen + 24 + 20 + 4);
    ck_assert_int_eq(b[8], '{');
    b[8 + hlen] = '\0';
    const char *h = (const char *)b + 8;
    ck_assert_ptr_null(strchr(h, '\n'));
    const char *keys[] = {"\"__metadata__\"", "\"empty\"", "\"empty2\"", "\"ids\"", "\"loss\"", "\"x.weight\""};
    for (int i = 1; i < 6; i++) ck_assert_msg(strstr(h, keys[i - 1]) < strstr(h, keys[i]), "header keys unsorted: %s", h);
    ck_assert_ptr_nonnull(strstr(h, "\"x.weight\":{\"data_offsets\":[0,24],\"dtype\":\"F32\",\"shape\":[2,3]}"));
    free(b);
}
END_TEST

/* The reference implementation's own serialization of one F32 [1, 1, 2, 3] tensor. */
START_TEST(reads_reference_bytes) {
    const char *h = "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       ";
    ck_assert_uint_eq(strlen(h), 72);
    float d[6] = {0, 1, 2, 3, 4, 5};
    const char *p = craft_len("ref.safetensors", 72, h, d, sizeof d);
    clf_st_file *f;
    CLF_CK(clf_st_open(p, &f));
    const int64_t shape[4] = {1, 1, 2, 3};
    const clf_st_tensor *t;
    CLF_CK(clf_st_get(f, "attn0", CLF_ST_F32, 4, shape, &t));
    ck_assert_int_eq(memcmp(t->data, d, sizeof d), 0);
    ck_assert_uint_eq(clf_st_meta_count(f), 0);
    clf_st_close(f);

    /* No tensors at all, with and without metadata. */
    p = craft_len("empty.safetensors", 8, "{}      ", NULL, 0);
    CLF_CK(clf_st_open(p, &f));
    ck_assert_uint_eq(clf_st_count(f), 0);
    clf_st_close(f);
    p = craft("meta.safetensors", "{\"__metadata__\":{\"framework\":\"pt\"}}     ", 0);
    CLF_CK(clf_st_open(p, &f));
    ck_assert_str_eq(clf_st_meta(f, "framework"), "pt");
    clf_st_close(f);
}
END_TEST

/* Another writer may place an F32 at an offset that is not a multiple of 4: it is still
 * handed out aligned. Known-but-other dtypes are read for the caller to judge. */
START_TEST(misaligned_and_other_dtypes) {
    unsigned char d[3 + 8 + 4];
    for (size_t i = 0; i < sizeof d; i++) d[i] = (unsigned char)(i * 37 + 1);
    const char *h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[3,11]},"
                    "\"c\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[11,15]}}";
    clf_st_file *f;
    CLF_CK(clf_st_open(craft_len("mis.safetensors", strlen(h), h, d, sizeof d), &f));
    const clf_st_tensor *t = clf_st_find(f, "b");
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq((uintptr_t)t->data % 4, 0);
    ck_assert_int_eq(memcmp(t->data, d + 3, 8), 0);
    ck_assert_int_eq(clf_st_find(f, "c")->dtype, CLF_ST_BF16);
    ck_assert_int_eq(clf_st_get(f, "c", CLF_ST_F32, 1, NULL, &t), CLF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "tensor 'c' is BF16, expected F32"));
    clf_st_close(f);
}
END_TEST

/* ---- rejections: one crafted file per rule ----------------------------------------------- */

#define T_F32_22(offs) "{\"x.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":" offs "}}"

START_TEST(rejects_truncated) {
    unsigned char b[5] = {16, 0, 0, 0, 0};
    const char *p = path_in("short.safetensors");
    write_bytes(p, b, sizeof b);
    expect_reject(p, CLF_ERR_FORMAT, "truncated");
    write_bytes(p, b, 0);
    expect_reject(p, CLF_ERR_FORMAT, "truncated");
    expect_reject(path_in("missing.safetensors"), CLF_ERR_IO, "No such file");
    expect_reject(g_dir, CLF_ERR_IO, "not a regular file");
}
END_TEST

START_TEST(rejects_huge_header) {
    expect_reject(craft_len("huge.safetensors", 100000001ull, "{}", NULL, 0), CLF_ERR_FORMAT, "over the limit");
    expect_reject(craft_len("huge.safetensors", UINT64_MAX, "{}", NULL, 0), CLF_ERR_FORMAT, "over the limit");
}
END_TEST

START_TEST(rejects_header_past_end) {
    expect_reject(craft_len("past.safetensors", 100, "{}", "0123456789", 10), CLF_ERR_FORMAT,
                  "runs past the end of the file");
}
END_TEST

START_TEST(rejects_bad_json) {
    expect_bad("{\"x\": ", 0, "not valid JSON");
    expect_bad("{} {}", 0, "not valid JSON");
    expect_bad("[1, 2]", 0, "is a JSON array, not an object");
    char nul[] = "{\"a\0\":1}";
    expect_reject(craft_len("nul.safetensors", sizeof nul - 1, "", nul, sizeof nul - 1), CLF_ERR_FORMAT,
                  "not valid JSON");
    expect_bad("{\"x\":1}\xff", 0, "not valid JSON");
}
END_TEST

START_TEST(rejects_duplicate_key) {
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
               "\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
               4, "duplicate");
    expect_bad("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0, "duplicate");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "duplicate");
}
END_TEST

START_TEST(rejects_bad_entries) {
    expect_bad("{\"x\":[1]}", 0, "tensor 'x': entry is a JSON array");
    expect_bad("{\"x\":{\"shape\":[],\"data_offsets\":[0,4]}}", 4, "tensor 'x': \"dtype\" is missing");
    expect_bad("{\"x\":{\"dtype\":4,\"shape\":[],\"data_offsets\":[0,4]}}", 4, "\"dtype\" is a JSON integer");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "\"shape\" is missing");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,4]}}", 4, "shape[0] = -2 is negative");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, "shape[0] is a JSON real");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "not an integer");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "9 dims");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[]}}", 4, "\"data_offsets\" is not two non-negative integers");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0]}}", 4, "not two non-negative");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[-4,0]}}", 4, "not two non-negative");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,0]}}", 4, "end before they begin");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,99999999999999999999]}}", 4,
               "not valid JSON");
}
END_TEST

START_TEST(rejects_unknown_dtype) {
    expect_bad("{\"x\":{\"dtype\":\"F31\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "tensor 'x': unknown dtype 'F31'");
    expect_bad("{\"x\":{\"dtype\":\"f32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'f32'");
}
END_TEST

START_TEST(rejects_offsets_out_of_range) {
    expect_bad(T_F32_22("[16,32]"), 16, "tensor 'x.weight': data_offsets [16, 32] run past the end of the data (16 bytes)");
}
END_TEST

START_TEST(rejects_overlap) {
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
               24, "tensor 'b': data_offsets [8, 24] overlap tensor 'a' at [0, 16]");
    /* An empty tensor inside another's bytes overlaps too. */
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
               "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}",
               16, "tensor 'e': data_offsets [8, 8] overlap tensor 'a'");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
               16, "overlap");
}
END_TEST

START_TEST(rejects_gap) {
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[20,36]}}",
               36, "4 unused bytes (a gap) before tensor 'b' at [20, 36], after tensor 'a'");
    expect_bad(T_F32_22("[4,20]"), 20, "4 unused bytes (a gap) before tensor 'x.weight'");
}
END_TEST

START_TEST(rejects_trailing_bytes) {
    expect_bad(T_F32_22("[0,16]"), 20, "4 trailing bytes after the last tensor's data");
    expect_bad("{}", 1, "1 trailing bytes");
}
END_TEST

START_TEST(rejects_size_mismatch) {
    expect_bad(T_F32_22("[0,12]"), 12, "tensor 'x.weight': data_offsets [0, 12] hold 12 bytes but F32 [2, 2] needs 16");
    expect_bad("{\"s\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,0]}}", 0, "hold 0 bytes but I32 [] needs 4");
}
END_TEST

START_TEST(rejects_overflow) {
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,4]}}", 4,
               "tensor 'x': shape [1099511627776, 1099511627776]: the element count overflows");
    expect_bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,4]}}", 4,
               "F32 [2147483648, 2147483648]: the byte size overflows");
    /* A zero dim does not hide an overflow in the dims before it... */
    expect_bad("{\"x\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,0],\"data_offsets\":[0,0]}}", 0, "overflows");
    /* ...but a product that stays in range is fine. */
    clf_st_file *f;
    CLF_CK(clf_st_open(craft("z.safetensors", "{\"x\":{\"dtype\":\"U8\",\"shape\":[0,4294967296,4294967295],"
                                              "\"data_offsets\":[0,0]}}", 0), &f));
    clf_st_close(f);
}
END_TEST

START_TEST(rejects_bad_metadata) {
    expect_bad("{\"__metadata__\":{\"step\":12}}", 0, "__metadata__['step'] is a JSON integer, not a string");
    expect_bad("{\"__metadata__\":{\"cfg\":{}}}", 0, "__metadata__['cfg'] is a JSON object");
    expect_bad("{\"__metadata__\":[\"a\"]}", 0, "__metadata__ is a JSON array, not an object of strings");
    expect_bad("{\"__metadata__\":null}", 0, "__metadata__ is a JSON null");
    expect_bad("{\"__metadata__\":{\"checksum\":\"fnv:12\"}}", 0, "is not of the form xxh64:<16 hex digits>");
    expect_bad("{\"__metadata__\":{\"checksum\":\"xxh64:0123456789abcdeg\"}}", 0, "not of the form");
}
END_TEST

START_TEST(rejects_checksum_mismatch) {
    float d[64];
    for (int i = 0; i < 64; i++) d[i] = (float)i;
    const int64_t shape[1] = {64};
    clf_st_writer *w;
    CLF_CK(clf_st_writer_new(&w));
    CLF_CK(clf_st_writer_add(w, "d", CLF_ST_F32, 1, shape, d));
    const char *p = path_in("sum.safetensors");
    CLF_CK(clf_st_writer_write(w, p));
    clf_st_writer_free(w);
    size_t n;
    unsigned char *b = read_bytes(p, &n);
    for (size_t at = n - sizeof d; at < n; at += 37) {
        b[at] ^= 0x10;
        write_bytes(p, b, n);
        expect_reject(p, CLF_ERR_FORMAT, "checksum mismatch: the data is corrupt");
        b[at] ^= 0x10;
    }
    write_bytes(p, b, n);
    clf_st_file *f;
    CLF_CK(clf_st_open(p, &f));
    clf_st_close(f);
    free(b);
}
END_TEST

/* ---- the writer ------------------------------------------------------------------------- */

START_TEST(writer_rejects_bad_arguments) {
    clf_st_writer *w;
    CLF_CK(clf_st_writer_new(&w));
    float x[4] = {0};
    const int64_t ok[1] = {4}, neg[2] = {2, -1}, big[2] = {INT64_MAX, 4};
    CLF_CK(clf_st_writer_add(w, "a", CLF_ST_F32, 1, ok, x));
    ck_assert_int_eq(clf_st_writer_add(w, "a", CLF_ST_F32, 1, ok, x), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "added twice"));
    ck_assert_int_eq(clf_st_writer_add(w, "__metadata__", CLF_ST_F32, 1, ok, x), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_st_writer_add(w, "b", CLF_ST_F32, 2, neg, x), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "negative"));
    ck_assert_int_eq(clf_st_writer_add(w, "b", CLF_ST_F32, 2, big, x), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "overflows"));
    ck_assert_int_eq(clf_st_writer_add(w, "b", CLF_ST_F32, 1, ok, NULL), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_st_writer_add(w, "b", CLF_ST_F32, 9, ok, x), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_st_writer_add(w, "b", CLF_ST_F32, -1, ok, x), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_st_writer_add(w, "b", CLF_ST_DTYPE_COUNT, 1, ok, x), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_st_writer_add(w, "b\xff", CLF_ST_F32, 1, ok, x), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_st_writer_add(w, NULL, CLF_ST_F32, 1, ok, x), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_st_writer_set_meta(w, "checksum", "x"), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_st_writer_set_meta(w, "k", "\xc3"), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_st_writer_set_meta(w, "k", NULL), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_st_writer_write(w, ""), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_st_writer_write(NULL, "x"), CLF_ERR_INVALID_ARG);
    /* The failed adds left nothing behind: the file holds just "a". */
    const char *p = path_in("args.safetensors");
    CLF_CK(clf_st_writer_write(w, p));
    clf_st_writer_free(w);
    clf_st_file *f;
    CLF_CK(clf_st_open(p, &f));
    ck_assert_uint_eq(clf_st_count(f), 1);
    clf_st_close(f);
    ck_assert_int_eq(clf_st_open(NULL, &f), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_st_open(p, NULL), CLF_ERR_INVALID_ARG);
}
END_TEST

static size_t count_entries(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* A file with one F32 tensor "v" of n values, all equal to `value`. */
static clf_status write_filled(const char *path, size_t n, float value) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = value;
    const int64_t shape[1] = {(int64_t)n};
    clf_st_writer *w;
    CLF_CK(clf_st_writer_new(&w));
    CLF_CK(clf_st_writer_add(w, "v", CLF_ST_F32, 1, shape, x));
    clf_status st = clf_st_writer_write(w, path);
    clf_st_writer_free(w);
    free(x);
    return st;
}

static void expect_filled(const char *path, size_t n, float value) {
    clf_st_file *f;
    CLF_CK(clf_st_open(path, &f));
    const clf_st_tensor *t;
    const int64_t shape[1] = {(int64_t)n};
    CLF_CK(clf_st_get(f, "v", CLF_ST_F32, 1, shape, &t));
    ck_assert(((const float *)t->data)[n - 1] == value);
    clf_st_close(f);
}

START_TEST(atomic_write_keeps_old_file) {
    const char *p = path_in("ck.safetensors");
    CLF_CK(write_filled(p, 16, 1.0f));
    CLF_CK(write_filled(p, 32, 2.0f)); /* a plain replace */
    expect_filled(p, 32, 2.0f);
    ck_assert_uint_eq(count_entries(g_dir), 1);

    /* The write itself fails (file size limit, EFBIG): the old file stays, no temp is left. */
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    clf_status st = write_filled(p, 100000, 3.0f);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", clf_errmsg());
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    ck_assert_msg(st == CLF_ERR_IO, "got %s: %s", clf_status_name(st), msg);
    ck_assert_msg(strstr(msg, p) && strstr(msg, strerror(EFBIG)), "message lacks path or errno text: %s", msg);
    expect_filled(p, 32, 2.0f);
    ck_assert_uint_eq(count_entries(g_dir), 1);

    /* The target is a folder: rename fails, the folder and its content stay. */
    const char *dir = path_in("adir");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    CLF_CK(write_filled(path_in("adir/inner.safetensors"), 4, 5.0f));
    ck_assert_int_eq(write_filled(dir, 4, 4.0f), CLF_ERR_IO);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), dir));
    ck_assert_uint_eq(count_entries(g_dir), 2);
    ck_assert_uint_eq(count_entries(dir), 1);
    expect_filled(path_in("adir/inner.safetensors"), 4, 5.0f);

    /* The folder does not exist. */
    ck_assert_int_eq(write_filled(path_in("nowhere/ck.safetensors"), 4, 4.0f), CLF_ERR_IO);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "No such file or directory"));

    /* A folder without write permission (root may write anyway, so only checked for others). */
    if (geteuid() != 0) {
        ck_assert_int_eq(chmod(dir, 0555), 0);
        st = write_filled(path_in("adir/inner.safetensors"), 8, 6.0f);
        ck_assert_int_eq(chmod(dir, 0755), 0);
        ck_assert_int_eq(st, CLF_ERR_IO);
        ck_assert_ptr_nonnull(strstr(clf_errmsg(), strerror(EACCES)));
        expect_filled(path_in("adir/inner.safetensors"), 4, 5.0f);
    }
}
END_TEST

/* ---- ids -------------------------------------------------------------------------------- */

START_TEST(i32_view_and_range) {
    int32_t src[2][3] = {{5, 0, 258}, {7, 300, 1}}, bad[2] = {3, -1};
    const int64_t s23[2] = {2, 3}, s2[1] = {2};
    float fl[2] = {0};
    clf_st_writer *w;
    CLF_CK(clf_st_writer_new(&w));
    CLF_CK(clf_st_writer_add(w, "src", CLF_ST_I32, 2, s23, src));
    CLF_CK(clf_st_writer_add(w, "neg", CLF_ST_I32, 1, s2, bad));
    CLF_CK(clf_st_writer_add(w, "fl", CLF_ST_F32, 1, s2, fl));
    const char *p = path_in("batch.safetensors");
    CLF_CK(clf_st_writer_write(w, p));
    clf_st_writer_free(w);

    clf_st_file *f;
    CLF_CK(clf_st_open(p, &f));
    clf_st_i32 v;
    CLF_CK(clf_st_read_i32(f, "src", 2, &v));
    ck_assert_int_eq(v.rank, 2);
    ck_assert_int_eq(v.shape[0], 2);
    ck_assert_int_eq(v.shape[1], 3);
    ck_assert_uint_eq(v.numel, 6);
    ck_assert_int_eq(v.data[4], 300);
    CLF_CK(clf_st_i32_check_range(&v, 301));
    ck_assert_int_eq(clf_st_i32_check_range(&v, 259), CLF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), p));
    ck_assert_msg(strstr(clf_errmsg(), "tensor 'src': value 300 at [1, 1] (element 4) is outside [0, 259)"), "%s",
                  clf_errmsg());
    ck_assert_int_eq(clf_st_i32_check_range(&v, 0), CLF_ERR_INVALID_ARG);
    CLF_CK(clf_st_read_i32(f, "neg", 1, &v));
    ck_assert_int_eq(clf_st_i32_check_range(&v, 259), CLF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "value -1 at [1]"));

    ck_assert_int_eq(clf_st_read_i32(f, "src", 3, &v), CLF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "tensor 'src' has rank 2 (shape [2, 3]), expected rank 3"));
    ck_assert_int_eq(clf_st_read_i32(f, "fl", 1, &v), CLF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "tensor 'fl' is F32, expected I32"));
    ck_assert_int_eq(clf_st_read_i32(f, "tgt_in", 2, &v), CLF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "tensor 'tgt_in' is missing"));
    const int64_t s32[2] = {3, 2};
    const clf_st_tensor *t;
    ck_assert_int_eq(clf_st_get(f, "src", CLF_ST_I32, 2, s32, &t), CLF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "has shape [2, 3], expected [3, 2]"));
    clf_st_close(f);
}
END_TEST

/* ---- corruption never crashes ------------------------------------------------------------ */

START_TEST(random_corruption) {
    float a[13];
    int32_t b[7];
    for (int i = 0; i < 13; i++) a[i] = (float)harness_uniform(-1, 1);
    for (int i = 0; i < 7; i++) b[i] = (int32_t)harness_below(259);
    const int64_t sa[2] = {13, 1}, sb[1] = {7};
    clf_st_writer *w;
    CLF_CK(clf_st_writer_new(&w));
    CLF_CK(clf_st_writer_add(w, "a", CLF_ST_F32, 2, sa, a));
    CLF_CK(clf_st_writer_add(w, "b", CLF_ST_I32, 1, sb, b));
    CLF_CK(clf_st_writer_set_meta(w, "format", "clformer"));
    const char *p = path_in("fuzz.safetensors");
    CLF_CK(clf_st_writer_write(w, p));
    clf_st_writer_free(w);
    size_t n;
    unsigned char *good = read_bytes(p, &n), *bytes = malloc(n);
    const size_t data_start = n - sizeof a - sizeof b;

    /* Every truncation is rejected. */
    for (size_t len = 0; len < n; len++) {
        write_bytes(p, good, len);
        clf_st_file *f = NULL;
        ck_assert_msg(clf_st_open(p, &f) != CLF_OK, "a file cut to %zu of %zu bytes was accepted", len, n);
    }
    /* Random byte changes: any outcome but a crash; a change to the data alone is always caught
     * (one that also renames the "checksum" key may pass). */
    for (int iter = 0; iter < 400; iter++) {
        memcpy(bytes, good, n);
        int k = 1 + (int)harness_below(4);
        bool data_only = true;
        for (int j = 0; j < k; j++) {
            size_t at = harness_below((uint32_t)n);
            unsigned char nb = (unsigned char)harness_below(256);
            if (nb == bytes[at]) nb ^= 1;
            bytes[at] = nb;
            if (at < data_start) data_only = false;
        }
        write_bytes(p, bytes, n);
        clf_st_file *f = NULL;
        clf_status st = clf_st_open(p, &f);
        if (st == CLF_OK) {
            ck_assert_msg(!data_only, "changed data accepted (iteration %d, seed %llu)", iter,
                          (unsigned long long)harness_seed());
            for (size_t i = 0; i < clf_st_count(f); i++) {
                const clf_st_tensor *t = clf_st_tensor_at(f, i);
                volatile unsigned char sink = 0;
                for (size_t j = 0; j < t->nbytes; j++) sink ^= ((const unsigned char *)t->data)[j];
                (void)sink;
            }
            clf_st_close(f);
        } else {
            ck_assert_ptr_null(f);
            ck_assert_msg(strstr(clf_errmsg(), p), "message does not name the file: %s", clf_errmsg());
        }
    }
    free(good);
    free(bytes);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("safetensors");
    tcase_add_checked_fixture(tc, make_dir, drop_dir);
    tcase_add_test(tc, xxh64_known_answers);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, reads_reference_bytes);
    tcase_add_test(tc, misaligned_and_other_dtypes);
    tcase_add_test(tc, rejects_truncated);
    tcase_add_test(tc, rejects_huge_header);
    tcase_add_test(tc, rejects_header_past_end);
    tcase_add_test(tc, rejects_bad_json);
    tcase_add_test(tc, rejects_duplicate_key);
    tcase_add_test(tc, rejects_bad_entries);
    tcase_add_test(tc, rejects_unknown_dtype);
    tcase_add_test(tc, rejects_offsets_out_of_range);
    tcase_add_test(tc, rejects_overlap);
    tcase_add_test(tc, rejects_gap);
    tcase_add_test(tc, rejects_trailing_bytes);
    tcase_add_test(tc, rejects_size_mismatch);
    tcase_add_test(tc, rejects_overflow);
    tcase_add_test(tc, rejects_bad_metadata);
    tcase_add_test(tc, rejects_checksum_mismatch);
    tcase_add_test(tc, writer_rejects_bad_arguments);
    tcase_add_test(tc, atomic_write_keeps_old_file);
    tcase_add_test(tc, i32_view_and_range);
    tcase_add_test(tc, random_corruption);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
