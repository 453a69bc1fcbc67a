/* Incremental decoding with the key/value cache: the cache kernels and the position-shifted embedding
 * against host references; then, on tiny random models (encoder-decoder and decoder-only, pre- and
 * post-norm, PAD in sources and in fed tokens), the cached path's logits agree with the full
 * recompute's at every step (also across beam reorders), and greedy decoding and continuation give
 * exactly the same tokens either way. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clformer/model.h"
#include "clformer/train.h"
#include "harness.h"
#include "ops/embedding.h"
#include "ops/kv_cache.h"
#include "train/stepper.h"

/* ---- kernels ---- */

START_TEST(append_writes_one_row_per_sequence) {
    clf_device *dev = harness_device();
    const int shapes[][3] = {{1, 1, 1}, {3, 7, 13}, {2, 13, 33}, {5, 4, 257}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int B = shapes[k][0], T = shapes[k][1], d = shapes[k][2];
        size_t nc = (size_t)B * T * d;
        float *cache0 = harness_random(nc, -1, 1, NULL), *x = harness_random((size_t)B * d, -1, 1, NULL);
        for (int pos = -1; pos <= T; pos++) { /* -1 and T are outside: nothing is written */
            cl_mem c = harness_upload(cache0, nc), xb = harness_upload(x, (size_t)B * d);
            cl_mem pb = harness_upload_int(&pos, 1);
            CLF_CK(clf_kv_cache_append(dev, c, xb, pb, B, T, d));
            float *got = harness_download(c, nc);
            for (int b = 0; b < B; b++)
                for (int j = 0; j < T; j++)
                    for (int e = 0; e < d; e++) {
                        size_t i = ((size_t)b * T + j) * d + e;
                        float want = j == pos ? x[(size_t)b * d + e] : cache0[i];
                        ck_assert_msg(memcmp(&got[i], &want, 4) == 0, "B %d T %d d %d pos %d: [%d, %d, %d] = %g, want %g",
                                      B, T, d, pos, b, j, e, got[i], want);
                    }
            free(got);
            harness_release(c);
            harness_release(xb);
            harness_release(pb);
        }
        free(cache0);
        free(x);
    }
}
END_TEST

START_TEST(gather_reorders_sequences) {
    clf_device *dev = harness_device();
    const int shapes[][4] = {{1, 1, 1, 1}, {3, 7, 5, 13}, {4, 13, 13, 33}, {5, 6, 0, 7}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int B = shapes[k][0], T = shapes[k][1], n = shapes[k][2], d = shapes[k][3];
        size_t nc = (size_t)B * T * d;
        float *in = harness_random(nc, -1, 1, NULL), *out0 = harness_random(nc, -1, 1, NULL);
        int32_t idx[8];
        for (int b = 0; b < B; b++) idx[b] = (int32_t)harness_below((uint32_t)B);
        cl_mem ib = harness_upload(in, nc), ob = harness_upload(out0, nc), xb = harness_upload_int(idx, (size_t)B);
        CLF_CK(clf_kv_cache_gather(dev, ob, ib, xb, B, T, n, d));
        float *got = harness_download(ob, nc);
        for (int b = 0; b < B; b++)
            for (int j = 0; j < T; j++)
                for (int e = 0; e < d; e++) {
                    size_t i = ((size_t)b * T + j) * d + e;
                    float want = j < n ? in[((size_t)idx[b] * T + j) * d + e] : out0[i];
                    ck_assert_msg(memcmp(&got[i], &want, 4) == 0, "B %d T %d n %d d %d: [%d, %d, %d]", B, T, n, d, b, j, e);
                }
        free(got);
        free(in);
        free(out0);
        harness_release(ib);
        harness_release(ob);
        harness_release(xb);
    }
}
END_TEST

START_TEST(embedding_offset_shifts_positions) {
    clf_device *dev = harness_device();
    const int V = 11, max_len = 13;
    const int shapes[][3] = {{1, 1, 0}, {6, 3, 4}, {7, 1, 12}, {33, 11, 2}}; /* n, t, offset */
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        for (int d = 1; d <= 33; d += 16) {
            int n = shapes[k][0], t = shapes[k][1], off = shapes[k][2];
            double *table_d, *pe_d;
            float *table = harness_random((size_t)V * d, -1, 1, &table_d), *pe = harness_random((size_t)max_len * d, -1, 1, &pe_d);
            int32_t tok[64];
            for (int r = 0; r < n; r++) tok[r] = (int32_t)harness_below(V);
            cl_mem tb = harness_upload(table, (size_t)V * d), pb = harness_upload(pe, (size_t)max_len * d);
            cl_mem kb = harness_upload_int(tok, (size_t)n), ob = harness_upload_int(&off, 1);
            cl_mem out = harness_poisoned((size_t)n * d);
            CLF_CK(clf_embedding_fwd_offset(dev, out, tb, kb, pb, ob, n, t, d, V, 1.5f));
            float *got = harness_download(out, (size_t)n * d);
            double *ref = malloc((size_t)n * d * sizeof *ref);
            for (int r = 0; r < n; r++)
                for (int c = 0; c < d; c++)
                    ref[(size_t)r * d + c] = table_d[(size_t)tok[r] * d + c] * 1.5 + pe_d[(size_t)(r % t + off) * d + c];
            harness_expect_close("embedding with offset", got, ref, (size_t)n * d, 1e-6);
            free(got);
            /* a position past the table shows as NaN rather than reading out of bounds */
            int bad = max_len - t + 1;
            CLF_CK(clf_buffer_write(dev, ob, 0, 4, &bad));
            CLF_CK(clf_embedding_fwd_offset(dev, out, tb, kb, pb, ob, n, t, d, V, 1.5f));
            got = harness_download(out, (size_t)n * d);
            ck_assert(isnan(got[(size_t)(t - 1) * d]));
            free(got);
            free(ref);
            free(table);
            free(table_d);
            free(pe);
            free(pe_d);
            harness_release(tb);
            harness_release(pb);
            harness_release(kb);
            harness_release(ob);
            harness_release(out);
        }
}
END_TEST

START_TEST(kernels_refuse_bad_arguments) {
    clf_device *dev = harness_device();
    cl_mem small = harness_poisoned(4), big = harness_poisoned(64), other = harness_poisoned(64);
    int32_t zero[4] = {0, 0, 0, 0};
    cl_mem pos = harness_upload_int(zero, 4);
    ck_assert_int_eq(clf_kv_cache_append(NULL, big, big, pos, 1, 1, 1), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_kv_cache_append(dev, NULL, big, pos, 1, 1, 1), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_kv_cache_append(dev, big, big, NULL, 1, 1, 1), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_kv_cache_append(dev, big, big, pos, 0, 1, 1), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_kv_cache_append(dev, small, big, pos, 2, 2, 2), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_kv_cache_gather(dev, big, big, pos, 2, 2, 2, 2), CLF_ERR_INVALID_ARG); /* in place */
    ck_assert_int_eq(clf_kv_cache_gather(dev, other, big, pos, 2, 2, 3, 2), CLF_ERR_INVALID_ARG); /* n > T */
    ck_assert_int_eq(clf_kv_cache_gather(dev, other, small, pos, 2, 2, 2, 2), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_kv_cache_gather(dev, other, big, NULL, 2, 2, 2, 2), CLF_ERR_INVALID_ARG);
    /* a garbage offset (NaN bits) is caught on the device as a NaN row, never read out of bounds */
    ck_assert_int_eq(clf_embedding_fwd_offset(dev, big, big, pos, big, small, 1, 1, 1, 1, 1.0f), CLF_OK);
    float *row = harness_download(big, 1);
    ck_assert(isnan(row[0]));
    free(row);
    ck_assert_int_eq(clf_embedding_fwd_offset(dev, big, big, pos, big, NULL, 1, 1, 1, 1, NAN), CLF_ERR_INVALID_ARG);
    harness_release(small);
    harness_release(big);
    harness_release(other);
    harness_release(pos);
}
END_TEST

/* ---- decoding ---- */

enum { B = 3, TS = 7, CAP = 10 };

typedef struct tiny {
    clf_model *m;
    clf_model_graph *mg;
} tiny;

static tiny make(clf_arch arch, clf_norm norm, bool tie, int batch, int cap) {
    clf_config c = clf_config_default();
    c.arch = arch;
    c.norm = norm;
    c.tie_embeddings = tie;
    c.d_model = 16;
    c.n_heads = 2;
    c.d_ff = 24;
    c.n_enc_layers = 2;
    c.n_dec_layers = 2;
    c.max_len = 16;
    c.dropout = 0;
    tiny t;
    CLF_CK(clf_model_new(harness_device(), &c, false, &t.m));
    float *flat = calloc(t.m->layout.total, sizeof *flat);
    clf_params_init(&t.m->layout, harness_seed() + (uint64_t)arch * 7 + (uint64_t)norm, flat);
    /* sharper logits than the initialisation gives, so greedy choices are clear-cut and varied */
    const clf_param_info *g = clf_param_find(&t.m->layout, tie ? (arch == CLF_ARCH_DECODER ? "tok_embed.weight" : "tgt_embed.weight")
                                                               : "generator.weight");
    for (size_t i = 0; !tie && i < g->count; i++) flat[g->offset + i] *= 4.0f;
    CLF_CK(clf_model_write_params(t.m, flat));
    free(flat);
    clf_dims max = {batch, arch == CLF_ARCH_ENCDEC ? TS : 0, cap, 0};
    CLF_CK(clf_model_graph_new(t.m, max, CLF_GRAPH_INFERENCE, 0.0f, &t.mg));
    return t;
}

static void drop(tiny *t) {
    clf_model_graph_free(t->mg);
    clf_model_free(t->m);
}

/* Sources with PAD sprinkled in; row 1 entirely PAD (its cross-attention sees no key). */
static void sources(int32_t *src) {
    for (int b = 0; b < B; b++)
        for (int i = 0; i < TS; i++)
            src[b * TS + i] = b == 1 || (i > 0 && harness_below(4) == 0) ? CLF_PAD : (int32_t)harness_below(256);
}

static const char *name_of(const clf_model *m) {
    static char s[64];
    snprintf(s, sizeof s, "%s %s-norm%s", clf_arch_name(m->cfg.arch), clf_norm_name(m->cfg.norm),
             m->cfg.tie_embeddings ? " tied" : "");
    return s;
}

/* Both paths fed the same tokens (PAD among them), with beam-style reorders on the way: the logits
 * of every step agree. */
static void check_logits(clf_arch arch, clf_norm norm, bool tie) {
    tiny t = make(arch, norm, tie, B, CAP);
    int V = t.m->cfg.vocab_size;
    int32_t src[B * TS];
    sources(src);
    bool encdec = arch == CLF_ARCH_ENCDEC;
    clf_stepper *full, *cached;
    CLF_CK(clf_stepper_new(t.mg, false, encdec ? src : NULL, B, encdec ? TS : 0, CAP, &full));
    CLF_CK(clf_stepper_new(t.mg, true, encdec ? src : NULL, B, encdec ? TS : 0, CAP, &cached));
    float *lf = malloc((size_t)B * V * sizeof *lf), *lc = malloc((size_t)B * V * sizeof *lc);
    int32_t tok[B * 3];
    int fed = 0;
    for (int step = 0; fed < CAP; step++) {
        int n = step == 1 && CAP - fed >= 3 ? 3 : 1; /* once, three positions in one call (a prompt) */
        for (int i = 0; i < B * n; i++)
            tok[i] = fed == 0 && encdec ? CLF_BOS : harness_below(6) == 0 ? CLF_PAD : (int32_t)harness_below(256);
        CLF_CK(clf_stepper_step(full, tok, n, lf));
        CLF_CK(clf_stepper_step(cached, tok, n, lc));
        fed += n;
        ck_assert_int_eq(clf_stepper_length(cached), fed);
        double *ref = harness_to_double(lf, (size_t)B * V);
        char what[128];
        snprintf(what, sizeof what, "%s: logits after %d positions", name_of(t.m), fed);
        harness_expect_close(what, lc, ref, (size_t)B * V, 1e-5);
        free(ref);
        if (step % 2 == 1 && fed < CAP) {
            int parent[B];
            for (int b = 0; b < B; b++) parent[b] = (int)harness_below(B);
            CLF_CK(clf_stepper_reorder(full, parent));
            CLF_CK(clf_stepper_reorder(cached, parent));
        }
    }
    clf_stepper_free(full);
    clf_stepper_free(cached);
    free(lf);
    free(lc);
    drop(&t);
}

START_TEST(logits_agree_encdec) {
    check_logits(CLF_ARCH_ENCDEC, CLF_NORM_POST, false);
    check_logits(CLF_ARCH_ENCDEC, CLF_NORM_PRE, false);
    check_logits(CLF_ARCH_ENCDEC, CLF_NORM_POST, true);
}
END_TEST

START_TEST(logits_agree_decoder) {
    check_logits(CLF_ARCH_DECODER, CLF_NORM_POST, false);
    check_logits(CLF_ARCH_DECODER, CLF_NORM_PRE, true);
}
END_TEST

START_TEST(greedy_tokens_agree) {
    for (int norm = 0; norm < 2; norm++) {
        tiny t = make(CLF_ARCH_ENCDEC, norm ? CLF_NORM_PRE : CLF_NORM_POST, false, B, CAP);
        for (int k = 0; k < 3; k++) {
            int32_t src[B * TS], a[B * CAP], b[B * CAP], again[B * CAP];
            int la[B], lb[B], lagain[B];
            sources(src);
            CLF_CK(clf_model_greedy_full(t.mg, src, B, TS, CAP, a, la));
            CLF_CK(clf_model_greedy(t.mg, src, B, TS, CAP, b, lb));
            CLF_CK(clf_model_greedy(t.mg, src, B, TS, CAP, again, lagain));
            for (int r = 0; r < B; r++) {
                ck_assert_msg(la[r] == lb[r], "%s row %d: full length %d, cached %d", name_of(t.m), r, la[r], lb[r]);
                int n = la[r] < 0 ? CAP : la[r] + 1;
                for (int j = 0; j < n; j++)
                    ck_assert_msg(a[r * CAP + j] == b[r * CAP + j], "%s row %d token %d: full %d, cached %d",
                                  name_of(t.m), r, j, a[r * CAP + j], b[r * CAP + j]);
            }
            ck_assert(memcmp(b, again, sizeof b) == 0 && memcmp(lb, lagain, sizeof lb) == 0);
        }
        drop(&t);
    }
}
END_TEST

START_TEST(continuation_tokens_agree) {
    for (int norm = 0; norm < 2; norm++) {
        tiny t = make(CLF_ARCH_DECODER, norm ? CLF_NORM_PRE : CLF_NORM_POST, false, 1, CAP);
        /* a short prompt, and one that fills the window so the continuation slides */
        const int prompts[] = {3, CAP - 1};
        for (int k = 0; k < 2; k++) {
            int32_t prompt[CAP], a[16], b[16];
            for (int i = 0; i < prompts[k]; i++) prompt[i] = (int32_t)harness_below(256);
            for (int sampled = 0; sampled < 2; sampled++) {
                float temp = sampled ? 1.0f : 0.0f;
                int na, nb;
                CLF_CK(clf_model_continue_full(t.mg, prompt, prompts[k], 12, temp, 5, 42, a, &na));
                CLF_CK(clf_model_continue(t.mg, prompt, prompts[k], 12, temp, 5, 42, b, &nb));
                ck_assert_msg(na == nb, "%s prompt %d sampled %d: full %d tokens, cached %d", name_of(t.m), prompts[k],
                              sampled, na, nb);
                ck_assert_msg(memcmp(a, b, (size_t)na * sizeof *a) == 0, "%s prompt %d sampled %d: tokens differ",
                              name_of(t.m), prompts[k], sampled);
            }
        }
        drop(&t);
    }
}
END_TEST

START_TEST(stepper_refuses_bad_arguments) {
    tiny t = make(CLF_ARCH_ENCDEC, CLF_NORM_POST, false, B, CAP);
    int32_t src[B * TS];
    for (int i = 0; i < B * TS; i++) src[i] = 'a';
    clf_stepper *s;
    ck_assert_int_eq(clf_stepper_new(t.mg, true, src, B + 1, TS, CAP, &s), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_stepper_new(t.mg, true, src, B, TS + 1, CAP, &s), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_stepper_new(t.mg, true, src, B, TS, CAP + 1, &s), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_stepper_new(t.mg, true, NULL, B, TS, CAP, &s), CLF_ERR_INVALID_ARG);
    src[4] = -1;
    ck_assert_int_eq(clf_stepper_new(t.mg, true, src, B, TS, CAP, &s), CLF_ERR_INVALID_ARG);
    src[4] = 'a';
    CLF_CK(clf_stepper_new(t.mg, true, src, B, TS, CAP, &s));
    int32_t tok[B] = {CLF_BOS, CLF_BOS, 400};
    ck_assert_int_eq(clf_stepper_step(s, tok, 1, NULL), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_stepper_step(s, tok, 0, NULL), CLF_ERR_INVALID_ARG);
    int parent[B] = {0, 1, 3};
    ck_assert_int_eq(clf_stepper_reorder(s, parent), CLF_ERR_INVALID_ARG);
    clf_stepper_free(s);
    int32_t out[B * CAP];
    int lens[B];
    ck_assert_int_eq(clf_model_greedy(t.mg, src, B, TS, 0, out, lens), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_model_greedy(t.mg, src, B + 1, TS, CAP, out, lens), CLF_ERR_INVALID_ARG);
    drop(&t);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("kv_cache");
    TCase *tc = tcase_create("kv_cache");
    tcase_add_test(tc, append_writes_one_row_per_sequence);
    tcase_add_test(tc, gather_reorders_sequences);
    tcase_add_test(tc, embedding_offset_shifts_positions);
    tcase_add_test(tc, kernels_refuse_bad_arguments);
    tcase_add_test(tc, logits_agree_encdec);
    tcase_add_test(tc, logits_agree_decoder);
    tcase_add_test(tc, greedy_tokens_agree);
    tcase_add_test(tc, continuation_tokens_agree);
    tcase_add_test(tc, stepper_refuses_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
