/* The stepper's cached path (placeholder until the key/value cache lands). */
#include "stepper_internal.h"

clf_status clf_stepper_cached_begin(clf_stepper *s) {
    (void)s;
    return CLF_ERROR(CLF_ERR_INVALID_ARG, "incremental decoding is not available");
}
clf_status clf_stepper_cached_step(clf_stepper *s, float *logits) {
    (void)s, (void)logits;
    return CLF_ERROR(CLF_ERR_INVALID_ARG, "incremental decoding is not available");
}
clf_status clf_stepper_cached_reorder(clf_stepper *s, const int *parent) {
    (void)s, (void)parent;
    return CLF_ERROR(CLF_ERR_INVALID_ARG, "incremental decoding is not available");
}
void clf_stepper_cached_end(clf_stepper *s) { (void)s; }
