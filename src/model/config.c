/* Model configuration: SPEC's defaults, validation, and the JSON stored in checkpoints. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "clformer/config.h"

clf_config clf_config_default(void) {
    clf_config c = {
        .arch = CLF_ARCH_ENCDEC,
        .vocab_size = 259,
        .d_model = 128,
        .n_heads = 4,
        .d_ff = 512,
        .n_enc_layers = 2,
        .n_dec_layers = 2,
        .max_len = 256,
        .norm = CLF_NORM_POST,
        .activation = CLF_ACTIVATION_RELU,
        .ln_eps = 1e-5f,
        .dropout = 0.1f,
        .tie_embeddings = false,
    };
    return c;
}

const char *clf_arch_name(clf_arch a) { return a == CLF_ARCH_DECODER ? "decoder" : "encdec"; }
const char *clf_norm_name(clf_norm n) { return n == CLF_NORM_PRE ? "pre" : "post"; }
const char *clf_activation_name(clf_activation_kind a) { return a == CLF_ACTIVATION_GELU ? "gelu" : "relu"; }

clf_status clf_arch_parse(const char *s, clf_arch *out) {
    if (!strcmp(s, "encdec")) *out = CLF_ARCH_ENCDEC;
    else if (!strcmp(s, "decoder")) *out = CLF_ARCH_DECODER;
    else return CLF_ERROR(CLF_ERR_INVALID_ARG, "arch '%s' is not one of encdec, decoder", s);
    return CLF_OK;
}

clf_status clf_norm_parse(const char *s, clf_norm *out) {
    if (!strcmp(s, "post")) *out = CLF_NORM_POST;
    else if (!strcmp(s, "pre")) *out = CLF_NORM_PRE;
    else return CLF_ERROR(CLF_ERR_INVALID_ARG, "norm '%s' is not one of post, pre", s);
    return CLF_OK;
}

clf_status clf_activation_parse(const char *s, clf_activation_kind *out) {
    if (!strcmp(s, "relu")) *out = CLF_ACTIVATION_RELU;
    else if (!strcmp(s, "gelu")) *out = CLF_ACTIVATION_GELU;
    else return CLF_ERROR(CLF_ERR_INVALID_ARG, "activation '%s' is not one of relu, gelu", s);
    return CLF_OK;
}

#define LIMIT (1 << 20)

clf_status clf_config_validate(const clf_config *c) {
    if (c->vocab_size < 259 || c->vocab_size > (1 << 24))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "vocab_size %d must be at least 259 (bytes, PAD, BOS, EOS) and at most 2^24",
                         c->vocab_size);
    if (c->d_model < 1 || c->d_model > LIMIT) return CLF_ERROR(CLF_ERR_INVALID_ARG, "d_model %d is out of range", c->d_model);
    if (c->n_heads < 1 || c->d_model % c->n_heads)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "n_heads %d does not divide d_model %d", c->n_heads, c->d_model);
    if (c->d_model / c->n_heads > 128)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "head size d_model/n_heads = %d exceeds the supported 128",
                         c->d_model / c->n_heads);
    if (c->d_ff < 1 || c->d_ff > LIMIT) return CLF_ERROR(CLF_ERR_INVALID_ARG, "d_ff %d is out of range", c->d_ff);
    if (c->arch == CLF_ARCH_ENCDEC && (c->n_enc_layers < 1 || c->n_enc_layers > 1024))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "n_enc_layers %d must be between 1 and 1024", c->n_enc_layers);
    if (c->n_dec_layers < 1 || c->n_dec_layers > 1024)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "n_dec_layers %d must be between 1 and 1024", c->n_dec_layers);
    if (c->max_len < 2 || c->max_len > 65536)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "max_len %d must be between 2 and 65536", c->max_len);
    if (!(c->ln_eps > 0) || !isfinite(c->ln_eps))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "ln_eps %g must be a positive number", c->ln_eps);
    if (!(c->dropout >= 0 && c->dropout < 1))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "dropout %g must be in [0, 1)", c->dropout);
    return CLF_OK;
}

char *clf_config_to_json(const clf_config *c) {
    json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:f, s:f, s:b}", "arch",
                          clf_arch_name(c->arch), "vocab_size", c->vocab_size, "d_model", c->d_model, "n_heads",
                          c->n_heads, "d_ff", c->d_ff, "n_enc_layers", c->n_enc_layers, "n_dec_layers",
                          c->n_dec_layers, "max_len", c->max_len, "norm", clf_norm_name(c->norm), "activation",
                          clf_activation_name(c->activation), "ln_eps", (double)c->ln_eps, "dropout",
                          (double)c->dropout, "tie_embeddings", c->tie_embeddings);
    if (!o) return NULL;
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
    json_decref(o);
    return s;
}

static clf_status get_int(json_t *o, const char *key, int *out) {
    json_t *v = json_object_get(o, key);
    if (!v) return CLF_ERROR(CLF_ERR_FORMAT, "config has no '%s'", key);
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < -2147483647 || x > 2147483647) return CLF_ERROR(CLF_ERR_FORMAT, "config '%s' is out of range", key);
        *out = (int)x;
        return CLF_OK;
    }
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 2147483647.0) {
        *out = (int)json_real_value(v);
        return CLF_OK;
    }
    return CLF_ERROR(CLF_ERR_FORMAT, "config '%s' must be an integer", key);
}

static clf_status get_float(json_t *o, const char *key, float *out) {
    json_t *v = json_object_get(o, key);
    if (!v) return CLF_ERROR(CLF_ERR_FORMAT, "config has no '%s'", key);
    if (!json_is_number(v)) return CLF_ERROR(CLF_ERR_FORMAT, "config '%s' must be a number", key);
    *out = (float)json_number_value(v);
    return CLF_OK;
}

static clf_status get_string(json_t *o, const char *key, const char **out) {
    json_t *v = json_object_get(o, key);
    if (!v) return CLF_ERROR(CLF_ERR_FORMAT, "config has no '%s'", key);
    if (!json_is_string(v)) return CLF_ERROR(CLF_ERR_FORMAT, "config '%s' must be a string", key);
    *out = json_string_value(v);
    return CLF_OK;
}

clf_status clf_config_from_json(const char *text, clf_config *out) {
    json_error_t jerr;
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) return CLF_ERROR(CLF_ERR_FORMAT, "config is not valid JSON: %s at column %d", jerr.text, jerr.column);
    clf_config c = clf_config_default();
    const char *arch = NULL, *norm = NULL, *act = NULL;
    clf_status st = CLF_OK;
    if (!json_is_object(o)) st = CLF_ERROR(CLF_ERR_FORMAT, "config must be a JSON object");
    if (st == CLF_OK) st = get_string(o, "arch", &arch);
    if (st == CLF_OK) st = clf_arch_parse(arch, &c.arch);
    if (st == CLF_OK) st = get_int(o, "vocab_size", &c.vocab_size);
    if (st == CLF_OK) st = get_int(o, "d_model", &c.d_model);
    if (st == CLF_OK) st = get_int(o, "n_heads", &c.n_heads);
    if (st == CLF_OK) st = get_int(o, "d_ff", &c.d_ff);
    if (st == CLF_OK) st = get_int(o, "n_enc_layers", &c.n_enc_layers);
    if (st == CLF_OK) st = get_int(o, "n_dec_layers", &c.n_dec_layers);
    if (st == CLF_OK) st = get_int(o, "max_len", &c.max_len);
    if (st == CLF_OK) st = get_string(o, "norm", &norm);
    if (st == CLF_OK) st = clf_norm_parse(norm, &c.norm);
    if (st == CLF_OK) st = get_string(o, "activation", &act);
    if (st == CLF_OK) st = clf_activation_parse(act, &c.activation);
    if (st == CLF_OK) st = get_float(o, "ln_eps", &c.ln_eps);
    if (st == CLF_OK) st = get_float(o, "dropout", &c.dropout);
    if (st == CLF_OK) {
        json_t *t = json_object_get(o, "tie_embeddings");
        if (!t || !json_is_boolean(t)) st = CLF_ERROR(CLF_ERR_FORMAT, "config 'tie_embeddings' must be a boolean");
        else c.tie_embeddings = json_is_true(t);
    }
    json_decref(o);
    if (st == CLF_OK) st = clf_config_validate(&c);
    if (st == CLF_OK) *out = c;
    return st;
}
