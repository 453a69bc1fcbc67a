/* Built-in tasks: pairs generated from a seed, so the default run needs no files.
 *
 * A task's sources fall into classes (string length; the two operands' digit counts for add), each
 * drawn with equal probability. The held-out set is drawn first, from its own stream, out of the
 * classes big enough to lend some (>= 10 * n_heldout possible sources), then the training stream
 * redraws whatever lands in it (see data.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "data/random_task.h"

static const char *const task_names[] = {"reverse", "sort", "add", "copy"};
#define N_TASKS (int)(sizeof task_names / sizeof task_names[0])

/* Keeps the held-out stream apart from the batcher's, even when both get the same seed. */
#define HELDOUT_STREAM 0x6A09E667F3BCC909ull

void clf_task_options_default(clf_task_options *opt) {
    opt->min_len = 1;
    opt->max_len = 12;
    opt->max_digits = 4;
    opt->n_heldout = 500;
}

const char *clf_task_names(void) { return "reverse, sort, add, copy, random[:S:T]"; }

static const uint64_t pow10_table[19] = {1ull,
                                         10ull,
                                         100ull,
                                         1000ull,
                                         10000ull,
                                         100000ull,
                                         1000000ull,
                                         10000000ull,
                                         100000000ull,
                                         1000000000ull,
                                         10000000000ull,
                                         100000000000ull,
                                         1000000000000ull,
                                         10000000000000ull,
                                         100000000000000ull,
                                         1000000000000000ull,
                                         10000000000000000ull,
                                         100000000000000000ull,
                                         1000000000000000000ull};

static int n_classes(const clf_dataset *ds) {
    const clf_task_options *o = &ds->topt;
    return ds->task == CLF_TASK_ADD ? o->max_digits * o->max_digits : o->max_len - o->min_len + 1;
}

/* Numbers with d digits: 0..9 for d = 1, no leading zero otherwise. */
static double operand_count(int d) { return d == 1 ? 10.0 : 9.0 * (double)pow10_table[d - 1]; }

static double class_space(const clf_dataset *ds, int c) {
    const clf_task_options *o = &ds->topt;
    if (ds->task == CLF_TASK_ADD) return operand_count(c / o->max_digits + 1) * operand_count(c % o->max_digits + 1);
    double s = 1.0;
    for (int i = 0; i < o->min_len + c && s < 1e300; i++) s *= 26.0;
    return s;
}

static bool class_lends(const clf_dataset *ds, int c) { return class_space(ds, c) >= 10.0 * ds->topt.n_heldout; }

static uint64_t draw_operand(clf_rng *r, int d) {
    return d == 1 ? clf_rng_below(r, 10) : pow10_table[d - 1] + clf_rng_below(r, 9 * pow10_table[d - 1]);
}

/* One pair of class-eligible sources (held-out draws skip classes that do not lend). */
static void draw_pair(const clf_dataset *ds, clf_rng *r, bool heldout, uint8_t *src, int *src_len, uint8_t *tgt,
                      int *tgt_len) {
    if (ds->task == CLF_TASK_RANDOM) {
        clf_random_draw(ds, r, src, src_len, tgt, tgt_len);
        return;
    }
    int c;
    do c = (int)clf_rng_below(r, (uint64_t)n_classes(ds));
    while (heldout && !class_lends(ds, c));

    if (ds->task == CLF_TASK_ADD) {
        int D = ds->topt.max_digits;
        uint64_t a = draw_operand(r, c / D + 1), b = draw_operand(r, c % D + 1);
        char buf[64];
        *src_len = snprintf(buf, sizeof buf, "%llu+%llu", (unsigned long long)a, (unsigned long long)b);
        memcpy(src, buf, (size_t)*src_len);
        *tgt_len = snprintf(buf, sizeof buf, "%llu", (unsigned long long)(a + b));
        memcpy(tgt, buf, (size_t)*tgt_len);
        return;
    }
    int n = ds->topt.min_len + c;
    for (int i = 0; i < n; i++) src[i] = (uint8_t)('a' + clf_rng_below(r, 26));
    *src_len = *tgt_len = n;
    if (ds->task == CLF_TASK_REVERSE) {
        for (int i = 0; i < n; i++) tgt[i] = src[n - 1 - i];
    } else if (ds->task == CLF_TASK_COPY) {
        memcpy(tgt, src, (size_t)n);
    } else { /* sort: counting sort over the 26 letters */
        int count[26] = {0}, k = 0;
        for (int i = 0; i < n; i++) count[src[i] - 'a']++;
        for (int l = 0; l < 26; l++)
            for (int j = 0; j < count[l]; j++) tgt[k++] = (uint8_t)('a' + l);
    }
}

void clf_task_draw_train(const clf_dataset *ds, clf_rng *r, uint8_t *src, int *src_len, uint8_t *tgt,
                         int *tgt_len) {
    do draw_pair(ds, r, false, src, src_len, tgt, tgt_len);
    while (clf_dataset_find_heldout(ds, src, *src_len) >= 0);
}

static clf_status check_options(const char *name, const clf_task_options *o, clf_task_id task) {
    if (o->n_heldout < 1 || o->n_heldout > 10000000)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "task %s: n_heldout %d outside [1, 10000000]", name, o->n_heldout);
    if (task == CLF_TASK_ADD) {
        if (o->max_digits < 1 || o->max_digits > 18)
            return CLF_ERROR(CLF_ERR_INVALID_ARG, "task add: max_digits %d outside [1, 18]", o->max_digits);
    } else if (o->min_len < 1 || o->max_len < o->min_len || o->max_len > 65536) {
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "task %s: lengths [%d, %d] need 1 <= min_len <= max_len <= 65536",
                         name, o->min_len, o->max_len);
    }
    return CLF_OK;
}

clf_status clf_dataset_task(const char *name, uint64_t seed, const clf_task_options *opt, clf_dataset **out) {
    if (!out) return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_dataset_task: out is NULL");
    *out = NULL;
    if (!name) return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_dataset_task: name is NULL");
    if (clf_task_is_random(name)) return clf_dataset_random(name, seed, opt, out);
    clf_task_id task = CLF_TASK_NONE;
    for (int t = 0; t < N_TASKS; t++)
        if (strcmp(name, task_names[t]) == 0) task = (clf_task_id)t;
    if (task == CLF_TASK_NONE)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "unknown task '%s' (known: %s)", name, clf_task_names());
    clf_task_options o;
    clf_task_options_default(&o);
    if (opt) o = *opt;
    clf_status st = check_options(name, &o, task);
    if (st != CLF_OK) return st;

    clf_dataset *ds = clf_dataset_alloc(CLF_DATA_SEQ2SEQ);
    if (!ds) return CLF_ERROR(CLF_ERR_NO_MEMORY, "task %s: dataset", name);
    ds->task = task;
    ds->topt = o;
    if (task == CLF_TASK_ADD) {
        ds->max_src = 2 * o.max_digits + 1;
        ds->max_tgt = o.max_digits + 1;
    } else {
        ds->max_src = ds->max_tgt = o.max_len;
    }
    bool any = false;
    for (int c = 0; c < n_classes(ds); c++) any = any || class_lends(ds, c);
    if (!any) {
        clf_dataset_free(ds);
        return CLF_ERROR(CLF_ERR_INVALID_ARG,
                         "task %s: no length class has the %d possible sources needed to hold out %d pairs; "
                         "allow longer inputs or hold out fewer",
                         name, 10 * o.n_heldout, o.n_heldout);
    }

    size_t n = (size_t)o.n_heldout, per = (size_t)(ds->max_src + ds->max_tgt);
    ds->bytes = malloc(n * per);
    ds->pairs = malloc(n * sizeof *ds->pairs);
    if (!ds->bytes || !ds->pairs) {
        clf_dataset_free(ds);
        return CLF_ERROR(CLF_ERR_NO_MEMORY, "task %s: %zu held-out pairs", name, n);
    }
    st = clf_dataset_alloc_heldout_set(ds, n);
    if (st != CLF_OK) {
        clf_dataset_free(ds);
        return st;
    }
    clf_rng r;
    clf_rng_seed(&r, seed ^ HELDOUT_STREAM);
    /* Distinct sources: a repeat is drawn again. Every lending class has >= 10 n sources, so the
     * loop ends quickly. */
    while (ds->n_heldout < n) {
        size_t i = ds->n_heldout;
        clf_pair *p = &ds->pairs[i];
        p->src_off = i * per;
        p->tgt_off = i * per + (size_t)ds->max_src;
        draw_pair(ds, &r, true, ds->bytes + p->src_off, &p->src_len, ds->bytes + p->tgt_off, &p->tgt_len);
        ds->n_heldout = i + 1;
        if (!clf_dataset_heldout_insert(ds, i)) ds->n_heldout = i;
    }
    ds->n_bytes = n * per;

    uint64_t h = clf_fnv1a(CLF_FNV_OFFSET, "task", 4);
    int32_t words[5] = {(int32_t)task, o.min_len, o.max_len, o.max_digits, o.n_heldout};
    h = clf_fnv1a(h, words, sizeof words);
    ds->fingerprint = clf_fnv1a(h, &seed, sizeof seed);
    *out = ds;
    return CLF_OK;
}
