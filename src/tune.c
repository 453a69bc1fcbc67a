/* Launch-configuration tuning (tune.h): choices remembered per device identity in memory and in
 * <cache>/tune-<device hash>.txt, one line per key; measured within budgets the first time. The
 * state is process-wide, keyed by the device's identity, so it needs no slot in the device. */
#include "tune.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clformer/program.h"
#include "program_sources.h"
#include "host_util.h"

static const double TOTAL_MS = 20000.0, PER_KEY_MS = 2000.0;
/* Another candidate replaces the default only when this much faster: timings are noisy. */
static const double MARGIN = 0.97;
enum { TIMED_RUNS = 3 };

typedef struct entry {
    char key[CLF_TUNE_MAX_KEY];
    uint64_t src; /* hash of the program's source */
    int n, choice;
    double best_ms, spent_ms;
    bool saved;     /* complete measurement (or from the file): written to the file */
    bool from_file; /* counted in stats.loaded on first use */
} entry;

typedef struct table {
    uint64_t id;
    char path[4400];
    entry *e;
    size_t n, cap;
    struct table *next;
} table;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static table *tables;
static clf_tune_stats stats;
static double spent_ms, total_budget = TOTAL_MS, key_budget = PER_KEY_MS;

size_t clf_tune_bucket(size_t x) { return clf_pow2_bucket(x); }

clf_status clf_tune_enabled(bool *on) {
    const char *env = getenv("CLFORMER_TUNE");
    *on = true;
    if (!env || !*env || !strcmp(env, "on") || !strcmp(env, "1")) return CLF_OK;
    if (!strcmp(env, "off") || !strcmp(env, "0")) {
        *on = false;
        return CLF_OK;
    }
    return CLF_ERROR(CLF_ERR_INVALID_ARG, "CLFORMER_TUNE='%s': expected on or off", env);
}

/* The source hash of a program, computed once per name (the sources never change in a process). */
static uint64_t program_hash(const char *program) {
    static struct memo {
        const char *name;
        uint64_t h;
    } memo[64];
    static size_t n_memo;
    if (!program) return 0;
    for (size_t i = 0; i < n_memo; i++)
        if (!strcmp(memo[i].name, program)) return memo[i].h;
    uint64_t h = 0;
    for (const clf_embedded_source *s = clf_embedded_sources; s->name; s++)
        if (!strcmp(s->name, program)) {
            h = clf_fnv_str(CLF_FNV_OFFSET, s->text);
            if (n_memo < sizeof memo / sizeof memo[0]) memo[n_memo++] = (struct memo){s->name, h};
        }
    return h;
}

static uint64_t device_id(const clf_device *dev) {
    const clf_device_info *i = clf_device_get_info(dev);
    const char *parts[] = {"clformer-tune-v1", i->platform, i->platform_version, i->name, i->driver, i->version};
    uint64_t h = CLF_FNV_OFFSET;
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) h = clf_fnv_str(h, parts[k]);
    return h;
}

static void file_of(uint64_t id, char *out, size_t size) {
    const char *dir = clf_cache_dir();
    if (dir) snprintf(out, size, "%s/tune-%016llx.txt", dir, (unsigned long long)id);
    else if (size) out[0] = '\0';
}

void clf_tune_file(const clf_device *dev, char *out, size_t size) { file_of(device_id(dev), out, size); }

/* ---- the file ---- */

static entry *find(table *t, const char *key, uint64_t src) {
    for (size_t i = 0; i < t->n; i++)
        if (t->e[i].src == src && !strcmp(t->e[i].key, key)) return &t->e[i];
    return NULL;
}

/* Add or replace; false when out of memory (the choice is then only not remembered). */
static bool put(table *t, const entry *e) {
    entry *old = find(t, e->key, e->src);
    if (old) {
        *old = *e;
        return true;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 32;
        entry *n = realloc(t->e, cap * sizeof *n);
        if (!n) return false;
        t->e = n;
        t->cap = cap;
    }
    t->e[t->n++] = *e;
    return true;
}

/* One line: "<src hex> <candidates> <choice> <best ms> <spent ms> <key>". Anything else (a corrupt,
 * truncated or foreign line) is skipped; entries already in memory win over the file's. */
static bool parse(char *line, entry *e) {
    size_t len = strlen(line);
    if (len == 0 || line[len - 1] != '\n') return false; /* truncated */
    line[--len] = '\0';
    unsigned long long src;
    int off = -1;
    if (sscanf(line, "%16llx %d %d %lf %lf %n", &src, &e->n, &e->choice, &e->best_ms, &e->spent_ms, &off) != 5 ||
        off < 0)
        return false;
    const char *key = line + off;
    size_t klen = strlen(key);
    if (e->n < 1 || e->n > CLF_TUNE_MAX_CANDIDATES || e->choice < 0 || e->choice >= e->n || klen == 0 ||
        klen >= CLF_TUNE_MAX_KEY || !isfinite(e->best_ms) || !isfinite(e->spent_ms))
        return false;
    for (const char *c = key; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) return false;
    memcpy(e->key, key, klen + 1);
    e->src = src;
    e->saved = e->from_file = true;
    return true;
}

static void load(table *t) {
    FILE *f = t->path[0] ? fopen(t->path, "r") : NULL;
    if (!f) return;
    char line[CLF_TUNE_MAX_KEY + 128];
    while (fgets(line, sizeof line, f)) {
        entry e;
        bool whole = strchr(line, '\n') != NULL;
        if (line[0] != '#' && parse(line, &e) && !find(t, e.key, e.src)) put(t, &e);
        int c = 0;
        while (!whole && (c = fgetc(f)) != EOF && c != '\n') { /* the rest of an overlong line */
        }
    }
    fclose(f);
}

/* Merge what another process wrote meanwhile, then rewrite the whole file atomically (temporary file,
 * rename). Failures only cost a new measurement next start. */
static void save(table *t, const clf_device *dev) {
    if (!t->path[0]) return;
    load(t);
    char dir[4400];
    snprintf(dir, sizeof dir, "%s", t->path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    if (clf_mkdir_p(dir) != 0) return;
    char tmp[4500];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", t->path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    fprintf(f, "# clformer launch choices for %s: source hash, candidates, choice, best ms, ms spent, key\n",
            clf_device_get_info(dev)->name);
    for (size_t i = 0; i < t->n; i++) {
        const entry *e = &t->e[i];
        if (e->saved)
            fprintf(f, "%016llx %d %d %.4f %.1f %s\n", (unsigned long long)e->src, e->n, e->choice, e->best_ms,
                    e->spent_ms, e->key);
    }
    bool ok = fclose(f) == 0;
    if (!ok || rename(tmp, t->path) != 0) unlink(tmp);
}

/* Under the lock: the device's table, loaded from its file on first use; NULL when out of memory. */
static table *table_of(const clf_device *dev) {
    uint64_t id = device_id(dev);
    for (table *t = tables; t; t = t->next)
        if (t->id == id) return t;
    table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->id = id;
    file_of(id, t->path, sizeof t->path);
    load(t);
    t->next = tables;
    tables = t;
    return t;
}

void clf_tune_forget(void) {
    pthread_mutex_lock(&lock);
    while (tables) {
        table *t = tables;
        tables = t->next;
        free(t->e);
        free(t);
    }
    memset(&stats, 0, sizeof stats);
    spent_ms = 0;
    pthread_mutex_unlock(&lock);
}

void clf_tune_stats_get(clf_tune_stats *out) {
    pthread_mutex_lock(&lock);
    *out = stats;
    pthread_mutex_unlock(&lock);
}

void clf_tune_set_budget(double total_ms, double per_key_ms) {
    pthread_mutex_lock(&lock);
    total_budget = total_ms > 0 ? total_ms : TOTAL_MS;
    key_budget = per_key_ms > 0 ? per_key_ms : PER_KEY_MS;
    pthread_mutex_unlock(&lock);
}

/* ---- measurement ---- */

static bool is_valid(const clf_tune_request *r, int c) { return !r->valid || (r->valid >> c & 1u); }

/* Best of up to TIMED_RUNS after one warm-up (builds); stops early past give_up_ms or the deadline.
 * INFINITY when not even one timed run fit. */
static clf_status time_candidate(clf_device *dev, const clf_tune_request *r, int c, bool warm, double give_up_ms,
                                 double deadline, size_t *runs, double *best) {
    *best = INFINITY;
    clf_status st = clf_device_finish(dev);
    for (int run = warm ? 1 : 0; st == CLF_OK && run <= TIMED_RUNS; run++) {
        double t0 = clf_now_ms();
        st = r->run(dev, r->ctx, c);
        if (st == CLF_OK) st = clf_device_finish(dev);
        double t1 = clf_now_ms(), t = t1 - t0;
        (*runs)++;
        if (st != CLF_OK) break;
        if (run > 0 && t < *best) *best = t;
        if (t1 > deadline || (run > 0 && t > give_up_ms)) break;
    }
    return st;
}

/* The default first (the baseline), then the others in order while the budgets last. The default's
 * warm-up (its kernel builds) is what the op would cost untuned, so neither the budget nor spent_ms
 * counts it. *complete is false when a candidate was left unmeasured for lack of time. */
static clf_status measure(clf_device *dev, const clf_tune_request *r, double budget_ms, entry *out, size_t *runs,
                          bool *complete) {
    double best = INFINITY;
    clf_status st = clf_device_finish(dev);
    if (st == CLF_OK) st = r->run(dev, r->ctx, r->fallback);
    if (st == CLF_OK) st = clf_device_finish(dev);
    (*runs)++;
    if (st != CLF_OK) return clf_error_context(st, "tuning %s: the default (candidate %d)", r->key, r->fallback);
    double t_warm = clf_now_ms(), deadline = t_warm + budget_ms;
    out->choice = r->fallback;
    *complete = true;
    for (int i = -1; i < r->n_candidates; i++) {
        int c = i < 0 ? r->fallback : i;
        if (i >= 0 && (c == r->fallback || !is_valid(r, c))) continue;
        if (i >= 0 && clf_now_ms() >= deadline) {
            *complete = false;
            break;
        }
        double ms;
        st = time_candidate(dev, r, c, i < 0, isfinite(best) ? 3 * best : INFINITY, deadline, runs, &ms);
        if (st != CLF_OK) {
            if (c == r->fallback) return clf_error_context(st, "tuning %s: the default (candidate %d)", r->key, c);
            clf_error_clear(); /* an invalid configuration on this device: left out */
            st = clf_device_finish(dev);
            if (st != CLF_OK) return clf_error_context(st, "tuning %s after candidate %d failed", r->key, c);
            continue;
        }
        if (!isfinite(ms)) {
            *complete = false;
            if (c == r->fallback) break; /* no baseline: nothing to compare with */
            continue;
        }
        if (c == r->fallback || ms < MARGIN * best) {
            best = ms;
            out->choice = c;
        }
    }
    out->best_ms = isfinite(best) ? best : 0;
    out->spent_ms = clf_now_ms() - t_warm;
    return CLF_OK;
}

clf_status clf_tune_choose(clf_device *dev, const clf_tune_request *r, int *choice) {
    if (!dev || !r || !choice) return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_tune_choose: dev, request or choice is NULL");
    size_t klen = r->key ? strlen(r->key) : 0;
    if (klen == 0 || klen >= CLF_TUNE_MAX_KEY || strpbrk(r->key, "\t\n\r"))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "clf_tune_choose: key must be 1..%d printable characters",
                         CLF_TUNE_MAX_KEY - 1);
    if (r->n_candidates < 1 || r->n_candidates > CLF_TUNE_MAX_CANDIDATES || r->fallback < 0 ||
        r->fallback >= r->n_candidates || !is_valid(r, r->fallback) || !r->run)
        return CLF_ERROR(CLF_ERR_INVALID_ARG,
                         "clf_tune_choose %s: %d candidates, default %d (valid mask 0x%x), run %s", r->key,
                         r->n_candidates, r->fallback, r->valid, r->run ? "set" : "NULL");
    bool on;
    clf_status st = clf_tune_enabled(&on);
    if (st != CLF_OK) return st;
    *choice = r->fallback;
    if (!on) return CLF_OK;

    pthread_mutex_lock(&lock);
    uint64_t src = program_hash(r->program);
    table *t = table_of(dev);
    entry *e = t ? find(t, r->key, src) : NULL;
    if (e && e->n == r->n_candidates && is_valid(r, e->choice)) {
        *choice = e->choice;
        if (e->from_file) stats.loaded++;
        e->from_file = false;
        pthread_mutex_unlock(&lock);
        return CLF_OK;
    }
    /* cut short by the process's budget: measured again by a later start; by the key's own: final */
    double budget = total_budget - spent_ms;
    bool global_cut = budget < key_budget;
    if (budget > key_budget) budget = key_budget;
    if (budget <= 0) { /* the process has tuned enough: the default, measured by a later start */
        entry d = {.src = src, .n = r->n_candidates, .choice = r->fallback};
        memcpy(d.key, r->key, klen + 1);
        if (t) put(t, &d);
        stats.over_budget++;
        pthread_mutex_unlock(&lock);
        return CLF_OK;
    }
    pthread_mutex_unlock(&lock);

    entry m = {.src = src, .n = r->n_candidates};
    memcpy(m.key, r->key, klen + 1);
    size_t runs = 0;
    bool complete = false;
    st = measure(dev, r, budget, &m, &runs, &complete);
    pthread_mutex_lock(&lock);
    spent_ms += m.spent_ms;
    stats.ms += m.spent_ms;
    stats.runs += runs;
    if (st == CLF_OK) {
        stats.measured++;
        m.saved = m.best_ms > 0 && (complete || !global_cut); /* never without a timed baseline */
        if (!complete) stats.over_budget++;
        if (t && put(t, &m) && m.saved) save(t, dev);
        *choice = m.choice;
    }
    pthread_mutex_unlock(&lock);
    return st;
}
