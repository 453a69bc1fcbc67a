/* Faults inside training, through the library: injected non-finite gradients are skipped (weights
 * and optimizer state unchanged, the run goes on), max_bad_steps in a row stop the run with the last
 * good weights in place, a checkpoint write that fails (disk full) leaves the previous file intact,
 * and a checkpoint whose training options are out of range is refused on resume. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clformer/checkpoint.h"
#include "clformer/model.h"
#include "clformer/train.h"
#include "fault.h"
#include "harness.h"

static char g_dir[128];

static const char *tmp_path(const char *name) {
    static char path[4][256];
    static int k;
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/tmp/clformer-test-train-faults-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(g_dir));
    }
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", g_dir, name);
    return path[k];
}

static void set_fault(const char *spec) {
    if (spec) setenv("CLFORMER_FAULT", spec, 1);
    else unsetenv("CLFORMER_FAULT");
    clf_fault_reload();
}

static clf_train_options tiny(long steps) {
    clf_train_options o;
    clf_train_options_default(&o);
    o.model.d_model = 16;
    o.model.n_heads = 2;
    o.model.d_ff = 16;
    o.model.n_enc_layers = 1;
    o.model.n_dec_layers = 1;
    o.model.max_len = 32;
    o.model.dropout = 0;
    o.steps = steps;
    o.batch_tokens = 200;
    o.seed = harness_seed();
    o.schedule = (clf_schedule){CLF_SCHEDULE_CONSTANT, 1.0, 0, 1e-3, 0, steps, 16};
    return o;
}

/* Parameters, AdamW moments and step count, as the host sees them after the queue drains. */
typedef struct state {
    float *flat;
    size_t n;
    int32_t t;
} state;

static state snapshot(clf_trainer *t) {
    clf_model *m = clf_trainer_model(t);
    state s = {NULL, m->layout.total, 0};
    s.flat = malloc(3 * s.n * sizeof *s.flat);
    ck_assert_ptr_nonnull(s.flat);
    CLF_CK(clf_device_finish(m->dev));
    CLF_CK(clf_model_read_params(m, s.flat));
    CLF_CK(clf_buffer_read(m->dev, m->adam_m, 0, s.n * 4, s.flat + s.n));
    CLF_CK(clf_buffer_read(m->dev, m->adam_v, 0, s.n * 4, s.flat + 2 * s.n));
    CLF_CK(clf_buffer_read(m->dev, m->adam_state, 0, 4, &s.t));
    return s;
}

static bool same(const state *a, const state *b) {
    return a->n == b->n && a->t == b->t && memcmp(a->flat, b->flat, 3 * a->n * sizeof *a->flat) == 0;
}

/* One step and its report (the previous step's figures arrive with the next step, so flush). */
static clf_status step(clf_trainer *t, clf_step_report *r) {
    clf_step_report ignored;
    clf_status st = clf_trainer_run_step(t, &ignored);
    if (st != CLF_OK) return st;
    return clf_trainer_flush(t, r);
}

START_TEST(nonfinite_step_is_skipped) {
    set_fault("nonfinite=3");
    clf_trainer *t;
    clf_train_options o = tiny(6);
    CLF_CK(clf_trainer_new(harness_device(), &o, &t));
    clf_step_report r;
    CLF_CK(step(t, &r));
    CLF_CK(step(t, &r));
    ck_assert(!r.skipped);
    state before = snapshot(t);
    ck_assert_int_eq(before.t, 2);
    CLF_CK(step(t, &r));
    ck_assert_int_eq(r.step, 3);
    ck_assert_msg(r.skipped && !isfinite(r.grad_norm), "step 3: skipped %d, norm %g", r.skipped, r.grad_norm);
    ck_assert_int_eq(r.bad_in_a_row, 1);
    state after = snapshot(t);
    ck_assert_msg(same(&before, &after), "the skipped step changed weights, moments or the step count");
    CLF_CK(step(t, &r)); /* the run goes on */
    ck_assert(!r.skipped && isfinite(r.loss));
    ck_assert_int_eq(r.bad_in_a_row, 0);
    ck_assert_int_eq(r.skipped_total, 1);
    state later = snapshot(t);
    ck_assert_int_eq(later.t, 3);
    ck_assert(!same(&after, &later));
    free(before.flat), free(after.flat), free(later.flat);
    clf_trainer_free(t);
    set_fault(NULL);
}
END_TEST

START_TEST(too_many_bad_steps_stop_the_run) {
    set_fault("nonfinite=2,nonfinite_count=100");
    clf_trainer *t;
    clf_train_options o = tiny(50);
    o.max_bad_steps = 3;
    CLF_CK(clf_trainer_new(harness_device(), &o, &t));
    clf_step_report r;
    CLF_CK(step(t, &r));
    state good = snapshot(t);
    clf_status st = CLF_OK;
    for (int i = 0; i < 10 && st == CLF_OK; i++) st = step(t, &r);
    ck_assert_int_eq(st, CLF_ERR_NUMERIC);
    ck_assert_msg(strstr(clf_errmsg(), "training stopped at step 4: 3 steps in a row had a non-finite") != NULL, "%s",
                  clf_errmsg());
    state end = snapshot(t);
    ck_assert_msg(same(&good, &end), "the bad steps changed the state: the last good one is lost");
    /* what the command saves then: step 1's weights, loadable */
    const char *path = tmp_path("last-good.safetensors");
    CLF_CK(clf_trainer_save(t, path));
    clf_st_file *f;
    clf_config cfg;
    CLF_CK(clf_checkpoint_open(path, &f, &cfg));
    ck_assert_str_eq(clf_st_meta(f, "optim_step"), "1");
    clf_st_close(f);
    free(good.flat), free(end.flat);
    clf_trainer_free(t);
    set_fault(NULL);
}
END_TEST

static int count_temps(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) n += strstr(de->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

START_TEST(failed_save_keeps_previous_checkpoint) {
    set_fault(NULL);
    clf_trainer *t;
    clf_train_options o = tiny(10);
    CLF_CK(clf_trainer_new(harness_device(), &o, &t));
    clf_step_report r;
    CLF_CK(step(t, &r));
    const char *path = tmp_path("ck.safetensors");
    CLF_CK(clf_trainer_save(t, path));
    CLF_CK(step(t, &r));
    set_fault("write=1"); /* counting starts again: the next write fails */
    clf_status st = clf_trainer_save(t, path);
    ck_assert_int_eq(st, CLF_ERR_IO);
    ck_assert_msg(strstr(clf_errmsg(), "No space left on device") && strstr(clf_errmsg(), path), "%s", clf_errmsg());
    ck_assert_int_eq(count_temps(), 0);
    clf_st_file *f;
    clf_config cfg;
    CLF_CK(clf_checkpoint_open(path, &f, &cfg));
    ck_assert_str_eq(clf_st_meta(f, "step"), "1");
    clf_st_close(f);
    CLF_CK(clf_trainer_save(t, path)); /* write 2: the disk has room again */
    CLF_CK(clf_checkpoint_open(path, &f, &cfg));
    ck_assert_str_eq(clf_st_meta(f, "step"), "2");
    clf_st_close(f);
    clf_trainer_free(t);
    set_fault(NULL);
}
END_TEST

/* A copy of src with metadata key set to value (tensors and other metadata as they were). */
static void copy_with_meta(const char *src, const char *dst, const char *key, const char *value) {
    clf_st_file *f;
    CLF_CK(clf_st_open(src, &f));
    clf_st_writer *w;
    CLF_CK(clf_st_writer_new(&w));
    for (size_t i = 0; i < clf_st_count(f); i++) {
        const clf_st_tensor *x = clf_st_tensor_at(f, i);
        CLF_CK(clf_st_writer_add(w, x->name, x->dtype, x->rank, x->shape, x->data));
    }
    for (size_t i = 0; i < clf_st_meta_count(f); i++) {
        const char *k, *v;
        clf_st_meta_at(f, i, &k, &v);
        if (strcmp(k, "checksum") != 0) CLF_CK(clf_st_writer_set_meta(w, k, strcmp(k, key) ? v : value));
    }
    CLF_CK(clf_st_writer_write(w, dst));
    clf_st_writer_free(w);
    clf_st_close(f);
}

START_TEST(resume_refuses_bad_training_options) {
    set_fault(NULL);
    clf_trainer *t;
    clf_train_options o = tiny(10);
    CLF_CK(clf_trainer_new(harness_device(), &o, &t));
    clf_step_report r;
    CLF_CK(step(t, &r));
    const char *good = tmp_path("resume.safetensors");
    CLF_CK(clf_trainer_save(t, good));
    clf_trainer_free(t);
    static const struct {
        const char *train, *want;
    } cases[] = {
        {"{\"task\":\"reverse\",\"seed\":\"1\",\"schedule\":\"constant\",\"batch_tokens\":200,\"accum\":1,\"beta1\":2,"
         "\"beta2\":0.98,\"eps\":1e-9,\"lr_max\":0.001}",
         "metadata 'train': training option beta1 = 2 is out of range"},
        {"{\"task\":\"reverse\",\"seed\":\"1\",\"schedule\":\"constant\",\"batch_tokens\":2000000000,\"accum\":1}",
         "metadata 'train': training option batch_tokens = 2e+09 is out of range"},
        {"{\"task\":\"reverse\",\"seed\":\"1\",\"schedule\":\"constant\",\"batch_tokens\":200}",
         "metadata 'train': training option accum = 0 is out of range"},
        {"{\"task\":\"reverse\",\"seed\":\"1\"}", "metadata 'train' is incomplete"},
        {"[]", "no training state (metadata 'train')"},
    };
    const char *bad = tmp_path("bad-train.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        copy_with_meta(good, bad, "train", cases[i].train);
        clf_train_options ro = tiny(20);
        ro.resume = bad;
        clf_error_clear();
        ck_assert_int_ne(clf_trainer_new(harness_device(), &ro, &t), CLF_OK);
        ck_assert_msg(strstr(clf_errmsg(), cases[i].want) && strstr(clf_errmsg(), bad), "case %zu: %s", i, clf_errmsg());
    }
    /* the good one resumes, with the caller's max_bad_steps rather than the saved one */
    clf_train_options ro = tiny(20);
    ro.resume = good;
    ro.max_bad_steps = 1;
    set_fault("nonfinite=3");
    CLF_CK(clf_trainer_new(harness_device(), &ro, &t));
    CLF_CK(step(t, &r));
    ck_assert_int_eq(step(t, &r), CLF_ERR_NUMERIC);
    clf_trainer_free(t);
    set_fault(NULL);
    unlink(bad);
    unlink(good);
}
END_TEST

static void cleanup(void) {
    if (!g_dir[0]) return;
    DIR *d = opendir(g_dir);
    struct dirent *de;
    char p[512];
    while (d && (de = readdir(d))) {
        snprintf(p, sizeof p, "%s/%s", g_dir, de->d_name);
        if (de->d_name[0] != '.') unlink(p);
    }
    if (d) closedir(d);
    rmdir(g_dir);
}

static Suite *suite(void) {
    Suite *s = suite_create("train_faults");
    TCase *tc = tcase_create("train_faults");
    tcase_add_unchecked_fixture(tc, NULL, cleanup);
    tcase_add_test(tc, nonfinite_step_is_skipped);
    tcase_add_test(tc, too_many_bad_steps_stop_the_run);
    tcase_add_test(tc, failed_save_keeps_previous_checkpoint);
    tcase_add_test(tc, resume_refuses_bad_training_options);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
