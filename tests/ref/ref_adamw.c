#include "ref_adamw.h"

#include <math.h>

double ref_grad_norm(const double *g /* [n] */, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += g[i] * g[i];
    return sqrt(s);
}

int ref_adamw_step(double *p /* [n] */, double *m /* [n] */, double *v /* [n] */, int *t, const double *g /* [n] */,
                   double norm, size_t n, size_t n_decay, const ref_adamw_params *hp) {
    if (!isfinite(norm)) return 0;
    /* clip_grad_norm_: clip_coef = max_norm / (total_norm + 1e-6), clamped to at most 1 */
    double clip = 1;
    if (hp->max_norm > 0) {
        clip = hp->max_norm / (norm + 1e-6);
        if (clip > 1) clip = 1;
    }
    int step = ++*t;
    /* AdamW._single_tensor_adamw */
    double bias_correction1 = 1 - pow(hp->beta1, step), bias_correction2 = 1 - pow(hp->beta2, step);
    double step_size = hp->lr / bias_correction1, bias_correction2_sqrt = sqrt(bias_correction2);
    for (size_t i = 0; i < n; i++) {
        double gi = g[i] * clip;
        if (i < n_decay) p[i] *= 1 - hp->lr * hp->weight_decay;
        m[i] = m[i] * hp->beta1 + gi * (1 - hp->beta1);
        v[i] = v[i] * hp->beta2 + gi * gi * (1 - hp->beta2);
        double denom = sqrt(v[i]) / bias_correction2_sqrt + hp->eps;
        p[i] += -step_size * (m[i] / denom);
    }
    return 1;
}
