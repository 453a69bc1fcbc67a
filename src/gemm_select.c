/* Which GEMM runs: forced (clf_gemm_force, then CLFORMER_GEMM=auto|own|clblast|own-packed|
 * own-direct|own-split|own-inplace|own-dot|own-local) or chosen per shape by timing the candidates once,
 * on a proxy of the shape capped in work, and remembered in memory and in a file beside the kernel
 * binaries. CPU-like devices time the CPU-shaped own kernels and CLBlast; GPUs time the local-memory
 * kernel and CLBlast (and the dot products for few rows). Every variant passes a self-check against a
 * host reference before its first use. Also the workspace. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clformer/program.h"
#include "device_internal.h"
#include "gemm_check.h"
#include "gemm_clblast_tune.h"
#include "gemm_internal.h"
#include "program_sources.h"
#include "host_util.h"

typedef struct choice {
    bool ta, tb;
    size_t m, n, k, batch;
    clf_gemm_variant best, best_own;
} choice;

struct clf_gemm_state {
    cl_mem ws;
    size_t ws_floats;
    int checked[CLF_GEMM_VARIANT_COUNT]; /* 0 not yet, 1 passed, -1 failed */
    bool forced_set, own_only;
    size_t forced_splits;
    clf_gemm_variant forced;
    choice *choices;
    size_t n_choices, cap_choices;
    char path[4400]; /* the choices file; "" when the cache is off */
};

/* Products under this many flops are not worth timing: launch costs decide them. */
static const double SMALL_FLOPS = 1e6;
/* Work of one timed run of the proxy; at most a few runs per candidate. */
static const double PROXY_FLOPS = 1e9;
/* Reading B in place (no packing launch) only competes below this much work. */
static const double INPLACE_FLOPS = 128e6;
/* Dot products of rows (C = A B^T) only compete up to this many rows of C; at and below
 * DOT_SURE_ROWS they win without timing (a decoding step's few rows against 8-row tiles). */
static const size_t DOT_MAX_ROWS = 512, DOT_SURE_ROWS = 32;
static const double BUDGET_MS = 150.0; /* per candidate, after its warm-up run */

static const char *const NAMES[CLF_GEMM_VARIANT_COUNT] = {"auto",      "clblast",     "own-packed", "own-direct",
                                                           "own-split", "own-inplace", "own-dot",    "own-local"};

const char *clf_gemm_variant_name(clf_gemm_variant v) {
    return (unsigned)v < CLF_GEMM_VARIANT_COUNT ? NAMES[v] : "?";
}

bool clf_gemm_variant_parse(const char *name, clf_gemm_variant *v, bool *own_only) {
    *own_only = false;
    if (!strcmp(name, "own")) {
        *v = CLF_GEMM_AUTO;
        *own_only = true;
        return true;
    }
    for (int i = 0; i < CLF_GEMM_VARIANT_COUNT; i++)
        if (!strcmp(name, NAMES[i])) {
            *v = (clf_gemm_variant)i;
            return true;
        }
    return false;
}

static bool is_own(clf_gemm_variant v) { return v >= CLF_GEMM_OWN_PACKED && v < CLF_GEMM_VARIANT_COUNT; }

/* ---- the choices file: one line per shape, keyed by device, driver and kernel sources; variants by
 * their enum values (new ones only ever appended) ---- */

static void load_choices(struct clf_gemm_state *st) {
    FILE *f = fopen(st->path, "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        int ta, tb, best, own;
        size_t m, n, k, batch;
        if (sscanf(line, "%d %d %zu %zu %zu %zu %d %d", &ta, &tb, &m, &n, &k, &batch, &best, &own) != 8) continue;
        if (best <= 0 || best >= CLF_GEMM_VARIANT_COUNT || !is_own((clf_gemm_variant)own)) continue;
        if (st->n_choices == st->cap_choices) {
            size_t cap = st->cap_choices ? 2 * st->cap_choices : 32;
            choice *c = realloc(st->choices, cap * sizeof *c);
            if (!c) break;
            st->choices = c;
            st->cap_choices = cap;
        }
        st->choices[st->n_choices++] = (choice){ta != 0, tb != 0, m, n, k, batch, best, own};
    }
    fclose(f);
}

/* Rewrite the whole file atomically (temporary file, rename); failures only cost a re-measure. */
static void save_choices(const struct clf_gemm_state *st) {
    if (!st->path[0]) return;
    char tmp[4500];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", st->path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    for (size_t i = 0; i < st->n_choices; i++) {
        const choice *c = &st->choices[i];
        fprintf(f, "%d %d %zu %zu %zu %zu %d %d\n", c->ta, c->tb, c->m, c->n, c->k, c->batch, (int)c->best,
                (int)c->best_own);
    }
    bool ok = fclose(f) == 0;
    if (!ok || rename(tmp, st->path) != 0) unlink(tmp);
}

static void choices_path(const clf_device *dev, char *out, size_t n) {
    out[0] = '\0';
    const char *dir = clf_cache_dir();
    if (!dir) return;
    uint64_t h = CLF_FNV_OFFSET;
    const char *parts[] = {"clformer-gemm-choices-v1", dev->info.platform, dev->info.platform_version,
                           dev->info.name, dev->info.driver, dev->info.version};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) h = clf_fnv_str(h, parts[i]);
    for (const clf_embedded_source *s = clf_embedded_sources; s->name; s++)
        if (!strcmp(s->name, "gemm") || !strcmp(s->name, "gemm_local")) h = clf_fnv_str(h, s->text);
    snprintf(out, n, "%s/gemm-%016llx.txt", dir, (unsigned long long)h);
}

clf_status clf_gemm_state_get(clf_device *dev, struct clf_gemm_state **out) {
    if (!dev->gemm) {
        struct clf_gemm_state *st = calloc(1, sizeof *st);
        if (!st) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory for the gemm state");
        choices_path(dev, st->path, sizeof st->path);
        if (st->path[0]) load_choices(st);
        dev->gemm = st;
    }
    *out = dev->gemm;
    return CLF_OK;
}

void clf_gemm_state_free(clf_device *dev, struct clf_gemm_state *st) {
    if (!st) return;
    clf_buffer_release(dev, st->ws);
    free(st->choices);
    free(st);
}

clf_status clf_gemm_workspace(clf_device *dev, size_t floats, cl_mem *out) {
    struct clf_gemm_state *st;
    clf_status s = clf_gemm_state_get(dev, &st);
    if (s != CLF_OK) return s;
    if (floats == 0) floats = 1;
    if (st->ws_floats < floats) {
        /* grow by a quarter more than asked, so a sequence of growing shapes reallocates rarely; the old
         * buffer is freed by OpenCL once the kernels queued on it are done */
        size_t want = floats + floats / 4;
        clf_buffer_release(dev, st->ws);
        st->ws = NULL;
        st->ws_floats = 0;
        s = clf_buffer_alloc(dev, want * sizeof(float), "gemm workspace", &st->ws);
        if (s != CLF_OK) return clf_error_context(s, "gemm packing workspace of %zu floats", want);
        st->ws_floats = want;
    }
    *out = st->ws;
    return CLF_OK;
}

size_t clf_gemm_workspace_bytes(const clf_device *dev) {
    return dev->gemm ? dev->gemm->ws_floats * sizeof(float) : 0;
}

clf_status clf_gemm_force(clf_device *dev, clf_gemm_variant v, bool own_only) {
    struct clf_gemm_state *st;
    clf_status s = clf_gemm_state_get(dev, &st);
    if (s != CLF_OK) return s;
    if ((unsigned)v >= CLF_GEMM_VARIANT_COUNT) return CLF_ERROR(CLF_ERR_INVALID_ARG, "gemm variant %d", (int)v);
    st->forced_set = v != CLF_GEMM_AUTO || own_only; /* plain auto: CLFORMER_GEMM decides again */
    st->forced = v;
    st->own_only = own_only;
    return CLF_OK;
}

clf_status clf_gemm_force_splits(clf_device *dev, size_t parts) {
    struct clf_gemm_state *st;
    clf_status s = clf_gemm_state_get(dev, &st);
    if (s == CLF_OK) st->forced_splits = parts;
    return s;
}

size_t clf_gemm_forced_splits(const clf_device *dev) { return dev->gemm ? dev->gemm->forced_splits : 0; }

/* ---- self-check: a small awkward product in three transposes against a float64 host GEMM ---- */

/* The self-check's runner: the variant as is; the split variant in 3 parts, so that its sum is checked. */
static clf_status run_checked_variant(clf_device *dev, const clf_gemm_shape *s, void *ctx) {
    clf_gemm_shape split = *s;
    split.splits = 3;
    return clf_gemm_run_variant(dev, &split, *(const clf_gemm_variant *)ctx);
}

static clf_status self_check_one(clf_device *dev, clf_gemm_variant v, bool ta, bool tb, double *err) {
    clf_gemm_check_case c = {ta, tb, 19, 37, 23, 2, 3, ta ? -1.5f : tb ? 0.75f : 1.0f, ta ? 0.5f : tb ? -1.0f : 0.0f};
    return clf_gemm_check(dev, &c, run_checked_variant, &v, err, NULL);
}

/* Runs the check once per variant and device; false (with the reason in *why) when it failed. */
static clf_status self_check(clf_device *dev, struct clf_gemm_state *gs, clf_gemm_variant v, bool *ok) {
    if (!gs->checked[v]) {
        double e0 = 0, e1 = 0, e2 = 0;
        clf_status st = self_check_one(dev, v, false, false, &e0);
        if (st == CLF_OK) st = self_check_one(dev, v, true, true, &e1);
        if (st == CLF_OK) st = self_check_one(dev, v, false, true, &e2);
        if (st != CLF_OK) return clf_error_context(st, "gemm self-check of %s", NAMES[v]);
        gs->checked[v] = e0 <= 1e-5 && e1 <= 1e-5 && e2 <= 1e-5 ? 1 : -1;
        if (gs->checked[v] < 0)
            clf_error(CLF_ERR_NUMERIC, __FILE__, __LINE__,
                      "gemm %s failed its self-check on %s: relative error %.3g (NN), %.3g (TT), %.3g (NT)",
                      NAMES[v], dev->info.name, e0, e1, e2);
    }
    *ok = gs->checked[v] > 0;
    return CLF_OK;
}

/* ---- measurement ---- */

/* Median-free and cheap: the best of up to three runs after one warm-up, within the budget; stops
 * early when even the warm-up is `give_up_ms` or slower. */
static clf_status time_variant(clf_device *dev, const clf_gemm_shape *s, clf_gemm_variant v, double give_up_ms,
                               double *best_ms) {
    *best_ms = INFINITY;
    clf_status st = clf_device_finish(dev);
    for (int run = 0; st == CLF_OK && run < 4; run++) {
        double t0 = clf_now_ms();
        st = clf_gemm_run_variant(dev, s, v);
        if (st == CLF_OK) st = clf_device_finish(dev);
        double t = clf_now_ms() - t0;
        if (st != CLF_OK) break;
        if (run > 0 && t < *best_ms) *best_ms = t;
        if (run == 0 && t > 2 * give_up_ms) { /* warm-up includes builds: judge it loosely */
            *best_ms = t;
            break;
        }
        if (run > 0 && (t > give_up_ms || t * (run + 1) > BUDGET_MS)) break;
    }
    return st;
}

static bool dot_applies(const clf_gemm_args *g) { return !g->trans_a && g->trans_b && g->m <= DOT_MAX_ROWS; }

static bool dot_sure(const clf_device *dev, const clf_gemm_args *g) {
    return dot_applies(g) && g->m <= DOT_SURE_ROWS && !dev->info.is_gpu;
}


static clf_status measure(clf_device *dev, struct clf_gemm_state *gs, const clf_gemm_shape *s, choice *out) {
    const clf_gemm_args *g = &s->g;
    /* the proxy: fewer rows of C (same k, n, transposes, batch) written to a scratch C with beta = 0,
     * so the caller's C is untouched; A and B are only read */
    double per_row = 2.0 * (double)g->n * (double)g->k * (double)s->batch;
    size_t m = g->m;
    if ((double)m * per_row > PROXY_FLOPS) {
        m = (size_t)(PROXY_FLOPS / per_row) / 32 * 32;
        if (m < 64) m = 64;
        if (m > g->m) m = g->m;
    }
    clf_gemm_shape p = *s;
    p.g.m = m;
    p.g.beta = 0.0f;
    p.g.c_off = 0;
    p.ldc = g->n;
    p.g.stride_c = m * g->n;
    p.splits = clf_gemm_own_splits(s); /* the real shape's parts, not the proxy's */
    clf_status st = clf_buffer_alloc(dev, s->batch * m * g->n * sizeof(float), "gemm measurement c", &p.g.c);
    if (st != CLF_OK) return clf_error_context(st, "gemm measurement");
    /* CPU-like devices: the CPU-shaped kernels (the local-memory one runs at a few GFLOP/s there, not
     * worth its timing); GPUs: the local-memory kernel (the others' float16 register tiles spill) */
    const clf_gemm_variant cpu[] = {CLF_GEMM_OWN_DIRECT, CLF_GEMM_OWN_PACKED, CLF_GEMM_OWN_SPLIT,
                                    CLF_GEMM_OWN_INPLACE, CLF_GEMM_OWN_DOT,    CLF_GEMM_CLBLAST};
    const clf_gemm_variant gpu[] = {CLF_GEMM_OWN_LOCAL, CLF_GEMM_OWN_DOT, CLF_GEMM_CLBLAST};
    bool on_gpu = dev->info.is_gpu && clf_gemm_local_supported(dev);
    const clf_gemm_variant *cands = on_gpu ? gpu : cpu;
    size_t n_cands = on_gpu ? sizeof gpu / sizeof gpu[0] : sizeof cpu / sizeof cpu[0];
    /* CLBlast's parameters are settled (from the cache or by measurement) before it is timed here, so
     * its tuning does not count as its run time */
    if (st == CLF_OK) st = clf_clblast_tune(dev);
    double best = INFINITY, best_own = INFINITY;
    out->best = out->best_own = cands[0];
    for (size_t i = 0; st == CLF_OK && i < n_cands; i++) {
        clf_gemm_variant v = cands[i];
        if (v == CLF_GEMM_OWN_SPLIT && p.splits < 2) continue;
        if (v == CLF_GEMM_OWN_INPLACE && (double)m * per_row > INPLACE_FLOPS) continue;
        if (v == CLF_GEMM_OWN_DOT && !dot_applies(g)) continue;
        if (is_own(v) && !clf_gemm_own_fits(s)) continue;
        bool ok = true;
        st = self_check(dev, gs, v, &ok);
        if (st != CLF_OK || !ok) continue;
        double ms;
        st = time_variant(dev, &p, v, isfinite(best) ? 3 * best : INFINITY, &ms);
        if (st != CLF_OK) break;
        if (ms < best) {
            best = ms;
            out->best = v;
        }
        if (is_own(v) && ms < best_own) {
            best_own = ms;
            out->best_own = v;
        }
    }
    clf_buffer_release(dev, p.g.c);
    if (st == CLF_OK && !isfinite(best)) out->best = CLF_GEMM_CLBLAST; /* nothing of ours passed */
    return st;
}

static clf_status read_mode(struct clf_gemm_state *gs, clf_gemm_variant *v, bool *own_only) {
    if (gs->forced_set) {
        *v = gs->forced;
        *own_only = gs->own_only;
        return CLF_OK;
    }
    const char *env = getenv("CLFORMER_GEMM");
    *v = CLF_GEMM_AUTO;
    *own_only = false;
    if (!env || !*env) return CLF_OK;
    if (!clf_gemm_variant_parse(env, v, own_only))
        return CLF_ERROR(CLF_ERR_INVALID_ARG,
                         "CLFORMER_GEMM='%s': expected auto, own, clblast, own-packed, own-direct, own-split, "
                         "own-inplace, own-dot or own-local",
                         env);
    return CLF_OK;
}

/* Shapes are remembered by power-of-two buckets (clf_pow2_bucket): batches packed by length change M
 * from step to step, and a new measurement for each would cost more than it could save. */
clf_status clf_gemm_choose(clf_device *dev, const clf_gemm_shape *s, clf_gemm_variant *out) {
    struct clf_gemm_state *gs;
    clf_gemm_variant mode;
    bool own_only, ok;
    clf_status st = clf_gemm_state_get(dev, &gs);
    if (st == CLF_OK) st = read_mode(gs, &mode, &own_only);
    if (st != CLF_OK) return st;
    if (mode != CLF_GEMM_AUTO) { /* forced: a variant that fails its check is an error, not a fallback */
        if (mode != CLF_GEMM_CLBLAST) {
            st = self_check(dev, gs, mode, &ok);
            if (st != CLF_OK) return st;
            if (!ok)
                return CLF_ERROR(CLF_ERR_NUMERIC, "gemm %s (forced) failed its self-check on %s", NAMES[mode],
                                 dev->info.name);
        }
        *out = mode;
        return CLF_OK;
    }
    const clf_gemm_args *g = &s->g;
    for (size_t i = 0; i < gs->n_choices; i++) {
        const choice *c = &gs->choices[i];
        if (c->ta == g->trans_a && c->tb == g->trans_b && clf_pow2_bucket(c->m) == clf_pow2_bucket(g->m) &&
            clf_pow2_bucket(c->n) == clf_pow2_bucket(g->n) && clf_pow2_bucket(c->k) == clf_pow2_bucket(g->k) &&
            clf_pow2_bucket(c->batch) == clf_pow2_bucket(s->batch)) {
            *out = own_only ? c->best_own : c->best;
            return CLF_OK;
        }
    }
    bool few_rows = dot_sure(dev, g);
    if (few_rows || 2.0 * (double)g->m * (double)g->n * (double)g->k * (double)s->batch < SMALL_FLOPS) {
        /* too small to time, or sure: own kernels on CPU-like devices, CLBlast on GPUs (own-local if only
         * own kernels may run), checked either way */
        clf_gemm_variant v = !dev->info.is_gpu ? (few_rows ? CLF_GEMM_OWN_DOT : CLF_GEMM_OWN_INPLACE)
                             : !own_only       ? CLF_GEMM_CLBLAST
                             : clf_gemm_local_supported(dev) ? CLF_GEMM_OWN_LOCAL
                                                             : CLF_GEMM_OWN_INPLACE;
        ok = true;
        if (v != CLF_GEMM_CLBLAST) st = self_check(dev, gs, v, &ok);
        if (st != CLF_OK) return st;
        *out = ok ? v : CLF_GEMM_CLBLAST;
        return CLF_OK;
    }
    choice c = {g->trans_a, g->trans_b, g->m, g->n, g->k, s->batch, CLF_GEMM_CLBLAST, CLF_GEMM_OWN_DIRECT};
    st = measure(dev, gs, s, &c);
    if (st != CLF_OK) return st;
    if (gs->n_choices == gs->cap_choices) {
        size_t cap = gs->cap_choices ? 2 * gs->cap_choices : 32;
        choice *n = realloc(gs->choices, cap * sizeof *n);
        if (!n) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory for gemm choices");
        gs->choices = n;
        gs->cap_choices = cap;
    }
    gs->choices[gs->n_choices++] = c;
    save_choices(gs);
    *out = own_only ? c.best_own : c.best;
    return CLF_OK;
}
