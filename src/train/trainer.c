/* The training step loop: micro-batches through forward and backward, the gradient norm and AdamW,
 * all enqueued with no host wait; the loss and norm of a step are read while the next one runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clformer/gemm.h"
#include "fault.h"
#include "ops/adamw.h"
#include "ops/elementwise.h"
#include "trainer_internal.h"

void clf_train_options_default(clf_train_options *o) {
    memset(o, 0, sizeof *o);
    o->model = clf_config_default();
    o->task = "reverse";
    o->steps = 1000;
    o->batch_tokens = 4096;
    o->accum = 1;
    o->seed = 1;
    o->label_smoothing = 0.1f;
    o->schedule = (clf_schedule){CLF_SCHEDULE_NOAM, 1.0, 4000, 1e-3, 0.0, 1000, 128};
    o->beta1 = 0.9f;
    o->beta2 = 0.98f;
    o->eps = 1e-9f;
    o->weight_decay = 0.0f;
    o->clip = 0.0f;
    o->max_bad_steps = 20;
}

static char *dup_or_null(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static clf_status open_data(clf_trainer *t) {
    const clf_train_options *o = &t->o;
    clf_status st;
    if (o->data) {
        clf_data_options dopt;
        clf_data_options_default(&dopt);
        dopt.max_len = o->model.max_len;
        st = o->model.arch == CLF_ARCH_DECODER ? clf_dataset_read_lm(o->data, &dopt, &t->ds)
                                               : clf_dataset_read_tsv(o->data, &dopt, &t->ds);
    } else {
        st = clf_dataset_task(o->task, o->seed, NULL, &t->ds);
        if (st == CLF_OK && o->model.arch == CLF_ARCH_DECODER)
            st = CLF_ERROR(CLF_ERR_INVALID_ARG, "task '%s' makes pairs for arch encdec; arch decoder trains on --data FILE",
                           o->task);
    }
    if (st != CLF_OK) return st;
    clf_batch_options bo;
    clf_batch_options_default(&bo);
    bo.batch_tokens = o->batch_tokens;
    bo.max_len = o->model.max_len;
    bo.vocab_size = o->model.vocab_size;
    bo.seed = o->seed;
    st = clf_batcher_new(t->ds, &bo, &t->bt);
    clf_dataset_max_lengths(t->ds, &t->max_src, &t->max_tgt);
    return st;
}

static clf_status build_model(clf_trainer *t) {
    const clf_train_options *o = &t->o;
    clf_status st = clf_model_new(t->dev, &o->model, true, &t->m);
    if (st != CLF_OK) return st;
    bool lm = o->model.arch == CLF_ARCH_DECODER;
    int tgt = lm ? o->model.max_len : t->max_tgt + 1, src = lm ? 0 : t->max_src;
    if (tgt > o->model.max_len) tgt = o->model.max_len;
    if (src > o->model.max_len) src = o->model.max_len;
    clf_dims max = {o->batch_tokens, src, tgt, o->batch_tokens};
    clf_graph_mode mode = o->recompute ? CLF_GRAPH_TRAINING_RECOMPUTE : CLF_GRAPH_TRAINING;
    st = clf_model_graph_new(t->m, max, mode, o->label_smoothing, &t->mg);
    if (st == CLF_OK) st = clf_buffer_alloc(t->dev, 4, "step loss", &t->loss_sum);
    return st;
}

/* Data and model for a resumed run, once its options are known (resume.c). */
clf_status clf_trainer_open_for_resume(clf_trainer *t) {
    clf_status st = open_data(t);
    if (st == CLF_OK) st = build_model(t);
    return st;
}

#define IN(x, lo, hi) ((x) >= (lo) && (x) <= (hi)) /* false for NaN */

/* The options a run is made of, given by a caller or read back from a checkpoint (which may come
 * from anywhere): each in the range the command line allows, so no value reaches an allocation
 * size or a kernel unchecked. */
clf_status clf_train_options_check(const clf_train_options *o) {
    const clf_schedule *s = &o->schedule;
    const char *bad = NULL;
    double v = 0;
    if (!IN(o->batch_tokens, 1, 1000000000)) bad = "batch_tokens", v = o->batch_tokens;
    else if (!IN(o->accum, 1, 1024)) bad = "accum", v = o->accum;
    else if (!IN(o->label_smoothing, 0.0f, 0.999f)) bad = "label_smoothing", v = o->label_smoothing;
    else if (!IN(o->beta1, 0.0f, 0.999999f)) bad = "beta1", v = o->beta1;
    else if (!IN(o->beta2, 0.0f, 0.999999f)) bad = "beta2", v = o->beta2;
    else if (!IN(o->eps, 0.0f, 1.0f)) bad = "eps", v = o->eps;
    else if (!IN(o->weight_decay, 0.0f, 10.0f)) bad = "weight_decay", v = o->weight_decay;
    else if (!IN(o->clip, 0.0f, 1e12f)) bad = "clip", v = o->clip;
    else if (!IN(o->max_bad_steps, 0, 1000000000)) bad = "max_bad_steps", v = o->max_bad_steps; /* 0: never stop */
    else if (!IN(s->lr_max, 0.0, 10.0)) bad = "lr_max", v = s->lr_max;
    else if (!IN(s->lr_min, 0.0, 10.0)) bad = "lr_min", v = s->lr_min;
    else if (!IN(s->scale, 0.0, 1e6)) bad = "scale", v = s->scale;
    else if (!IN(s->warmup, 0, 1000000000000L)) bad = "warmup", v = (double)s->warmup;
    if (bad) return CLF_ERROR(CLF_ERR_INVALID_ARG, "training option %s = %g is out of range", bad, v);
    return CLF_OK;
}

clf_status clf_trainer_new(clf_device *dev, const clf_train_options *opts, clf_trainer **out) {
    *out = NULL;
    if (opts->steps < 1) return CLF_ERROR(CLF_ERR_INVALID_ARG, "steps %ld must be at least 1", opts->steps);
    if (opts->accum < 1) return CLF_ERROR(CLF_ERR_INVALID_ARG, "accum %d must be at least 1", opts->accum);
    if (opts->batch_tokens < 1) return CLF_ERROR(CLF_ERR_INVALID_ARG, "batch_tokens must be positive");
    clf_status st = clf_train_options_check(opts);
    if (st != CLF_OK) return st;
    clf_trainer *t = calloc(1, sizeof *t);
    if (!t) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    t->dev = dev;
    t->o = *opts;
    t->task_name = dup_or_null(opts->task);
    t->data_path = dup_or_null(opts->data);
    t->o.task = t->task_name;
    t->o.data = t->data_path;
    t->o.schedule.total = opts->steps; /* cosine decays to its floor at the run's last step */
    if (opts->resume) st = clf_trainer_resume(t); /* replaces model and options with the checkpoint's */
    if (st == CLF_OK) st = clf_config_validate(&t->o.model);
    if (st == CLF_OK && !t->bt) st = open_data(t);
    if (st == CLF_OK && !t->m) st = build_model(t);
    if (st == CLF_OK && !opts->resume) { /* a fresh model: the paper's initialisation from the seed */
        float *flat = malloc(t->m->layout.total * sizeof *flat);
        if (!flat) st = CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
        else {
            clf_params_init(&t->m->layout, t->o.seed, flat);
            st = clf_model_write_params(t->m, flat);
            free(flat);
        }
    }
    t->micro = calloc((size_t)t->o.accum, sizeof *t->micro);
    if (st == CLF_OK && !t->micro) st = CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    if (st != CLF_OK) {
        clf_trainer_free(t);
        return st;
    }
    *out = t;
    return CLF_OK;
}

void clf_trainer_free(clf_trainer *t) {
    if (!t) return;
    for (int i = 0; i < 2; i++)
        if (t->rb[i].done) {
            clWaitForEvents(1, &t->rb[i].done);
            clReleaseEvent(t->rb[i].done);
        }
    for (int i = 0; t->micro && i < t->o.accum; i++) clf_batch_free(&t->micro[i]);
    free(t->micro);
    if (t->m) clf_buffer_release(t->dev, t->loss_sum);
    clf_model_graph_free(t->mg);
    clf_model_free(t->m);
    clf_batcher_free(t->bt);
    clf_dataset_free(t->ds);
    free(t->task_name);
    free(t->data_path);
    free(t);
}

long clf_trainer_step(const clf_trainer *t) { return t->step; }
const clf_config *clf_trainer_config(const clf_trainer *t) { return &t->o.model; }
struct clf_model *clf_trainer_model(clf_trainer *t) { return t->m; }

/* Turn a finished readback into a report; counts non-finite steps. */
static clf_status collect(clf_trainer *t, readback *rb, clf_step_report *rep) {
    memset(rep, 0, sizeof *rep);
    if (!rb->done) return CLF_OK;
    clf_device_note_wait(t->dev);
    cl_int err = clWaitForEvents(1, &rb->done);
    clReleaseEvent(rb->done);
    rb->done = NULL;
    if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "reading back step %ld", rb->step);
    rep->step = rb->step;
    rep->loss = rb->values[0];
    rep->grad_norm = rb->values[1];
    rep->lr = rb->lr;
    rep->tokens = rb->tokens;
    rep->skipped = !isfinite(rep->loss) || !isfinite(rep->grad_norm);
    if (rep->skipped) {
        t->skipped_total++;
        t->bad_in_a_row++;
    } else {
        t->bad_in_a_row = 0;
    }
    rep->skipped_total = t->skipped_total;
    rep->bad_in_a_row = t->bad_in_a_row;
    if (t->o.max_bad_steps > 0 && t->bad_in_a_row >= t->o.max_bad_steps)
        return CLF_ERROR(CLF_ERR_NUMERIC,
                         "training stopped at step %ld: %ld steps in a row had a non-finite loss or gradient norm "
                         "(their updates were skipped; the weights are those of the last good step)",
                         rb->step, t->bad_in_a_row);
    return CLF_OK;
}

static clf_status enqueue_step(clf_trainer *t, long step, long *tokens_out, double *lr_out) {
    const clf_train_options *o = &t->o;
    clf_model *m = t->m;
    long tokens = 0;
    for (int i = 0; i < o->accum; i++) {
        clf_status st = clf_batcher_next(t->bt, &t->micro[i]);
        if (st != CLF_OK) return st;
        tokens += t->micro[i].n_tgt_tokens;
    }
    clf_schedule sched = o->schedule;
    sched.d_model = o->model.d_model;
    double lr = clf_schedule_lr(&sched, step);
    size_t before = clf_device_launch_count(t->dev);
    clf_status st = clf_buffer_fill_float(t->dev, m->grads, 0, m->layout.total, 0.0f);
    for (int i = 0; st == CLF_OK && i < o->accum; i++) {
        const clf_batch *b = &t->micro[i];
        clf_run run = {{b->B, b->Ts, b->Tt, 0}, true, o->seed, (uint32_t)step, tokens ? 1.0f / (float)tokens : 0.0f};
        st = clf_model_graph_set_batch(t->mg, b, NULL);
        if (st == CLF_OK) st = clf_graph_forward(t->mg->graph, &run);
        if (st == CLF_OK) st = clf_graph_backward(t->mg->graph, &run);
        cl_mem loss = clf_tensor_buffer(t->mg->loss);
        if (st == CLF_OK) st = i == 0 ? clf_scale(t->dev, t->loss_sum, loss, 1, 1.0f) : clf_axpy(t->dev, t->loss_sum, loss, 1, 1.0f);
    }
    /* CLFORMER_FAULT=nonfinite=S: this step's gradients turn to NaN, as after an overflow */
    if (st == CLF_OK && clf_fault_nonfinite(step))
        st = clf_buffer_fill_float(t->dev, m->grads, 0, m->layout.total, NAN);
    clf_adamw_params ap = {(float)lr, o->beta1, o->beta2, o->eps, o->weight_decay, o->clip};
    if (st == CLF_OK) st = clf_grad_norm(t->dev, m->grad_norm, m->grads, m->norm_workspace, m->layout.total);
    /* norm += 0 * loss: a non-finite loss makes the norm NaN, so the device skips the update of a
     * step the host reports as skipped even when its gradients stayed finite (SPEC: loss or norm) */
    if (st == CLF_OK) st = clf_axpy(t->dev, m->grad_norm, t->loss_sum, 1, 0.0f);
    if (st == CLF_OK)
        st = clf_adamw_step(t->dev, m->params, m->adam_m, m->adam_v, m->adam_state, m->grads, m->grad_norm,
                            m->layout.total, m->layout.n_decay, &ap);
    t->launches_per_step = clf_device_launch_count(t->dev) - before;
    if (clf_device_bytes_peak(t->dev) > t->step_peak) t->step_peak = clf_device_bytes_peak(t->dev);
    *tokens_out = tokens;
    *lr_out = lr;
    return st;
}

clf_status clf_trainer_run_step(clf_trainer *t, clf_step_report *done) {
    memset(done, 0, sizeof *done);
    long step = t->step + 1, tokens = 0;
    double lr = 0;
    clf_status st = enqueue_step(t, step, &tokens, &lr);
    if (st != CLF_OK) return clf_error_context(st, "step %ld", step);
    t->step = step;
    readback *rb = &t->rb[t->rb_next];
    t->rb_next ^= 1;
    if (rb->done) { /* should not happen: the other slot is collected every step */
        st = collect(t, rb, done);
        if (st != CLF_OK) return st;
    }
    rb->step = step;
    rb->tokens = tokens;
    rb->lr = lr;
    cl_command_queue q = clf_device_queue(t->dev);
    cl_int err = clEnqueueReadBuffer(q, t->loss_sum, CL_FALSE, 0, 4, &rb->values[0], 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clEnqueueReadBuffer(q, t->m->grad_norm, CL_FALSE, 0, 4, &rb->values[1], 0, NULL, &rb->done);
    if (err != CL_SUCCESS) return CLF_CL_ERROR(err, "reading back the loss of step %ld", step);
    clFlush(q);
    /* the previous step's figures: done by now, or nearly */
    return collect(t, &t->rb[t->rb_next], done);
}

clf_status clf_trainer_flush(clf_trainer *t, clf_step_report *done) {
    memset(done, 0, sizeof *done);
    readback *last = &t->rb[t->rb_next ^ 1], *other = &t->rb[t->rb_next];
    clf_status st = other->done ? collect(t, other, done) : CLF_OK;
    if (st == CLF_OK) st = collect(t, last, done);
    return st;
}

void clf_trainer_memory(const clf_trainer *t, clf_memory_report *out) {
    memset(out, 0, sizeof *out);
    size_t p = t->m->layout.total * 4;
    out->params = p;
    out->grads = p;
    out->optimizer = 2 * p;
    clf_graph_memory gm;
    clf_graph_memory_report(t->mg->graph, &gm);
    out->activations = gm.activations;
    out->activation_grads = gm.activation_grads;
    out->workspace = gm.workspace + clf_grad_norm_workspace_floats(t->m->layout.total) * 4;
    out->inputs = gm.inputs;
    out->gemm_packing = clf_gemm_workspace_bytes(t->dev);
    out->peak = t->step_peak;
    out->launches_per_step = t->launches_per_step;
}
