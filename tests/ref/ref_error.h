/* How far a device's float result is from a float64 reference, shared by the tests and `clformer compare`. */
#ifndef CLFORMER_REF_ERROR_H
#define CLFORMER_REF_ERROR_H

#include <stddef.h>

/* ||got - ref|| / ||ref|| (the plain norm when ref is all zeros); infinite when got has a NaN or an
 * infinity where ref has not (or the other way round), so unwritten, NaN-poisoned outputs fail. */
double ref_rel_err(const float *got, const double *ref, size_t n);

#endif
