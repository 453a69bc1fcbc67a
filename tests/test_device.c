/* The device layer: enumeration, selection, allocation accounting, a kernel round trip. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clformer/launch.h"
#include "clformer/program.h"
#include "harness.h"

START_TEST(enumerates_devices) {
    clf_device_info *list;
    size_t n;
    CLF_CK(clf_device_enumerate(&list, &n));
    ck_assert_uint_gt(n, 0);
    const char *expect = getenv("CLF_TEST_EXPECT_DEVICES");
    if (expect) ck_assert_uint_eq(n, strtoul(expect, NULL, 10));
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_ne(list[i].name, "");
        ck_assert_uint_gt(list[i].compute_units, 0);
        ck_assert_uint_gt(list[i].max_work_group, 0);
        ck_assert_uint_gt(list[i].max_alloc, 0);
        ck_assert_uint_ge(list[i].global_mem, list[i].max_alloc);
    }
    free(list);
}
END_TEST

START_TEST(selects_by_every_form) {
    clf_device_info *list;
    size_t n, idx;
    CLF_CK(clf_device_enumerate(&list, &n));
    for (size_t i = 0; i < n; i++) {
        char sel[32];
        snprintf(sel, sizeof sel, "%d:%d", list[i].platform_index, list[i].device_index);
        CLF_CK(clf_device_select(sel, list, n, &idx));
        ck_assert_uint_eq(idx, i);
    }
    CLF_CK(clf_device_select("any", list, n, &idx));
    ck_assert_uint_eq(idx, 0);
    CLF_CK(clf_device_select(NULL, list, n, &idx));
    if (list[idx].is_gpu == false)
        for (size_t i = 0; i < n; i++) ck_assert(!list[i].is_gpu);
    if (list[0].is_cpu) {
        CLF_CK(clf_device_select("CPU", list, n, &idx));
        ck_assert(list[idx].is_cpu);
    }
    /* a case-swapped piece of the last device's name selects a device whose name holds it */
    char piece[8] = {0};
    memcpy(piece, list[n - 1].name, strnlen(list[n - 1].name, 6));
    for (char *p = piece; *p; p++) *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    CLF_CK(clf_device_select(piece, list, n, &idx));
    ck_assert(strncasecmp(list[idx].name, piece, 0) == 0);
    if (n == 2 && strstr(list[1].name, "basic")) { /* POCL_DEVICES="pthread basic" */
        CLF_CK(clf_device_select("BASIC", list, n, &idx));
        ck_assert_uint_eq(idx, 1);
    }
    free(list);
}
END_TEST

START_TEST(unknown_selector_lists_devices) {
    clf_device_info *list;
    size_t n, idx = 12345;
    CLF_CK(clf_device_enumerate(&list, &n));
    ck_assert_int_eq(clf_device_select("nosuchdevice", list, n, &idx), CLF_ERR_NO_DEVICE);
    ck_assert_uint_eq(idx, 12345);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "nosuchdevice"));
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), list[0].name));
    ck_assert_int_eq(clf_device_select("7:7", list, n, &idx), CLF_ERR_NO_DEVICE);
    clf_device *dev = NULL;
    ck_assert_int_eq(clf_device_open("nosuchdevice", &dev), CLF_ERR_NO_DEVICE);
    ck_assert_ptr_null(dev);
    free(list);
}
END_TEST

START_TEST(counts_allocations) {
    clf_device *dev = harness_device();
    size_t base = clf_device_bytes_in_use(dev);
    clf_device_reset_peak(dev);
    cl_mem a, b, v;
    CLF_CK(clf_buffer_alloc(dev, 1000, "a", &a));
    CLF_CK(clf_buffer_alloc(dev, 3000, "b", &b));
    ck_assert_uint_eq(clf_device_bytes_in_use(dev), base + 4000);
    CLF_CK(clf_buffer_view(dev, b, 0, 512, &v));
    ck_assert_uint_eq(clf_device_bytes_in_use(dev), base + 4000);
    clf_buffer_release(dev, v);
    clf_buffer_release(dev, a);
    ck_assert_uint_eq(clf_device_bytes_in_use(dev), base + 3000);
    ck_assert_uint_eq(clf_device_bytes_peak(dev), base + 4000);
    clf_buffer_release(dev, b);
    ck_assert_uint_eq(clf_device_bytes_in_use(dev), base);
}
END_TEST

START_TEST(refuses_oversized_buffer) {
    clf_device *dev = harness_device();
    size_t base = clf_device_bytes_in_use(dev);
    size_t too_big = (size_t)clf_device_get_info(dev)->max_alloc + 1;
    cl_mem m = (cl_mem)1;
    ck_assert_int_eq(clf_buffer_alloc(dev, too_big, "huge activations", &m), CLF_ERR_NO_MEMORY);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "huge activations"));
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "in use"));
    ck_assert_uint_eq(clf_device_bytes_in_use(dev), base);
    ck_assert_int_eq(clf_buffer_alloc(dev, 0, "empty", &m), CLF_ERR_INVALID_ARG);
}
END_TEST

START_TEST(kernel_round_trip) {
    clf_device *dev = harness_device();
    const size_t sizes[] = {1, 7, 13, 257, 1000003};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        double *ref;
        float *x = harness_random(n, -10, 10, &ref);
        cl_mem src = harness_upload(x, n), dst = harness_poisoned(n);
        size_t local = 64, global = n;
        CLF_CK(CLF_RUN(dev, "copy", NULL, "copy_f32", 1, &global, &local, CLF_ARG_MEM(dst), CLF_ARG_MEM(src),
                       CLF_ARG_INT(n)));
        float *got = harness_download(dst, n);
        harness_expect_close("copy_f32", got, ref, n, 0);
        ck_assert(memcmp(got, x, n * sizeof *x) == 0);
        free(got);
        free(x);
        free(ref);
        harness_release(src);
        harness_release(dst);
    }
}
END_TEST

START_TEST(launch_errors_are_named) {
    clf_device *dev = harness_device();
    size_t global = 4;
    /* too few arguments: the enqueue fails and the message names the kernel and the code */
    cl_kernel k;
    CLF_CK(clf_kernel_get(dev, "copy", NULL, "copy_f32", &k));
    clf_status st = CLF_LAUNCH(dev, k, "copy_f32", 1, &global, NULL, CLF_ARG_INT(3), CLF_ARG_INT(3));
    ck_assert_int_ne(st, CLF_OK);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "copy_f32"));
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "CL_INVALID"));
    ck_assert_int_eq(clf_kernel_get(dev, "copy", NULL, "no_such_kernel", &k), CLF_ERR_OPENCL);
    ck_assert_ptr_nonnull(strstr(clf_errmsg(), "CL_INVALID_KERNEL_NAME"));
    ck_assert_int_eq(clf_kernel_get(dev, "no_such_program", NULL, "x", &k), CLF_ERR_INVALID_ARG);
}
END_TEST

START_TEST(profiles_launches) {
    clf_device *dev = harness_device();
    size_t n = 4096, global = n, local = 64;
    float *x = harness_random(n, 0, 1, NULL);
    cl_mem src = harness_upload(x, n), dst = harness_poisoned(n);
    size_t before = clf_device_launch_count(dev);
    clf_device_profile_begin(dev);
    for (int i = 0; i < 3; i++)
        CLF_CK(CLF_RUN(dev, "copy", NULL, "copy_f32", 1, &global, &local, CLF_ARG_MEM(dst), CLF_ARG_MEM(src),
                       CLF_ARG_INT(n)));
    double ms = -1;
    size_t launches = 0;
    CLF_CK(clf_device_profile_end(dev, &ms, &launches));
    ck_assert_uint_eq(launches, 3);
    ck_assert_uint_eq(clf_device_launch_count(dev) - before, 3);
    ck_assert(ms >= 0 && isfinite(ms));
    free(x);
    harness_release(src);
    harness_release(dst);
}
END_TEST

/* Fills write exactly [offset, offset + count): awkward offsets and counts (not multiples of the
 * kernel's sixteen floats), the elements around them unchanged. */
START_TEST(fills_exactly_the_range) {
    const size_t n = 1000, cases[][2] = {{0, 1}, {3, 16}, {5, 17}, {0, 1000}, {7, 993}, {999, 1}, {31, 257}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double *ref;
        float *x = harness_random(n, -1, 1, &ref);
        cl_mem b = harness_upload(x, n);
        float value = (float)harness_uniform(-4, 4);
        CLF_CK(clf_buffer_fill_float(harness_device(), b, cases[c][0], cases[c][1], value));
        for (size_t i = cases[c][0]; i < cases[c][0] + cases[c][1]; i++) ref[i] = value;
        float *got = harness_download(b, n);
        char what[96];
        snprintf(what, sizeof what, "fill of %zu floats at %zu", cases[c][1], cases[c][0]);
        harness_expect_close(what, got, ref, n, 0.0);
        free(got);
        free(x);
        free(ref);
        harness_release(b);
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("device");
    TCase *tc = tcase_create("device");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, enumerates_devices);
    tcase_add_test(tc, selects_by_every_form);
    tcase_add_test(tc, unknown_selector_lists_devices);
    tcase_add_test(tc, counts_allocations);
    tcase_add_test(tc, refuses_oversized_buffer);
    tcase_add_test(tc, kernel_round_trip);
    tcase_add_test(tc, launch_errors_are_named);
    tcase_add_test(tc, profiles_launches);
    tcase_add_test(tc, fills_exactly_the_range);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return harness_main(suite()); }
