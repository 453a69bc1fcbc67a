/* The fuzzers' corpora replayed through the harnesses' own code (fuzz/fuzz_*.c, included here), so
 * every build checks them, not only the clang fuzz build:
 *   tests/corpus/<reader>/              seeds: valid files, which must also load without error;
 *   tests/corpus/regressions/<reader>/  inputs that once crashed or tripped a sanitizer: each must
 *                                       now be handled (refused or read) without a crash.
 * A harness aborts on a broken promise, so a failure here shows as a crash naming nothing but the
 * corpus file printed just before it. CLF_TEST_CORPUS names the corpus folder (tests/meson.build). */
#define _GNU_SOURCE /* memfd_create, in fuzz_file.c */
#define FUZZ_REPLAY
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_file.c"
#include "../fuzz/fuzz_batch.c"
#include "../fuzz/fuzz_cli.c"
#include "../fuzz/fuzz_safetensors.c"
#include "../fuzz/fuzz_text.c"
#include "../src/cli/args.c"
#include "../src/cli/options.c"
#include "harness.h"

typedef struct reader {
    const char *name;
    int (*run)(const uint8_t *data, size_t size);
} reader;

static const reader readers[] = {
    {"safetensors", fuzz_safetensors}, {"batch", fuzz_batch}, {"tsv", fuzz_tsv}, {"lm", fuzz_lm}, {"cli", fuzz_cli},
};
#define N_READERS (sizeof readers / sizeof readers[0])

static const char *corpus_dir(void) {
    const char *d = getenv("CLF_TEST_CORPUS");
    return d && *d ? d : "../tests/corpus";
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    for (size_t got; (got = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap) {
            buf = realloc(buf, cap *= 2);
            ck_assert_ptr_nonnull(buf);
        }
    }
    fclose(f);
    *n = len;
    return buf;
}

/* Calls fn on every plain file of dir (sorted, for a stable log); returns how many. A missing
 * folder counts 0 files. */
static int each_file(const char *dir, const reader *r, void (*fn)(const reader *, const char *)) {
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort), files = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        if (list[i]->d_name[0] != '.') {
            int len = snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
            ck_assert_msg(len > 0 && (size_t)len < sizeof path, "path too long: %s/%s", dir, list[i]->d_name);
            fn(r, path);
            files++;
        }
        free(list[i]);
    }
    if (n >= 0) free(list);
    return files;
}

static void replay(const reader *r, const char *path) {
    size_t n;
    uint8_t *data = slurp(path, &n);
    fprintf(stderr, "replay %s: %s\n", r->name, path);
    r->run(data, n);
    free(data);
}

/* A seed must also be accepted by its reader (or parser): the corpus stays valid as formats move. */
static void seed_loads(const reader *r, const char *path) {
    replay(r, path);
    clf_data_options o;
    clf_data_options_default(&o);
    clf_dataset *ds = NULL;
    clf_st_file *f = NULL;
    clf_status st = CLF_OK;
    if (!strcmp(r->name, "safetensors") || !strcmp(r->name, "batch")) st = clf_st_open(path, &f);
    else if (!strcmp(r->name, "tsv")) st = clf_dataset_read_tsv(path, &o, &ds);
    else if (!strcmp(r->name, "lm")) st = clf_dataset_read_lm(path, &o, &ds);
    ck_assert_msg(st == CLF_OK, "seed %s does not load: %s", path, clf_errmsg());
    clf_st_close(f);
    clf_dataset_free(ds);
}

START_TEST(seeds_load_and_replay) {
    for (size_t i = 0; i < N_READERS; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", corpus_dir(), readers[i].name);
        ck_assert_msg(each_file(dir, &readers[i], seed_loads) > 0, "no seeds in %s", dir);
    }
}
END_TEST

START_TEST(regressions_replay) {
    int total = 0;
    for (size_t i = 0; i < N_READERS; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/regressions/%s", corpus_dir(), readers[i].name);
        total += each_file(dir, &readers[i], replay);
    }
    ck_assert_msg(total > 0, "no regression inputs under %s/regressions", corpus_dir());
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("fuzz_regressions");
    TCase *tc = tcase_create("corpus");
    tcase_add_test(tc, seeds_load_and_replay);
    tcase_add_test(tc, regressions_replay);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
