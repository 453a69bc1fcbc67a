/* Program build times on one device: cold (every embedded program from source, with clformer's
 * cache and the driver's own cache off, in a child process since drivers read their cache setting
 * once per process) and from clformer's disk cache. */
#ifndef CLFORMER_CLI_COMPARE_BUILDS_H
#define CLFORMER_CLI_COMPARE_BUILDS_H

#include "clformer/device.h"
#include "report.h"

/* The argument that makes `clformer compare` the child of the cold measurement. */
#define CMP_BUILDS_CHILD_FLAG "--cold-build-child"

/* The child's work: build every program on the device selector names and print
 * "<programs> <milliseconds>" on stdout; an error is printed on stdout too. Returns the exit code. */
int cmp_builds_child(const char *selector);

/* Rows "builds/cold" and "builds/cached" for column d. On return *dev is a freshly opened device
 * whose programs are built (the suite goes on with it), or NULL when it could not be opened (the
 * message is in clf_errmsg()). */
void cmp_builds_run(cmp_report *r, size_t d, const char *selector, clf_device **dev);

#endif
