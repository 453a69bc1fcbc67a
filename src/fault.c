/* Fault injection settings, parsed once from CLFORMER_FAULT (see fault.h). */
#include "fault.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static struct {
    bool loaded;
    char device[128];
    long alloc_at, allocs;
    char build[128];
    long write_at, writes, write_delay_ms;
    long nonfinite_at, nonfinite_count;
} F;

static void set(const char *key, size_t klen, const char *val, size_t vlen) {
    char v[128];
    if (vlen >= sizeof v) vlen = sizeof v - 1;
    memcpy(v, val, vlen);
    v[vlen] = '\0';
#define KEY(name) (klen == strlen(name) && strncmp(key, name, klen) == 0)
    if (KEY("device")) memcpy(F.device, v, vlen + 1);
    else if (KEY("alloc")) F.alloc_at = atol(v);
    else if (KEY("build")) memcpy(F.build, v, vlen + 1);
    else if (KEY("write")) F.write_at = atol(v);
    else if (KEY("write_delay_ms")) F.write_delay_ms = atol(v);
    else if (KEY("nonfinite")) F.nonfinite_at = atol(v);
    else if (KEY("nonfinite_count")) F.nonfinite_count = atol(v);
#undef KEY
}

void clf_fault_reload(void) {
    memset(&F, 0, sizeof F);
    F.loaded = true;
    F.nonfinite_count = 1;
    const char *s = getenv("CLFORMER_FAULT");
    while (s && *s) {
        size_t len = strcspn(s, ",");
        const char *eq = memchr(s, '=', len);
        if (eq) set(s, (size_t)(eq - s), eq + 1, len - (size_t)(eq - s) - 1);
        s += len + (s[len] == ',');
    }
}

static void load(void) {
    if (!F.loaded) clf_fault_reload();
}

static bool device_matches(const char *name) {
    if (!F.device[0]) return true;
    if (!name) return false;
    size_t n = strlen(F.device);
    for (const char *h = name; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)F.device[i])) i++;
        if (i == n) return true;
    }
    return false;
}

bool clf_fault_alloc(const char *device_name) {
    load();
    if (F.alloc_at <= 0 || !device_matches(device_name)) return false;
    return ++F.allocs == F.alloc_at;
}

bool clf_fault_build(const char *device_name, const char *program) {
    load();
    if (!F.build[0] || !device_matches(device_name)) return false;
    return strcmp(F.build, "*") == 0 || (program && strcmp(F.build, program) == 0);
}

bool clf_fault_write(void) {
    load();
    if (F.write_at <= 0) return false;
    return ++F.writes == F.write_at;
}

long clf_fault_write_delay_ms(void) {
    load();
    return F.write_delay_ms > 0 ? F.write_delay_ms : 0;
}

bool clf_fault_nonfinite(long step) {
    load();
    return F.nonfinite_at > 0 && step >= F.nonfinite_at && step < F.nonfinite_at + F.nonfinite_count;
}
