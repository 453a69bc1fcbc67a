/* The library's error messages: one per thread, set where the error is found, widened with
 * context on the way up. */
#include "clformer/status.h"

#include <stdio.h>
#include <string.h>

#define CLF_MSG_MAX 16384

static _Thread_local char g_msg[CLF_MSG_MAX];

const char *clf_status_name(clf_status st) {
    static const char *const names[] = {
        [CLF_OK] = "CLF_OK",
        [CLF_ERR_INVALID_ARG] = "CLF_ERR_INVALID_ARG",
        [CLF_ERR_IO] = "CLF_ERR_IO",
        [CLF_ERR_FORMAT] = "CLF_ERR_FORMAT",
        [CLF_ERR_NO_DEVICE] = "CLF_ERR_NO_DEVICE",
        [CLF_ERR_NO_MEMORY] = "CLF_ERR_NO_MEMORY",
        [CLF_ERR_BUILD] = "CLF_ERR_BUILD",
        [CLF_ERR_OPENCL] = "CLF_ERR_OPENCL",
        [CLF_ERR_NUMERIC] = "CLF_ERR_NUMERIC",
        [CLF_ERR_INTERRUPTED] = "CLF_ERR_INTERRUPTED",
        [CLF_ERR_UNSUPPORTED] = "CLF_ERR_UNSUPPORTED",
    };
    _Static_assert(sizeof names / sizeof names[0] == CLF_STATUS_COUNT, "a status lacks its name");
    if ((unsigned)st >= CLF_STATUS_COUNT) return "CLF_ERR_UNKNOWN";
    return names[st];
}

const char *clf_errmsg(void) { return g_msg; }

void clf_error_clear(void) { g_msg[0] = '\0'; }

clf_status clf_error(clf_status st, const char *file, int line, const char *fmt, ...) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int n = snprintf(g_msg, sizeof g_msg, "%s:%d: ", base, line);
    if (n < 0 || (size_t)n >= sizeof g_msg) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg + n, sizeof g_msg - (size_t)n, fmt, ap);
    va_end(ap);
    return st;
}

clf_status clf_error_context(clf_status st, const char *fmt, ...) {
    char prefix[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t plen = strlen(prefix), mlen = strlen(g_msg);
    if (plen + 2 + mlen + 1 > sizeof g_msg) mlen = sizeof g_msg - plen - 3;
    memmove(g_msg + plen + 2, g_msg, mlen);
    memcpy(g_msg, prefix, plen);
    g_msg[plen] = ':';
    g_msg[plen + 1] = ' ';
    g_msg[plen + 2 + mlen] = '\0';
    return st;
}
