/* Numerical agreement: every kernel family on one device against the float64 host references of
 * tests/ref, on fixed-seed random inputs at awkward sizes; the worst relative error per family. */
#ifndef CLFORMER_CLI_COMPARE_ACCURACY_H
#define CLFORMER_CLI_COMPARE_ACCURACY_H

#include <stdint.h>

#include "clformer/device.h"
#include "report.h"

/* One row per family ("accuracy/<family>") in column d: the worst relative-norm error over the
 * family's outputs, failed when over the family's tolerance; a family that cannot run (build error,
 * out of memory) gets its message. Returns how many families failed. */
int cmp_accuracy_run(cmp_report *r, size_t d, clf_device *dev, uint64_t seed);

/* After every device ran: the losses of the fixed-seed training run against the first device that
 * has them ("losses/..." rows: the final loss, the worst relative difference per step). */
void cmp_accuracy_losses(cmp_report *r, double tol);

#endif
