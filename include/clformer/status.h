/* One error convention for the whole library: every fallible function returns a clf_status,
 * and the detail is a message the caller reads with clf_errmsg() (SQLite's idea). */
#ifndef CLFORMER_STATUS_H
#define CLFORMER_STATUS_H

#include <stdarg.h>

typedef enum clf_status {
    CLF_OK = 0,
    CLF_ERR_INVALID_ARG, /* a caller passed something that cannot work: shape, null, range */
    CLF_ERR_IO,          /* a file could not be opened, read or written */
    CLF_ERR_FORMAT,      /* a file was read but its content is wrong */
    CLF_ERR_NO_DEVICE,   /* no platform, or the selector matched nothing */
    CLF_ERR_NO_MEMORY,   /* host or device allocation failed or was refused */
    CLF_ERR_BUILD,       /* a kernel program failed to build; the message holds the log */
    CLF_ERR_OPENCL,      /* any other OpenCL failure */
    CLF_ERR_NUMERIC,     /* a non-finite value where a finite one is required */
    CLF_ERR_INTERRUPTED, /* a signal asked the work to stop */
    CLF_ERR_UNSUPPORTED, /* the device or build lacks a feature the request needs */
    CLF_STATUS_COUNT
} clf_status;

/* "CLF_ERR_IO" etc. */
const char *clf_status_name(clf_status st);

/* The message of the last error set on this thread ("" when none). */
const char *clf_errmsg(void);

/* Set the thread's message to "file:line: <fmt>" and return st, so a caller writes
 * `return CLF_ERROR(CLF_ERR_IO, "cannot open %s", path);` and the return stays visible. */
clf_status clf_error(clf_status st, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define CLF_ERROR(st, ...) clf_error((st), __FILE__, __LINE__, __VA_ARGS__)

/* Put "<fmt>: " in front of the current message (context added on the way up) and return st. */
clf_status clf_error_context(clf_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Forget the current message. */
void clf_error_clear(void);

#endif
