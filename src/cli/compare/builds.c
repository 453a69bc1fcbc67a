#include "builds.h"

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clformer/program.h"

extern char **environ;

/* Build every embedded program; *ms gets the wall time the builds took by the device's own count. */
static clf_status build_all(clf_device *dev, clf_build_stats *stats) {
    for (const char *const *name = clf_program_names(); *name; name++) {
        cl_program p;
        clf_status st = clf_program_get(dev, *name, NULL, &p);
        if (st != CLF_OK) return st;
    }
    clf_program_build_stats(dev, stats);
    return CLF_OK;
}

int cmp_builds_child(const char *selector) {
    clf_device *dev;
    clf_build_stats s;
    clf_status st = clf_device_open(selector, &dev);
    if (st == CLF_OK) {
        st = build_all(dev, &s);
        clf_device_free(dev);
    }
    if (st != CLF_OK) {
        printf("error: %s\n", clf_errmsg());
        return 1;
    }
    printf("%d %.3f\n", s.from_source, s.source_ms);
    return 0;
}

/* The environment of the child: ours with every compiled-kernel cache switched off. */
static char **child_env(void) {
    static const char *const off[] = {"CLFORMER_NO_CACHE=1", "POCL_KERNEL_CACHE=0", "CUDA_CACHE_DISABLE=1"};
    const size_t n_off = sizeof off / sizeof off[0];
    size_t n = 0;
    while (environ[n]) n++;
    char **env = malloc((n + n_off + 1) * sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int replaced = 0;
        for (size_t j = 0; j < n_off; j++)
            if (!strncmp(environ[i], off[j], (size_t)(strchr(off[j], '=') - off[j]) + 1)) replaced = 1;
        if (!replaced) env[k++] = environ[i];
    }
    for (size_t j = 0; j < n_off; j++) env[k++] = (char *)off[j];
    env[k] = NULL;
    return env;
}

/* Run this executable as the child and read its one line; 0 on success. */
static int cold_builds(const char *selector, int *programs, double *ms, char *err, size_t cap) {
    int fds[2];
    if (pipe(fds)) return snprintf(err, cap, "cannot create a pipe for the cold-build child"), -1;
    char **env = child_env();
    char *argv[] = {"clformer", "compare", CMP_BUILDS_CHILD_FLAG, (char *)selector, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    int rc = env ? posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, env) : -1;
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return snprintf(err, cap, "cannot start the cold-build child (/proc/self/exe)"), -1;
    }
    char line[8192] = "";
    size_t got = 0;
    ssize_t k;
    while (got < sizeof line - 1 && (k = read(fds[0], line + got, sizeof line - 1 - got)) > 0) got += (size_t)k;
    line[got] = '\0';
    char drain[512];
    while (read(fds[0], drain, sizeof drain) > 0) {
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    while (got > 0 && line[got - 1] == '\n') line[--got] = '\0'; /* an error's message may span lines */
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && sscanf(line, "%d %lf", programs, ms) == 2) return 0;
    if (!strncmp(line, "error: ", 7)) snprintf(err, cap, "%s", line + 7);
    else snprintf(err, cap, "the cold-build child failed (%s %d)%s%s", WIFEXITED(status) ? "exit" : "signal",
                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), line[0] ? ": " : "", line);
    return -1;
}

void cmp_builds_run(cmp_report *r, size_t d, const char *selector, clf_device **dev) {
    cmp_row *cold = cmp_row_get(r, "builds/cold", "builds", "program builds, cold (every cache off)", "ms",
                                CMP_BETTER_LOWER, 0);
    cmp_row *cached = cmp_row_get(r, "builds/cached", "builds", "program builds, from clformer's cache", "ms",
                                  CMP_BETTER_LOWER, 0);
    int programs = 0;
    double ms = 0;
    char err[8192];
    if (cold_builds(selector, &programs, &ms, err, sizeof err) == 0) {
        cmp_put(cold, d, ms, -1);
        cmp_put_text(cold, d, "%d programs", programs);
    } else {
        cmp_put_fail(cold, d, "%s", err);
    }

    /* The first pass fills the disk cache (if it was empty), the second reads it; the suite keeps
     * the second device, whose programs are then built. */
    *dev = NULL;
    for (int pass = 0; pass < 2; pass++) {
        if (*dev) clf_device_free(*dev);
        *dev = NULL;
        if (clf_device_open(selector, dev) != CLF_OK) {
            *dev = NULL;
            cmp_put_fail(cached, d, "%s", clf_errmsg());
            return;
        }
        clf_build_stats s;
        if (build_all(*dev, &s) != CLF_OK) {
            cmp_put_fail(cached, d, "%s", clf_errmsg());
            return;
        }
        if (pass == 1) {
            if (!clf_cache_dir()) cmp_put_text(cached, d, "cache off (CLFORMER_NO_CACHE)");
            else if (s.from_disk_cache == 0) cmp_put_fail(cached, d, "nothing was read from the cache");
            else {
                cmp_put(cached, d, s.disk_cache_ms, -1);
                cmp_put_text(cached, d, "%d programs", s.from_disk_cache);
            }
        }
    }
}
