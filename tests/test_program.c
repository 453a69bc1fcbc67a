/* Program building: every embedded program builds, a build error carries its log, the disk cache
 * is used on the second build and a damaged entry is rebuilt. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clformer/launch.h"
#include "clformer/program.h"
#include "harness.h"

static char g_dir[256];

static void make_dir(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/clformer-test-program-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* The single cache entry in dir (the test uses a fresh folder). */
static void find_entry(const char *dir, char *out, size_t n) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int found = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".bin") && !strstr(e->d_name, ".tmp")) {
            snprintf(out, n, "%s/%s", dir, e->d_name);
            found++;
        }
    closedir(d);
    ck_assert_int_eq(found, 1);
}

START_TEST(every_program_builds) {
    clf_device *dev = harness_device();
    for (const char *const *name = clf_program_names(); *name; name++) {
        cl_program p;
        clf_status st = clf_program_get(dev, *name, NULL, &p);
        ck_assert_msg(st == CLF_OK, "cl/%s.cl: %s", *name, clf_errmsg());
    }
}
END_TEST

START_TEST(build_error_carries_log) {
    make_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/broken.cl", g_dir);
    write_text(path, "__kernel void broken_fwd(__global float *x) { x[0] = undeclared_name; }\n");
    setenv("CLFORMER_KERNEL_DIR", g_dir, 1);
    clf_device *dev;
    CLF_CK(clf_device_open(NULL, &dev));
    cl_program p;
    clf_status st = clf_program_get(dev, "broken", "-DWG=32", &p);
    unsetenv("CLFORMER_KERNEL_DIR");
    ck_assert_int_eq(st, CLF_ERR_BUILD);
    const char *msg = clf_errmsg();
    ck_assert_ptr_nonnull(strstr(msg, "broken.cl"));
    ck_assert_ptr_nonnull(strstr(msg, "-DWG=32"));
    ck_assert_ptr_nonnull(strstr(msg, "undeclared_name")); /* the compiler's log */
    clf_device_free(dev);
}
END_TEST

START_TEST(kernel_dir_overrides_embedded) {
    make_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/copy.cl", g_dir);
    /* a copy kernel that writes 2x: proves the file on disk was used */
    write_text(path, "#include \"common.cl\"\n__kernel void copy_f32(__global float *d, __global const float *s, int n)"
                     " { int i = get_global_id(0); if (i < n) d[i] = 2.0f * s[i]; }\n");
    char common[512];
    snprintf(common, sizeof common, "%s/common.cl", g_dir);
    write_text(common, "/* empty */\n");
    setenv("CLFORMER_KERNEL_DIR", g_dir, 1);
    clf_device *dev;
    CLF_CK(clf_device_open(NULL, &dev));
    float x[5] = {1, 2, 3, 4, 5}, y[5];
    cl_mem a, b;
    CLF_CK(clf_buffer_alloc(dev, sizeof x, "a", &a));
    CLF_CK(clf_buffer_alloc(dev, sizeof x, "b", &b));
    CLF_CK(clf_buffer_write(dev, a, 0, sizeof x, x));
    size_t global = 5;
    clf_status st = CLF_RUN(dev, "copy", NULL, "copy_f32", 1, &global, NULL, CLF_ARG_MEM(b), CLF_ARG_MEM(a), CLF_ARG_INT(5));
    unsetenv("CLFORMER_KERNEL_DIR");
    CLF_CK(st);
    CLF_CK(clf_buffer_read(dev, b, 0, sizeof y, y));
    for (int i = 0; i < 5; i++) ck_assert_float_eq(y[i], 2 * x[i]);
    clf_buffer_release(dev, a);
    clf_buffer_release(dev, b);
    clf_device_free(dev);
}
END_TEST

static clf_build_stats build_copy_once(void) {
    clf_device *dev;
    CLF_CK(clf_device_open(NULL, &dev));
    cl_program p;
    CLF_CK(clf_program_get(dev, "copy", "-DCACHE_TEST=1", &p));
    clf_build_stats s;
    clf_program_build_stats(dev, &s);
    clf_device_free(dev);
    return s;
}

START_TEST(disk_cache_is_used_and_repaired) {
    make_dir();
    char *old = getenv("XDG_CACHE_HOME") ? strdup(getenv("XDG_CACHE_HOME")) : NULL;
    setenv("XDG_CACHE_HOME", g_dir, 1);
    unsetenv("CLFORMER_NO_CACHE");
    char cache[300], entry[600];
    snprintf(cache, sizeof cache, "%s/clformer", g_dir);

    clf_build_stats s = build_copy_once();
    ck_assert_int_eq(s.from_source, 1);
    ck_assert_int_eq(s.from_disk_cache, 0);
    find_entry(cache, entry, sizeof entry);

    s = build_copy_once();
    ck_assert_int_eq(s.from_disk_cache, 1);
    ck_assert_int_eq(s.from_source, 0);

    /* a truncated entry is detected and rebuilt, and the rebuilt entry serves the next start */
    FILE *f = fopen(entry, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    ck_assert_int_eq(truncate(entry, size / 2), 0);
    s = build_copy_once();
    ck_assert_int_eq(s.cache_rejected, 1);
    ck_assert_int_eq(s.from_source, 1);
    s = build_copy_once();
    ck_assert_int_eq(s.from_disk_cache, 1);

    /* a flipped byte in the payload fails the checksum: rebuilt, not trusted */
    f = fopen(entry, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, size - 10, SEEK_SET);
    int c = fgetc(f);
    fseek(f, size - 10, SEEK_SET);
    fputc(c ^ 0x55, f);
    fclose(f);
    s = build_copy_once();
    ck_assert_int_eq(s.cache_rejected, 1);
    ck_assert_int_eq(s.from_source, 1);

    /* CLFORMER_NO_CACHE=1 neither reads nor writes */
    setenv("CLFORMER_NO_CACHE", "1", 1);
    s = build_copy_once();
    ck_assert_int_eq(s.from_source, 1);
    ck_assert_int_eq(s.from_disk_cache, 0);
    unsetenv("CLFORMER_NO_CACHE");

    if (old) setenv("XDG_CACHE_HOME", old, 1);
    else unsetenv("XDG_CACHE_HOME");
    free(old);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("program");
    TCase *tc = tcase_create("program");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, every_program_builds);
    tcase_add_test(tc, build_error_carries_log);
    tcase_add_test(tc, kernel_dir_overrides_embedded);
    tcase_add_test(tc, disk_cache_is_used_and_repaired);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
