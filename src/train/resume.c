/* Saving a trainer and resuming one: the checkpoint holds model, optimizer, step, the data stream's
 * position and the options that shape the run (seed, data, schedule, optimizer), so a resumed run
 * continues bit for bit. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clformer/checkpoint.h"
#include "trainer_internal.h"

static char *options_json(const clf_train_options *o) {
    json_t *j = json_pack("{s:s?, s:s?, s:i, s:i, s:s, s:f, s:s, s:f, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:i}",
                          "task", o->task, "data", o->data, "batch_tokens", o->batch_tokens, "accum", o->accum,
                          "seed", "", "label_smoothing", (double)o->label_smoothing, "schedule",
                          clf_schedule_name(o->schedule.kind), "scale", o->schedule.scale, "warmup",
                          (json_int_t)o->schedule.warmup, "lr_max", o->schedule.lr_max, "lr_min", o->schedule.lr_min,
                          "beta1", (double)o->beta1, "beta2", (double)o->beta2, "eps", (double)o->eps,
                          "weight_decay", (double)o->weight_decay, "clip", (double)o->clip, "max_bad_steps",
                          o->max_bad_steps);
    if (!j) return NULL;
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed); /* 64 bits do not fit a JSON double */
    json_object_set_new(j, "seed", json_string(seed));
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(j);
    return s;
}

clf_status clf_trainer_save(clf_trainer *t, const char *path) {
    clf_status st = clf_device_finish(t->dev);
    if (st != CLF_OK) return st;
    char *opts = options_json(&t->o);
    char data[CLF_DATA_STATE_CHARS], skipped[32];
    clf_data_state ds;
    clf_batcher_state_get(t->bt, &ds);
    clf_data_state_format(&ds, data);
    snprintf(skipped, sizeof skipped, "%ld", t->skipped_total);
    clf_meta_item extra[] = {{"train", opts ? opts : "{}"}, {"data_state", data}, {"skipped_steps", skipped}};
    st = opts ? clf_checkpoint_save(path, t->m, t->step, true, extra, sizeof extra / sizeof extra[0])
              : CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    free(opts);
    return st;
}

static char *dup_json_string(json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static clf_status restore_options(clf_trainer *t, const char *path, const char *text) {
    json_error_t e;
    json_t *j = text ? json_loads(text, JSON_REJECT_DUPLICATES, &e) : NULL;
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: no training state (metadata 'train'): it cannot be resumed", path);
    }
    clf_train_options *o = &t->o;
    clf_status st = CLF_OK;
    free(t->task_name);
    free(t->data_path);
    t->task_name = dup_json_string(j, "task");
    t->data_path = dup_json_string(j, "data");
    o->task = t->task_name;
    o->data = t->data_path;
    const char *seed = json_string_value(json_object_get(j, "seed")), *sched = json_string_value(json_object_get(j, "schedule"));
    if (!seed || !sched || (!o->task && !o->data)) st = CLF_ERROR(CLF_ERR_FORMAT, "%s: metadata 'train' is incomplete", path);
    if (st == CLF_OK) {
        o->seed = strtoull(seed, NULL, 10);
        st = clf_schedule_parse(sched, &o->schedule.kind);
    }
    if (st == CLF_OK) {
        o->batch_tokens = (int)json_integer_value(json_object_get(j, "batch_tokens"));
        o->accum = (int)json_integer_value(json_object_get(j, "accum"));
        o->label_smoothing = (float)json_number_value(json_object_get(j, "label_smoothing"));
        o->schedule.scale = json_number_value(json_object_get(j, "scale"));
        o->schedule.warmup = (long)json_integer_value(json_object_get(j, "warmup"));
        o->schedule.lr_max = json_number_value(json_object_get(j, "lr_max"));
        o->schedule.lr_min = json_number_value(json_object_get(j, "lr_min"));
        o->beta1 = (float)json_number_value(json_object_get(j, "beta1"));
        o->beta2 = (float)json_number_value(json_object_get(j, "beta2"));
        o->eps = (float)json_number_value(json_object_get(j, "eps"));
        o->weight_decay = (float)json_number_value(json_object_get(j, "weight_decay"));
        o->clip = (float)json_number_value(json_object_get(j, "clip"));
        /* max_bad_steps is not restored: it guards this run, so the caller's value applies */
        if (clf_train_options_check(o) != CLF_OK) {
            char why[256];
            snprintf(why, sizeof why, "%s", clf_errmsg());
            const char *plain = strstr(why, ": ") ? strstr(why, ": ") + 2 : why; /* without file:line */
            st = CLF_ERROR(CLF_ERR_FORMAT, "%s: metadata 'train': %s", path, plain);
        }
    }
    json_decref(j);
    return st;
}

clf_status clf_trainer_resume(clf_trainer *t) {
    const char *path = t->o.resume;
    clf_st_file *f = NULL;
    clf_config cfg;
    clf_status st = clf_checkpoint_open(path, &f, &cfg);
    if (st != CLF_OK) return st;
    long steps = t->o.steps, step = -1;
    const char *step_text = clf_st_meta(f, "step"), *data = clf_st_meta(f, "data_state");
    char *end = NULL;
    if (step_text) step = strtol(step_text, &end, 10);
    if (!step_text || *end || step < 0) st = CLF_ERROR(CLF_ERR_FORMAT, "%s: metadata 'step' is missing or bad", path);
    if (st == CLF_OK) st = restore_options(t, path, clf_st_meta(f, "train"));
    t->o.model = cfg;
    t->o.steps = steps;
    t->o.schedule.total = steps;
    /* the data stream and the model as they were at that step */
    if (st == CLF_OK) st = clf_trainer_open_for_resume(t);
    clf_data_state ds;
    if (st == CLF_OK && !data) st = CLF_ERROR(CLF_ERR_FORMAT, "%s: metadata 'data_state' is missing", path);
    if (st == CLF_OK) st = clf_data_state_parse(data, &ds);
    if (st == CLF_OK) st = clf_batcher_state_set(t->bt, &ds);
    if (st == CLF_OK) st = clf_checkpoint_load(f, t->m, true);
    const char *skipped = clf_st_meta(f, "skipped_steps");
    if (skipped) t->skipped_total = strtol(skipped, NULL, 10);
    if (t->skipped_total < 0) t->skipped_total = 0;
    if (st == CLF_OK) t->step = step;
    if (st == CLF_OK && step >= steps)
        st = CLF_ERROR(CLF_ERR_INVALID_ARG, "%s was saved at step %ld: --steps %ld leaves nothing to train", path, step, steps);
    clf_st_close(f);
    return st == CLF_OK ? st : clf_error_context(st, "resuming from %s", path);
}
