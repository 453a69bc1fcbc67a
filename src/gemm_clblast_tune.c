/* CLBlast SGEMM parameters per device (gemm_clblast_tune.h): candidates from CLBlast's database, checked
 * against the device's limits, timed on proxy products within a budget, the winner checked against a
 * float64 host GEMM, applied, and remembered in the cache folder. */
#include "gemm_clblast_tune.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clformer/program.h"
#include "device_internal.h"
#include "gemm_check.h"
#include "gemm_clblast_sets.h"
#include "host_util.h"

static const double BUDGET_MS = 20000.0;
/* Another set replaces CLBlast's own only when this much faster: timings are noisy. */
static const double MARGIN = 0.97;
enum { TIMED_ROUNDS = 3 };

/* ---- process state: devices handled, by OpenCL id (CLBlast keeps its parameters by id too) ---- */

typedef struct seen {
    cl_device_id id;
    bool done;       /* handled in this process (cleared by clf_clblast_tune_forget) */
    bool overridden; /* CLBlast's own parameters are gone for this id (never cleared) */
} seen;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static seen devices[16];
static size_t n_devices;
static clf_clblast_tune_stats stats;
static int max_cands;
static double budget_ms = BUDGET_MS;

static seen *seen_of(cl_device_id id) { /* under the lock; NULL when the table is full */
    for (size_t i = 0; i < n_devices; i++)
        if (devices[i].id == id) return &devices[i];
    if (n_devices == sizeof devices / sizeof devices[0]) return NULL;
    devices[n_devices] = (seen){.id = id};
    return &devices[n_devices++];
}

bool clf_clblast_tune_pristine(const clf_device *dev) {
    pthread_mutex_lock(&lock);
    bool pristine = true;
    for (size_t i = 0; i < n_devices; i++)
        if (devices[i].id == dev->id) pristine = !devices[i].overridden;
    pthread_mutex_unlock(&lock);
    return pristine;
}

void clf_clblast_tune_stats_get(clf_clblast_tune_stats *out) {
    pthread_mutex_lock(&lock);
    *out = stats;
    pthread_mutex_unlock(&lock);
}

void clf_clblast_tune_forget(void) {
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_devices; i++) devices[i].done = false;
    memset(&stats, 0, sizeof stats);
    pthread_mutex_unlock(&lock);
}

void clf_clblast_tune_limit(int max_candidates, double budget) {
    pthread_mutex_lock(&lock);
    max_cands = max_candidates > 0 ? max_candidates : 0;
    budget_ms = budget > 0 ? budget : BUDGET_MS;
    pthread_mutex_unlock(&lock);
}

clf_status clf_clblast_tune_enabled(const clf_device *dev, bool *on) {
    const char *env = getenv("CLFORMER_CLBLAST_TUNE");
    *on = false;
    if (env && !strcmp(env, "on")) {
        *on = true;
        return CLF_OK;
    }
    if (env && !strcmp(env, "off")) return CLF_OK;
    if (env && *env && strcmp(env, "auto"))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "CLFORMER_CLBLAST_TUNE='%s': expected auto, on or off", env);
    const char *all = getenv("CLFORMER_TUNE");
    if (all && (!strcmp(all, "off") || !strcmp(all, "0"))) return CLF_OK;
    *on = dev->info.is_gpu; /* auto: on CPUs each set is a build of tens of seconds, and own kernels win */
    return CLF_OK;
}

static clf_status apply(clf_device *dev, const clf_clblast_set *c) {
    const char *gr_name = "XGEMM_MIN_INDIRECT_SIZE";
    const struct {
        const char *kernel;
        size_t n;
        const char *const *names;
        const size_t *values;
    } sets[] = {{"Xgemm", CLF_CLBLAST_NX, clf_clblast_xgemm_names, c->xg},
                {"XgemmDirect", CLF_CLBLAST_ND, clf_clblast_direct_names, c->xd},
                {"GemmRoutine", 1, &gr_name, &c->min_indirect}};
    pthread_mutex_lock(&lock);
    seen *s = seen_of(dev->id);
    if (s) s->overridden = true;
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        CLBlastStatusCode r = CLBlastOverrideParameters(dev->id, sets[i].kernel, CLBlastPrecisionSingle, sets[i].n,
                                                        (const char **)sets[i].names, sets[i].values);
        if (r != CLBlastSuccess)
            return CLF_ERROR(CLF_ERR_OPENCL, "CLBlastOverrideParameters(%s, single) with set '%s' on %s: %s (%d)",
                             sets[i].kernel, c->name, dev->info.name, clf_clblast_status_name(r), (int)r);
    }
    return CLF_OK;
}

/* ---- the cache file ---- */

void clf_clblast_tune_file(const clf_device *dev, char *out, size_t size) {
    const char *dir = clf_cache_dir();
    if (!dir) {
        if (size) out[0] = '\0';
        return;
    }
    const char *parts[] = {"clformer-clblast-tune-v1", dev->info.platform, dev->info.platform_version,
                           dev->info.name, dev->info.driver, dev->info.version};
    uint64_t h = CLF_FNV_OFFSET;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) h = clf_fnv_str(h, parts[i]);
    snprintf(out, size, "%s/clblast-%016llx.txt", dir, (unsigned long long)h);
}

/* The next line is "<key> <n numbers>" with exactly the values want. */
static bool same_values(FILE *f, const char *key, size_t n, const size_t *want) {
    char line[512];
    size_t klen = strlen(key);
    if (!fgets(line, sizeof line, f) || strncmp(line, key, klen) || line[klen] != ' ') return false;
    char *at = line + klen;
    for (size_t i = 0; i < n; i++) {
        char *end;
        unsigned long long v = strtoull(at, &end, 10);
        if (end == at || v != want[i]) return false;
        at = end;
    }
    return !strcmp(at, "\n");
}

/* The file: "clformer-clblast-tune 1 <table hash>", "choice <name>", and for a set its values
 * ("Xgemm ...", "XgemmDirect ...", "GemmRoutine ..."), which must equal the table's. *index: -1 for
 * CLBlast's own; false for anything else (missing, malformed, stale). */
static bool load(const char *path, const clf_clblast_limits *l, int *index) {
    FILE *f = path[0] ? fopen(path, "r") : NULL;
    if (!f) return false;
    char line[512], name[64];
    unsigned long long h;
    int version;
    bool ok = fgets(line, sizeof line, f) && sscanf(line, "clformer-clblast-tune %d %16llx", &version, &h) == 2 &&
              version == 1 && h == clf_clblast_sets_hash();
    while (ok && fgets(line, sizeof line, f) && line[0] == '#') {
    }
    ok = ok && sscanf(line, "choice %63s", name) == 1;
    *index = -2;
    if (ok && !strcmp(name, "clblast")) *index = -1;
    for (int i = 0; ok && i < CLF_CLBLAST_N_SETS; i++)
        if (!strcmp(name, clf_clblast_sets[i].name)) *index = i;
    if (!ok || *index == -2) {
        fclose(f);
        return false;
    }
    if (*index >= 0) {
        const clf_clblast_set *c = &clf_clblast_sets[*index];
        ok = same_values(f, "Xgemm", CLF_CLBLAST_NX, c->xg) && same_values(f, "XgemmDirect", CLF_CLBLAST_ND, c->xd) &&
             same_values(f, "GemmRoutine", 1, &c->min_indirect) && clf_clblast_set_fits(c, l);
    }
    fclose(f);
    return ok;
}

/* Atomically (temporary file, rename); a failure only costs a measurement at the next start. */
static void save(const clf_device *dev, const char *path, int index, double default_ms, double chosen_ms,
                 double spent) {
    if (!path[0]) return;
    char dir[4400];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    if (clf_mkdir_p(dir) != 0) return;
    char tmp[4500];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    fprintf(f, "clformer-clblast-tune 1 %016llx\n", (unsigned long long)clf_clblast_sets_hash());
    fprintf(f, "# %s: CLBlast's own %.3f ms, chosen %.3f ms on the proxies; %.0f ms measuring\n", dev->info.name,
            default_ms, chosen_ms, spent);
    fprintf(f, "choice %s\n", index < 0 ? "clblast" : clf_clblast_sets[index].name);
    if (index >= 0) {
        const clf_clblast_set *c = &clf_clblast_sets[index];
        fprintf(f, "Xgemm");
        for (int i = 0; i < CLF_CLBLAST_NX; i++) fprintf(f, " %zu", c->xg[i]);
        fprintf(f, "\nXgemmDirect");
        for (int i = 0; i < CLF_CLBLAST_ND; i++) fprintf(f, " %zu", c->xd[i]);
        fprintf(f, "\nGemmRoutine %zu\n", c->min_indirect);
    }
    bool ok = fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) unlink(tmp);
}

/* ---- timing on proxies of a training step's products (smaller on CPUs, where CLBlast is slow) ---- */

typedef struct proxy {
    bool ta, tb;
    size_t m, n, k;
} proxy;

static const proxy GPU_PROXIES[] = {{false, false, 1024, 1024, 1024}, {false, true, 4096, 512, 512}};
static const proxy CPU_PROXIES[] = {{false, false, 256, 1024, 1024}, {false, true, 1024, 512, 512}};
enum { N_PROXIES = 2 };

typedef struct bench {
    const proxy *p;
    cl_mem a, b, c;
} bench;

static clf_status run_proxy(clf_device *dev, const bench *bb, int i) {
    const proxy *p = &bb->p[i];
    clf_gemm_shape s = {.g = {.trans_a = p->ta, .trans_b = p->tb, .m = p->m, .n = p->n, .k = p->k, .alpha = 1.0f,
                              .beta = 0.0f, .a = bb->a, .b = bb->b, .c = bb->c},
                        .batch = 1, .lda = p->ta ? p->m : p->k, .ldb = p->tb ? p->k : p->n, .ldc = p->n};
    return clf_gemm_clblast_untuned(dev, &s);
}

/* Sum over the proxies of the best of TIMED_ROUNDS runs, after one untimed run (the build). Stops
 * early past give_up_ms or the deadline. *broken: the set did not build or run (error cleared). */
static clf_status time_set(clf_device *dev, const bench *bb, double give_up_ms, double deadline, double *score,
                           bool *broken) {
    double best[N_PROXIES];
    *score = INFINITY;
    *broken = false;
    clf_status st = CLF_OK;
    for (int i = 0; st == CLF_OK && i < N_PROXIES; i++) {
        best[i] = INFINITY;
        st = run_proxy(dev, bb, i);
    }
    if (st == CLF_OK) st = clf_device_finish(dev);
    for (int r = 0; st == CLF_OK && r < TIMED_ROUNDS; r++) {
        double sum = 0;
        for (int i = 0; st == CLF_OK && i < N_PROXIES; i++) {
            double t0 = clf_now_ms();
            st = run_proxy(dev, bb, i);
            if (st == CLF_OK) st = clf_device_finish(dev);
            double t = clf_now_ms() - t0;
            if (t < best[i]) best[i] = t;
            sum += best[i];
        }
        if (st == CLF_OK) *score = sum;
        if (sum > give_up_ms || clf_now_ms() > deadline) break;
    }
    if (st != CLF_OK) {
        *broken = true;
        *score = INFINITY;
        clf_error_clear();
        return clf_device_finish(dev); /* the device itself must still work */
    }
    return CLF_OK;
}

/* ---- the check: awkward products (the indirect path, a tiny direct one, a strided batch) against a
 * float64 host GEMM over all of C, padding included ---- */

static const clf_gemm_check_case CHECKS[] = {
    {.ta = false, .tb = false, .m = 521, .n = 263, .k = 1031, .batch = 1, .pad = 3, .alpha = 0.75f, .beta = -0.5f},
    {.ta = true, .tb = false, .m = 33, .n = 7, .k = 13, .batch = 1, .pad = 1, .alpha = 1.0f, .beta = 0.0f},
    {.ta = false, .tb = true, .m = 19, .n = 37, .k = 23, .batch = 3, .pad = 2, .alpha = -1.5f, .beta = 0.5f},
};

static clf_status run_untuned(clf_device *dev, const clf_gemm_shape *s, void *ctx) {
    (void)ctx;
    return clf_gemm_clblast_untuned(dev, s);
}

/* Relative norm error of the applied set, worst over the checks; INFINITY when it failed to run. */
static clf_status check_set(clf_device *dev, double *worst) {
    *worst = 0;
    for (size_t t = 0; t < sizeof CHECKS / sizeof CHECKS[0]; t++) {
        double e;
        bool failed;
        clf_status st = clf_gemm_check(dev, &CHECKS[t], run_untuned, NULL, &e, &failed);
        if (st != CLF_OK) return clf_error_context(st, "CLBlast tuning check");
        if (!(e <= *worst)) *worst = e;
    }
    return CLF_OK;
}

/* ---- the tune ---- */

static clf_status bench_init(clf_device *dev, bench *bb) {
    bb->p = dev->info.is_gpu ? GPU_PROXIES : CPU_PROXIES;
    size_t na = 0, nb = 0, nc = 0;
    for (int i = 0; i < N_PROXIES; i++) {
        const proxy *p = &bb->p[i];
        if (p->m * p->k > na) na = p->m * p->k;
        if (p->k * p->n > nb) nb = p->k * p->n;
        if (p->m * p->n > nc) nc = p->m * p->n;
    }
    clf_status st = clf_buffer_alloc(dev, na * sizeof(float), "CLBlast tuning a", &bb->a);
    if (st == CLF_OK) st = clf_buffer_alloc(dev, nb * sizeof(float), "CLBlast tuning b", &bb->b);
    if (st == CLF_OK) st = clf_buffer_alloc(dev, nc * sizeof(float), "CLBlast tuning c", &bb->c);
    if (st == CLF_OK) st = clf_buffer_fill_float(dev, bb->a, 0, na, 0.01f);
    if (st == CLF_OK) st = clf_buffer_fill_float(dev, bb->b, 0, nb, 0.02f);
    return st == CLF_OK ? CLF_OK : clf_error_context(st, "CLBlast tuning proxies");
}

/* The device's family first ('N', 'A', 'I' GPUs by vendor, 'C' anything else), then the rest. */
static int order(const clf_device *dev, int *idx) {
    char fam = 'C';
    if (dev->info.is_gpu)
        fam = strstr(dev->info.vendor, "NVIDIA")                                          ? 'N'
              : strstr(dev->info.vendor, "Advanced Micro") || strstr(dev->info.vendor, "AMD") ? 'A'
              : strstr(dev->info.vendor, "Intel")                                          ? 'I'
                                                                                           : '?';
    int n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < CLF_CLBLAST_N_SETS; i++)
            if ((clf_clblast_sets[i].family == fam) == (pass == 0)) idx[n++] = i;
    return n;
}

/* CLBlast's own set first: its first run (CLBlast's build, paid untuned too) outside the budget, the
 * rest inside; then the others while the budget is likely to hold one more (a build and its runs cost
 * about what the costliest so far did); then the fastest that passes the check. */
static clf_status measure(clf_device *dev, const clf_clblast_limits *l, const char *path) {
    double t_start = clf_now_ms();
    pthread_mutex_lock(&lock);
    double budget = budget_ms;
    int most = max_cands > 0 ? max_cands : CLF_CLBLAST_N_SETS;
    pthread_mutex_unlock(&lock);
    bench bb = {0};
    double score[CLF_CLBLAST_N_SETS], def = INFINITY, deadline;
    int idx[CLF_CLBLAST_N_SETS], n = order(dev, idx), tried = 0, skipped = 0, failed = 0, chosen = -1, best_ok = -1;
    bool broken, overridden = false;
    clf_status st = bench_init(dev, &bb);
    for (int i = 0; st == CLF_OK && i < N_PROXIES; i++) st = run_proxy(dev, &bb, i);
    if (st == CLF_OK) st = clf_device_finish(dev);
    if (st != CLF_OK) st = clf_error_context(st, "CLBlast SGEMM with its own parameters on %s", dev->info.name);
    double t_built = clf_now_ms(), est = t_built - t_start; /* what a set costs: a build and its runs */
    deadline = t_built + budget;
    if (st == CLF_OK) st = time_set(dev, &bb, INFINITY, INFINITY, &def, &broken);
    if (st == CLF_OK && broken)
        st = CLF_ERROR(CLF_ERR_OPENCL, "CLBlast SGEMM with its own parameters fails on %s", dev->info.name);
    tried++;
    for (int i = 0; i < CLF_CLBLAST_N_SETS; i++) score[i] = INFINITY;
    for (int j = 0, attempts = 0; st == CLF_OK && j < n && attempts < most; j++) {
        int i = idx[j];
        if (!clf_clblast_set_fits(&clf_clblast_sets[i], l)) {
            skipped++;
            continue;
        }
        double t0 = clf_now_ms();
        if (t0 + est >= deadline) break; /* the next build would likely overrun the budget */
        attempts++;
        overridden = true;
        if (apply(dev, &clf_clblast_sets[i]) != CLF_OK) { /* e.g. another CLBlast version's parameter names */
            clf_error_clear();
            failed++;
            continue;
        }
        double best = def;
        for (int k = 0; k < CLF_CLBLAST_N_SETS; k++)
            if (score[k] < best) best = score[k];
        st = time_set(dev, &bb, 3 * best, deadline, &score[i], &broken);
        if (clf_now_ms() - t0 > est) est = clf_now_ms() - t0;
        tried++;
        if (broken) failed++;
    }
    /* the fastest set that reproduces the host reference; the sets were timed, not yet checked */
    while (st == CLF_OK && overridden) {
        int pick = -1;
        for (int i = 0; i < CLF_CLBLAST_N_SETS; i++)
            if (isfinite(score[i]) && (pick < 0 || score[i] < score[pick])) pick = i;
        if (pick < 0) break;
        double err = INFINITY;
        st = apply(dev, &clf_clblast_sets[pick]);
        if (st == CLF_OK) st = check_set(dev, &err);
        if (st == CLF_OK && err <= 1e-5) {
            best_ok = pick;
            break;
        }
        if (st == CLF_OK) failed++; /* missed the host reference: not used */
        score[pick] = INFINITY;
    }
    if (st == CLF_OK && best_ok >= 0 && score[best_ok] < MARGIN * def) chosen = best_ok;
    bool none_ok = st == CLF_OK && overridden && best_ok < 0;
    if (none_ok)
        st = CLF_ERROR(CLF_ERR_NUMERIC,
                       "CLBlast tuning on %s: no parameter set tried built, ran and reproduced the host reference, "
                       "and CLBlast's own cannot be restored in this process; the next start keeps CLBlast's own",
                       dev->info.name);
    double spent = clf_now_ms() - t_built, total = clf_now_ms() - t_start;
    if (st == CLF_OK || none_ok) save(dev, path, chosen, def, chosen >= 0 ? score[chosen] : def, total);
    clf_buffer_release(dev, bb.a);
    clf_buffer_release(dev, bb.b);
    clf_buffer_release(dev, bb.c);
    pthread_mutex_lock(&lock);
    stats.measured++;
    stats.tried += tried;
    stats.skipped += skipped;
    stats.failed += failed;
    stats.ms += spent;
    stats.build_ms += total - spent;
    stats.default_ms = isfinite(def) ? def : 0;
    stats.chosen_ms = chosen >= 0 ? score[chosen] : stats.default_ms;
    stats.proxy_flops = 0;
    for (int i = 0; bb.p && i < N_PROXIES; i++)
        stats.proxy_flops += 2.0 * (double)bb.p[i].m * (double)bb.p[i].n * (double)bb.p[i].k;
    snprintf(stats.choice, sizeof stats.choice, "%s", chosen >= 0 ? clf_clblast_sets[chosen].name : "clblast");
    pthread_mutex_unlock(&lock);
    return st;
}

clf_status clf_clblast_tune(clf_device *dev) {
    if (!dev) return CLF_ERROR(CLF_ERR_INVALID_ARG, "CLBlast tuning without a device");
    pthread_mutex_lock(&lock);
    seen *s = seen_of(dev->id);
    bool done = !s || s->done; /* a full table: more devices than any machine has; left untuned */
    pthread_mutex_unlock(&lock);
    if (done) return CLF_OK;
    bool on;
    clf_status st = clf_clblast_tune_enabled(dev, &on); /* a bad value: an error at every call */
    if (st != CLF_OK) return st;
    pthread_mutex_lock(&lock);
    done = s->done;
    s->done = true; /* at once: a second thread runs CLBlast as it is meanwhile */
    pthread_mutex_unlock(&lock);
    if (done || !on) return CLF_OK;
    clf_clblast_limits l;
    st = clf_clblast_device_limits(dev, &l);
    if (st != CLF_OK) return st;
    char path[4400];
    clf_clblast_tune_file(dev, path, sizeof path);
    int index;
    if (load(path, &l, &index)) {
        if (index >= 0) st = apply(dev, &clf_clblast_sets[index]);
        pthread_mutex_lock(&lock);
        stats.loaded++;
        snprintf(stats.choice, sizeof stats.choice, "%s", index >= 0 ? clf_clblast_sets[index].name : "clblast");
        pthread_mutex_unlock(&lock);
        return st;
    }
    return measure(dev, &l, path);
}
