/* clformer devices: every OpenCL device and what it can do, as text or JSON. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "args.h"
#include "clformer/device.h"
#include "commands.h"

static json_t *info_json(const clf_device_info *d) {
    return json_pack("{s:s, s:i, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:b, "
                     "s:b}",
                     "selector", "", "platform_index", d->platform_index, "device_index", d->device_index,
                     "platform", d->platform, "name", d->name, "vendor", d->vendor, "type",
                     d->is_gpu ? "gpu" : d->is_cpu ? "cpu" : "other", "driver", d->driver, "version", d->version,
                     "opencl_c", d->c_version, "compute_units", (json_int_t)d->compute_units, "clock_mhz",
                     (json_int_t)d->clock_mhz, "max_work_group", (json_int_t)d->max_work_group, "local_mem",
                     (json_int_t)d->local_mem, "global_mem", (json_int_t)d->global_mem, "max_alloc",
                     (json_int_t)d->max_alloc, "fp64", d->fp64, "fp16", d->fp16, "subgroups", d->subgroups);
}

static void print_text(const clf_device_info *d) {
    printf("%d:%d  %s\n", d->platform_index, d->device_index, d->name);
    printf("    platform        %s (%s)\n", d->platform, d->platform_version);
    printf("    vendor          %s\n", d->vendor);
    printf("    type            %s\n", d->is_gpu ? "GPU" : d->is_cpu ? "CPU" : "other");
    printf("    driver          %s\n", d->driver);
    printf("    version         %s; %s\n", d->version, d->c_version);
    printf("    compute units   %u at %u MHz\n", d->compute_units, d->clock_mhz);
    printf("    work-group max  %zu\n", d->max_work_group);
    printf("    local memory    %.1f KiB\n", (double)d->local_mem / 1024);
    printf("    global memory   %.2f GiB (largest buffer %.2f GiB)\n", (double)d->global_mem / (1 << 30),
           (double)d->max_alloc / (1 << 30));
    printf("    fp64 %s, fp16 %s, subgroups %s\n", d->fp64 ? "yes" : "no", d->fp16 ? "yes" : "no",
           d->subgroups ? "yes" : "no");
}

int cmd_devices(int argc, char **argv) {
    bool json = false;
    const char *selector = NULL;
    const cli_opt opts[] = {
        {"json", CLI_FLAG, &json, NULL, "print JSON for scripts", 1, 0},
        {"device", CLI_STRING, &selector, "SPEC", "show only the device SPEC selects (P:D, gpu, cpu, any, name)", 1, 0},
    };
    const cli_command cmd = {"devices", "List every OpenCL device with its capabilities.", "[options]", opts,
                             sizeof opts / sizeof opts[0]};
    int rc = cli_parse(&cmd, argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : 2;

    clf_device_info *list = NULL;
    size_t n = 0;
    clf_status st = clf_device_enumerate(&list, &n);
    if (st == CLF_OK && n == 0) st = clf_device_select(NULL, list, 0, NULL); /* sets the install hint */
    if (st != CLF_OK) return cli_fail("devices", "%s", clf_errmsg());
    size_t first = 0, last = n;
    if (selector) {
        size_t chosen;
        if (clf_device_select(selector, list, n, &chosen) != CLF_OK) {
            free(list);
            return cli_fail("devices", "%s", clf_errmsg());
        }
        first = chosen;
        last = chosen + 1;
    }
    if (json) {
        json_t *arr = json_array();
        for (size_t i = first; i < last; i++) {
            json_t *o = info_json(&list[i]);
            char sel[32];
            snprintf(sel, sizeof sel, "%d:%d", list[i].platform_index, list[i].device_index);
            json_object_set_new(o, "selector", json_string(sel));
            json_array_append_new(arr, o);
        }
        char *s = json_dumps(arr, JSON_INDENT(2));
        if (s) puts(s);
        free(s);
        json_decref(arr);
    } else {
        for (size_t i = first; i < last; i++) print_text(&list[i]);
    }
    free(list);
    return 0;
}
