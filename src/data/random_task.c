/* The "random" task: fixed-length pairs of uniformly random bytes (see random_task.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/random_task.h"

#define DEFAULT_LEN 64
#define MAX_LEN 65536
/* Keeps the held-out stream apart from the batcher's, even when both get the same seed. */
#define HELDOUT_STREAM 0x510E527FADE682D1ull

bool clf_task_is_random(const char *name) { return name && !strncmp(name, "random", 6) && (!name[6] || name[6] == ':'); }

static void fill_bytes(clf_rng *r, uint8_t *out, int n) {
    for (int i = 0; i < n; i += 8) {
        uint64_t w = clf_rng_next(r);
        for (int k = 0; k < 8 && i + k < n; k++) out[i + k] = (uint8_t)(w >> (8 * k));
    }
}

void clf_random_draw(const clf_dataset *ds, clf_rng *r, uint8_t *src, int *src_len, uint8_t *tgt, int *tgt_len) {
    fill_bytes(r, src, ds->max_src);
    fill_bytes(r, tgt, ds->max_tgt);
    *src_len = ds->max_src;
    *tgt_len = ds->max_tgt;
}

/* "random" or "random:S:T" into source bytes and target positions. */
static clf_status parse_name(const char *name, int *S, int *T) {
    *S = *T = DEFAULT_LEN;
    if (!name[6]) return CLF_OK;
    char tail;
    if (sscanf(name + 6, ":%d:%d%c", S, T, &tail) != 2 || *S < 1 || *S > MAX_LEN || *T < 2 || *T > MAX_LEN)
        return CLF_ERROR(CLF_ERR_INVALID_ARG,
                         "task '%s': expected random:S:T with 1 <= S <= %d source tokens and 2 <= T <= %d target "
                         "positions",
                         name, MAX_LEN, MAX_LEN);
    return CLF_OK;
}

clf_status clf_dataset_random(const char *name, uint64_t seed, const clf_task_options *opt, clf_dataset **out) {
    if (!out) return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_dataset_random: out is NULL");
    *out = NULL;
    if (!clf_task_is_random(name)) return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_dataset_random: '%s' is not random", name ? name : "(null)");
    clf_task_options o;
    clf_task_options_default(&o);
    if (opt) o = *opt;
    if (o.n_heldout < 1 || o.n_heldout > 10000000)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "task %s: n_heldout %d outside [1, 10000000]", name, o.n_heldout);
    int S, T;
    clf_status st = parse_name(name, &S, &T);
    if (st != CLF_OK) return st;

    /* distinct held-out sources: at most a tenth of the 256^S possible ones, so drawing them ends fast */
    size_t n = (size_t)o.n_heldout;
    if (S < 3) {
        size_t lend = (S == 1 ? 256u : 65536u) / 10;
        if (n > lend) n = lend;
    }
    clf_dataset *ds = clf_dataset_alloc(CLF_DATA_SEQ2SEQ);
    if (!ds) return CLF_ERROR(CLF_ERR_NO_MEMORY, "task %s: dataset", name);
    ds->task = CLF_TASK_RANDOM;
    ds->topt = o;
    ds->max_src = S;
    ds->max_tgt = T - 1;
    size_t per = (size_t)S + (size_t)(T - 1);
    ds->bytes = malloc(n * per);
    ds->pairs = malloc(n * sizeof *ds->pairs);
    st = ds->bytes && ds->pairs ? clf_dataset_alloc_heldout_set(ds, n)
                                : CLF_ERROR(CLF_ERR_NO_MEMORY, "task %s: %zu held-out pairs", name, n);
    if (st != CLF_OK) {
        clf_dataset_free(ds);
        return st;
    }
    clf_rng r;
    clf_rng_seed(&r, seed ^ HELDOUT_STREAM);
    while (ds->n_heldout < n) {
        size_t i = ds->n_heldout;
        clf_pair *p = &ds->pairs[i];
        p->src_off = i * per;
        p->tgt_off = i * per + (size_t)S;
        clf_random_draw(ds, &r, ds->bytes + p->src_off, &p->src_len, ds->bytes + p->tgt_off, &p->tgt_len);
        ds->n_heldout = i + 1;
        if (!clf_dataset_heldout_insert(ds, i)) ds->n_heldout = i; /* a repeated source: draw again */
    }
    ds->n_bytes = n * per;

    uint64_t h = clf_fnv1a(CLF_FNV_OFFSET, "random", 6);
    int32_t words[3] = {S, T, (int32_t)n};
    h = clf_fnv1a(h, words, sizeof words);
    ds->fingerprint = clf_fnv1a(h, &seed, sizeof seed);
    *out = ds;
    return CLF_OK;
}
