/* The whole-model benchmark: its figures are positive and finite, its losses are those of a plain
 * trainer given the same options and seed (synthetic batches through the "random" task, and a
 * built-in task), bad options are refused; and the "random" task makes fixed-shape batches. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_train.h"
#include "harness.h"

static clf_bench_train_options tiny(clf_arch arch) {
    clf_bench_train_options o;
    clf_bench_train_options_default(&o);
    clf_config *c = &o.train.model;
    c->arch = arch;
    c->vocab_size = 300;
    c->d_model = 16;
    c->n_heads = 2;
    c->d_ff = 32;
    c->n_enc_layers = 1;
    c->n_dec_layers = 1;
    c->max_len = 32;
    c->dropout = 0.1f;
    o.train.seed = harness_seed();
    o.train.schedule = (clf_schedule){CLF_SCHEDULE_CONSTANT, 1.0, 0, 1e-3, 0.0, 1, 16};
    o.warmup_steps = 2;
    o.steps = 3;
    return o;
}

/* The losses of a plain trainer run for steps steps. */
static void plain_losses(const clf_train_options *to, long steps, double *losses) {
    clf_train_options o = *to;
    o.steps = steps;
    clf_trainer *t;
    CLF_CK(clf_trainer_new(harness_device(), &o, &t));
    clf_step_report r;
    while (clf_trainer_step(t) < steps) {
        CLF_CK(clf_trainer_run_step(t, &r));
        if (r.step) losses[r.step - 1] = r.loss;
    }
    CLF_CK(clf_trainer_flush(t, &r));
    if (r.step) losses[r.step - 1] = r.loss;
    clf_trainer_free(t);
}

static void expect_figures(const clf_bench_train_options *o, const clf_bench_train_result *r) {
    ck_assert_int_eq(r->n_losses, o->warmup_steps + o->steps);
    for (int i = 0; i < r->n_losses; i++) ck_assert_msg(isfinite(r->losses[i]) && r->losses[i] > 0, "loss %d = %g", i, r->losses[i]);
    ck_assert(isfinite(r->step_ms) && r->step_ms > 0);
    ck_assert(isfinite(r->train_tokens_per_s) && r->train_tokens_per_s > 0);
    ck_assert(isfinite(r->launches_per_step) && r->launches_per_step >= 10);
    ck_assert(isfinite(r->waits_per_step) && r->waits_per_step > 0);
    ck_assert(isfinite(r->setup_ms) && r->setup_ms > 0 && isfinite(r->first_step_ms) && r->first_step_ms > 0);
    ck_assert(r->params > 0);
    /* parameters, gradients and both AdamW moments live on the device during a step */
    ck_assert_msg(r->peak_bytes >= 16 * r->params, "peak %zu bytes for %zu parameters", r->peak_bytes, r->params);
    if (o->gen_batch > 0)
        ck_assert(isfinite(r->gen_ms) && r->gen_ms > 0 && isfinite(r->gen_tokens_per_s) && r->gen_tokens_per_s > 0);
    else
        ck_assert(r->gen_ms == 0 && r->gen_tokens_per_s == 0);
}

/* The benchmark's first n losses equal a plain trainer's, bit for bit. */
static void expect_losses(const clf_bench_train_result *r, const double *want, int n) {
    for (int i = 0; i < n; i++)
        ck_assert_msg(r->losses[i] == want[i], "step %d: bench loss %.9g, plain trainer %.9g (seed %llu)", i + 1,
                      r->losses[i], want[i], (unsigned long long)harness_seed());
}

START_TEST(synthetic_encdec_equals_plain_trainer) {
    clf_bench_train_options o = tiny(CLF_ARCH_ENCDEC);
    o.batch = 3;
    o.src_len = 7;
    o.tgt_len = 5;
    o.gen_batch = 2;
    o.gen_tokens = 4;
    clf_bench_train_result r;
    CLF_CK(clf_bench_train(harness_device(), &o, &r));
    expect_figures(&o, &r);
    /* every timed step trains on 3 rows of 5 target positions (4 random bytes + EOS), no PAD */
    ck_assert_msg(fabs(r.train_tokens_per_s * r.step_ms * 1e-3 - 15.0) < 1e-6 * 15.0, "%.3f target tokens per step",
                  r.train_tokens_per_s * r.step_ms * 1e-3);

    clf_train_options to = o.train;
    to.task = "random:7:5";
    to.batch_tokens = 3 * 7;
    double want[5];
    plain_losses(&to, 5, want);
    expect_losses(&r, want, 5);
}
END_TEST

START_TEST(task_batches_equal_plain_trainer) {
    clf_bench_train_options o = tiny(CLF_ARCH_ENCDEC);
    o.train.task = "reverse";
    o.train.batch_tokens = 128;
    o.warmup_steps = 1;
    clf_bench_train_result r;
    CLF_CK(clf_bench_train(harness_device(), &o, &r));
    expect_figures(&o, &r);
    double want[4];
    plain_losses(&o.train, 4, want);
    expect_losses(&r, want, 4);
}
END_TEST

START_TEST(synthetic_decoder) {
    clf_bench_train_options o = tiny(CLF_ARCH_DECODER);
    o.batch = 2;
    o.tgt_len = 9;
    o.gen_batch = 3;
    o.gen_tokens = 9;
    clf_bench_train_result r;
    CLF_CK(clf_bench_train(harness_device(), &o, &r));
    expect_figures(&o, &r);
    ck_assert_msg(fabs(r.train_tokens_per_s * r.step_ms * 1e-3 - 18.0) < 1e-6 * 18.0, "%.3f tokens per step",
                  r.train_tokens_per_s * r.step_ms * 1e-3);
    /* the same seed gives the same losses */
    clf_bench_train_result again;
    CLF_CK(clf_bench_train(harness_device(), &o, &again));
    ck_assert(memcmp(r.losses, again.losses, (size_t)r.n_losses * sizeof *r.losses) == 0);
}
END_TEST

START_TEST(bad_options) {
    clf_device *dev = harness_device();
    clf_bench_train_result r;
    clf_bench_train_options o = tiny(CLF_ARCH_ENCDEC);
    ck_assert_int_eq(clf_bench_train(NULL, &o, &r), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_bench_train(dev, NULL, &r), CLF_ERR_INVALID_ARG);
    ck_assert_int_eq(clf_bench_train(dev, &o, NULL), CLF_ERR_INVALID_ARG);
    o.steps = 0;
    ck_assert_int_eq(clf_bench_train(dev, &o, &r), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "steps"));
    o = tiny(CLF_ARCH_ENCDEC);
    o.warmup_steps = -1;
    ck_assert_int_eq(clf_bench_train(dev, &o, &r), CLF_ERR_INVALID_ARG);
    o = tiny(CLF_ARCH_ENCDEC);
    o.batch = 2;
    o.src_len = 0;
    o.tgt_len = 4;
    ck_assert_int_eq(clf_bench_train(dev, &o, &r), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "src_len"));
    o = tiny(CLF_ARCH_DECODER);
    o.batch = 2;
    o.tgt_len = 8;
    o.gen_batch = 1;
    o.gen_tokens = 9; /* the decoder's window is tgt_len positions */
    ck_assert_int_eq(clf_bench_train(dev, &o, &r), CLF_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "gen_tokens"));
    o = tiny(CLF_ARCH_ENCDEC);
    o.gen_batch = -1;
    ck_assert_int_eq(clf_bench_train(dev, &o, &r), CLF_ERR_INVALID_ARG);
    o = tiny(CLF_ARCH_ENCDEC);
    o.train.task = "nosuch";
    ck_assert_int_ne(clf_bench_train(dev, &o, &r), CLF_OK);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "nosuch"));
}
END_TEST

START_TEST(random_task_batches) {
    clf_dataset *ds;
    CLF_CK(clf_dataset_task("random:6:4", 5, NULL, &ds));
    int ms, mt;
    clf_dataset_max_lengths(ds, &ms, &mt);
    ck_assert_int_eq(ms, 6);
    ck_assert_int_eq(mt, 3);
    ck_assert_int_eq((int)clf_dataset_heldout_count(ds), 500);
    clf_batch_options bo;
    clf_batch_options_default(&bo);
    bo.batch_tokens = 5 * 6;
    bo.seed = 9;
    clf_batcher *bt;
    CLF_CK(clf_batcher_new(ds, &bo, &bt));
    clf_batch b = {0};
    int seen[256] = {0};
    for (int k = 0; k < 60; k++) {
        CLF_CK(clf_batcher_next(bt, &b));
        ck_assert_int_eq(b.B, 5);
        ck_assert_int_eq(b.Ts, 6);
        ck_assert_int_eq(b.Tt, 4);
        ck_assert_int_eq(b.n_tgt_tokens, 20);
        ck_assert_int_eq(b.n_src_tokens, 30);
        for (int i = 0; i < b.B; i++) {
            ck_assert_int_eq(b.tgt_in[i * 4], CLF_BOS);
            ck_assert_int_eq(b.tgt_out[i * 4 + 3], CLF_EOS);
            for (int t = 0; t < 6; t++) {
                int v = b.src[i * 6 + t];
                ck_assert(v >= 0 && v < 256);
                seen[v]++;
            }
            for (int t = 0; t < 3; t++) ck_assert_int_eq(b.tgt_in[i * 4 + t + 1], b.tgt_out[i * 4 + t]);
        }
    }
    int distinct = 0;
    for (int v = 0; v < 256; v++) distinct += seen[v] > 0;
    ck_assert_msg(distinct > 200, "only %d distinct bytes in 1800 draws", distinct);
    clf_batch_free(&b);
    clf_batcher_free(bt);
    clf_dataset_free(ds);

    /* short sources hold out fewer pairs than asked; bad names are refused */
    CLF_CK(clf_dataset_task("random:1:2", 5, NULL, &ds));
    ck_assert_int_eq((int)clf_dataset_heldout_count(ds), 25);
    clf_dataset_free(ds);
    CLF_CK(clf_dataset_task("random", 5, NULL, &ds));
    clf_dataset_max_lengths(ds, &ms, &mt);
    ck_assert(ms == 64 && mt == 63);
    clf_dataset_free(ds);
    const char *bad[] = {"random:", "random:0:4", "random:4:1", "random:4", "random:4:4:4", "random:4:4x", "randomx"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(clf_dataset_task(bad[i], 1, NULL, &ds), CLF_ERR_INVALID_ARG);
        ck_assert_ptr_null(ds);
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("bench_train");
    TCase *tc = tcase_create("bench_train");
    tcase_add_test(tc, random_task_batches);
    tcase_add_test(tc, bad_options);
    tcase_add_test(tc, synthetic_encdec_equals_plain_trainer);
    tcase_add_test(tc, task_batches_equal_plain_trainer);
    tcase_add_test(tc, synthetic_decoder);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
