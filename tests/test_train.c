/* Training: the loss falls on a tiny task, a seed gives bit-identical runs, a resumed run equals an
 * uninterrupted one bit for bit, checkpoints round-trip, and a checkpoint of another configuration is
 * refused with a message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clformer/checkpoint.h"
#include "clformer/model.h"
#include "clformer/train.h"
#include "harness.h"

static char g_dir[128];

static const char *tmp_path(const char *name) {
    static char path[4][256];
    static int k;
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/tmp/clformer-test-train-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(g_dir));
    }
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", g_dir, name);
    return path[k];
}

static clf_train_options tiny(long steps, float dropout) {
    clf_train_options o;
    clf_train_options_default(&o);
    o.model.d_model = 32;
    o.model.n_heads = 2;
    o.model.d_ff = 64;
    o.model.n_enc_layers = 1;
    o.model.n_dec_layers = 1;
    o.model.max_len = 32;
    o.model.dropout = dropout;
    o.task = "reverse";
    o.steps = steps;
    o.batch_tokens = 256;
    o.seed = harness_seed();
    o.schedule = (clf_schedule){CLF_SCHEDULE_COSINE, 1.0, 5, 3e-3, 1e-4, steps, 32};
    o.clip = 1.0f;
    return o;
}

/* Run steps [from, to] and put every step's loss in losses[step] (when non-NULL). */
static void run(clf_trainer *t, long to, double *losses) {
    clf_step_report r;
    while (clf_trainer_step(t) < to) {
        CLF_CK(clf_trainer_run_step(t, &r));
        if (r.step && losses) losses[r.step] = r.loss;
    }
    CLF_CK(clf_trainer_flush(t, &r));
    if (r.step && losses) losses[r.step] = r.loss;
}

static float *params_of(clf_trainer *t) {
    clf_model *m = clf_trainer_model(t);
    float *p = malloc(m->layout.total * sizeof *p);
    CLF_CK(clf_model_read_params(m, p));
    return p;
}

START_TEST(loss_falls) {
    clf_train_options o = tiny(60, 0.0f);
    clf_trainer *t;
    CLF_CK(clf_trainer_new(harness_device(), &o, &t));
    double losses[61] = {0};
    run(t, 60, losses);
    double first = 0, last = 0;
    for (int i = 1; i <= 5; i++) first += losses[i] / 5;
    for (int i = 56; i <= 60; i++) last += losses[i] / 5;
    ck_assert_msg(isfinite(first) && last < 0.75 * first, "loss went from %.4f to %.4f in 60 steps (seed %llu)", first,
                  last, (unsigned long long)harness_seed());
    clf_eval_report ev;
    CLF_CK(clf_trainer_evaluate(t, true, &ev));
    ck_assert_int_eq(ev.sequences, 500);
    ck_assert(ev.loss > 0 && isfinite(ev.loss) && ev.exact_match >= 0 && ev.exact_match <= 1);
    clf_trainer_free(t);
}
END_TEST

START_TEST(same_seed_same_run) {
    clf_train_options o = tiny(12, 0.1f);
    clf_trainer *a, *b;
    double la[13] = {0}, lb[13] = {0};
    CLF_CK(clf_trainer_new(harness_device(), &o, &a));
    run(a, 12, la);
    CLF_CK(clf_trainer_new(harness_device(), &o, &b));
    run(b, 12, lb);
    float *pa = params_of(a), *pb = params_of(b);
    ck_assert(memcmp(la, lb, sizeof la) == 0);
    ck_assert(memcmp(pa, pb, clf_trainer_model(a)->layout.total * sizeof *pa) == 0);
    /* another seed is another run */
    o.seed ^= 0x9e37;
    clf_trainer *c;
    CLF_CK(clf_trainer_new(harness_device(), &o, &c));
    double lc[13] = {0};
    run(c, 12, lc);
    ck_assert(memcmp(la, lc, sizeof la) != 0);
    free(pa);
    free(pb);
    clf_trainer_free(a);
    clf_trainer_free(b);
    clf_trainer_free(c);
}
END_TEST

START_TEST(resume_is_bit_identical) {
    clf_train_options o = tiny(16, 0.1f);
    clf_trainer *whole, *half, *rest;
    double lw[17] = {0}, lr[17] = {0};
    CLF_CK(clf_trainer_new(harness_device(), &o, &whole));
    run(whole, 16, lw);
    CLF_CK(clf_trainer_new(harness_device(), &o, &half));
    run(half, 8, NULL);
    const char *ck = tmp_path("half.safetensors");
    CLF_CK(clf_trainer_save(half, ck));
    clf_trainer_free(half);
    clf_train_options r = tiny(16, 0.1f);
    r.seed = 12345; /* the checkpoint's seed, data and schedule win over these */
    r.resume = ck;
    CLF_CK(clf_trainer_new(harness_device(), &r, &rest));
    ck_assert_int_eq(clf_trainer_step(rest), 8);
    run(rest, 16, lr);
    for (int s = 9; s <= 16; s++)
        ck_assert_msg(memcmp(&lw[s], &lr[s], sizeof lw[s]) == 0, "step %d: loss %.9g uninterrupted, %.9g resumed", s,
                      lw[s], lr[s]);
    float *pw = params_of(whole), *pr = params_of(rest);
    ck_assert(memcmp(pw, pr, clf_trainer_model(whole)->layout.total * sizeof *pw) == 0);
    free(pw);
    free(pr);
    clf_trainer_free(whole);
    clf_trainer_free(rest);
}
END_TEST

START_TEST(checkpoint_round_trip_and_refusal) {
    clf_device *dev = harness_device();
    clf_config c = clf_config_default();
    c.d_model = 16;
    c.n_heads = 2;
    c.d_ff = 8;
    c.n_enc_layers = 1;
    c.n_dec_layers = 1;
    clf_model *a, *b, *other;
    CLF_CK(clf_model_new(dev, &c, false, &a));
    float *p = calloc(a->layout.total, sizeof *p), *q = calloc(a->layout.total, sizeof *q);
    clf_params_init(&a->layout, harness_seed(), p);
    CLF_CK(clf_model_write_params(a, p));
    const char *path = tmp_path("model.safetensors");
    CLF_CK(clf_checkpoint_save(path, a, 42, false, NULL, 0));
    clf_st_file *f;
    clf_config got;
    CLF_CK(clf_checkpoint_open(path, &f, &got));
    ck_assert_str_eq(clf_st_meta(f, "step"), "42");
    ck_assert_str_eq(clf_st_meta(f, "format"), "clformer");
    CLF_CK(clf_model_new(dev, &got, false, &b));
    CLF_CK(clf_checkpoint_load(f, b, false));
    CLF_CK(clf_model_read_params(b, q));
    ck_assert(memcmp(p, q, a->layout.total * sizeof *p) == 0);
    /* no optimizer state in this file */
    ck_assert_int_ne(clf_checkpoint_load(f, b, true), CLF_OK);
    /* another configuration is refused, naming the field */
    c.d_model = 32;
    CLF_CK(clf_model_new(dev, &c, false, &other));
    ck_assert_int_eq(clf_checkpoint_load(f, other, false), CLF_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "d_model"));
    clf_st_close(f);
    clf_model_free(a);
    clf_model_free(b);
    clf_model_free(other);
    free(p);
    free(q);
}
END_TEST

START_TEST(bad_options_are_refused) {
    clf_train_options o = tiny(10, 0.0f);
    clf_trainer *t = NULL;
    o.model.n_heads = 3;
    ck_assert_int_eq(clf_trainer_new(harness_device(), &o, &t), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "n_heads 3"));
    o = tiny(10, 0.0f);
    o.task = "nosuchtask";
    ck_assert_int_ne(clf_trainer_new(harness_device(), &o, &t), CLF_OK);
    o = tiny(10, 0.0f);
    o.resume = "/nonexistent/ck.safetensors";
    ck_assert_int_eq(clf_trainer_new(harness_device(), &o, &t), CLF_ERR_IO);
    ck_assert_ptr_null(t);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, loss_falls);
    tcase_add_test(tc, same_seed_same_run);
    tcase_add_test(tc, resume_is_bit_identical);
    tcase_add_test(tc, checkpoint_round_trip_and_refusal);
    tcase_add_test(tc, bad_options_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
