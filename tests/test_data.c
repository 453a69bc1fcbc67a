/* The data side, host only: built-in tasks, TSV and LM readers, batching, resume, padding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clformer/data.h"
#include "clformer/rng.h"
#include "harness.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static clf_dataset *task(const char *name, uint64_t seed) {
    clf_dataset *ds;
    CLF_CK(clf_dataset_task(name, seed, NULL, &ds));
    return ds;
}

static clf_batcher *batcher(const clf_dataset *ds, uint64_t seed, int batch_tokens, bool packed) {
    clf_batch_options o;
    clf_batch_options_default(&o);
    o.seed = seed;
    o.batch_tokens = batch_tokens;
    o.packed = packed;
    clf_batcher *bt;
    CLF_CK(clf_batcher_new(ds, &o, &bt));
    return bt;
}

/* Row r's target bytes from tgt_out (up to EOS); returns the length. */
static int row_target(const clf_batch *b, int r, uint8_t *out) {
    int n = 0;
    const int32_t *t = b->tgt_out + (size_t)r * (size_t)b->Tt;
    for (; n < b->Tt && t[n] < 256; n++) out[n] = (uint8_t)t[n];
    return n;
}

static int row_source(const clf_batch *b, int r, uint8_t *out) {
    int n = 0;
    const int32_t *s = b->src + (size_t)r * (size_t)b->Ts;
    for (; n < b->Ts && s[n] != CLF_PAD; n++) out[n] = (uint8_t)s[n];
    return n;
}

/* The SPEC layout of one seq2seq row, and the budget / max_len of the whole batch. */
static void check_layout(const clf_batch *b, int batch_tokens, int max_len) {
    ck_assert_int_ge(b->B, 1);
    int width = b->Ts > b->Tt ? b->Ts : b->Tt;
    ck_assert_msg((long)b->B * width <= batch_tokens, "B %d x max(Ts %d, Tt %d) > budget %d", b->B, b->Ts, b->Tt,
                  batch_tokens);
    ck_assert_int_le(b->Ts, max_len);
    ck_assert_int_le(b->Tt, max_len);
    long tgt_tokens = 0, src_tokens = 0;
    for (int r = 0; r < b->B; r++) {
        const int32_t *s = b->src + (size_t)r * (size_t)b->Ts;
        const int32_t *ti = b->tgt_in + (size_t)r * (size_t)b->Tt, *to = b->tgt_out + (size_t)r * (size_t)b->Tt;
        int ns = 0;
        while (ns < b->Ts && s[ns] < 256) ns++;
        ck_assert_int_ge(ns, 1); /* the source: bytes, no BOS/EOS, then only PAD */
        for (int t = ns; t < b->Ts; t++) ck_assert_int_eq(s[t], CLF_PAD);
        ck_assert_int_eq(ti[0], CLF_BOS);
        int n = 0;
        while (n < b->Tt && to[n] < 256) n++;
        ck_assert_int_lt(n, b->Tt);
        ck_assert_int_eq(to[n], CLF_EOS);
        for (int t = 0; t < n; t++) ck_assert_int_eq(ti[t + 1], to[t]);
        for (int t = n + 1; t < b->Tt; t++) {
            ck_assert_int_eq(ti[t], CLF_PAD);
            ck_assert_int_eq(to[t], CLF_PAD);
        }
        tgt_tokens += n + 1;
        src_tokens += ns;
    }
    ck_assert_int_eq(b->n_tgt_tokens, tgt_tokens);
    ck_assert_int_eq(b->n_src_tokens, src_tokens);
}

static void same_batch(const clf_batch *a, const clf_batch *b, int i) {
    ck_assert_msg(a->B == b->B && a->Ts == b->Ts && a->Tt == b->Tt, "batch %d: shapes differ", i);
    size_t ns = (size_t)a->B * (size_t)a->Ts, nt = (size_t)a->B * (size_t)a->Tt;
    ck_assert_msg(ns == 0 || memcmp(a->src, b->src, ns * sizeof(int32_t)) == 0, "batch %d: src differs", i);
    ck_assert_msg(memcmp(a->tgt_in, b->tgt_in, nt * sizeof(int32_t)) == 0, "batch %d: tgt_in differs", i);
    ck_assert_msg(memcmp(a->tgt_out, b->tgt_out, nt * sizeof(int32_t)) == 0, "batch %d: tgt_out differs", i);
}

static char g_dir[64];

static const char *temp_file(const char *name, const void *data, size_t n) {
    static char path[160];
    if (!g_dir[0]) {
        strcpy(g_dir, "/tmp/clf_data_XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(g_dir));
    }
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
    return path;
}

static const char *temp_text(const char *name, const char *text) { return temp_file(name, text, strlen(text)); }

/* ---- RNG --------------------------------------------------------------------------------- */

START_TEST(rng_streams) {
    clf_rng a, b, c;
    clf_rng_seed(&a, 42);
    clf_rng_seed(&b, 42);
    clf_rng_seed(&c, 43);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = clf_rng_next(&a);
        ck_assert_uint_eq(x, clf_rng_next(&b));
        differ += x != clf_rng_next(&c);
    }
    ck_assert_int_gt(differ, 990);
    uint64_t saved[CLF_RNG_WORDS], z[CLF_RNG_WORDS] = {0};
    clf_rng_save(&a, saved);
    uint64_t want = clf_rng_next(&a);
    CLF_CK(clf_rng_load(&b, saved));
    ck_assert_uint_eq(clf_rng_next(&b), want);
    ck_assert_int_eq(clf_rng_load(&b, z), CLF_ERR_INVALID_ARG);
    long hist[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint64_t v = clf_rng_below(&a, 7);
        ck_assert_uint_lt(v, 7);
        hist[v]++;
    }
    for (int i = 0; i < 7; i++) ck_assert_msg(hist[i] > 9500 && hist[i] < 10500, "bucket %d: %ld", i, hist[i]);
    ck_assert_uint_eq(clf_rng_below(&a, 0), 0);
}
END_TEST

/* ---- tasks ------------------------------------------------------------------------------- */

static void check_pair(const char *name, const uint8_t *s, int ns, const uint8_t *t, int nt) {
    if (!strcmp(name, "reverse") || !strcmp(name, "copy") || !strcmp(name, "sort")) {
        ck_assert_int_ge(ns, 1);
        ck_assert_int_le(ns, 12);
        ck_assert_int_eq(ns, nt);
        for (int i = 0; i < ns; i++) ck_assert(s[i] >= 'a' && s[i] <= 'z');
    }
    if (!strcmp(name, "reverse"))
        for (int i = 0; i < ns; i++) ck_assert_int_eq(t[i], s[ns - 1 - i]);
    if (!strcmp(name, "copy")) ck_assert(memcmp(s, t, (size_t)ns) == 0);
    if (!strcmp(name, "sort")) {
        int cs[26] = {0}, ct[26] = {0};
        for (int i = 0; i < ns; i++) cs[s[i] - 'a']++, ct[t[i] - 'a']++;
        for (int i = 0; i < 26; i++) ck_assert_int_eq(cs[i], ct[i]);
        for (int i = 1; i < nt; i++) ck_assert_int_le(t[i - 1], t[i]);
    }
    if (!strcmp(name, "add")) {
        char src[64], tgt[64];
        ck_assert_int_lt(ns, 64);
        ck_assert_int_lt(nt, 64);
        memcpy(src, s, (size_t)ns);
        src[ns] = 0;
        memcpy(tgt, t, (size_t)nt);
        tgt[nt] = 0;
        unsigned long long a, b, sum;
        int used = 0;
        ck_assert_msg(sscanf(src, "%llu+%llu%n", &a, &b, &used) == 2 && used == ns, "bad add source '%s'", src);
        ck_assert(a <= 9999 && b <= 9999);
        ck_assert_msg(sscanf(tgt, "%llu", &sum) == 1 && sum == a + b, "'%s' gave '%s'", src, tgt);
        char again[64];
        snprintf(again, sizeof again, "%llu", sum);
        ck_assert_str_eq(again, tgt); /* no leading zeros or extra characters */
        ck_assert(src[0] != '0' || src[1] == '+');
    }
}

START_TEST(tasks_give_correct_pairs) {
    const char *names[] = {"reverse", "sort", "add", "copy"};
    for (int k = 0; k < 4; k++) {
        clf_dataset *ds = task(names[k], harness_seed());
        ck_assert_int_eq(clf_dataset_kind(ds), CLF_DATA_SEQ2SEQ);
        ck_assert_uint_eq(clf_dataset_heldout_count(ds), 500);
        for (size_t i = 0; i < clf_dataset_heldout_count(ds); i++) {
            const uint8_t *s, *t;
            int ns, nt;
            CLF_CK(clf_dataset_heldout_pair(ds, i, &s, &ns, &t, &nt));
            check_pair(names[k], s, ns, t, nt);
        }
        clf_batcher *bt = batcher(ds, harness_seed(), 1024, true);
        clf_batch b = {0};
        int seen_len[13] = {0};
        for (int i = 0; i < 60; i++) {
            CLF_CK(clf_batcher_next(bt, &b));
            check_layout(&b, 1024, 256);
            for (int r = 0; r < b.B; r++) {
                uint8_t s[256], t[256];
                int ns = row_source(&b, r, s), nt = row_target(&b, r, t);
                check_pair(names[k], s, ns, t, nt);
                if (ns <= 12) seen_len[ns]++;
                ck_assert_int_eq(b.item[r], -1);
            }
        }
        if (k != 2) /* training covers every length, the short ones given to training only included */
            for (int l = 1; l <= 12; l++) ck_assert_msg(seen_len[l] > 0, "%s: length %d never drawn", names[k], l);
        clf_batch_free(&b);
        clf_batcher_free(bt);
        clf_dataset_free(ds);
    }
}
END_TEST

START_TEST(same_seed_same_stream) {
    uint64_t seed = harness_seed();
    clf_dataset *d1 = task("reverse", seed), *d2 = task("reverse", seed), *d3 = task("reverse", seed + 1);
    clf_batcher *a = batcher(d1, seed, 512, true), *b = batcher(d2, seed, 512, true);
    clf_batcher *c = batcher(d1, seed + 1, 512, true);
    clf_batch ba = {0}, bb = {0}, bc = {0};
    int differ = 0;
    for (int i = 0; i < 120; i++) {
        CLF_CK(clf_batcher_next(a, &ba));
        CLF_CK(clf_batcher_next(b, &bb));
        CLF_CK(clf_batcher_next(c, &bc));
        same_batch(&ba, &bb, i);
        differ += ba.B != bc.B || ba.Tt != bc.Tt ||
                  memcmp(ba.src, bc.src, sizeof(int32_t) * (size_t)ba.B * (size_t)(ba.Ts < bc.Ts ? ba.Ts : bc.Ts)) != 0;
    }
    ck_assert_int_gt(differ, 110);
    /* The held-out set is a function of the dataset seed. */
    int same = 0;
    for (size_t i = 0; i < 500; i++) {
        const uint8_t *s1, *s3, *t;
        int n1, n3, nt;
        CLF_CK(clf_dataset_heldout_pair(d1, i, &s1, &n1, &t, &nt));
        CLF_CK(clf_dataset_heldout_pair(d3, i, &s3, &n3, &t, &nt));
        same += n1 == n3 && memcmp(s1, s3, (size_t)n1) == 0;
        CLF_CK(clf_dataset_heldout_pair(d2, i, &s3, &n3, &t, &nt));
        ck_assert(n1 == n3 && memcmp(s1, s3, (size_t)n1) == 0);
    }
    ck_assert_int_lt(same, 10);
    clf_batch_free(&ba);
    clf_batch_free(&bb);
    clf_batch_free(&bc);
    clf_batcher_free(a);
    clf_batcher_free(b);
    clf_batcher_free(c);
    clf_dataset_free(d1);
    clf_dataset_free(d2);
    clf_dataset_free(d3);
}
END_TEST

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

START_TEST(heldout_never_in_training) {
    const char *names[] = {"reverse", "add"};
    for (int k = 0; k < 2; k++) {
        clf_dataset *ds = task(names[k], harness_seed());
        /* An independent set: the held-out sources as sorted C strings. */
        char *held[500];
        for (size_t i = 0; i < 500; i++) {
            const uint8_t *s, *t;
            int ns, nt;
            CLF_CK(clf_dataset_heldout_pair(ds, i, &s, &ns, &t, &nt));
            held[i] = calloc((size_t)ns + 1, 1);
            memcpy(held[i], s, (size_t)ns);
            ck_assert(clf_dataset_is_heldout(ds, s, ns));
        }
        qsort(held, 500, sizeof *held, cmp_str);
        for (int i = 1; i < 500; i++) ck_assert_msg(strcmp(held[i - 1], held[i]) != 0, "repeated '%s'", held[i]);
        clf_batcher *bt = batcher(ds, harness_seed() ^ 7, 4096, true);
        clf_batch b = {0};
        long rows = 0;
        for (int i = 0; i < 400; i++) {
            CLF_CK(clf_batcher_next(bt, &b));
            for (int r = 0; r < b.B; r++, rows++) {
                char s[64] = {0};
                int ns = row_source(&b, r, (uint8_t *)s);
                ck_assert_int_lt(ns, 64);
                const char *key = s;
                ck_assert_msg(!bsearch(&key, held, 500, sizeof *held, cmp_str), "held-out '%s' in training", s);
            }
        }
        ck_assert_int_gt(rows, 100000);
        for (int i = 0; i < 500; i++) free(held[i]);
        clf_batch_free(&b);
        clf_batcher_free(bt);
        clf_dataset_free(ds);
    }
}
END_TEST

/* ---- resume ------------------------------------------------------------------------------ */

/* Run k batches, save, then compare the next n batches of the original and of a fresh batcher
 * restored from the saved state (through its text form). */
static void check_resume(const clf_dataset *ds, const clf_batch_options *o, int k, int n) {
    clf_batcher *a, *b;
    CLF_CK(clf_batcher_new(ds, o, &a));
    CLF_CK(clf_batcher_new(ds, o, &b));
    clf_batch ba = {0}, bb = {0};
    for (int i = 0; i < k; i++) CLF_CK(clf_batcher_next(a, &ba));
    clf_data_state st, back;
    clf_batcher_state_get(a, &st);
    ck_assert_uint_eq(st.batches, (uint64_t)k);
    char text[CLF_DATA_STATE_CHARS];
    clf_data_state_format(&st, text);
    CLF_CK(clf_data_state_parse(text, &back));
    ck_assert(memcmp(&st, &back, sizeof st) == 0);
    CLF_CK(clf_batcher_state_set(b, &back));
    for (int i = 0; i < n; i++) {
        CLF_CK(clf_batcher_next(a, &ba));
        CLF_CK(clf_batcher_next(b, &bb));
        same_batch(&ba, &bb, i);
    }
    clf_batcher_state_get(b, &back);
    ck_assert_uint_eq(back.batches, (uint64_t)(k + n));
    clf_batch_free(&ba);
    clf_batch_free(&bb);
    clf_batcher_free(a);
    clf_batcher_free(b);
}

static const char *write_tsv(const char *name, int n) {
    size_t cap = (size_t)n * 64, len = 0;
    char *buf = malloc(cap);
    clf_rng r;
    clf_rng_seed(&r, 99);
    for (int i = 0; i < n; i++) {
        int ls = 1 + (int)clf_rng_below(&r, 20), lt = 1 + (int)clf_rng_below(&r, 25);
        for (int j = 0; j < ls; j++) buf[len++] = (char)('a' + clf_rng_below(&r, 26));
        len += (size_t)snprintf(buf + len, cap - len, "%d\t", i); /* makes every source unique */
        for (int j = 0; j < lt; j++) buf[len++] = (char)('A' + clf_rng_below(&r, 26));
        buf[len++] = '\n';
    }
    const char *path = temp_file(name, buf, len);
    free(buf);
    return path;
}

static const char *write_lm(const char *name, size_t n) {
    uint8_t *buf = malloc(n);
    uint64_t sm = 5;
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)clf_splitmix64(&sm);
    const char *path = temp_file(name, buf, n);
    free(buf);
    return path;
}

START_TEST(resume_continues_bit_identically) {
    clf_batch_options o;
    clf_batch_options_default(&o);
    o.seed = harness_seed();
    o.batch_tokens = 300;
    o.pool_batches = 7;
    clf_dataset *ds = task("sort", harness_seed());
    check_resume(ds, &o, 0, 30);  /* fresh state */
    check_resume(ds, &o, 23, 60); /* mid-pool, across pools */
    o.packed = false;
    check_resume(ds, &o, 11, 40);
    o.packed = true;

    clf_dataset *tsv;
    CLF_CK(clf_dataset_read_tsv(write_tsv("resume.tsv", 400), NULL, &tsv));
    check_resume(tsv, &o, 17, 80); /* crosses epochs of 380 pairs */
    /* A state from another batcher is refused. */
    clf_batcher *a, *b;
    CLF_CK(clf_batcher_new(ds, &o, &a));
    CLF_CK(clf_batcher_new(tsv, &o, &b));
    clf_data_state st;
    clf_batcher_state_get(a, &st);
    ck_assert_int_eq(clf_batcher_state_set(b, &st), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "fingerprint"));
    clf_batcher_free(a);
    clf_batcher_free(b);

    clf_data_options d;
    clf_data_options_default(&d);
    clf_dataset *lm;
    CLF_CK(clf_dataset_read_lm(write_lm("resume.bin", 5000), &d, &lm));
    o.seq_len = 32;
    o.batch_tokens = 100;
    check_resume(lm, &o, 9, 30);

    clf_data_state bad;
    ck_assert_int_eq(clf_data_state_parse("1,2,3", &bad), CLF_ERR_FORMAT);
    ck_assert_int_eq(clf_data_state_parse("1,2,3,4,5,6,7,8,9,", &bad), CLF_ERR_FORMAT);
    ck_assert_int_eq(clf_data_state_parse("1,2,3,4,5,6,7,8,12345678901234567", &bad), CLF_ERR_FORMAT);
    CLF_CK(clf_data_state_parse("1,2,3,4,5,6,7,8,ffffffffffffffff", &bad));
    ck_assert_uint_eq(bad.fingerprint, UINT64_MAX);
    clf_dataset_free(ds);
    clf_dataset_free(tsv);
    clf_dataset_free(lm);
}
END_TEST

/* ---- batching ---------------------------------------------------------------------------- */

START_TEST(budget_and_max_len) {
    clf_dataset *ds = task("reverse", harness_seed());
    const int budgets[] = {13, 64, 257, 4096};
    for (int k = 0; k < 4; k++) {
        clf_batcher *bt = batcher(ds, harness_seed() + (uint64_t)k, budgets[k], true);
        clf_batch b = {0};
        for (int i = 0; i < 50; i++) {
            CLF_CK(clf_batcher_next(bt, &b));
            check_layout(&b, budgets[k], 256);
        }
        size_t cursor = 0, seen = 0;
        char *hit = calloc(500, 1);
        bool done = false;
        for (;;) {
            CLF_CK(clf_batcher_heldout(bt, &cursor, &b, &done));
            if (done) break;
            check_layout(&b, budgets[k], 256);
            for (int r = 0; r < b.B; r++) {
                ck_assert(b.item[r] >= 0 && b.item[r] < 500 && !hit[b.item[r]]);
                hit[b.item[r]] = 1;
                seen++;
            }
        }
        ck_assert_uint_eq(seen, 500);
        ck_assert_uint_eq(cursor, clf_batcher_heldout_batches(bt));
        ck_assert_int_eq(b.B, 0);
        free(hit);
        clf_batch_free(&b);
        clf_batcher_free(bt);
    }
    /* The longest pair needs 13 tokens (12 letters + EOS) and fits only under max_len >= 13. */
    clf_batch_options o;
    clf_batch_options_default(&o);
    clf_batcher *bt;
    o.batch_tokens = 12;
    ck_assert_int_eq(clf_batcher_new(ds, &o, &bt), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "batch_tokens"));
    o.batch_tokens = 4096;
    o.max_len = 12;
    ck_assert_int_eq(clf_batcher_new(ds, &o, &bt), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "max_len"));
    o.max_len = 13;
    CLF_CK(clf_batcher_new(ds, &o, &bt));
    clf_batch b = {0};
    for (int i = 0; i < 20; i++) {
        CLF_CK(clf_batcher_next(bt, &b));
        check_layout(&b, 4096, 13);
    }
    clf_batch_free(&b);
    clf_batcher_free(bt);
    o.vocab_size = 258;
    ck_assert_int_eq(clf_batcher_new(ds, &o, &bt), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_batcher_new(ds, NULL, &bt), CLF_ERR_INVALID_ARG);
    clf_dataset_free(ds);
}
END_TEST

START_TEST(heldout_order_is_fixed) {
    clf_dataset *ds = task("add", harness_seed());
    clf_batcher *a = batcher(ds, 1, 256, true), *b = batcher(ds, 2, 256, true);
    clf_batch x = {0}, y = {0};
    clf_batch z = {0};
    CLF_CK(clf_batcher_next(b, &z)); /* training draws do not move the held-out order */
    size_t ca = 0, cb = 0;
    bool da = false, db = false;
    for (int i = 0;; i++) {
        CLF_CK(clf_batcher_heldout(a, &ca, &x, &da));
        CLF_CK(clf_batcher_heldout(b, &cb, &y, &db));
        ck_assert(da == db);
        if (da) break;
        same_batch(&x, &y, i);
    }
    clf_batch_free(&x);
    clf_batch_free(&y);
    clf_batch_free(&z);
    clf_batcher_free(a);
    clf_batcher_free(b);
    clf_dataset_free(ds);
}
END_TEST

START_TEST(packing_lowers_padding) {
    clf_dataset *ds = task("reverse", harness_seed());
    double pad[2];
    for (int packed = 0; packed < 2; packed++) {
        clf_batcher *bt = batcher(ds, harness_seed(), 4096, packed);
        clf_batch b = {0};
        for (int i = 0; i < 200; i++) CLF_CK(clf_batcher_next(bt, &b));
        clf_batch_stats s;
        clf_batcher_stats(bt, &s);
        ck_assert_uint_eq(s.batches, 200);
        pad[packed] = s.tgt_pad_fraction;
        fprintf(stderr, "reverse, 4096 tokens, %s: target PAD %.4f, source PAD %.4f, %.1f rows/batch\n",
                packed ? "packed" : "draw order", s.tgt_pad_fraction, s.src_pad_fraction,
                (double)s.rows / 200.0);
        clf_batch_free(&b);
        clf_batcher_free(bt);
    }
    ck_assert_msg(pad[1] < 0.02 && pad[0] > 0.3, "packed %.4f, draw order %.4f", pad[1], pad[0]);
    clf_dataset_free(ds);
}
END_TEST

/* ---- files ------------------------------------------------------------------------------- */

static void expect_tsv_error(const char *name, const char *text, const char *what, int line) {
    const char *path = temp_text(name, text);
    char where[200];
    if (line) snprintf(where, sizeof where, "%s:%d: ", path, line);
    else snprintf(where, sizeof where, "%s: ", path); /* a whole-file problem has no line */
    clf_data_options o;
    clf_data_options_default(&o);
    o.max_len = 16;
    clf_dataset *ds = (clf_dataset *)1;
    ck_assert_int_eq(clf_dataset_read_tsv(path, &o, &ds), CLF_ERR_FORMAT);
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(clf_errmsg(), where) && strstr(clf_errmsg(), what), "%s: message '%s' lacks '%s' / '%s'",
                  name, clf_errmsg(), where, what);
}

START_TEST(tsv_errors_name_file_and_line) {
    expect_tsv_error("notab.tsv", "a\tb\nc\td\nnope\ne\tf\n", "no TAB", 3);
    expect_tsv_error("twotabs.tsv", "a\tb\r\n\r\nc\td\te\n", "more than one TAB", 3);
    expect_tsv_error("nosrc.tsv", "a\tb\n\tb\n", "empty source", 2);
    expect_tsv_error("notgt.tsv", "a\tb\nx\tb\ny\t\r\n", "empty target", 3);
    expect_tsv_error("longsrc.tsv", "a\tb\n0123456789abcdefg\tb\n", "longer than max_len 16", 2);
    expect_tsv_error("longtgt.tsv", "a\tb\nb\t0123456789abcdef\n", "longer than max_len 16", 2);
    expect_tsv_error("one.tsv", "a\tb\n\n", "at least 2", 0);
}
END_TEST

START_TEST(tsv_reading_and_split) {
    clf_dataset *ds;
    clf_data_options o;
    clf_data_options_default(&o);
    o.max_len = 16;
    /* CRLF, blank lines, a final line without newline; a target may hold 15 bytes (+ EOS = 16). */
    const char *text = "ab\tBA\r\n\nc d\tx\r\n\r\nlast\t0123456789abcde";
    CLF_CK(clf_dataset_read_tsv(temp_text("ok.tsv", text), &o, &ds));
    ck_assert_uint_eq(clf_dataset_train_count(ds), 2);
    ck_assert_uint_eq(clf_dataset_heldout_count(ds), 1);
    const uint8_t *s, *t;
    int ns, nt;
    CLF_CK(clf_dataset_heldout_pair(ds, 0, &s, &ns, &t, &nt));
    ck_assert(ns == 4 && !memcmp(s, "last", 4) && nt == 15 && !memcmp(t, "0123456789abcde", 15));
    ck_assert(clf_dataset_is_heldout(ds, (const uint8_t *)"last", 4));
    ck_assert(!clf_dataset_is_heldout(ds, (const uint8_t *)"ab", 2));
    clf_batch_options bo;
    clf_batch_options_default(&bo);
    bo.max_len = 16;
    bo.batch_tokens = 64;
    bo.pool_batches = 1; /* a pool of at most 64 / 3 + 1 = 22 pairs */
    clf_batcher *bt;
    CLF_CK(clf_batcher_new(ds, &bo, &bt));
    clf_batch b = {0};
    int seen[2] = {0};
    for (int i = 0; i < 200; i++) {
        CLF_CK(clf_batcher_next(bt, &b));
        check_layout(&b, 64, 16);
        for (int r = 0; r < b.B; r++) {
            uint8_t src[16], tgt[16];
            int n = row_source(&b, r, src), m = row_target(&b, r, tgt);
            ck_assert(b.item[r] == 0 || b.item[r] == 1);
            seen[b.item[r]]++;
            if (b.item[r] == 0) ck_assert(n == 2 && !memcmp(src, "ab", 2) && m == 2 && !memcmp(tgt, "BA", 2));
            else ck_assert(n == 3 && !memcmp(src, "c d", 3) && m == 1 && tgt[0] == 'x');
        }
    }
    /* Epochs of one of each: apart only by the part of the current pool not yet taken. */
    ck_assert_msg(seen[0] > 100 && seen[1] > 100 && abs(seen[0] - seen[1]) <= 22, "seen %d and %d", seen[0], seen[1]);
    clf_batch_free(&b);
    clf_batcher_free(bt);
    clf_dataset_free(ds);

    /* Truncation, when asked for. */
    o.truncate = true;
    CLF_CK(clf_dataset_read_tsv(temp_text("long.tsv", "0123456789abcdefXYZ\t0123456789abcdefXYZ\nq\tr\n"), &o, &ds));
    int ms, mt;
    clf_dataset_max_lengths(ds, &ms, &mt);
    ck_assert_int_eq(ms, 16);
    ck_assert_int_eq(mt, 15);
    clf_dataset_free(ds);

    /* 5% of 400 lines held out: the last 20, in file order. */
    CLF_CK(clf_dataset_read_tsv(write_tsv("split.tsv", 400), NULL, &ds));
    ck_assert_uint_eq(clf_dataset_train_count(ds), 380);
    ck_assert_uint_eq(clf_dataset_heldout_count(ds), 20);
    CLF_CK(clf_dataset_heldout_pair(ds, 0, &s, &ns, &t, &nt));
    char want[8];
    snprintf(want, sizeof want, "%d", 380);
    ck_assert(ns >= 3 && !memcmp(s + ns - 3, want, 3));
    clf_dataset_free(ds);

    ck_assert_int_eq(clf_dataset_read_tsv("/nonexistent/x.tsv", NULL, &ds), CLF_ERR_IO);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "/nonexistent/x.tsv"));
    ck_assert_int_eq(clf_dataset_task("unknown", 1, NULL, &ds), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_dataset_task("reverse", 1, NULL, NULL), CLF_ERR_INVALID_ARG);
}
END_TEST

START_TEST(lm_windows) {
    const size_t n = 4000;
    const char *path = write_lm("lm.bin", n);
    uint8_t *bytes = malloc(n);
    FILE *f = fopen(path, "rb");
    ck_assert_uint_eq(fread(bytes, 1, n, f), n);
    fclose(f);
    clf_dataset *ds;
    CLF_CK(clf_dataset_read_lm(path, NULL, &ds));
    ck_assert_int_eq(clf_dataset_kind(ds), CLF_DATA_LM);
    size_t train = clf_dataset_train_count(ds), held = clf_dataset_heldout_count(ds);
    ck_assert_uint_eq(held, 200);
    ck_assert_uint_eq(train + held, n);
    const int T = 37, budget = 200;
    clf_batch_options o;
    clf_batch_options_default(&o);
    o.seq_len = T;
    o.batch_tokens = budget;
    o.seed = harness_seed();
    clf_batcher *bt;
    CLF_CK(clf_batcher_new(ds, &o, &bt));
    clf_batch b = {0};
    for (int i = 0; i < 40; i++) {
        CLF_CK(clf_batcher_next(bt, &b));
        ck_assert_int_eq(b.B, budget / T);
        ck_assert_int_eq(b.Tt, T);
        ck_assert_int_eq(b.Ts, 0);
        ck_assert_ptr_null(b.src);
        ck_assert_int_eq(b.n_tgt_tokens, b.B * T);
        for (int r = 0; r < b.B; r++) {
            const int32_t *in = b.tgt_in + r * T, *out = b.tgt_out + r * T;
            /* The window is a run of training bytes: find it. */
            size_t k = 0;
            for (; k + (size_t)T < train; k++) {
                int t = 0;
                while (t < T && in[t] == bytes[k + (size_t)t] && out[t] == bytes[k + (size_t)t + 1]) t++;
                if (t == T) break;
            }
            ck_assert_msg(k + (size_t)T < train, "batch %d row %d is not a training window", i, r);
        }
    }
    /* Held-out: consecutive windows predicting each held-out byte after the first once. */
    size_t cursor = 0, pos = train + 1;
    bool done = false;
    for (;;) {
        CLF_CK(clf_batcher_heldout(bt, &cursor, &b, &done));
        if (done) break;
        ck_assert_int_le(b.B * b.Tt, budget);
        for (int r = 0; r < b.B; r++)
            for (int t = 0; t < T; t++) {
                int32_t v = b.tgt_out[r * T + t];
                if (v == CLF_PAD) {
                    ck_assert_int_eq(b.tgt_in[r * T + t], CLF_PAD);
                    continue;
                }
                ck_assert_uint_lt(pos, n);
                ck_assert_int_eq(v, bytes[pos]);
                ck_assert_int_eq(b.tgt_in[r * T + t], bytes[pos - 1]);
                pos++;
            }
    }
    ck_assert_uint_eq(pos, n);
    clf_batch_free(&b);
    clf_batcher_free(bt);
    /* Windows longer than the training part, or than max_len, are refused. */
    o.seq_len = 300;
    ck_assert_int_eq(clf_batcher_new(ds, &o, &bt), CLF_ERR_INVALID_ARG);
    clf_dataset_free(ds);
    CLF_CK(clf_dataset_read_lm(write_lm("tiny.bin", 40), NULL, &ds));
    o.seq_len = 38;
    ck_assert_int_eq(clf_batcher_new(ds, &o, &bt), CLF_ERR_INVALID_ARG);
    clf_dataset_free(ds);
    ck_assert_int_eq(clf_dataset_read_lm(temp_text("empty.bin", ""), NULL, &ds), CLF_ERR_FORMAT);
    free(bytes);
}
END_TEST

static void remove_dir(void) {
    if (!g_dir[0]) return;
    const char *names[] = {"notab.tsv", "twotabs.tsv", "nosrc.tsv", "notgt.tsv", "longsrc.tsv", "longtgt.tsv",
                           "one.tsv", "ok.tsv", "long.tsv", "split.tsv", "resume.tsv", "resume.bin",
                           "lm.bin", "tiny.bin", "empty.bin"};
    char path[160];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, names[i]);
        unlink(path);
    }
    rmdir(g_dir);
}

static Suite *suite(void) {
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("data");
    tcase_add_test(tc, rng_streams);
    tcase_add_test(tc, tasks_give_correct_pairs);
    tcase_add_test(tc, same_seed_same_stream);
    tcase_add_test(tc, heldout_never_in_training);
    tcase_add_test(tc, resume_continues_bit_identically);
    tcase_add_test(tc, budget_and_max_len);
    tcase_add_test(tc, heldout_order_is_fixed);
    tcase_add_test(tc, packing_lowers_padding);
    tcase_add_test(tc, tsv_errors_name_file_and_line);
    tcase_add_test(tc, tsv_reading_and_split);
    tcase_add_test(tc, lm_windows);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    int rc = harness_main(suite());
    remove_dir();
    return rc;
}
