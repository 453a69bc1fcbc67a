/* The trainer's state, shared by the step loop (trainer.c), evaluation (evaluate.c) and
 * checkpointing (resume.c). */
#ifndef CLFORMER_TRAINER_INTERNAL_H
#define CLFORMER_TRAINER_INTERNAL_H

#include "clformer/model.h"
#include "clformer/train.h"

/* A step's loss and gradient norm on their way back to the host. */
typedef struct readback {
    float values[2]; /* loss, norm */
    cl_event done;
    long step, tokens;
    double lr;
} readback;

struct clf_trainer {
    clf_device *dev;
    clf_train_options o;
    char *task_name, *data_path; /* owned copies of o.task / o.data */
    clf_dataset *ds;
    clf_batcher *bt;
    clf_model *m;
    clf_model_graph *mg;
    clf_batch *micro;   /* [o.accum] */
    cl_mem loss_sum;    /* [1]: the step's loss over its micro-batches */
    long step;          /* steps enqueued */
    readback rb[2];
    int rb_next;
    long skipped_total, bad_in_a_row;
    size_t launches_per_step;
    size_t step_peak;   /* device bytes at the peak of training steps (evaluation builds graphs of its own) */
    int max_src, max_tgt; /* longest source / target the data can hold, for decoding */
};

/* Every option of a run in its allowed range (the command line's), naming the first that is not. */
clf_status clf_train_options_check(const clf_train_options *o);

/* Restore model, optimizer, step, data order and options from o.resume (trainer.c calls it). */
clf_status clf_trainer_resume(clf_trainer *t);

/* Open the data and build the model once a resumed run's options are known (trainer.c). */
clf_status clf_trainer_open_for_resume(clf_trainer *t);

#endif
