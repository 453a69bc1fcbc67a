/* Learning-rate schedules of SPEC. */
#include <math.h>
#include <string.h>

#include "clformer/train.h"

#define CLF_PI 3.14159265358979323846

double clf_schedule_lr(const clf_schedule *s, long step) {
    if (step < 1) step = 1;
    switch (s->kind) {
    case CLF_SCHEDULE_NOAM: {
        double w = s->warmup > 0 ? (double)s->warmup : 1.0;
        double a = pow((double)step, -0.5), b = (double)step * pow(w, -1.5);
        return s->scale * pow((double)s->d_model, -0.5) * (a < b ? a : b);
    }
    case CLF_SCHEDULE_COSINE: {
        if (s->warmup > 0 && step <= s->warmup) return s->lr_max * (double)step / (double)s->warmup;
        long span = s->total - s->warmup;
        if (span <= 0) return s->lr_min;
        double progress = (double)(step - s->warmup) / (double)span;
        if (progress > 1) progress = 1;
        return s->lr_min + 0.5 * (s->lr_max - s->lr_min) * (1 + cos(CLF_PI * progress));
    }
    case CLF_SCHEDULE_CONSTANT: return s->lr_max;
    }
    return 0;
}

const char *clf_schedule_name(clf_schedule_kind k) {
    return k == CLF_SCHEDULE_NOAM ? "noam" : k == CLF_SCHEDULE_COSINE ? "cosine" : "constant";
}

clf_status clf_schedule_parse(const char *s, clf_schedule_kind *out) {
    if (!strcmp(s, "noam")) *out = CLF_SCHEDULE_NOAM;
    else if (!strcmp(s, "cosine")) *out = CLF_SCHEDULE_COSINE;
    else if (!strcmp(s, "constant")) *out = CLF_SCHEDULE_CONSTANT;
    else return CLF_ERROR(CLF_ERR_INVALID_ARG, "schedule '%s' is not one of noam, cosine, constant", s);
    return CLF_OK;
}
